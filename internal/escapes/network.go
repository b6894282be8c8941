package escapes

import (
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tenantry/tenantry/api/v1alpha1"
)

// networkEscapes reach past the tenant's network boundary: Service types
// and external IPs the plan does not allow (rule 3), hosts outside the
// tenant's domains (rule 6), and NetworkPolicies that open egress beyond
// the tenant (rule 10).
func networkEscapes(t Target) []Entry {
	svcRule := func(id, description, rule string, mutate func(*corev1.Service)) Entry {
		s := t.service(id)
		mutate(s)
		return Entry{ID: "services/" + id, Description: description, Try: create(t, s), Want: guardrail("tenantry-services", rule)}
	}
	serviceType := func(id, description string, typ corev1.ServiceType) Entry {
		e := svcRule(id, description, "type "+string(typ)+" is not allowed by plan "+t.Plan.Name, func(s *corev1.Service) { s.Spec.Type = typ })
		if slices.Contains(t.Plan.Spec.AllowedServiceTypes, v1alpha1.ServiceType(typ)) {
			e.Skip = "plan " + t.Plan.Name + " allows " + string(typ)
		}
		return e
	}
	entries := []Entry{
		serviceType("node-port", "create a NodePort Service", corev1.ServiceTypeNodePort),
		serviceType("load-balancer", "create a LoadBalancer Service", corev1.ServiceTypeLoadBalancer),
		svcRule("external-ips", "claim external IPs for a Service", "spec.externalIPs is not allowed", func(s *corev1.Service) { s.Spec.ExternalIPs = []string{"203.0.113.7"} }),
	}

	domains := t.domains()
	domainRule := func(id, description, host, rule string) Entry {
		return Entry{ID: "domains/" + id, Description: description, Try: create(t, t.ingress(id, host)), Want: guardrail("tenantry-ingress-domains", rule)}
	}
	otherHost := "www." + t.otherDomain()
	other := domainRule("other-tenants-domain", "serve another tenant's domain", otherHost,
		"tenantry rule 6 (domains): "+otherHost+" is outside your tenant's domains ("+strings.Join(domains, ", ")+")")
	otherRoute := Entry{ID: "domains/httproute-other-tenants-domain", Description: "route another tenant's domain with an HTTPRoute", Needs: ClusterObjects,
		Try: create(t, t.httpRoute("steal", otherHost)), Want: guardrail("tenantry-ingress-domains", otherHost+" is outside")}
	if t.otherDomain() == "" {
		other.Skip, otherRoute.Skip = "no other tenant's domain is known", "no other tenant's domain is known"
	}
	lookalike := "evil" + t.domain()
	outside := "login.not-" + t.Tenant.Name + ".example"
	entries = append(entries,
		other,
		domainRule("lookalike-domain", "serve a lookalike of its domain", lookalike, lookalike+" is outside"),
		domainRule("no-host", "serve every host (a rule without host)", "", "(a rule without host)"),
		domainRule("outside", "serve a host outside its domains", outside, "tenantry rule 6 (domains): "+outside+" is outside your tenant's domains"),
		otherRoute,
	)

	netpolRule := func(id, description string, peers []networkingv1.NetworkPolicyPeer, rule string) Entry {
		np := t.networkPolicy(t.ns(), "escape-"+strings.NewReplacer(".", "-", "/", "-").Replace(id), peers)
		return Entry{ID: "network-policies/" + id, Description: description, Try: create(t, np), Want: guardrail("tenantry-network-policies", rule)}
	}
	entries = append(entries, netpolRule("egress-to-every-namespace", "open egress to every namespace",
		[]networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{}}}, "egress may go only to pods of tenant "+t.Tenant.Name))
	for _, cidr := range []string{"10.0.0.0/8", "169.254.169.254/32", "0.0.0.0/0"} {
		e := netpolRule("ip-block-"+cidr, "open egress to "+cidr,
			[]networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: cidr}}}, "an ipBlock must leave out the private and link-local ranges")
		if !t.Plan.Spec.AllowInternetEgress {
			e.Skip = "plan " + t.Plan.Name + " allows no internet egress"
		}
		entries = append(entries, e)
	}
	noInternet := netpolRule("ip-block-without-internet-plan", "open egress to the internet on a plan without it",
		[]networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "0.0.0.0/0"}}}, "this plan allows no ipBlock egress")
	noInternet.Needs = FreePlan
	if t.Plan.Spec.AllowInternetEgress {
		noInternet.Skip = "plan " + t.Plan.Name + " allows internet egress"
	}
	return append(entries, noInternet)
}

// domains are the domains in force on the tenant's namespaces.
func (t Target) domains() []string {
	if len(t.Tenant.Status.IngressDomains) > 0 {
		return t.Tenant.Status.IngressDomains
	}
	return t.Tenant.Spec.Ingress.Domains
}

// domain is the tenant's first domain, or a made-up one.
func (t Target) domain() string {
	if d := t.domains(); len(d) > 0 {
		return d[0]
	}
	return t.Tenant.Name + ".example.com"
}

func (t Target) otherDomain() string {
	if t.Other == nil || len(t.Other.Spec.Ingress.Domains) == 0 {
		return ""
	}
	return t.Other.Spec.Ingress.Domains[0]
}

package render

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/tenantry/tenantry/api/v1alpha1"
)

// Each case lists the allowance policy's rules: ingress from, egress to.
func TestNetworkPolicies(t *testing.T) {
	udp, tcp, dnsPort := corev1.ProtocolUDP, corev1.ProtocolTCP, intstr.FromInt32(53)
	fromNamespaces := func(labels map[string]string) []networkingv1.NetworkPolicyPeer {
		return []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{MatchLabels: labels}}}
	}
	sameTenant := fromNamespaces(map[string]string{"tenantry.dev/tenant": "acme"})
	ingressCtrl := networkingv1.NetworkPolicyIngressRule{From: fromNamespaces(map[string]string{"app": "ingress"})}
	monitoring := networkingv1.NetworkPolicyIngressRule{From: fromNamespaces(map[string]string{"app": "prometheus"})}
	dnsPorts := []networkingv1.NetworkPolicyPort{{Protocol: &udp, Port: &dnsPort}, {Protocol: &tcp, Port: &dnsPort}}
	clusterDNS := networkingv1.NetworkPolicyPeer{
		NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"dns": "cluster"}},
		PodSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"app": "coredns"}},
	}
	nodeLocalDNS := networkingv1.NetworkPolicyPeer{IPBlock: &networkingv1.IPBlock{CIDR: "169.254.20.10/32"}}
	internet := networkingv1.NetworkPolicyEgressRule{To: []networkingv1.NetworkPolicyPeer{
		{IPBlock: &networkingv1.IPBlock{CIDR: "0.0.0.0/0", Except: []string{
			"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "100.64.0.0/10", "127.0.0.0/8"}}},
		{IPBlock: &networkingv1.IPBlock{CIDR: "::/0", Except: []string{"fc00::/7", "fe80::/10", "::1/128"}}},
	}}
	withSameTenant := func(rules ...networkingv1.NetworkPolicyIngressRule) []networkingv1.NetworkPolicyIngressRule {
		return append([]networkingv1.NetworkPolicyIngressRule{{From: sameTenant}}, rules...)
	}
	toSameTenant := func(rules ...networkingv1.NetworkPolicyEgressRule) []networkingv1.NetworkPolicyEgressRule {
		return append([]networkingv1.NetworkPolicyEgressRule{{To: sameTenant}}, rules...)
	}
	dns := func(peers ...networkingv1.NetworkPolicyPeer) networkingv1.NetworkPolicyEgressRule {
		return networkingv1.NetworkPolicyEgressRule{To: peers, Ports: dnsPorts}
	}
	egress := func(p *v1alpha1.TenantPlan) { p.Spec.AllowInternetEgress = true }

	tests := []struct {
		name    string
		opts    func(*Options)
		plan    *v1alpha1.TenantPlan
		ingress []networkingv1.NetworkPolicyIngressRule
		egress  []networkingv1.NetworkPolicyEgressRule
	}{
		{"every allowance", nil, newPlan(), withSameTenant(ingressCtrl, monitoring), toSameTenant(dns(clusterDNS, nodeLocalDNS))},
		{"internet egress allowed by the plan", nil, newPlan(egress), withSameTenant(ingressCtrl, monitoring),
			toSameTenant(dns(clusterDNS, nodeLocalDNS), internet)},
		{"no ingress controller selector", func(o *Options) { o.IngressNamespaceSelector = nil }, newPlan(),
			withSameTenant(monitoring), toSameTenant(dns(clusterDNS, nodeLocalDNS))},
		{"no monitoring selector", func(o *Options) { o.MonitoringNamespaceSelector = map[string]string{} }, newPlan(),
			withSameTenant(ingressCtrl), toSameTenant(dns(clusterDNS, nodeLocalDNS))},
		{"no DNS servers", func(o *Options) { o.DNS = DNSOptions{} }, newPlan(), withSameTenant(ingressCtrl, monitoring), toSameTenant()},
		{"node-local DNS only", func(o *Options) { o.DNS = DNSOptions{CIDRs: []string{"169.254.20.10/32"}} }, newPlan(),
			withSameTenant(ingressCtrl, monitoring), toSameTenant(dns(nodeLocalDNS))},
	}
	both := []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := Options{
				IngressNamespaceSelector:    map[string]string{"app": "ingress"},
				MonitoringNamespaceSelector: map[string]string{"app": "prometheus"},
				DNS: DNSOptions{
					NamespaceSelector: map[string]string{"dns": "cluster"},
					PodSelector:       map[string]string{"app": "coredns"},
					CIDRs:             []string{"169.254.20.10/32"},
				},
			}
			if tt.opts != nil {
				tt.opts(&opts)
			}
			policies := NetworkPolicies(newTenant(), tt.plan, "acme-prod", opts)
			if len(policies) != 2 || policies[0].Name != PolicyDefaultDeny || policies[1].Name != PolicyAllow {
				t.Fatalf("policies %v, want %s and %s", policies, PolicyDefaultDeny, PolicyAllow)
			}
			for _, np := range policies {
				if np.Namespace != "acme-prod" {
					t.Errorf("%s in namespace %q, want acme-prod", np.Name, np.Namespace)
				}
			}
			// The zero PodSelector in both: each policy selects all pods of the namespace.
			if want := (networkingv1.NetworkPolicySpec{PolicyTypes: both}); !reflect.DeepEqual(policies[0].Spec, want) {
				t.Errorf("default deny =\n%+v\nwant\n%+v", policies[0].Spec, want)
			}
			want := networkingv1.NetworkPolicySpec{PolicyTypes: both, Ingress: tt.ingress, Egress: tt.egress}
			if !reflect.DeepEqual(policies[1].Spec, want) {
				t.Errorf("allowances =\n%+v\nwant\n%+v", policies[1].Spec, want)
			}
		})
	}
}

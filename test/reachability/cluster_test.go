package reachability

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"text/tabwriter"

	"github.com/mattfenwick/cyclonus/pkg/matcher"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/tenantry/tenantry/api/v1alpha1"
	"github.com/tenantry/tenantry/internal/render"
)

// role is what an endpoint is in the isolation model.
type role int

const (
	roleTenant            role = iota // a pod in a tenant namespace
	roleIngressController             // the ingress controller's pod
	roleMonitoring                    // Prometheus, scraping tenants
	roleDNS                           // kube-dns in kube-system
	roleInternet                      // a public address outside the cluster
	rolePrivate                       // a private address outside the pod network: a node, a peered network, the metadata endpoint
)

// endpoint is one end of a connection: a pod, or an address outside the cluster.
type endpoint struct {
	name string // its column in the matrix
	role role
	// tenant owns the pod; empty for the platform and the outside.
	tenant string
	// internetEgress is the tenant plan's allowInternetEgress.
	internetEgress bool
	peer           *matcher.TrafficPeer
}

func (e endpoint) outside() bool { return e.peer.IsExternal() }

// probe is a destination port a connection is tried on. The set covers DNS,
// web and metrics ports and a non-DNS UDP port, so "only port 53" and "every
// port" can both be told apart from "some ports".
type probe struct {
	protocol corev1.Protocol
	port     int
}

func (p probe) String() string {
	return fmt.Sprintf("%d/%s", p.port, strings.ToLower(string(p.protocol)))
}

var (
	dnsUDP = probe{corev1.ProtocolUDP, 53}
	dnsTCP = probe{corev1.ProtocolTCP, 53}
	probes = []probe{dnsUDP, dnsTCP, {corev1.ProtocolTCP, 80}, {corev1.ProtocolTCP, 443},
		{corev1.ProtocolTCP, 8080}, {corev1.ProtocolTCP, 9090}, {corev1.ProtocolUDP, 123}}
)

// tenantOnPlan is a tenant and the plan it is on.
type tenantOnPlan struct {
	tenant *v1alpha1.Tenant
	plan   *v1alpha1.TenantPlan
}

// platformPod is a pod the platform runs outside tenant namespaces.
type platformPod struct {
	name      string
	role      role
	namespace string
	// namespaceLabels are set on the namespace by whoever installs the
	// component, besides the name label the API server sets.
	namespaceLabels map[string]string
	labels          map[string]string
}

// scenario is a cluster to check: who runs where, how pods are addressed,
// and what lies outside.
type scenario struct {
	opts     render.Options
	tenants  []tenantOnPlan
	platform []platformPod
	// podIP gives the n-th pod its address, so a scenario can move the pod
	// network (IPv4 private, IPv6 global unicast) without moving anything else.
	podIP   func(n int) string
	outside []endpoint
	// tenantPolicies are NetworkPolicies tenant admins write in their own
	// namespaces, next to the rendered ones. Policies add up, so an isolation
	// that rests on one side's egress alone is only as strong as what the
	// guardrails let a tenant add to it.
	tenantPolicies []*networkingv1.NetworkPolicy
}

// platformPod returns the scenario's pod of the given role, to change it.
func (s *scenario) platformPod(r role) *platformPod {
	for i := range s.platform {
		if s.platform[i].role == r {
			return &s.platform[i]
		}
	}
	panic(fmt.Sprintf("the scenario has no platform pod of role %d", r))
}

// standardScenario is the cluster the checks start from: two tenants with two
// environments each on a plan without internet egress, one tenant on a plan
// with it, the platform's ingress controller, Prometheus and kube-dns, a pod
// network in 10.244.0.0/16, and public and private addresses outside.
func standardScenario() scenario {
	closed, open := newPlan("standard", false), newPlan("connected", true)
	return scenario{
		opts: render.DefaultOptions(),
		tenants: []tenantOnPlan{
			{newTenant("acme", "dev", "prod"), closed},
			{newTenant("globex", "dev", "prod"), closed},
			{newTenant("initech"), open},
		},
		platform: []platformPod{
			{name: "ingress-nginx", role: roleIngressController, namespace: "ingress-nginx",
				labels: map[string]string{"app.kubernetes.io/name": "ingress-nginx"}},
			{name: "prometheus", role: roleMonitoring, namespace: "monitoring",
				labels: map[string]string{"app.kubernetes.io/name": "prometheus"}},
			{name: "kube-dns", role: roleDNS, namespace: metav1.NamespaceSystem,
				labels: map[string]string{"k8s-app": "kube-dns"}},
		},
		podIP: func(n int) string { return fmt.Sprintf("10.244.%d.10", n) },
		outside: []endpoint{
			outsideAddress("8.8.8.8", roleInternet),
			outsideAddress("2001:4860:4860::8888", roleInternet),
			outsideAddress("10.0.0.1", rolePrivate),        // a node or a peered VPC
			outsideAddress("169.254.169.254", rolePrivate), // the cloud metadata endpoint
		},
	}
}

// newTenant is a tenant with one admin and the given environments (none:
// one namespace named after the tenant).
func newTenant(name string, environments ...string) *v1alpha1.Tenant {
	return &v1alpha1.Tenant{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("uid-" + name)},
		Spec: v1alpha1.TenantSpec{
			Environments: environments,
			Owners:       []v1alpha1.Owner{{Kind: v1alpha1.SubjectUser, Name: "admin@" + name + ".example", Role: v1alpha1.RoleAdmin}},
		},
	}
}

// newPlan is a plan that admits the scenario's environments; only internet
// egress matters to the network policies.
func newPlan(name string, internetEgress bool) *v1alpha1.TenantPlan {
	return &v1alpha1.TenantPlan{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       v1alpha1.TenantPlanSpec{MaxEnvironments: 3, AllowInternetEgress: internetEgress},
	}
}

func outsideAddress(ip string, r role) endpoint {
	return endpoint{name: ip, role: r, peer: &matcher.TrafficPeer{IP: ip}}
}

// cluster is a scenario rendered: every endpoint and the NetworkPolicy
// engine loaded with every tenant's policies.
type cluster struct {
	endpoints []endpoint
	policies  *matcher.Policy
}

// newCluster renders each tenant with render.Tenant, the objects the
// operator applies, rather than calling the policy functions one by one,
// so the check sees exactly what reaches the API server.
func newCluster(t *testing.T, s scenario) *cluster {
	t.Helper()
	c := &cluster{}
	// Pods are numbered in order of appearance for their addresses.
	podPeer := func(namespace string, namespaceLabels, podLabels map[string]string) *matcher.TrafficPeer {
		return &matcher.TrafficPeer{
			IP:       s.podIP(len(c.endpoints)),
			Internal: &matcher.InternalPeer{Namespace: namespace, NamespaceLabels: namespaceLabels, PodLabels: podLabels},
		}
	}

	var policies []*networkingv1.NetworkPolicy
	for _, tp := range s.tenants {
		objs, err := render.Tenant(tp.tenant, tp.plan, s.opts)
		if err != nil {
			t.Fatalf("render tenant %s: %v", tp.tenant.Name, err)
		}
		for _, obj := range objs {
			switch o := obj.(type) {
			case *corev1.Namespace:
				c.endpoints = append(c.endpoints, endpoint{
					name:           o.Name,
					role:           roleTenant,
					tenant:         tp.tenant.Name,
					internetEgress: tp.plan.Spec.AllowInternetEgress,
					peer:           podPeer(o.Name, apiServerLabels(o.Name, o.Labels), map[string]string{"app.kubernetes.io/name": "demo-app"}),
				})
			case *networkingv1.NetworkPolicy:
				policies = append(policies, o)
			}
		}
	}
	if len(policies) == 0 {
		t.Fatal("render returned no NetworkPolicies")
	}
	policies = append(policies, s.tenantPolicies...)
	for _, p := range s.platform {
		c.endpoints = append(c.endpoints, endpoint{
			name: p.name,
			role: p.role,
			peer: podPeer(p.namespace, apiServerLabels(p.namespace, p.namespaceLabels), p.labels),
		})
	}
	c.endpoints = append(c.endpoints, s.outside...)
	// Endpoints are told apart by name, in the matrix and in connections().
	seen := map[string]bool{}
	for _, e := range c.endpoints {
		if seen[e.name] {
			t.Fatalf("two endpoints are named %s", e.name)
		}
		seen[e.name] = true
	}
	// Unsimplified: evaluate the policies as written, not an engine's
	// rewrite of them.
	c.policies = matcher.BuildNetworkPolicies(false, policies)
	return c
}

// apiServerLabels are a namespace's labels as stored: render leaves out
// kubernetes.io/metadata.name, which the API server sets to the namespace's
// name on every namespace and which the platform's selectors rely on.
func apiServerLabels(namespace string, rendered map[string]string) map[string]string {
	labels := map[string]string{corev1.LabelMetadataName: namespace}
	for k, v := range rendered {
		if k != corev1.LabelMetadataName {
			labels[k] = v
		}
	}
	return labels
}

// connections are the pairs of endpoints to check.
func (c *cluster) connections() [][2]endpoint {
	var pairs [][2]endpoint
	for _, src := range c.endpoints {
		for _, dst := range c.endpoints {
			if inScope(src, dst) {
				pairs = append(pairs, [2]endpoint{src, dst})
			}
		}
	}
	return pairs
}

// inScope leaves out a pod talking to itself (loopback, which NetworkPolicy
// cannot block) and traffic between two addresses outside the cluster.
func inScope(src, dst endpoint) bool {
	return src.name != dst.name && !(src.outside() && dst.outside())
}

// verdict asks the engine whether src may open a connection to dst on p:
// the source's egress and the destination's ingress must both allow it.
func (c *cluster) verdict(src, dst endpoint, p probe) *matcher.AllowedResult {
	return c.policies.IsTrafficAllowed(&matcher.Traffic{
		Source:       src.peer,
		Destination:  dst.peer,
		ResolvedPort: p.port,
		Protocol:     p.protocol,
	})
}

// reachablePorts lists the probes on which src reaches dst.
func (c *cluster) reachablePorts(src, dst endpoint) []probe {
	var open []probe
	for _, p := range probes {
		if c.verdict(src, dst, p).IsAllowed() {
			open = append(open, p)
		}
	}
	return open
}

// matrix is the reachability table, sources down and destinations across.
func (c *cluster) matrix() string {
	var b strings.Builder
	fmt.Fprintf(&b, "cells: all = every probe (%s), . = none, else the probes that pass\n", joinProbes(probes))
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprint(w, "from \\ to")
	for _, dst := range c.endpoints {
		fmt.Fprintf(w, "\t%s", dst.name)
	}
	fmt.Fprintln(w)
	for _, src := range c.endpoints {
		fmt.Fprint(w, src.name)
		for _, dst := range c.endpoints {
			cell := "-"
			if inScope(src, dst) {
				switch open := c.reachablePorts(src, dst); {
				case len(open) == 0:
					cell = "."
				case slices.Equal(open, probes):
					cell = "all"
				default:
					cell = joinProbes(open)
				}
			}
			fmt.Fprintf(w, "\t%s", cell)
		}
		fmt.Fprintln(w)
	}
	w.Flush()
	return b.String()
}

func joinProbes(ps []probe) string {
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = p.String()
	}
	return strings.Join(names, ",")
}

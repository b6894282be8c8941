package render

import (
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/tenantry/tenantry/api/v1alpha1"
)

// Names of the two network policies in each tenant namespace.
const (
	PolicyDefaultDeny = "tenantry-default-deny"
	PolicyAllow       = "tenantry-allow"
)

// privateRanges are the addresses "internet egress" never includes: other
// pods and services, the nodes, and the cloud metadata endpoint.
var (
	privateIPv4 = []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "100.64.0.0/10", "127.0.0.0/8"}
	privateIPv6 = []string{"fc00::/7", "fe80::/10", "::1/128"}
)

// NetworkPolicies isolate a tenant namespace with two policies: one that
// denies everything, and one that holds every allowance, one rule each:
// traffic between the tenant's own namespaces, DNS out, the ingress
// controller and monitoring in, and the internet out when the plan allows
// it. Rules add up within a policy as policies do among themselves, so one
// allowance policy admits what one per allowance would, for two writes
// per namespace instead of up to six.
func NetworkPolicies(t *v1alpha1.Tenant, plan *v1alpha1.TenantPlan, namespace string, opts Options) []*networkingv1.NetworkPolicy {
	both := []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}
	sameTenant := []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{
		MatchLabels: map[string]string{v1alpha1.LabelTenant: t.Name},
	}}}
	allow := networkingv1.NetworkPolicySpec{
		PolicyTypes: both,
		Ingress:     []networkingv1.NetworkPolicyIngressRule{{From: sameTenant}},
		Egress:      []networkingv1.NetworkPolicyEgressRule{{To: sameTenant}},
	}
	if dns := dnsPeers(opts.DNS); len(dns) > 0 {
		allow.Egress = append(allow.Egress, networkingv1.NetworkPolicyEgressRule{
			To:    dns,
			Ports: []networkingv1.NetworkPolicyPort{port(corev1.ProtocolUDP, 53), port(corev1.ProtocolTCP, 53)},
		})
	}
	for _, selector := range []map[string]string{opts.IngressNamespaceSelector, opts.MonitoringNamespaceSelector} {
		if len(selector) > 0 {
			allow.Ingress = append(allow.Ingress, networkingv1.NetworkPolicyIngressRule{From: []networkingv1.NetworkPolicyPeer{{
				NamespaceSelector: &metav1.LabelSelector{MatchLabels: maps.Clone(selector)},
			}}})
		}
	}
	if plan.Spec.AllowInternetEgress {
		allow.Egress = append(allow.Egress, networkingv1.NetworkPolicyEgressRule{To: []networkingv1.NetworkPolicyPeer{
			{IPBlock: &networkingv1.IPBlock{CIDR: "0.0.0.0/0", Except: slices.Clone(privateIPv4)}},
			{IPBlock: &networkingv1.IPBlock{CIDR: "::/0", Except: slices.Clone(privateIPv6)}},
		}})
	}
	return []*networkingv1.NetworkPolicy{
		networkPolicy(t, PolicyDefaultDeny, namespace, networkingv1.NetworkPolicySpec{PolicyTypes: both}),
		networkPolicy(t, PolicyAllow, namespace, allow),
	}
}

// dnsPeers are the DNS servers tenant pods may query: the selected pods
// (an empty pod selector means every pod of the selected namespaces) and
// each CIDR. Without a namespace selector no pod is a DNS server.
func dnsPeers(dns DNSOptions) []networkingv1.NetworkPolicyPeer {
	var peers []networkingv1.NetworkPolicyPeer
	if len(dns.NamespaceSelector) > 0 {
		peers = append(peers, networkingv1.NetworkPolicyPeer{
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: maps.Clone(dns.NamespaceSelector)},
			PodSelector:       &metav1.LabelSelector{MatchLabels: maps.Clone(dns.PodSelector)},
		})
	}
	for _, cidr := range dns.CIDRs {
		peers = append(peers, networkingv1.NetworkPolicyPeer{IPBlock: &networkingv1.IPBlock{CIDR: cidr}})
	}
	return peers
}

// networkPolicy selects every pod of the namespace.
func networkPolicy(t *v1alpha1.Tenant, name, namespace string, spec networkingv1.NetworkPolicySpec) *networkingv1.NetworkPolicy {
	return &networkingv1.NetworkPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
		ObjectMeta: objectMeta(t, name, namespace),
		Spec:       spec,
	}
}

func port(protocol corev1.Protocol, number int) networkingv1.NetworkPolicyPort {
	p := intstr.FromInt32(int32(number))
	return networkingv1.NetworkPolicyPort{Protocol: &protocol, Port: &p}
}

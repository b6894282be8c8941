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

func TestNetworkPolicyNames(t *testing.T) {
	deny, same, dns := PolicyDefaultDeny, PolicySameTenant, PolicyDNS
	noIngressCtrl := func(o *Options) { o.IngressNamespaceSelector = nil }
	noMonitoring := func(o *Options) { o.MonitoringNamespaceSelector = map[string]string{} }
	noDNS := func(o *Options) { o.DNS = DNSOptions{} }
	nodeLocalDNSOnly := func(o *Options) { o.DNS = DNSOptions{CIDRs: []string{"169.254.20.10/32"}} }
	egress := func(p *v1alpha1.TenantPlan) { p.Spec.AllowInternetEgress = true }
	tests := []struct {
		name string
		opts func(*Options)
		plan *v1alpha1.TenantPlan
		want []string
	}{
		{"defaults", nil, newPlan(), []string{deny, same, dns, PolicyIngressCtrl, PolicyMonitoring}},
		{"no ingress controller selector", noIngressCtrl, newPlan(), []string{deny, same, dns, PolicyMonitoring}},
		{"no monitoring selector", noMonitoring, newPlan(), []string{deny, same, dns, PolicyIngressCtrl}},
		{"no DNS servers", noDNS, newPlan(), []string{deny, same, PolicyIngressCtrl, PolicyMonitoring}},
		{"node-local DNS only", nodeLocalDNSOnly, newPlan(), []string{deny, same, dns, PolicyIngressCtrl, PolicyMonitoring}},
		{"internet egress allowed by the plan", nil, newPlan(egress),
			[]string{deny, same, dns, PolicyIngressCtrl, PolicyMonitoring, PolicyInternetEgress}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := DefaultOptions()
			if tt.opts != nil {
				tt.opts(&opts)
			}
			var got []string
			for _, np := range NetworkPolicies(newTenant(), tt.plan, "acme-prod", opts) {
				if np.Namespace != "acme-prod" {
					t.Errorf("%s in namespace %q, want acme-prod", np.Name, np.Namespace)
				}
				got = append(got, np.Name)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("policies = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestNetworkPolicySpecs(t *testing.T) {
	udp, tcp, dnsPort := corev1.ProtocolUDP, corev1.ProtocolTCP, intstr.FromInt32(53)
	ingress := []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}
	egress := []networkingv1.PolicyType{networkingv1.PolicyTypeEgress}
	both := []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}
	fromNamespaces := func(labels map[string]string) []networkingv1.NetworkPolicyPeer {
		return []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{MatchLabels: labels}}}
	}
	sameTenant := fromNamespaces(map[string]string{"tenantry.dev/tenant": "acme"})

	tests := []struct {
		policy string
		want   networkingv1.NetworkPolicySpec
	}{
		{PolicyDefaultDeny, networkingv1.NetworkPolicySpec{PolicyTypes: both}},
		{PolicySameTenant, networkingv1.NetworkPolicySpec{
			PolicyTypes: both,
			Ingress:     []networkingv1.NetworkPolicyIngressRule{{From: sameTenant}},
			Egress:      []networkingv1.NetworkPolicyEgressRule{{To: sameTenant}},
		}},
		{PolicyDNS, networkingv1.NetworkPolicySpec{
			PolicyTypes: egress,
			Egress: []networkingv1.NetworkPolicyEgressRule{{
				To: []networkingv1.NetworkPolicyPeer{
					{
						NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"dns": "cluster"}},
						PodSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"app": "coredns"}},
					},
					{IPBlock: &networkingv1.IPBlock{CIDR: "169.254.20.10/32"}},
				},
				Ports: []networkingv1.NetworkPolicyPort{{Protocol: &udp, Port: &dnsPort}, {Protocol: &tcp, Port: &dnsPort}},
			}},
		}},
		{PolicyIngressCtrl, networkingv1.NetworkPolicySpec{
			PolicyTypes: ingress,
			Ingress:     []networkingv1.NetworkPolicyIngressRule{{From: fromNamespaces(map[string]string{"app": "ingress"})}},
		}},
		{PolicyMonitoring, networkingv1.NetworkPolicySpec{
			PolicyTypes: ingress,
			Ingress:     []networkingv1.NetworkPolicyIngressRule{{From: fromNamespaces(map[string]string{"app": "prometheus"})}},
		}},
		{PolicyInternetEgress, networkingv1.NetworkPolicySpec{
			PolicyTypes: egress,
			Egress: []networkingv1.NetworkPolicyEgressRule{{To: []networkingv1.NetworkPolicyPeer{
				{IPBlock: &networkingv1.IPBlock{CIDR: "0.0.0.0/0", Except: []string{
					"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "100.64.0.0/10", "127.0.0.0/8"}}},
				{IPBlock: &networkingv1.IPBlock{CIDR: "::/0", Except: []string{"fc00::/7", "fe80::/10", "::1/128"}}},
			}}},
		}},
	}

	opts := Options{
		IngressNamespaceSelector:    map[string]string{"app": "ingress"},
		MonitoringNamespaceSelector: map[string]string{"app": "prometheus"},
		DNS: DNSOptions{
			NamespaceSelector: map[string]string{"dns": "cluster"},
			PodSelector:       map[string]string{"app": "coredns"},
			CIDRs:             []string{"169.254.20.10/32"},
		},
	}
	plan := newPlan(func(p *v1alpha1.TenantPlan) { p.Spec.AllowInternetEgress = true })
	byName := map[string]*networkingv1.NetworkPolicy{}
	for _, np := range NetworkPolicies(newTenant(), plan, "acme-prod", opts) {
		byName[np.Name] = np
	}
	for _, tt := range tests {
		t.Run(tt.policy, func(t *testing.T) {
			np, ok := byName[tt.policy]
			if !ok {
				t.Fatalf("policy %s not rendered", tt.policy)
			}
			// The zero PodSelector in want: every policy selects all pods of the namespace.
			if !reflect.DeepEqual(np.Spec, tt.want) {
				t.Errorf("spec =\n%+v\nwant\n%+v", np.Spec, tt.want)
			}
		})
	}
}

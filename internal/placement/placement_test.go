package placement

import (
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/tenantry/tenantry/api/v1alpha1"
)

func member(name string, available bool, maxTenants int, lbls ...string) Member {
	m := Member{Name: name, Available: available, MaxTenants: maxTenants, Labels: map[string]string{}}
	for _, kv := range lbls {
		k, v, _ := strings.Cut(kv, "=")
		m.Labels[k] = v
	}
	return m
}

func cpu(q string) corev1.ResourceList {
	return corev1.ResourceList{corev1.ResourceRequestsCPU: resource.MustParse(q)}
}

func selector(s string) labels.Selector {
	sel, err := labels.Parse(s)
	if err != nil {
		panic(err)
	}
	return sel
}

func TestPlace(t *testing.T) {
	eu := member("eu-1", true, 0, "region=eu")
	eu2 := member("eu-2", true, 0, "region=eu")
	us := member("us-1", true, 0, "region=us")
	dedicated := member("dedicated-1", true, 0, "region=eu", "tier=dedicated")
	down := member("eu-down", false, 0, "region=eu")
	small := member("small", true, 1)
	cpuBound := Member{Name: "cpu-bound", Available: true, MaxRequests: cpu("4")}

	tests := []struct {
		name    string
		members []Member
		tenants []Tenant
		want    []Decision // Message is checked for the fragment in want.Message
	}{
		{
			name:    "new tenants spread by tenant count, ties by name",
			members: []Member{eu2, eu},
			tenants: []Tenant{{Name: "a"}, {Name: "b"}, {Name: "c"}},
			want: []Decision{
				{Tenant: "a", Clusters: []string{"eu-1"}, Reason: Placed, Message: "least full of eu-1, eu-2"},
				{Tenant: "b", Clusters: []string{"eu-2"}, Reason: Placed},
				{Tenant: "c", Clusters: []string{"eu-1"}, Reason: Placed},
			},
		},
		{
			name:    "selector by region",
			members: []Member{eu, us},
			tenants: []Tenant{{Name: "a", Selector: selector("region=us")}},
			want:    []Decision{{Tenant: "a", Clusters: []string{"us-1"}, Reason: Placed}},
		},
		{
			name:    "a plan's tier and the tenant's region together",
			members: []Member{eu, dedicated, us},
			tenants: []Tenant{{Name: "a", Selector: selector("tier=dedicated,region=eu")}},
			want:    []Decision{{Tenant: "a", Clusters: []string{"dedicated-1"}, Reason: Placed}},
		},
		{
			name:    "no member matches",
			members: []Member{eu, us},
			tenants: []Tenant{{Name: "a", Selector: selector("region=ap")}},
			want:    []Decision{{Tenant: "a", Reason: NoMatchingCluster, Message: "label a cluster to match"}},
		},
		{
			name:    "no member at all",
			tenants: []Tenant{{Name: "a"}},
			want:    []Decision{{Tenant: "a", Reason: NoMatchingCluster, Message: "has no member cluster"}},
		},
		{
			name:    "an unavailable member gets no new tenant",
			members: []Member{down, eu2},
			tenants: []Tenant{{Name: "a"}, {Name: "b"}},
			want: []Decision{
				{Tenant: "a", Clusters: []string{"eu-2"}, Reason: Placed},
				{Tenant: "b", Clusters: []string{"eu-2"}, Reason: Placed},
			},
		},
		{
			name:    "only unavailable members match",
			members: []Member{down, us},
			tenants: []Tenant{{Name: "a", Selector: selector("region=eu")}},
			want:    []Decision{{Tenant: "a", Reason: NoCapacity, Message: "clusters eu-down match"}},
		},
		{
			name:    "capacity by tenant count: full members are skipped",
			members: []Member{small, eu},
			tenants: []Tenant{{Name: "a", Current: "small"}, {Name: "b"}},
			want: []Decision{
				{Tenant: "a", Clusters: []string{"small"}, Reason: Kept},
				{Tenant: "b", Clusters: []string{"eu-1"}, Reason: Placed},
			},
		},
		{
			name:    "capacity by reserved CPU",
			members: []Member{cpuBound},
			tenants: []Tenant{{Name: "a", Requests: cpu("3")}, {Name: "b", Requests: cpu("2")}, {Name: "c", Requests: cpu("1")}},
			want: []Decision{
				{Tenant: "a", Clusters: []string{"cpu-bound"}, Reason: Placed},
				{Tenant: "b", Reason: NoCapacity, Message: "raise their capacity"},
				{Tenant: "c", Clusters: []string{"cpu-bound"}, Reason: Placed},
			},
		},
		{
			name:    "the least full by share of its bound, not by count",
			members: []Member{{Name: "big", Available: true, MaxTenants: 100}, {Name: "tiny", Available: true, MaxTenants: 2}},
			tenants: []Tenant{{Name: "a", Current: "big"}, {Name: "b", Current: "big"}, {Name: "t", Current: "tiny"}, {Name: "c"}},
			want: []Decision{
				{Tenant: "a", Clusters: []string{"big"}, Reason: Kept},
				{Tenant: "b", Clusters: []string{"big"}, Reason: Kept},
				{Tenant: "t", Clusters: []string{"tiny"}, Reason: Kept},
				{Tenant: "c", Clusters: []string{"big"}, Reason: Placed},
			},
		},
		{
			name:    "stable: a new, emptier member moves no placed tenant",
			members: []Member{eu, eu2},
			tenants: []Tenant{{Name: "a", Current: "eu-1"}, {Name: "b", Current: "eu-1"}},
			want: []Decision{
				{Tenant: "a", Clusters: []string{"eu-1"}, Reason: Kept},
				{Tenant: "b", Clusters: []string{"eu-1"}, Reason: Kept},
			},
		},
		{
			name:    "stable: a placed tenant whose selector no longer matches stays",
			members: []Member{eu, us},
			tenants: []Tenant{{Name: "a", Current: "eu-1", Selector: selector("region=us")}},
			want:    []Decision{{Tenant: "a", Clusters: []string{"eu-1"}, Reason: Kept}},
		},
		{
			name:    "an unavailable member's tenants are reported, not re-placed",
			members: []Member{down, eu},
			tenants: []Tenant{{Name: "a", Current: "eu-down"}},
			want:    []Decision{{Tenant: "a", Clusters: []string{"eu-down"}, Reason: ClusterUnavailable, Message: "not moved automatically"}},
		},
		{
			name:    "a member gone from the fleet keeps its tenants recorded",
			members: []Member{eu},
			tenants: []Tenant{{Name: "a", Current: "gone"}},
			want:    []Decision{{Tenant: "a", Clusters: []string{"gone"}, Reason: ClusterNotFound, Message: "register it again"}},
		},
		{
			name:    "a pin places a new tenant, over selectors and room",
			members: []Member{small, eu},
			tenants: []Tenant{{Name: "a", Current: "small"}, {Name: "b", Pin: "small", Selector: selector("region=eu")}},
			want: []Decision{
				{Tenant: "a", Clusters: []string{"small"}, Reason: Kept},
				{Tenant: "b", Clusters: []string{"small"}, Reason: Pinned},
			},
		},
		{
			name:    "a pin to no member",
			members: []Member{eu, us},
			tenants: []Tenant{{Name: "a", Pin: "ap-1"}},
			want:    []Decision{{Tenant: "a", Reason: ClusterNotFound, Message: "set it to one of eu-1, us-1"}},
		},
		{
			name:    "a move runs on both until healthy on the target",
			members: []Member{eu, us},
			tenants: []Tenant{{Name: "a", Current: "eu-1", Pin: "us-1"}},
			want:    []Decision{{Tenant: "a", Clusters: []string{"eu-1", "us-1"}, Reason: Moving, Message: "stays on eu-1 until"}},
		},
		{
			name:    "a move leaves the source once healthy on the target",
			members: []Member{eu, us},
			tenants: []Tenant{{Name: "a", Current: "eu-1", Pin: "us-1", PinHealthy: true}},
			want:    []Decision{{Tenant: "a", Clusters: []string{"us-1"}, Reason: Moved}},
		},
		{
			name:    "a move's target holds the tenant's room for others",
			members: []Member{small, member("big", true, 0)},
			tenants: []Tenant{{Name: "a", Current: "big", Pin: "small"}, {Name: "b", Selector: selector("!region")}},
			want: []Decision{
				{Tenant: "a", Clusters: []string{"big", "small"}, Reason: Moving},
				{Tenant: "b", Clusters: []string{"big"}, Reason: Placed},
			},
		},
		{
			name:    "a move to no member stays put",
			members: []Member{eu},
			tenants: []Tenant{{Name: "a", Current: "eu-1", Pin: "ap-1"}},
			want:    []Decision{{Tenant: "a", Clusters: []string{"eu-1"}, Reason: ClusterNotFound, Message: "the tenant stays on eu-1"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Place(tt.members, tt.tenants)
			if len(got) != len(tt.want) {
				t.Fatalf("%d decisions, want %d: %+v", len(got), len(tt.want), got)
			}
			for i, w := range tt.want {
				g := got[i]
				if g.Tenant != w.Tenant || !slices.Equal(g.Clusters, w.Clusters) || g.Reason != w.Reason || g.Placed() != (len(w.Clusters) > 0) {
					t.Errorf("decision %d = %s on %v (%s), want %s on %v (%s)", i, g.Tenant, g.Clusters, g.Reason, w.Tenant, w.Clusters, w.Reason)
				}
				if !strings.Contains(g.Message, w.Message) {
					t.Errorf("decision %d message %q, want it to contain %q", i, g.Message, w.Message)
				}
			}
		})
	}
}

func TestRequests(t *testing.T) {
	ns := corev1.ResourceList{corev1.ResourceRequestsCPU: resource.MustParse("500m"), corev1.ResourceRequestsMemory: resource.MustParse("1Gi"), corev1.ResourcePods: resource.MustParse("10")}
	tests := []struct {
		name        string
		tenantQuota corev1.ResourceList
		namespaces  int
		cpu, memory string
	}{
		{"namespaces' quota times their number", nil, 3, "1500m", "3Gi"},
		{"the plan's tenant-wide quota wins", corev1.ResourceList{corev1.ResourceRequestsCPU: resource.MustParse("1")}, 3, "1", "3Gi"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Requests(ns, tt.tenantQuota, tt.namespaces)
			if c, m := got[corev1.ResourceRequestsCPU], got[corev1.ResourceRequestsMemory]; c.Cmp(resource.MustParse(tt.cpu)) != 0 || m.Cmp(resource.MustParse(tt.memory)) != 0 {
				t.Errorf("Requests = cpu %s, memory %s; want %s, %s", c.String(), m.String(), tt.cpu, tt.memory)
			}
			if _, ok := got[corev1.ResourcePods]; ok {
				t.Errorf("Requests kept pods: only requests.cpu and requests.memory count")
			}
		})
	}
}

func TestMemberOf(t *testing.T) {
	meta := func(labels, annotations map[string]string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Namespace: "argocd", Name: "cluster-eu-1", Labels: labels, Annotations: annotations}
	}
	named := map[string]string{v1alpha1.LabelMember: "eu-1", "region": "eu"}
	tests := []struct {
		name        string
		meta        metav1.ObjectMeta
		maxTenants  int
		cpu, memory string // "" for no bound
		err         string
	}{
		{name: "no bounds", meta: meta(named, nil)},
		{name: "every bound", meta: meta(named, map[string]string{v1alpha1.AnnotationMaxTenants: "1000",
			v1alpha1.AnnotationMaxRequestsCPU: "64", v1alpha1.AnnotationMaxRequestsMemory: "256Gi"}), maxTenants: 1000, cpu: "64", memory: "256Gi"},
		{name: "no name", meta: meta(map[string]string{v1alpha1.LabelMember: ""}, nil), err: "set it to the cluster's name in Argo CD"},
		{name: "tenants not a number", meta: meta(named, map[string]string{v1alpha1.AnnotationMaxTenants: "many"}), err: `tenantry.dev/max-tenants="many": want a whole number`},
		{name: "negative tenants", meta: meta(named, map[string]string{v1alpha1.AnnotationMaxTenants: "-1"}), err: "want a whole number"},
		{name: "bad quantity", meta: meta(named, map[string]string{v1alpha1.AnnotationMaxRequestsMemory: "lots"}), err: `tenantry.dev/max-requests-memory="lots": want a positive quantity`},
		{name: "zero quantity", meta: meta(named, map[string]string{v1alpha1.AnnotationMaxRequestsCPU: "0"}), err: "want a positive quantity"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := MemberOf(tt.meta, true)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("MemberOf error %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if m.Name != "eu-1" || m.Labels["region"] != "eu" || !m.Available || m.MaxTenants != tt.maxTenants {
				t.Errorf("MemberOf = %+v", m)
			}
			for r, want := range map[corev1.ResourceName]string{corev1.ResourceRequestsCPU: tt.cpu, corev1.ResourceRequestsMemory: tt.memory} {
				got, ok := m.MaxRequests[r]
				if ok != (want != "") || ok && got.Cmp(resource.MustParse(want)) != 0 {
					t.Errorf("MaxRequests[%s] = %v (%v), want %q", r, got.String(), ok, want)
				}
			}
		})
	}
}

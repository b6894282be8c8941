package render

import (
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tenantry/tenantry/api/v1alpha1"
)

func TestDomainsOverlap(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"acme.example.com", "acme.example.com", true},
		{"shop.acme.example.com", "acme.example.com", true},
		{"acme.example.com", "shop.acme.example.com", true},
		{"example.com", "acme.example.com", true},
		{"myacme.example.com", "acme.example.com", false}, // label-wise, not a string suffix
		{"acme.example.com", "acme.example.org", false},
		{"acme.example.com", "globex.example.com", false},
	}
	for _, tt := range tests {
		if got := DomainsOverlap(tt.a, tt.b); got != tt.want {
			t.Errorf("DomainsOverlap(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestDomainConflict(t *testing.T) {
	at := func(sec int) metav1.Time { return metav1.NewTime(time.Unix(1_800_000_000+int64(sec), 0)) }
	tenant := func(name string, created int, domains ...string) v1alpha1.Tenant {
		return v1alpha1.Tenant{
			ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: at(created)},
			Spec:       v1alpha1.TenantSpec{Ingress: v1alpha1.Ingress{Domains: domains}},
		}
	}
	holding := func(t v1alpha1.Tenant) v1alpha1.Tenant {
		t.Status.IngressDomains = t.Spec.Ingress.Domains
		return t
	}
	deleting := tenant("old", 0, "acme.example.com")
	deleting.DeletionTimestamp = &metav1.Time{Time: at(5).Time}
	tests := []struct {
		name      string
		tenant    v1alpha1.Tenant
		others    []v1alpha1.Tenant
		wantOwner string
	}{
		{"no other tenant", tenant("acme", 1, "acme.example.com"), nil, ""},
		{"an older tenant holds a parent domain", tenant("acme", 2, "shop.example.com"),
			[]v1alpha1.Tenant{tenant("globex", 1, "example.com")}, "globex"},
		{"a younger tenant yields to this one", tenant("acme", 1, "example.com"),
			[]v1alpha1.Tenant{tenant("globex", 2, "shop.example.com")}, ""},
		{"same second: the name decides", tenant("globex", 1, "example.com"),
			[]v1alpha1.Tenant{tenant("acme", 1, "example.com")}, "acme"},
		{"a tenant being deleted gives its domains up", tenant("acme", 1, "acme.example.com"),
			[]v1alpha1.Tenant{deleting}, ""},
		{"the tenant itself in the list", tenant("acme", 1, "acme.example.com"),
			[]v1alpha1.Tenant{tenant("acme", 1, "acme.example.com")}, ""},
		{"an older tenant cannot take a domain a younger one holds", tenant("acme", 1, "example.com"),
			[]v1alpha1.Tenant{holding(tenant("globex", 2, "shop.example.com"))}, "globex"},
		{"a holder keeps its domain against an older claimant", holding(tenant("globex", 2, "shop.example.com")),
			[]v1alpha1.Tenant{tenant("acme", 1, "example.com")}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, owner, _ := DomainConflict(&tt.tenant, tt.others)
			if owner != tt.wantOwner {
				t.Errorf("conflict owner = %q, want %q", owner, tt.wantOwner)
			}
		})
	}
}

func TestPlatformNamespaces(t *testing.T) {
	got := PlatformNamespaces(DefaultOptions())
	if want := []string{"ingress-nginx", "monitoring", "kube-system"}; !slices.Equal(got, want) {
		t.Errorf("PlatformNamespaces = %v, want %v", got, want)
	}
	opts := DefaultOptions()
	opts.MonitoringNamespaceSelector = map[string]string{"team": "observability"} // not by name
	opts.DNS.NamespaceSelector = map[string]string{corev1.LabelMetadataName: "dns"}
	if got, want := PlatformNamespaces(opts), []string{"ingress-nginx", "dns"}; !slices.Equal(got, want) {
		t.Errorf("PlatformNamespaces with a label selector = %v, want %v", got, want)
	}
}

package decide

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/tenantry/tenantry/api/v1alpha1"
)

func managed(tenant string) map[string]string {
	return map[string]string{v1alpha1.LabelTenant: tenant, v1alpha1.LabelManagedBy: v1alpha1.ManagedByValue}
}

func TestNamespaceConflict(t *testing.T) {
	platform := []string{"ingress-nginx", "monitoring"}
	tests := []struct {
		name string
		seen []NamespaceSeen
		want string // a fragment; "" for no conflict
	}{
		{"nothing there yet", []NamespaceSeen{{Name: "acme-dev"}, {Name: "acme-prod"}}, ""},
		{"the tenant's own", []NamespaceSeen{{Name: "acme-dev", Exists: true, Labels: managed("acme")}}, ""},
		{"reserved even before it exists", []NamespaceSeen{{Name: "monitoring"}}, "namespace monitoring is reserved for the platform"},
		{"another tenant's", []NamespaceSeen{{Name: "acme-prod-eu", Exists: true, Labels: managed("acme-prod")}}, "already belongs to tenant acme-prod"},
		{"unmanaged", []NamespaceSeen{{Name: "acme-dev", Exists: true, Labels: map[string]string{"team": "x"}}}, "is not managed by Tenantry"},
		{"labelled for the tenant by hand", []NamespaceSeen{{Name: "acme-dev", Exists: true,
			Labels: map[string]string{v1alpha1.LabelTenant: "acme"}}}, "already belongs to tenant acme"},
		{"first conflict wins", []NamespaceSeen{{Name: "acme-dev", Exists: true, Labels: managed("acme")},
			{Name: "acme-prod", Exists: true}}, "namespace acme-prod already exists"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := NamespaceConflict("acme", tt.seen, platform)
			if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
				t.Errorf("NamespaceConflict = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestCheckServiceAccounts(t *testing.T) {
	tests := []struct {
		name   string
		tenant *v1alpha1.Tenant
		want   bool
	}{
		{"never ready", newTenant(), true},
		{"not ready", newTenant(withCondition(v1alpha1.ConditionReady, metav1.ConditionFalse, "x")), true},
		{"ready for an older generation", newTenant(withCondition(v1alpha1.ConditionReady, metav1.ConditionTrue, "x")), true},
		{"ready for this generation", newTenant(func(t *v1alpha1.Tenant) {
			t.Status.Conditions = []metav1.Condition{{Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue, ObservedGeneration: generation}}
		}), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CheckServiceAccounts(tt.tenant); got != tt.want {
				t.Errorf("CheckServiceAccounts = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestReadiness(t *testing.T) {
	enforced := quota(list("pods", "10"), list("pods", "2"))
	unenforced := &corev1.ResourceQuota{}
	active := func(name string, q *corev1.ResourceQuota, sa *bool) NamespaceSeen {
		return NamespaceSeen{Name: name, Exists: true, Active: true, Quota: q, DefaultServiceAccount: sa}
	}
	tests := []struct {
		name                 string
		seen                 []NamespaceSeen
		nsReady, guardsReady bool
		recheck              bool
		message              string // NamespacesMessage or GuardrailsMessage, whichever is not ready
	}{
		{"all in place", []NamespaceSeen{active("a", enforced, ptr.To(true)), active("b", enforced, nil)}, true, true, false, ""},
		{"namespace missing", []NamespaceSeen{{Name: "a"}, active("b", enforced, nil)}, false, true, false,
			"waiting for namespaces to become active: a"},
		{"namespace terminating", []NamespaceSeen{{Name: "a", Exists: true}}, false, true, false,
			"waiting for namespaces to become active: a"},
		{"quota not yet computed", []NamespaceSeen{active("a", unenforced, nil), active("b", nil, nil)}, true, false, false,
			"waiting for the quota controller to enforce the quota in a, b"},
		{"default service account missing", []NamespaceSeen{active("a", enforced, ptr.To(false))}, false, true, true,
			"waiting for the default ServiceAccount in a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var obs Observed
			recheck := Readiness(&obs, tt.seen, false)
			if obs.NamespacesReady != tt.nsReady || obs.GuardrailsReady != tt.guardsReady || recheck != tt.recheck {
				t.Fatalf("namespaces ready %v, guardrails ready %v, recheck %v; want %v, %v, %v",
					obs.NamespacesReady, obs.GuardrailsReady, recheck, tt.nsReady, tt.guardsReady, tt.recheck)
			}
			if got := obs.NamespacesMessage + obs.GuardrailsMessage; !strings.HasPrefix(got, tt.message) || (tt.message == "") != (got == "") {
				t.Errorf("message %q, want %q", got, tt.message)
			}
			if len(obs.Namespaces) != len(tt.seen) {
				t.Errorf("Namespaces = %v", obs.Namespaces)
			}
		})
	}
	t.Run("quotas add up", func(t *testing.T) {
		var obs Observed
		Readiness(&obs, []NamespaceSeen{active("a", enforced, nil), active("b", enforced, nil)}, false)
		if got := obs.QuotaUsed[corev1.ResourcePods]; got.String() != "4" {
			t.Errorf("pods used %s, want 4", got.String())
		}
	})
}

func TestDomainConflict(t *testing.T) {
	got := DomainConflict("shop.acme.example", "globex", "acme.example")
	want := "spec.ingress.domains: shop.acme.example overlaps acme.example, which tenant globex holds or claimed first; choose another domain or remove it from globex"
	if got != want {
		t.Errorf("DomainConflict = %q", got)
	}
}

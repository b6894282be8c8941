package escapes_test

import (
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tenantry/tenantry/api/v1alpha1"
	"github.com/tenantry/tenantry/internal/doctor"
	"github.com/tenantry/tenantry/internal/escapes"
)

// acme is a tenant on a plan like pro: two namespaces, a domain, internet
// egress, ClusterIP Services only.
func acme() escapes.Target {
	return escapes.Target{
		Tenant: &v1alpha1.Tenant{
			ObjectMeta: metav1.ObjectMeta{Name: "acme"},
			Spec:       v1alpha1.TenantSpec{Plan: "pro", Ingress: v1alpha1.Ingress{Domains: []string{"acme.example.com"}}},
			Status:     v1alpha1.TenantStatus{Namespaces: []string{"acme-prod", "acme-staging"}},
		},
		Plan: &v1alpha1.TenantPlan{ObjectMeta: metav1.ObjectMeta{Name: "pro"}, Spec: v1alpha1.TenantPlanSpec{
			AllowedServiceTypes: []v1alpha1.ServiceType{"ClusterIP"},
			AllowedRegistries:   []string{"ghcr.io/"},
			AllowInternetEgress: true,
			StorageClasses:      []string{"standard"},
		}},
		User: "alice@acme.com", Image: "ghcr.io/acme/web:1.0", OtherNamespace: "globex",
	}
}

// bare is a tenant on a plan that allows every Service type and nothing
// else, with no domain and no other tenant known.
func bare() escapes.Target {
	return escapes.Target{
		Tenant: &v1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: "bare"}, Status: v1alpha1.TenantStatus{Namespaces: []string{"bare"}}},
		Plan: &v1alpha1.TenantPlan{ObjectMeta: metav1.ObjectMeta{Name: "open"}, Spec: v1alpha1.TenantPlanSpec{
			AllowedServiceTypes: []v1alpha1.ServiceType{"ClusterIP", "NodePort", "LoadBalancer"},
		}},
		Image: "registry.k8s.io/pause:3.10", OtherNamespace: "kube-system", DryRun: true, NamePrefix: "doctor",
	}
}

func TestCatalogueInvariants(t *testing.T) {
	layers := []escapes.Layer{escapes.Allowed, escapes.RBAC, escapes.PodSecurity, escapes.Guardrail}
	for _, target := range []escapes.Target{acme(), bare()} {
		seen := map[string]bool{}
		for _, e := range escapes.Catalogue(target) {
			switch {
			case e.ID == "":
				t.Errorf("an entry (%q) has no ID", e.Description)
			case seen[e.ID]:
				t.Errorf("ID %s appears twice", e.ID)
			case e.Description == "":
				t.Errorf("%s has no description", e.ID)
			case e.Try == nil:
				t.Errorf("%s tries nothing", e.ID)
			case !slices.Contains(layers, e.Want.Layer):
				t.Errorf("%s: want layer %q, not one of %v", e.ID, e.Want.Layer, layers)
			case !e.Want.Allowed() && len(e.Want.Detail) == 0:
				t.Errorf("%s: a refusal names no fragment of its message", e.ID)
			case (e.Want.Layer == escapes.Guardrail) != (e.Want.Policy != ""):
				t.Errorf("%s: layer %s with policy %q; a guardrail refusal, and only one, names its policy", e.ID, e.Want.Layer, e.Want.Policy)
			case !slices.Contains(escapes.Fixtures(), e.Needs):
				t.Errorf("%s needs %q, not a known fixture", e.ID, e.Needs)
			}
			seen[e.ID] = true
		}
	}
}

// The escape suite runs each entry once, as the actor with its fixture:
// which entries there are cannot depend on the target, only whether
// each applies.
func TestCatalogueIsTheSameForEveryTarget(t *testing.T) {
	ids := func(target escapes.Target) []string {
		var ids []string
		for _, e := range escapes.Catalogue(target) {
			ids = append(ids, e.ID)
		}
		return ids
	}
	if a, b := ids(acme()), ids(bare()); !slices.Equal(a, b) {
		t.Errorf("the catalogue differs by target:\n%v\n%v", a, b)
	}
}

// TestDoctorRunsCatalogueEntries keeps `tenantry doctor` on the
// catalogue: each check it runs is an entry that needs no fixture, and it
// shows the descriptions docs/cli.md shows.
func TestDoctorRunsCatalogueEntries(t *testing.T) {
	entries, err := escapes.Lookup(escapes.Catalogue(acme()), doctor.Checks...)
	if err != nil {
		t.Fatal(err)
	}
	var descriptions []string
	for _, e := range entries {
		if e.Needs != escapes.NoFixture {
			t.Errorf("doctor runs %s, which needs %s", e.ID, e.Needs)
		}
		if e.Skip != "" {
			t.Errorf("%s does not apply to a pro tenant: %s", e.ID, e.Skip)
		}
		descriptions = append(descriptions, e.Description)
	}
	want := []string{
		"read its own namespace",
		"deploy a workload",
		"create a ClusterIP Service",
		"create its own Role",
		"bind the viewer role to a colleague",
		"create a NetworkPolicy within the tenant",
		"read Secrets in globex",
		"list namespaces cluster-wide",
		"raise its own quota",
		"relabel its namespace",
		"delete its default-deny NetworkPolicy",
		"run a privileged pod",
		"run an image from a foreign registry",
		"serve a host outside its domains",
		"bind cluster-admin in its namespace",
		"create a ClusterRoleBinding",
		"create a NodePort Service",
	}
	if !slices.Equal(descriptions, want) {
		t.Errorf("doctor's checks:\n%q\nwant\n%q", descriptions, want)
	}
}

func TestLookupNamesAMissingEntry(t *testing.T) {
	if _, err := escapes.Lookup(escapes.Catalogue(acme()), "no/such-entry"); err == nil {
		t.Error("Lookup found an entry that does not exist")
	}
}

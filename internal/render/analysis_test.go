package render

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/tenantry/tenantry/api/v1alpha1"
)

func TestAnalysis(t *testing.T) {
	vault, own := "prom-token", "acme-token"
	tests := []struct {
		name         string
		plan, tenant *v1alpha1.AnalysisDefaults
		want         *v1alpha1.AnalysisDefaults
	}{
		{"neither sets any", nil, nil, nil},
		{"the plan's are inherited",
			&v1alpha1.AnalysisDefaults{PrometheusAddress: "http://prom:9090", CredentialsSecret: vault}, nil,
			&v1alpha1.AnalysisDefaults{PrometheusAddress: "http://prom:9090", CredentialsSecret: vault}},
		{"the tenant overrides the address only",
			&v1alpha1.AnalysisDefaults{PrometheusAddress: "http://prom:9090", CredentialsSecret: vault},
			&v1alpha1.AnalysisDefaults{PrometheusAddress: "http://mimir:8080/prometheus"},
			&v1alpha1.AnalysisDefaults{PrometheusAddress: "http://mimir:8080/prometheus", CredentialsSecret: vault}},
		{"the tenant overrides the credentials only",
			&v1alpha1.AnalysisDefaults{PrometheusAddress: "http://prom:9090", CredentialsSecret: vault},
			&v1alpha1.AnalysisDefaults{CredentialsSecret: own},
			&v1alpha1.AnalysisDefaults{PrometheusAddress: "http://prom:9090", CredentialsSecret: own}},
		{"the tenant's alone", nil,
			&v1alpha1.AnalysisDefaults{PrometheusAddress: "http://prom:9090"},
			&v1alpha1.AnalysisDefaults{PrometheusAddress: "http://prom:9090"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tenant := newTenant(func(t *v1alpha1.Tenant) { t.Spec.Analysis = tt.tenant })
			plan := newPlan(func(p *v1alpha1.TenantPlan) { p.Spec.Analysis = tt.plan })
			if got := Analysis(tenant, plan); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Analysis = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// Every namespace gets the analysis Secret, with the contract's keys, only
// when the plan or the tenant sets defaults.
func TestTenantRendersAnalysisSecret(t *testing.T) {
	secrets := func(tenant *v1alpha1.Tenant, plan *v1alpha1.TenantPlan) map[string]*corev1.Secret {
		objs, err := Tenant(tenant, plan, DefaultOptions())
		if err != nil {
			t.Fatal(err)
		}
		found := map[string]*corev1.Secret{}
		for _, o := range objs {
			if s, ok := o.(*corev1.Secret); ok {
				found[s.Namespace] = s
			}
		}
		return found
	}
	if got := secrets(newTenant(withEnvironments("prod")), newPlan()); len(got) != 0 {
		t.Errorf("without analysis defaults, rendered Secrets %v", got)
	}
	plan := newPlan(func(p *v1alpha1.TenantPlan) {
		p.Spec.Analysis = &v1alpha1.AnalysisDefaults{PrometheusAddress: "http://prom:9090"}
	})
	got := secrets(newTenant(withEnvironments("prod", "staging")), plan)
	if len(got) != 2 {
		t.Fatalf("rendered analysis Secrets in %d namespaces, want 2 (acme-prod, acme-staging)", len(got))
	}
	s := got["acme-prod"]
	want := map[string]string{AnalysisKeyPrometheusAddress: "http://prom:9090", AnalysisKeyTenant: "acme", AnalysisKeyAuthorization: ""}
	for k, v := range want {
		if string(s.Data[k]) != v {
			t.Errorf("Secret %s key %s = %q, want %q", s.Name, k, s.Data[k], v)
		}
	}
	if s.Name != AnalysisSecretName || s.Labels[v1alpha1.LabelTenant] != "acme" || s.Labels[v1alpha1.LabelManagedBy] != v1alpha1.ManagedByValue {
		t.Errorf("Secret %s labels %v: want the name %s and the tenant and managed-by labels", s.Name, s.Labels, AnalysisSecretName)
	}
}

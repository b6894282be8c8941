package render

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/tenantry/tenantry/api/v1alpha1"
)

func TestAnalysis(t *testing.T) {
	vault, own, gateway := "prom-token", "acme-token", "http://tenantry-metrics-gateway.tenantry-system:9090"
	tests := []struct {
		name         string
		plan, tenant *v1alpha1.AnalysisDefaults
		gateway      string
		want         *v1alpha1.AnalysisDefaults
		wantMinted   bool
	}{
		{name: "neither sets any, no gateway"},
		{name: "the plan's are inherited",
			plan: &v1alpha1.AnalysisDefaults{PrometheusAddress: "http://prom:9090"},
			want: &v1alpha1.AnalysisDefaults{PrometheusAddress: "http://prom:9090"}},
		{name: "the tenant overrides the address",
			plan:   &v1alpha1.AnalysisDefaults{PrometheusAddress: "http://prom:9090"},
			tenant: &v1alpha1.AnalysisDefaults{PrometheusAddress: "http://mimir:8080/prometheus"},
			want:   &v1alpha1.AnalysisDefaults{PrometheusAddress: "http://mimir:8080/prometheus"}},
		{name: "the tenant adds its own credentials",
			plan:   &v1alpha1.AnalysisDefaults{PrometheusAddress: "http://mimir:8080/prometheus"},
			tenant: &v1alpha1.AnalysisDefaults{CredentialsSecret: own},
			want:   &v1alpha1.AnalysisDefaults{PrometheusAddress: "http://mimir:8080/prometheus", CredentialsSecret: own}},
		{name: "the tenant's alone",
			tenant: &v1alpha1.AnalysisDefaults{PrometheusAddress: "http://prom:9090", CredentialsSecret: vault},
			want:   &v1alpha1.AnalysisDefaults{PrometheusAddress: "http://prom:9090", CredentialsSecret: vault}},
		{name: "no defaults: the gateway, with a minted credential", gateway: gateway,
			want: &v1alpha1.AnalysisDefaults{PrometheusAddress: gateway}, wantMinted: true},
		{name: "the gateway named explicitly: minted", gateway: gateway,
			plan: &v1alpha1.AnalysisDefaults{PrometheusAddress: gateway},
			want: &v1alpha1.AnalysisDefaults{PrometheusAddress: gateway}, wantMinted: true},
		{name: "the gateway with the tenant's own credential: copied, not minted", gateway: gateway,
			tenant: &v1alpha1.AnalysisDefaults{CredentialsSecret: own},
			want:   &v1alpha1.AnalysisDefaults{PrometheusAddress: gateway, CredentialsSecret: own}},
		{name: "another backend, although the gateway runs: nothing minted for it", gateway: gateway,
			plan: &v1alpha1.AnalysisDefaults{PrometheusAddress: "http://mimir:8080/prometheus"},
			want: &v1alpha1.AnalysisDefaults{PrometheusAddress: "http://mimir:8080/prometheus"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tenant := newTenant(func(t *v1alpha1.Tenant) { t.Spec.Analysis = tt.tenant })
			plan := newPlan(func(p *v1alpha1.TenantPlan) { p.Spec.Analysis = tt.plan })
			opts := Options{MetricsGatewayURL: tt.gateway}
			got := Analysis(tenant, plan, opts)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Analysis = %+v, want %+v", got, tt.want)
			}
			if minted := MintsMetricsCredential(got, opts); minted != tt.wantMinted {
				t.Errorf("MintsMetricsCredential = %v, want %v", minted, tt.wantMinted)
			}
		})
	}
}

// Where the operator mints the credential, each namespace gets the metrics
// ServiceAccount (no token mounted) between the operator's binding and the
// Secret; the operator's role may mint tokens for that account only.
func TestTenantRendersMetricsCredential(t *testing.T) {
	opts := DefaultOptions()
	opts.MetricsGatewayURL = "http://tenantry-metrics-gateway.tenantry-system:9090"
	objs, err := Tenant(newTenant(withEnvironments("prod", "staging")), newPlan(), opts)
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, o := range objs {
		if o.GetNamespace() == "acme-prod" && (o.GetName() == AnalysisWriterBindingName || o.GetName() == MetricsServiceAccountName || o.GetName() == AnalysisSecretName) {
			order = append(order, o.GetObjectKind().GroupVersionKind().Kind)
		}
		if sa, ok := o.(*corev1.ServiceAccount); ok && sa.Name == MetricsServiceAccountName {
			if sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken {
				t.Errorf("ServiceAccount %s/%s mounts its token; want automountServiceAccountToken false", sa.Namespace, sa.Name)
			}
		}
		if s, ok := o.(*corev1.Secret); ok && string(s.Data[AnalysisKeyPrometheusAddress]) != opts.MetricsGatewayURL {
			t.Errorf("Secret %s/%s address %q, want the gateway's", s.Namespace, s.Name, s.Data[AnalysisKeyPrometheusAddress])
		}
	}
	if want := []string{"RoleBinding", "ServiceAccount", "Secret"}; !reflect.DeepEqual(order, want) {
		t.Errorf("acme-prod's analysis objects %v, want %v", order, want)
	}
	rules := AnalysisWriterClusterRole().Rules
	if len(rules) != 2 || !reflect.DeepEqual(rules[1].Resources, []string{"serviceaccounts/token"}) ||
		!reflect.DeepEqual(rules[1].ResourceNames, []string{MetricsServiceAccountName}) || !reflect.DeepEqual(rules[1].Verbs, []string{"create"}) {
		t.Errorf("analysis-writer rules %+v: want create on serviceaccounts/token of %s only", rules, MetricsServiceAccountName)
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

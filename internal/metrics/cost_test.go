package metrics

import (
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tenantry/tenantry/api/v1alpha1"
)

// TestCostSeries: with a PriceList, each tenant gets its plan's rates over
// the PriceList's, its namespaces their environment and reservations (and,
// on a plan billed on its quota, the quota's hard values); without one,
// no cost series at all.
func TestCostSeries(t *testing.T) {
	p := func(s string) *v1alpha1.Price { v := v1alpha1.Price(s); return &v }
	quota := func(ns, tenant string, used, hard corev1.ResourceList) corev1.ResourceQuota {
		return corev1.ResourceQuota{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "tenantry-quota", Labels: map[string]string{v1alpha1.LabelTenant: tenant}},
			Status:     corev1.ResourceQuotaStatus{Used: used, Hard: hard},
		}
	}
	q := func(cpu, memory string) corev1.ResourceList {
		return corev1.ResourceList{"requests.cpu": resource.MustParse(cpu), "requests.memory": resource.MustParse(memory)}
	}
	reader := listReader{
		tenants: []v1alpha1.Tenant{
			{ObjectMeta: metav1.ObjectMeta{Name: "acme"}, Spec: v1alpha1.TenantSpec{Plan: "pro", Environments: []string{"prod", "staging"}}},
			{ObjectMeta: metav1.ObjectMeta{Name: "globex"}, Spec: v1alpha1.TenantSpec{Plan: "committed"}},
		},
		quotas: []corev1.ResourceQuota{
			quota("acme-prod", "acme", q("250m", "1Gi"), q("2", "4Gi")),
			quota("acme-staging", "acme", q("0", "0"), q("2", "4Gi")),
			quota("globex", "globex", q("100m", "128Mi"), q("1", "2Gi")),
		},
		plans: []v1alpha1.TenantPlan{
			{ObjectMeta: metav1.ObjectMeta{Name: "pro"}},
			{ObjectMeta: metav1.ObjectMeta{Name: "committed"}, Spec: v1alpha1.TenantPlanSpec{Prices: &v1alpha1.PlanPrices{
				Prices: v1alpha1.Prices{CPUCoreHour: p("0.03")}, Basis: v1alpha1.BasisQuota}}},
		},
	}
	elected := make(chan struct{})
	close(elected)
	if got := seriesByName(t, tenantGatherer{reader: reader, elected: elected}); got["tenantry_tenant_price_hourly"] != 0 {
		t.Errorf("without a PriceList: %v, want no cost series", got)
	}

	reader.prices = &v1alpha1.PriceList{ObjectMeta: metav1.ObjectMeta{Name: v1alpha1.PriceListName}, Spec: v1alpha1.PriceListSpec{
		Currency: "USD", Prices: v1alpha1.Prices{CPUCoreHour: p("0.04"), MemoryGiBHour: p("0.005"), TenantMonth: p("73")},
		SharedNamespaces: []string{"tenantry-system", "argocd"}, PlatformMonth: p("730"),
	}}
	g := tenantGatherer{reader: reader, elected: elected}
	counts := seriesByName(t, g)
	for metric, want := range map[string]int{
		"tenantry_tenant_price_hourly": 10, "tenantry_platform_price_hourly": 3, "tenantry_shared_namespace": 2,
		"tenantry_namespace_info": 3, "tenantry_namespace_resource_requests": 9, "tenantry_namespace_resource_committed": 3,
	} {
		if counts[metric] != want {
			t.Errorf("%d series of %s, want %d", counts[metric], metric, want)
		}
	}
	values := seriesValues(t, g)
	for series, want := range map[string]float64{
		`tenantry_tenant_price_hourly{currency="USD",resource="cpu",tenant="acme",unit="core"}`:                    0.04,
		`tenantry_tenant_price_hourly{currency="USD",resource="cpu",tenant="globex",unit="core"}`:                  0.03,
		`tenantry_tenant_price_hourly{currency="USD",resource="tenant",tenant="globex",unit="tenant"}`:             0.1,
		`tenantry_platform_price_hourly{currency="USD",resource="platform",unit="platform"}`:                       1,
		`tenantry_namespace_info{environment="staging",namespace="acme-staging",tenant="acme"}`:                    1,
		`tenantry_namespace_resource_requests{namespace="acme-prod",resource="cpu",tenant="acme",unit="core"}`:     0.25,
		`tenantry_namespace_resource_requests{namespace="acme-prod",resource="memory",tenant="acme",unit="byte"}`:  1 << 30,
		`tenantry_namespace_resource_requests{namespace="acme-prod",resource="storage",tenant="acme",unit="byte"}`: 0,
		`tenantry_namespace_resource_committed{namespace="globex",resource="cpu",tenant="globex",unit="core"}`:     1,
		`tenantry_namespace_resource_committed{namespace="globex",resource="memory",tenant="globex",unit="byte"}`:  2 << 30,
	} {
		if got, ok := values[series]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", series, got, ok, want)
		}
	}
}

// seriesValues is every series g gathers, as name{labels} → value.
func seriesValues(t *testing.T, g prometheus.Gatherer) map[string]float64 {
	t.Helper()
	families, err := prometheus.Gatherers{g}.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+`="`+l.GetValue()+`"`)
			}
			slices.Sort(labels)
			out[f.GetName()+"{"+strings.Join(labels, ",")+"}"] = m.GetGauge().GetValue()
		}
	}
	return out
}

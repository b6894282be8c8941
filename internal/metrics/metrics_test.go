package metrics

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/yaml"

	"github.com/tenantry/tenantry/api/v1alpha1"
	"github.com/tenantry/tenantry/charts"
)

// TestOnlyTheLeaderReportsTenants: a standby replica has the same cache as
// the leader, but reports no tenant series, so sums over the operator's
// pods count each tenant once.
func TestOnlyTheLeaderReportsTenants(t *testing.T) {
	reader := listReader{tenants: []v1alpha1.Tenant{{ObjectMeta: metav1.ObjectMeta{Name: "acme"}, Spec: v1alpha1.TenantSpec{Plan: "free"}}}}
	elected := make(chan struct{})
	gatherer := tenantGatherer{reader: reader, elected: elected}
	if got := seriesByName(t, gatherer); len(got) != 0 {
		t.Errorf("a standby reported %v, want nothing", got)
	}
	close(elected)
	got := seriesByName(t, gatherer)
	for metric, want := range map[string]int{"tenantry_tenant_info": 1, "tenantry_tenants": 5, "tenantry_tenant_suspended": 1} {
		if got[metric] != want {
			t.Errorf("the leader reported %d series of %s, want %d", got[metric], metric, want)
		}
	}
}

// fqName finds a metric's name in its Desc's String.
var fqName = regexp.MustCompile(`fqName: "([a-z_]+)"`)

// TestDashboardsUseExistingMetrics checks that every tenantry_ series the
// shipped Grafana dashboard and alert rules query is one the operator
// exports, so a renamed metric cannot leave a blank panel or a silent alert.
func TestDashboardsUseExistingMetrics(t *testing.T) {
	exported := map[string]bool{}
	for _, name := range registeredNames() {
		for _, suffix := range []string{"", "_bucket", "_count", "_sum"} {
			exported[name+suffix] = true
		}
	}
	for _, f := range slices.Concat(tenantFamilies, costFamilies) {
		exported[f.name] = true
	}

	files, err := fs.Glob(charts.Tenantry, "tenantry/dashboards/*")
	if err != nil || len(files) < 2 {
		t.Fatalf("dashboards: %v, %v", files, err)
	}
	series := regexp.MustCompile(`tenantry_[a-z_]+`)
	for _, f := range files {
		data, err := fs.ReadFile(charts.Tenantry, f)
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		if strings.HasSuffix(f, ".json") {
			err = json.Unmarshal(data, &doc)
		} else {
			err = yaml.Unmarshal(data, &doc)
		}
		if err != nil {
			t.Fatalf("%s does not parse: %v", f, err)
		}
		used := series.FindAllString(string(data), -1)
		if len(used) == 0 {
			t.Errorf("%s queries no tenantry_ metric", f)
		}
		for _, name := range used {
			if !exported[name] {
				t.Errorf("%s queries %s, which the operator does not export", f, name)
			}
		}
	}
}

// registeredNames are the names of the metrics Register puts in the
// registry.
func registeredNames() []string {
	descs := make(chan *prometheus.Desc, 64)
	for _, c := range collectors() {
		c.Describe(descs)
	}
	close(descs)
	var names []string
	for d := range descs {
		names = append(names, fqName.FindStringSubmatch(d.String())[1])
	}
	return names
}

// TestTenantFamiliesAreNotRegistered: withTenants serves the registry's
// families and the tenant gatherer's side by side, which holds only while
// their names differ, controller-runtime's own metrics included.
func TestTenantFamiliesAreNotRegistered(t *testing.T) {
	families, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	registered := registeredNames()
	for _, f := range families {
		registered = append(registered, f.GetName())
	}
	for _, f := range tenantFamilies {
		if slices.Contains(registered, f.name) {
			t.Errorf("%s is both a tenant family and a registered metric", f.name)
		}
	}
}

// seriesByName gathers g through the registry's own checks (types, label
// names and values, no two series alike), checks that each series has its
// family's labels in order, and counts the series by metric name.
func seriesByName(t *testing.T, g prometheus.Gatherer) map[string]int {
	t.Helper()
	families, err := prometheus.Gatherers{g}.Gather()
	if err != nil {
		t.Fatalf("the tenant families fail the registry's checks: %v", err)
	}
	labels := map[string][]string{}
	for _, f := range slices.Concat(tenantFamilies, costFamilies) {
		labels[f.name] = f.labels
	}
	n := map[string]int{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			var names []string
			for _, l := range m.GetLabel() {
				names = append(names, l.GetName())
			}
			if !slices.Equal(names, labels[f.GetName()]) {
				t.Errorf("a series of %s has labels %v, want %v", f.GetName(), names, labels[f.GetName()])
			}
		}
		n[f.GetName()] = len(f.GetMetric())
	}
	return n
}

// TestQuotaSeriesFollowTheDetail: the quota series, those that grow with
// tenants and namespaces, are exported as far as the detail asks.
func TestQuotaSeriesFollowTheDetail(t *testing.T) {
	reader := quotaReader(1)
	elected := make(chan struct{})
	close(elected)
	// One tenant, two namespaces, 13 quota resources.
	tests := []struct {
		name              string
		detail            QuotaDetail
		tenant, namespace int // series of each used and hard metric
	}{
		{"default", "", 13, 26},
		{"namespace", QuotaNamespace, 13, 26},
		{"tenant", QuotaTenant, 13, 0},
		{"none", QuotaNone, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := seriesByName(t, tenantGatherer{reader: reader, elected: elected, quota: tt.detail})
			for metric, want := range map[string]int{
				"tenantry_tenant_quota_used": tt.tenant, "tenantry_tenant_quota_hard": tt.tenant,
				"tenantry_namespace_quota_used": tt.namespace, "tenantry_namespace_quota_hard": tt.namespace,
				"tenantry_tenant_info": 1,
			} {
				if got[metric] != want {
					t.Errorf("%d series of %s, want %d", got[metric], metric, want)
				}
			}
		})
	}
	if _, err := ParseQuotaDetail("all"); err == nil || !strings.Contains(err.Error(), "namespace, tenant or none") {
		t.Errorf("ParseQuotaDetail(all) = %v, want an error naming the choices", err)
	}
}

// BenchmarkScrape10000Tenants is what one /metrics scrape of the tenant
// families costs the operator at 10,000 two-environment tenants with five
// conditions each, on plan pro's 13 quota resources, at each quota detail
// and with a PriceList (+cost): the series, and the time and memory the
// scrape takes, gzipped as
// Prometheus asks for it.
func BenchmarkScrape10000Tenants(b *testing.B) {
	reader := quotaReader(10000)
	elected := make(chan struct{})
	close(elected)
	priced := reader
	price := v1alpha1.Price("0.03")
	priced.prices = &v1alpha1.PriceList{ObjectMeta: metav1.ObjectMeta{Name: v1alpha1.PriceListName},
		Spec: v1alpha1.PriceListSpec{Currency: "USD", Prices: v1alpha1.Prices{CPUCoreHour: &price}}}
	priced.plans = []v1alpha1.TenantPlan{{ObjectMeta: metav1.ObjectMeta{Name: "pro"}}}
	for _, c := range []struct {
		name   string
		detail QuotaDetail
		reader listReader
	}{
		{"namespace", QuotaNamespace, reader}, {"tenant", QuotaTenant, reader}, {"none", QuotaNone, reader},
		// With a PriceList: the cost series on top of the quota's.
		{"namespace+cost", QuotaNamespace, priced}, {"none+cost", QuotaNone, priced},
	} {
		b.Run(c.name, func(b *testing.B) {
			handler := promhttp.HandlerFor(tenantGatherer{reader: c.reader, elected: elected, quota: c.detail}, promhttp.HandlerOpts{})
			var body []byte
			for b.Loop() {
				req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
				req.Header.Set("Accept-Encoding", "gzip")
				rec := httptest.NewRecorder()
				handler.ServeHTTP(rec, req)
				body = rec.Body.Bytes()
			}
			parser := expfmt.NewTextParser(model.UTF8Validation)
			families, err := parser.TextToMetricFamilies(gunzip(b, body))
			if err != nil {
				b.Fatal(err)
			}
			series := 0
			for _, f := range families {
				series += len(f.GetMetric())
			}
			b.ReportMetric(float64(series), "series")
		})
	}
}

func gunzip(b *testing.B, body []byte) io.Reader {
	r, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		b.Fatalf("the scrape is not gzipped: %v", err)
	}
	return r
}

// quotaReader holds n Ready tenants with two namespaces each, every quota
// with 13 resources.
func quotaReader(n int) listReader {
	resources := []corev1.ResourceName{"requests.cpu", "requests.memory", "limits.cpu", "limits.memory",
		"requests.ephemeral-storage", "limits.ephemeral-storage", "pods", "services", "secrets", "configmaps",
		"persistentvolumeclaims", "replicationcontrollers", "resourcequotas"}
	list := corev1.ResourceList{}
	for _, r := range resources {
		list[r] = resource.MustParse("10")
	}
	var r listReader
	for i := range n {
		name := fmt.Sprintf("t%05d", i)
		t := v1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v1alpha1.TenantSpec{Plan: "pro"}}
		t.Status.Phase = v1alpha1.PhaseReady
		for _, c := range []string{v1alpha1.ConditionReady, v1alpha1.ConditionNamespacesReady, v1alpha1.ConditionGuardrailsReady, v1alpha1.ConditionSuspended, v1alpha1.ConditionQuotaExceeded} {
			t.Status.Conditions = append(t.Status.Conditions, metav1.Condition{Type: c, Status: metav1.ConditionTrue})
		}
		t.Status.Quota = &v1alpha1.QuotaStatus{Hard: list, Used: list}
		r.tenants = append(r.tenants, t)
		for _, env := range []string{"dev", "prod"} {
			r.quotas = append(r.quotas, corev1.ResourceQuota{
				ObjectMeta: metav1.ObjectMeta{Namespace: name + "-" + env, Name: "tenantry-quota", Labels: map[string]string{v1alpha1.LabelTenant: name}},
				Status:     corev1.ResourceQuotaStatus{Hard: list, Used: list},
			})
		}
	}
	return r
}

type listReader struct {
	client.Reader
	tenants []v1alpha1.Tenant
	quotas  []corev1.ResourceQuota
	plans   []v1alpha1.TenantPlan
	prices  *v1alpha1.PriceList
}

func (r listReader) Get(_ context.Context, key client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	list, ok := obj.(*v1alpha1.PriceList)
	if !ok {
		return fmt.Errorf("unexpected get %T", obj)
	}
	if r.prices == nil || key.Name != r.prices.Name {
		return apierrors.NewNotFound(v1alpha1.GroupVersion.WithResource("pricelists").GroupResource(), key.Name)
	}
	*list = *r.prices
	return nil
}

func (r listReader) List(_ context.Context, list client.ObjectList, _ ...client.ListOption) error {
	switch l := list.(type) {
	case *v1alpha1.TenantList:
		l.Items = r.tenants
	case *corev1.ResourceQuotaList:
		l.Items = r.quotas
	case *v1alpha1.TenantPlanList:
		l.Items = r.plans
	default:
		return fmt.Errorf("unexpected list %T", list)
	}
	return nil
}

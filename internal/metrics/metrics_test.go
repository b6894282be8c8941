package metrics

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
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
	collector := tenantCollector{reader: reader, elected: elected}
	if got := seriesByName(collector); len(got) != 0 {
		t.Errorf("a standby reported %v, want nothing", got)
	}
	close(elected)
	got := seriesByName(collector)
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
	descs := make(chan *prometheus.Desc, 64)
	for _, c := range collectors(nil, nil, QuotaNamespace) {
		c.Describe(descs)
	}
	close(descs)
	for d := range descs {
		name := fqName.FindStringSubmatch(d.String())[1]
		for _, suffix := range []string{"", "_bucket", "_count", "_sum"} {
			exported[name+suffix] = true
		}
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

// seriesByName collects c and counts its series by metric name.
func seriesByName(c prometheus.Collector) map[string]int {
	ch := make(chan prometheus.Metric)
	go func() { c.Collect(ch); close(ch) }()
	n := map[string]int{}
	for m := range ch {
		n[fqName.FindStringSubmatch(m.Desc().String())[1]]++
	}
	return n
}

// listReader lists the given tenants, and no ResourceQuota: all the
// collector reads.
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
			got := seriesByName(tenantCollector{reader: reader, elected: elected, quota: tt.detail})
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

// BenchmarkCollect10000Tenants is what one scrape costs the operator at
// 10,000 two-environment tenants on plan pro's 13 quota resources, at each
// quota detail: the series it builds and the time and memory that takes.
func BenchmarkCollect10000Tenants(b *testing.B) {
	reader := quotaReader(10000)
	elected := make(chan struct{})
	close(elected)
	for _, detail := range []QuotaDetail{QuotaNamespace, QuotaTenant, QuotaNone} {
		b.Run(string(detail), func(b *testing.B) {
			registry := prometheus.NewRegistry()
			registry.MustRegister(tenantCollector{reader: reader, elected: elected, quota: detail})
			series := 0
			for b.Loop() {
				families, err := registry.Gather()
				if err != nil {
					b.Fatal(err)
				}
				series = 0
				for _, f := range families {
					series += len(f.GetMetric())
				}
			}
			b.ReportMetric(float64(series), "series")
		})
	}
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
		t.Status.Conditions = []metav1.Condition{{Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue}}
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
}

func (r listReader) List(_ context.Context, list client.ObjectList, _ ...client.ListOption) error {
	switch l := list.(type) {
	case *v1alpha1.TenantList:
		l.Items = r.tenants
	case *corev1.ResourceQuotaList:
		l.Items = r.quotas
	default:
		return fmt.Errorf("unexpected list %T", list)
	}
	return nil
}

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
	for _, c := range collectors(nil, nil, true) {
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
// TestNamespaceQuotaSeriesAreOptional: each namespace's quota, the series
// that grow with namespaces, is exported only when asked for.
func TestNamespaceQuotaSeriesAreOptional(t *testing.T) {
	quota := corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Namespace: "acme-prod", Name: "tenantry-quota", Labels: map[string]string{v1alpha1.LabelTenant: "acme"}},
		Status:     corev1.ResourceQuotaStatus{Hard: corev1.ResourceList{"pods": resource.MustParse("10")}, Used: corev1.ResourceList{"pods": resource.MustParse("2")}},
	}
	reader := listReader{tenants: []v1alpha1.Tenant{{ObjectMeta: metav1.ObjectMeta{Name: "acme"}}}, quotas: []corev1.ResourceQuota{quota}}
	elected := make(chan struct{})
	close(elected)
	for _, namespaceQuota := range []bool{true, false} {
		got := seriesByName(tenantCollector{reader: reader, elected: elected, namespaceQuota: namespaceQuota})
		want := 0
		if namespaceQuota {
			want = 1
		}
		for _, metric := range []string{"tenantry_namespace_quota_used", "tenantry_namespace_quota_hard"} {
			if got[metric] != want {
				t.Errorf("namespaceQuota %v: %d series of %s, want %d", namespaceQuota, got[metric], metric, want)
			}
		}
		if got["tenantry_tenant_info"] != 1 {
			t.Errorf("namespaceQuota %v: tenant series %v, want them either way", namespaceQuota, got)
		}
	}
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

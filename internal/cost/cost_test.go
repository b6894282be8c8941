package cost

import (
	"bytes"
	"flag"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tenantry/tenantry/api/v1alpha1"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func price(s string) *v1alpha1.Price { p := v1alpha1.Price(s); return &p }

func TestForPlan(t *testing.T) {
	list := &v1alpha1.PriceList{ObjectMeta: metav1.ObjectMeta{Name: "default"}, Spec: v1alpha1.PriceListSpec{
		Currency: "EUR",
		Prices: v1alpha1.Prices{CPUCoreHour: price("0.04"), MemoryGiBHour: price("0.005"), StorageGiBMonth: price("0.073"),
			TenantMonth: price("73")},
	}}
	committed := &v1alpha1.TenantPlan{ObjectMeta: metav1.ObjectMeta{Name: "committed"}, Spec: v1alpha1.TenantPlanSpec{
		Prices: &v1alpha1.PlanPrices{Prices: v1alpha1.Prices{CPUCoreHour: price("0.03"), EnvironmentMonth: price("7.3")}, Basis: v1alpha1.BasisQuota},
	}}
	plain := &v1alpha1.TenantPlan{ObjectMeta: metav1.ObjectMeta{Name: "plain"}}
	tests := []struct {
		name string
		plan *v1alpha1.TenantPlan
		want Rates
	}{
		{"no plan: the PriceList's", nil, Rates{Currency: "EUR", Basis: v1alpha1.BasisRequests, CPUCoreHour: 0.04, MemoryGiBHour: 0.005, StorageGiBHour: 0.0001, TenantHour: 0.1}},
		{"a plan without prices: the PriceList's", plain, Rates{Currency: "EUR", Basis: v1alpha1.BasisRequests, CPUCoreHour: 0.04, MemoryGiBHour: 0.005, StorageGiBHour: 0.0001, TenantHour: 0.1}},
		{"a plan's prices override one by one", committed, Rates{Currency: "EUR", Basis: v1alpha1.BasisQuota, CPUCoreHour: 0.03, MemoryGiBHour: 0.005, StorageGiBHour: 0.0001, TenantHour: 0.1, EnvironmentHour: 0.01}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ForPlan(list, tt.plan)
			if err != nil {
				t.Fatal(err)
			}
			if !closeRates(got, tt.want) {
				t.Errorf("ForPlan = %+v, want %+v", got, tt.want)
			}
		})
	}
	list.Spec.Prices.MemoryGiBHour = price("a lot")
	if _, err := ForPlan(list, committed); err == nil || !strings.Contains(err.Error(), "spec.prices.memoryGiBHour") {
		t.Errorf("a bad price: %v, want an error naming spec.prices.memoryGiBHour", err)
	}
}

func closeRates(a, b Rates) bool {
	near := func(x, y float64) bool { return math.Abs(x-y) < 1e-12 }
	return a.Currency == b.Currency && a.Basis == b.Basis && near(a.CPUCoreHour, b.CPUCoreHour) && near(a.MemoryGiBHour, b.MemoryGiBHour) &&
		near(a.StorageGiBHour, b.StorageGiBHour) && near(a.TenantHour, b.TenantHour) && near(a.EnvironmentHour, b.EnvironmentHour)
}

func TestQueries(t *testing.T) {
	from := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	p := Period{From: from, To: from.AddDate(0, 1, 0), Step: time.Hour}
	q := Queries(p, "acme")
	want := `sum by (tenant, currency, component) (sum_over_time(tenantry:tenant_cost:hourly{tenant="acme"}[2591999999ms:3600000ms])) * 1`
	if q[QueryCost] != want {
		t.Errorf("cost query\n got %s\nwant %s", q[QueryCost], want)
	}
	if got := q[QueryCPURequested]; !strings.Contains(got, `tenantry_namespace_resource_requests{resource="cpu",tenant="acme"}`) {
		t.Errorf("requested CPU query %s does not select the tenant's CPU requests", got)
	}
	// A minute's samples each stand for 1/60 of an hour.
	p.Step = time.Minute
	if got := Queries(p, "")[QueryShared]; !strings.HasSuffix(got, "[2591999999ms:60000ms])) * 0.01666666667") {
		t.Errorf("shared query %s, want a minute's step and 1/60 h", got)
	}
}

func TestPeriodValidate(t *testing.T) {
	from := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		p    Period
		want string
	}{
		{"fine", Period{from, from.Add(time.Hour), time.Minute}, ""},
		{"backwards", Period{from, from.Add(-time.Hour), time.Minute}, "ends"},
		{"sub-second step", Period{from, from.Add(time.Hour), time.Millisecond}, "a second or more"},
		{"step over the period", Period{from, from.Add(time.Hour), 2 * time.Hour}, "longer than the period"},
	}
	for _, tt := range tests {
		err := tt.p.Validate()
		if (err == nil) != (tt.want == "") || err != nil && !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Validate = %v, want %q", tt.name, err, tt.want)
		}
	}
	if got := DefaultStep(from, from.AddDate(0, 1, 0)); got != 43*time.Minute+12*time.Second {
		t.Errorf("DefaultStep of 30 days = %s, want 43m12s", got)
	}
	if got := DefaultStep(from, from.Add(time.Hour)); got != time.Minute {
		t.Errorf("DefaultStep of an hour = %s, want 1m", got)
	}
}

// answers are what Prometheus answers Queries for two tenants, acme with
// two environments and a fee, globex suspended half the time.
func answers() map[string][]Sample {
	s := func(v float64, kv ...string) Sample {
		labels := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			labels[kv[i]] = kv[i+1]
		}
		return Sample{Labels: labels, Value: v}
	}
	const gib = 1 << 30
	return map[string][]Sample{
		QueryCost: {
			s(28.8, "tenant", "acme", "currency", "EUR", "component", "cpu"),
			s(3.6, "tenant", "acme", "currency", "EUR", "component", "memory"),
			s(0.5, "tenant", "acme", "currency", "EUR", "component", "storage"),
			s(2, "tenant", "acme", "currency", "EUR", "component", "environment"),
			s(10, "tenant", "acme", "currency", "EUR", "component", "tenant"),
			s(4.5, "tenant", "acme", "currency", "EUR", "component", "shared"),
			s(7.2, "tenant", "globex", "currency", "EUR", "component", "cpu"),
			s(0.9, "tenant", "globex", "currency", "EUR", "component", "memory"),
			s(0.5, "tenant", "globex", "currency", "EUR", "component", "shared"),
		},
		QueryCPUBilled: {
			s(480, "tenant", "acme", "namespace", "acme-prod"), s(240, "tenant", "acme", "namespace", "acme-staging"),
			s(180, "tenant", "globex", "namespace", "globex"),
		},
		QueryCPUUsed: {
			s(480, "tenant", "acme", "namespace", "acme-prod"), s(60, "tenant", "acme", "namespace", "acme-staging"),
			s(36, "tenant", "globex", "namespace", "globex"),
		},
		QueryCPURequested: {
			s(360, "tenant", "acme", "namespace", "acme-prod"), s(240, "tenant", "acme", "namespace", "acme-staging"),
			s(180, "tenant", "globex", "namespace", "globex"),
		},
		QueryMemBilled:    {s(720*gib, "tenant", "acme", "namespace", "acme-prod"), s(180*gib, "tenant", "globex", "namespace", "globex")},
		QueryMemUsed:      {s(360*gib, "tenant", "acme", "namespace", "acme-prod"), s(45*gib, "tenant", "globex", "namespace", "globex")},
		QueryMemRequested: {s(720*gib, "tenant", "acme", "namespace", "acme-prod"), s(360*gib, "tenant", "globex", "namespace", "globex")},
		QueryStorage:      {s(5000*gib, "tenant", "acme", "namespace", "acme-prod")},
		QueryEnvironments: {
			s(1, "tenant", "acme", "namespace", "acme-prod", "environment", "prod"),
			s(1, "tenant", "acme", "namespace", "acme-staging", "environment", "staging"),
			s(1, "tenant", "globex", "namespace", "globex", "environment", "default"),
		},
		QueryShared: {s(5, "currency", "EUR")},
		QueryIdle:   {s(12.25, "currency", "EUR")},
	}
}

// TestReport checks the report's every format against golden files
// (go test ./internal/cost -update rewrites them).
func TestReport(t *testing.T) {
	from := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	r := Build(Period{From: from, To: from.AddDate(0, 1, 0), Step: time.Hour}, answers())
	if len(r.Tenants) != 2 || r.Currency != "EUR" {
		t.Fatalf("Build: %d tenants in %q, want 2 in EUR", len(r.Tenants), r.Currency)
	}
	acme := r.Tenants[0]
	if acme.Total != 49.4 || acme.CPU.Billed != 720 || acme.CPU.Utilisation() != 0.9 {
		t.Errorf("acme: total %v, CPU %v billed, utilisation %v; want 49.4, 720, 0.9", acme.Total, acme.CPU.Billed, acme.CPU.Utilisation())
	}
	for _, f := range []struct {
		file  string
		write func(*bytes.Buffer) error
	}{
		{"report.txt", func(b *bytes.Buffer) error { return r.WriteTable(b, true) }},
		{"report.json", func(b *bytes.Buffer) error { return r.WriteJSON(b) }},
		{"report.csv", func(b *bytes.Buffer) error { return r.WriteCSV(b) }},
		{"report.md", func(b *bytes.Buffer) error { return r.WriteMarkdown(b) }},
	} {
		var b bytes.Buffer
		if err := f.write(&b); err != nil {
			t.Fatal(err)
		}
		golden := filepath.Join("testdata", f.file)
		if *update {
			if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatal(err)
		}
		if b.String() != string(want) {
			t.Errorf("%s differs from its golden file:\n%s", f.file, b.String())
		}
	}
}

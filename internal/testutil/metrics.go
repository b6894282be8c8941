package testutil

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// MetricValue reads, from the registry of the operator running in this
// process (controller-runtime's, which holds Tenantry's and client-go's
// metrics), the first series of a gauge or counter with these labels.
func MetricValue(t testing.TB, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	series := Series(gather(t), name, labels)
	if len(series) == 0 {
		return 0, false
	}
	return value(series[0]), true
}

// MetricSum adds up every series of a gauge or counter with these labels.
func MetricSum(t testing.TB, name string, labels map[string]string) float64 {
	t.Helper()
	return SeriesSum(gather(t), name, labels)
}

// SeriesSum adds up the value of every series of the named gauge or counter
// in families that has these labels: families gathered in process, or
// scraped from an operator's /metrics.
func SeriesSum(families []*dto.MetricFamily, name string, labels map[string]string) float64 {
	var sum float64
	for _, m := range Series(families, name, labels) {
		sum += value(m)
	}
	return sum
}

// Series returns the series of the named metric in families that have
// these labels (and maybe others).
func Series(families []*dto.MetricFamily, name string, labels map[string]string) []*dto.Metric {
	var series []*dto.Metric
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if hasLabels(m, labels) {
				series = append(series, m)
			}
		}
	}
	return series
}

func gather(t testing.TB) []*dto.MetricFamily {
	t.Helper()
	families, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	return families
}

func value(m *dto.Metric) float64 {
	if c := m.GetCounter(); c != nil {
		return c.GetValue()
	}
	return m.GetGauge().GetValue()
}

func hasLabels(m *dto.Metric, want map[string]string) bool {
	have := map[string]string{}
	for _, l := range m.GetLabel() {
		have[l.GetName()] = l.GetValue()
	}
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

// TenantStatusWrites counts the writes to Tenants' status subresource the
// API server at cfg has served, from its own apiserver_request_total: a
// client's request metrics do not say which resource a request was for.
func TenantStatusWrites(ctx context.Context, cfg *rest.Config) (float64, error) {
	families, err := APIServerMetrics(ctx, cfg)
	if err != nil {
		return 0, err
	}
	writes := 0.0
	for _, verb := range []string{"PATCH", "PUT", "APPLY"} {
		writes += SeriesSum(families, "apiserver_request_total",
			map[string]string{"resource": "tenants", "subresource": "status", "verb": verb})
	}
	return writes, nil
}

// APIServerMetrics scrapes the /metrics of the API server at cfg.
func APIServerMetrics(ctx context.Context, cfg *rest.Config) ([]*dto.MetricFamily, error) {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, err
	}
	raw, err := dc.RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("scraping the API server's metrics: %w", err)
	}
	return ParseMetrics(bytes.NewReader(raw))
}

// ParseMetrics reads metric families in Prometheus' text format.
func ParseMetrics(r io.Reader) ([]*dto.MetricFamily, error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	byName, err := parser.TextToMetricFamilies(r)
	if err != nil {
		return nil, err
	}
	return slices.Collect(maps.Values(byName)), nil
}

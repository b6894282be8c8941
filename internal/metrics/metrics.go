// Package metrics defines Tenantry's Prometheus metrics (prefix tenantry_)
// and registers them with controller-runtime's registry, which the manager
// serves on its metrics endpoint.
package metrics

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/tenantry/tenantry/api/v1alpha1"
)

var (
	// OnboardingDuration observes the time from a Tenant's creation to its first Ready.
	OnboardingDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "tenantry_tenant_onboarding_duration_seconds",
		Help:    "Time from a Tenant's creation until it first became Ready.",
		Buckets: []float64{0.25, 0.5, 1, 2, 3, 5, 8, 13, 21, 34, 60, 120, 300},
	})

	// ReconcileErrors counts failed reconciles per tenant.
	ReconcileErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tenantry_tenant_reconcile_errors_total",
		Help: "Reconciles of a Tenant that ended in an error.",
	}, []string{"tenant"})
)

// phaseDesc describes the tenants-by-phase gauge, computed at scrape time.
var phaseDesc = prometheus.NewDesc("tenantry_tenants",
	"Number of Tenants in each phase.", []string{"phase"}, nil)

// phaseCollector counts tenants by phase from the manager's cache when
// scraped, so the figure is never out of step with the objects.
type phaseCollector struct{ reader client.Reader }

func (c phaseCollector) Describe(ch chan<- *prometheus.Desc) { ch <- phaseDesc }

func (c phaseCollector) Collect(ch chan<- prometheus.Metric) {
	var tenants v1alpha1.TenantList
	if err := c.reader.List(context.Background(), &tenants); err != nil {
		ch <- prometheus.NewInvalidMetric(phaseDesc, err)
		return
	}
	counts := map[v1alpha1.Phase]int{}
	for _, p := range []v1alpha1.Phase{v1alpha1.PhasePending, v1alpha1.PhaseReady, v1alpha1.PhaseSuspended, v1alpha1.PhaseTerminating, v1alpha1.PhaseFailed} {
		counts[p] = 0
	}
	for _, t := range tenants.Items {
		phase := t.Status.Phase
		if phase == "" {
			phase = v1alpha1.PhasePending
		}
		counts[phase]++
	}
	for phase, n := range counts {
		ch <- prometheus.MustNewConstMetric(phaseDesc, prometheus.GaugeValue, float64(n), string(phase))
	}
}

// Register adds Tenantry's metrics to controller-runtime's registry; reader
// is the manager's cached client.
func Register(reader client.Reader) error {
	for _, c := range []prometheus.Collector{OnboardingDuration, ReconcileErrors, phaseCollector{reader: reader}} {
		if err := ctrlmetrics.Registry.Register(c); err != nil {
			return err
		}
	}
	return nil
}

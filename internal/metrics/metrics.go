// Package metrics defines Tenantry's Prometheus metrics (prefix tenantry_)
// and registers them with controller-runtime's registry, which the manager
// serves on its metrics endpoint.
package metrics

import (
	"errors"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

var (
	// OnboardingDuration observes the time from a Tenant's creation to its first Ready.
	OnboardingDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "tenantry_tenant_onboarding_duration_seconds",
		Help:    "Time from a Tenant's creation until it first became Ready.",
		Buckets: []float64{0.25, 0.5, 1, 2, 3, 5, 8, 13, 21, 34, 60, 120, 300},
	})

	// RolloutAborts counts the releases of tenant apps that aborted (their
	// analysis failed, or a person aborted them).
	RolloutAborts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tenantry_app_rollout_aborts_total",
		Help: "Releases of a tenant app (Argo Rollout) that aborted; the stable version kept serving.",
	}, []string{"tenant", "app"})

	// AppReverts counts the Git reverts of aborted releases by outcome:
	// pushed, skipped (a safety limit, or an app from a Helm repository),
	// failed.
	AppReverts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tenantry_app_reverts_total",
		Help: "Aborted releases of a tenant app answered with a Git revert, by result: pushed, skipped or failed.",
	}, []string{"tenant", "app", "result"})

	// RevertDuration observes how long a Git revert (clone, commit, push)
	// took; a revert is bounded by one minute.
	RevertDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "tenantry_app_revert_duration_seconds",
		Help:    "Time a Git revert of an aborted release took: clone, commit and push.",
		Buckets: []float64{0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 45, 60},
	})

	// ReconcileErrors counts failed reconciles per tenant.
	ReconcileErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tenantry_tenant_reconcile_errors_total",
		Help: "Reconciles of a Tenant that ended in an error.",
	}, []string{"tenant"})
)

// The results of tenantry_app_reverts_total.
const (
	RevertPushed  = "pushed"
	RevertSkipped = "skipped"
	RevertFailed  = "failed"
)

// Register adds Tenantry's metrics to controller-runtime's registry, which
// the manager serves; reader is the manager's cached client, elected the
// manager's Elected channel; quota says how much quota use to export.
// The per-tenant families come from a gatherer of their own (see
// tenantGatherer), served with the registry's: controller-runtime serves
// whatever its Registry variable holds when the manager starts.
func Register(reader client.Reader, elected <-chan struct{}, quota QuotaDetail) error {
	for _, c := range collectors() {
		if err := ctrlmetrics.Registry.Register(c); err != nil {
			return err
		}
	}
	ctrlmetrics.Registry = withTenants{
		RegistererGatherer: ctrlmetrics.Registry,
		tenants:            tenantGatherer{reader: reader, elected: elected, quota: quota},
	}
	return nil
}

func collectors() []prometheus.Collector {
	return []prometheus.Collector{OnboardingDuration, ReconcileErrors, RolloutAborts, AppReverts, RevertDuration}
}

// withTenants is a registry that gathers the tenant families too.
type withTenants struct {
	ctrlmetrics.RegistererGatherer
	tenants tenantGatherer
}

// Gather returns the registry's families and the tenants', in name order;
// the names differ (TestTenantFamiliesAreNotRegistered).
func (r withTenants) Gather() ([]*dto.MetricFamily, error) {
	families, err := r.RegistererGatherer.Gather()
	tenants, tenantsErr := r.tenants.Gather()
	families = append(families, tenants...)
	slices.SortFunc(families, func(a, b *dto.MetricFamily) int { return strings.Compare(a.GetName(), b.GetName()) })
	return families, errors.Join(err, tenantsErr)
}

// Package metrics defines Tenantry's Prometheus metrics (prefix tenantry_)
// and registers them with controller-runtime's registry, which the manager
// serves on its metrics endpoint.
package metrics

import (
	"context"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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

// phaseDesc describes the tenants-by-phase gauge, computed at scrape time.
var phaseDesc = prometheus.NewDesc("tenantry_tenants",
	"Number of Tenants in each phase.", []string{"phase"}, nil)

// Per-tenant gauges, computed at scrape time from the manager's cache.
var (
	infoDesc = prometheus.NewDesc("tenantry_tenant_info",
		"A Tenant, its plan and its phase (always 1).", []string{"tenant", "plan", "phase"}, nil)
	conditionDesc = prometheus.NewDesc("tenantry_tenant_condition",
		"Status of each condition of a Tenant: 1 true, 0 false.", []string{"tenant", "condition"}, nil)
	suspendedDesc = prometheus.NewDesc("tenantry_tenant_suspended",
		"1 while a Tenant is suspended.", []string{"tenant"}, nil)
	tenantUsedDesc = prometheus.NewDesc("tenantry_tenant_quota_used",
		"Quota use summed over a Tenant's namespaces.", []string{"tenant", "resource"}, nil)
	tenantHardDesc = prometheus.NewDesc("tenantry_tenant_quota_hard",
		"A Tenant's quota limit across its namespaces (the plan's tenantQuota, or the sum of the namespaces' quotas).", []string{"tenant", "resource"}, nil)
	namespaceUsedDesc = prometheus.NewDesc("tenantry_namespace_quota_used",
		"Quota use of a tenant namespace, as the quota controller reports it.", []string{"tenant", "namespace", "resource"}, nil)
	namespaceHardDesc = prometheus.NewDesc("tenantry_namespace_quota_hard",
		"Quota limit of a tenant namespace.", []string{"tenant", "namespace", "resource"}, nil)
	rolloutPhaseDesc = prometheus.NewDesc("tenantry_app_rollout_phase",
		"Release phase of a tenant app's Argo Rollout: 1 for the phase it is in, 0 for the others.", []string{"tenant", "app", "phase"}, nil)
	rolloutWeightDesc = prometheus.NewDesc("tenantry_app_rollout_weight",
		"Share of a tenant app's replicas, in percent, its release puts on the new version.", []string{"tenant", "app"}, nil)
)

// tenantCollector reports, from the manager's cache when scraped (so the
// figures are never out of step with the objects), the number of Tenants per
// phase and each Tenant's plan, phase, conditions, suspension and quota use.
// Only the elected replica reports them: every replica has the cache, and
// the dashboard's sums and counts over the operator's pods must see each
// tenant once.
type tenantCollector struct {
	reader client.Reader
	// elected is closed once this replica leads (the manager's Elected).
	elected <-chan struct{}
	// quota is how much quota use it exports: the series that grow
	// fastest, with tenants (or namespaces) times quota resources.
	quota QuotaDetail
}

// QuotaDetail is how much quota use the operator exports.
type QuotaDetail string

// The quota details, from the most series to the fewest.
const (
	// QuotaNamespace exports each tenant's and each tenant namespace's
	// quota (the default, and what an empty QuotaDetail means).
	QuotaNamespace QuotaDetail = "namespace"
	// QuotaTenant exports each tenant's quota, summed over its namespaces.
	QuotaTenant QuotaDetail = "tenant"
	// QuotaNone exports none: kube-state-metrics' kube_resourcequota has
	// the same figures per namespace.
	QuotaNone QuotaDetail = "none"
)

// ParseQuotaDetail reads a --quota-metrics value.
func ParseQuotaDetail(s string) (QuotaDetail, error) {
	switch d := QuotaDetail(s); d {
	case QuotaNamespace, QuotaTenant, QuotaNone:
		return d, nil
	}
	return "", fmt.Errorf("--quota-metrics %q: want namespace, tenant or none", s)
}

func (c tenantCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{phaseDesc, infoDesc, conditionDesc, suspendedDesc, tenantUsedDesc, tenantHardDesc, namespaceUsedDesc, namespaceHardDesc, rolloutPhaseDesc, rolloutWeightDesc} {
		ch <- d
	}
}

func (c tenantCollector) Collect(ch chan<- prometheus.Metric) {
	select {
	case <-c.elected:
	default:
		return // a standby: the leader reports
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	var tenants v1alpha1.TenantList
	if err := c.reader.List(context.Background(), &tenants, client.UnsafeDisableDeepCopy); err != nil {
		ch <- prometheus.NewInvalidMetric(phaseDesc, err)
		return
	}
	phases := map[v1alpha1.Phase]int{}
	for _, p := range []v1alpha1.Phase{v1alpha1.PhasePending, v1alpha1.PhaseReady, v1alpha1.PhaseSuspended, v1alpha1.PhaseTerminating, v1alpha1.PhaseFailed} {
		phases[p] = 0
	}
	for _, t := range tenants.Items {
		phase := t.Status.Phase
		if phase == "" {
			phase = v1alpha1.PhasePending
		}
		phases[phase]++
		gauge(infoDesc, 1, t.Name, t.Spec.Plan, string(t.Status.Phase))
		for _, cond := range t.Status.Conditions {
			gauge(conditionDesc, boolValue(cond.Status == metav1.ConditionTrue), t.Name, cond.Type)
		}
		gauge(suspendedDesc, boolValue(t.Spec.Suspended), t.Name)
		for _, app := range t.Status.Apps {
			if ro := app.Rollout; ro != nil {
				for _, p := range v1alpha1.RolloutPhases {
					gauge(rolloutPhaseDesc, boolValue(ro.Phase == p), t.Name, app.Name, string(p))
				}
				gauge(rolloutWeightDesc, float64(ro.Weight), t.Name, app.Name)
			}
		}
		if q := t.Status.Quota; q != nil && c.quota != QuotaNone {
			for name, v := range q.Used {
				gauge(tenantUsedDesc, v.AsApproximateFloat64(), t.Name, string(name))
			}
			for name, v := range q.Hard {
				gauge(tenantHardDesc, v.AsApproximateFloat64(), t.Name, string(name))
			}
		}
	}
	for phase, n := range phases {
		gauge(phaseDesc, float64(n), string(phase))
	}
	if c.quota != QuotaNamespace && c.quota != "" {
		return
	}
	var quotas corev1.ResourceQuotaList
	if err := c.reader.List(context.Background(), &quotas, client.HasLabels{v1alpha1.LabelTenant}, client.UnsafeDisableDeepCopy); err != nil {
		ch <- prometheus.NewInvalidMetric(namespaceUsedDesc, err)
		return
	}
	for _, q := range quotas.Items {
		tenant := q.Labels[v1alpha1.LabelTenant]
		for name, v := range q.Status.Used {
			gauge(namespaceUsedDesc, v.AsApproximateFloat64(), tenant, q.Namespace, string(name))
		}
		for name, v := range q.Status.Hard {
			gauge(namespaceHardDesc, v.AsApproximateFloat64(), tenant, q.Namespace, string(name))
		}
	}
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Register adds Tenantry's metrics to controller-runtime's registry; reader
// is the manager's cached client, elected the manager's Elected channel;
// quota says how much quota use to export.
func Register(reader client.Reader, elected <-chan struct{}, quota QuotaDetail) error {
	for _, c := range collectors(reader, elected, quota) {
		if err := ctrlmetrics.Registry.Register(c); err != nil {
			return err
		}
	}
	return nil
}

func collectors(reader client.Reader, elected <-chan struct{}, quota QuotaDetail) []prometheus.Collector {
	return []prometheus.Collector{OnboardingDuration, ReconcileErrors, RolloutAborts, AppReverts, RevertDuration,
		tenantCollector{reader: reader, elected: elected, quota: quota}}
}

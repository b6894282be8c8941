package metrics

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/tenantry/tenantry/api/v1alpha1"
)

// family is one of the metrics computed at scrape time from the manager's
// cache. Its labels are in name order, as the series carry them.
type family struct {
	name, help string
	labels     []string
}

// The families the tenant gatherer builds.
var (
	tenantsFamily = family{"tenantry_tenants",
		"Number of Tenants in each phase.", []string{"phase"}}
	infoFamily = family{"tenantry_tenant_info",
		"A Tenant, its plan and its phase (always 1).", []string{"phase", "plan", "tenant"}}
	conditionFamily = family{"tenantry_tenant_condition",
		"Status of each condition of a Tenant: 1 true, 0 false.", []string{"condition", "tenant"}}
	suspendedFamily = family{"tenantry_tenant_suspended",
		"1 while a Tenant is suspended.", []string{"tenant"}}
	tenantUsedFamily = family{"tenantry_tenant_quota_used",
		"Quota use summed over a Tenant's namespaces.", []string{"resource", "tenant"}}
	tenantHardFamily = family{"tenantry_tenant_quota_hard",
		"A Tenant's quota limit across its namespaces (the plan's tenantQuota, or the sum of the namespaces' quotas).", []string{"resource", "tenant"}}
	namespaceUsedFamily = family{"tenantry_namespace_quota_used",
		"Quota use of a tenant namespace, as the quota controller reports it.", []string{"namespace", "resource", "tenant"}}
	namespaceHardFamily = family{"tenantry_namespace_quota_hard",
		"Quota limit of a tenant namespace.", []string{"namespace", "resource", "tenant"}}
	rolloutPhaseFamily = family{"tenantry_app_rollout_phase",
		"Release phase of a tenant app's Argo Rollout: 1 for the phase it is in, 0 for the others.", []string{"app", "phase", "tenant"}}
	rolloutWeightFamily = family{"tenantry_app_rollout_weight",
		"Share of a tenant app's replicas, in percent, its release puts on the new version.", []string{"app", "tenant"}}

	tenantFamilies = []family{tenantsFamily, infoFamily, conditionFamily, suspendedFamily, tenantUsedFamily,
		tenantHardFamily, namespaceUsedFamily, namespaceHardFamily, rolloutPhaseFamily, rolloutWeightFamily}
)

// tenantGatherer reports, from the manager's cache when scraped (so the
// figures are never out of step with the objects), the number of Tenants
// per phase and each Tenant's plan, phase, conditions, suspension, releases
// and quota use. Only the elected replica reports them: every replica has
// the cache, and the dashboard's sums and counts over the operator's pods
// must see each tenant once.
//
// It builds the exposition's messages itself rather than const metrics
// through a Collector: the registry would validate, hash and sort each of
// the 70,000 series 10,000 tenants have, and allocate each one's labels
// anew. Here a tenant's name label is one message shared by all its
// series, as are the values 0 and 1 and every label that is not per
// tenant, and the series come out in the tenants' order. That is what
// kube-state-metrics does at scale too. A test runs the output through
// the registry's checks.
type tenantGatherer struct {
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

// Gather returns the families in name order, those with no series left out.
func (g tenantGatherer) Gather() ([]*dto.MetricFamily, error) {
	select {
	case <-g.elected:
	default:
		return nil, nil // a standby: the leader reports
	}
	ctx := context.Background()
	var tenants v1alpha1.TenantList
	if err := g.reader.List(ctx, &tenants, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing Tenants for the tenantry_ metrics: %w", err)
	}
	prices, err := priceList(ctx, g.reader)
	if err != nil {
		return nil, err
	}
	var quotas corev1.ResourceQuotaList
	if g.quota == QuotaNamespace || g.quota == "" || prices != nil {
		if err := g.reader.List(ctx, &quotas, client.HasLabels{v1alpha1.LabelTenant}, client.UnsafeDisableDeepCopy); err != nil {
			return nil, fmt.Errorf("listing ResourceQuotas for the tenantry_ metrics: %w", err)
		}
	}
	s := newSeries()
	s.tenants(tenants.Items, g.quota != QuotaNone)
	if g.quota == QuotaNamespace || g.quota == "" {
		s.namespaceQuotas(quotas.Items)
	}
	if prices == nil {
		return s.families(), nil
	}
	var plans v1alpha1.TenantPlanList
	if err := g.reader.List(ctx, &plans, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing TenantPlans for the cost metrics: %w", err)
	}
	// The API admits decimal prices only; should one get past it, that
	// tenant's figures are left out and said in the log, since an error
	// here would fail the whole scrape.
	if err := s.costs(prices, plans.Items, tenants.Items, quotas.Items); err != nil {
		logf.Log.WithName("metrics").Error(err, "cost figures left out")
	}
	return s.families(), nil
}

// series builds the families, sharing every label pair and value it can.
type series struct {
	byFamily map[string]*dto.MetricFamily
	pairs    map[[2]string]*dto.LabelPair
	zero     *dto.Gauge
	one      *dto.Gauge
}

func newSeries() *series {
	s := &series{byFamily: map[string]*dto.MetricFamily{}, pairs: map[[2]string]*dto.LabelPair{},
		zero: &dto.Gauge{Value: ptr.To(0.0)}, one: &dto.Gauge{Value: ptr.To(1.0)}}
	for _, f := range slices.Concat(tenantFamilies, costFamilies) {
		s.byFamily[f.name] = &dto.MetricFamily{Name: ptr.To(f.name), Help: ptr.To(f.help), Type: dto.MetricType_GAUGE.Enum()}
	}
	return s
}

// tenants adds each tenant's series, in name order, and the count per phase.
func (s *series) tenants(items []v1alpha1.Tenant, quota bool) {
	sorted := make([]*v1alpha1.Tenant, len(items))
	for i := range items {
		sorted[i] = &items[i]
	}
	slices.SortFunc(sorted, func(a, b *v1alpha1.Tenant) int { return strings.Compare(a.Name, b.Name) })
	phases := map[v1alpha1.Phase]int{}
	for _, t := range sorted {
		phase := t.Status.Phase
		if phase == "" {
			phase = v1alpha1.PhasePending
		}
		phases[phase]++
		// The pair every series of this tenant ends with: one message.
		tenant := &dto.LabelPair{Name: ptr.To("tenant"), Value: &t.Name}
		s.add(infoFamily, s.one, s.pair("phase", string(t.Status.Phase)), s.pair("plan", t.Spec.Plan), tenant)
		for _, c := range t.Status.Conditions {
			s.add(conditionFamily, s.bool(c.Status == metav1.ConditionTrue), s.pair("condition", c.Type), tenant)
		}
		s.add(suspendedFamily, s.bool(t.Spec.Suspended), tenant)
		for i := range t.Status.Apps {
			app := &t.Status.Apps[i]
			ro := app.Rollout
			if ro == nil {
				continue
			}
			name := &dto.LabelPair{Name: ptr.To("app"), Value: &app.Name}
			for _, p := range v1alpha1.RolloutPhases {
				s.add(rolloutPhaseFamily, s.bool(ro.Phase == p), name, s.pair("phase", string(p)), tenant)
			}
			s.add(rolloutWeightFamily, s.value(float64(ro.Weight)), name, tenant)
		}
		if q := t.Status.Quota; q != nil && quota {
			s.quota(tenantUsedFamily, q.Used, nil, tenant)
			s.quota(tenantHardFamily, q.Hard, nil, tenant)
		}
	}
	for _, p := range []v1alpha1.Phase{v1alpha1.PhaseFailed, v1alpha1.PhasePending, v1alpha1.PhaseReady, v1alpha1.PhaseSuspended, v1alpha1.PhaseTerminating} {
		s.add(tenantsFamily, s.value(float64(phases[p])), s.pair("phase", string(p)))
	}
}

// namespaceQuotas adds each tenant namespace's quota use and limits.
func (s *series) namespaceQuotas(items []corev1.ResourceQuota) {
	sorted := make([]*corev1.ResourceQuota, len(items))
	for i := range items {
		sorted[i] = &items[i]
	}
	slices.SortFunc(sorted, func(a, b *corev1.ResourceQuota) int { return strings.Compare(a.Namespace, b.Namespace) })
	for _, q := range sorted {
		ns := &dto.LabelPair{Name: ptr.To("namespace"), Value: &q.Namespace}
		tenant := s.pair("tenant", q.Labels[v1alpha1.LabelTenant])
		s.quota(namespaceUsedFamily, q.Status.Used, ns, tenant)
		s.quota(namespaceHardFamily, q.Status.Hard, ns, tenant)
	}
}

// quota adds a series per resource of list, in the resources' order;
// namespace is nil for a tenant's sums.
func (s *series) quota(f family, list corev1.ResourceList, namespace, tenant *dto.LabelPair) {
	for _, name := range slices.Sorted(maps.Keys(list)) {
		v := list[name]
		labels := []*dto.LabelPair{s.pair("resource", string(name)), tenant}
		if namespace != nil {
			labels = []*dto.LabelPair{namespace, labels[0], tenant}
		}
		s.add(f, s.value(v.AsApproximateFloat64()), labels...)
	}
}

// add appends a series to f; labels are in the order of f.labels.
func (s *series) add(f family, v *dto.Gauge, labels ...*dto.LabelPair) {
	mf := s.byFamily[f.name]
	mf.Metric = append(mf.Metric, &dto.Metric{Label: labels, Gauge: v})
}

// pair is the shared message for name=value.
func (s *series) pair(name, value string) *dto.LabelPair {
	k := [2]string{name, value}
	p, ok := s.pairs[k]
	if !ok {
		p = &dto.LabelPair{Name: ptr.To(name), Value: ptr.To(value)}
		s.pairs[k] = p
	}
	return p
}

func (s *series) bool(b bool) *dto.Gauge {
	if b {
		return s.one
	}
	return s.zero
}

func (s *series) value(v float64) *dto.Gauge {
	switch v {
	case 0:
		return s.zero
	case 1:
		return s.one
	}
	return &dto.Gauge{Value: ptr.To(v)}
}

// families returns the families with series, in name order.
func (s *series) families() []*dto.MetricFamily {
	var out []*dto.MetricFamily
	for _, f := range s.byFamily {
		if len(f.Metric) > 0 {
			out = append(out, f)
		}
	}
	slices.SortFunc(out, func(a, b *dto.MetricFamily) int { return strings.Compare(a.GetName(), b.GetName()) })
	return out
}

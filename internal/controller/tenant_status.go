package controller

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tenantry/tenantry/api/v1alpha1"
	"github.com/tenantry/tenantry/internal/decide"
	"github.com/tenantry/tenantry/internal/metrics"
	"github.com/tenantry/tenantry/internal/render"
)

// Reasons of the failures the controller finds and of its own events; the
// reasons the status decisions use are in internal/decide.
const (
	reasonResumed           = "Resumed"
	reasonPlanNotFound      = "PlanNotFound"
	reasonPlanLimitExceeded = "PlanLimitExceeded"
	reasonNamespaceConflict = "NamespaceConflict"
	reasonDomainConflict    = "DomainConflict"
	reasonNamespaceDeleted  = "NamespaceDeleted"
)

// observation is what one reconcile found: what decides the status, and
// when to look again.
type observation struct {
	decide.Observed
	// recheckAfter asks for another look at something the operator does not
	// watch (the default ServiceAccounts).
	recheckAfter time.Duration
}

// observe checks that every namespace is active, that the quota controller
// enforces each quota (until it has computed a quota's status, quota
// admission refuses every pod) and, until Ready for the current spec, that
// each namespace has its default ServiceAccount: Ready means the tenant can
// deploy.
func (r *TenantReconciler) observe(ctx context.Context, tenant *v1alpha1.Tenant, obs *observation) error {
	var pendingNS, pendingQuota, pendingSA []string
	// Until its default ServiceAccount exists, the API server refuses every
	// pod in a namespace. It is checked past the cache (the operator never
	// caches the cluster's ServiceAccounts), so only until the tenant has
	// been Ready for its current spec: a new environment is checked too.
	ready := meta.FindStatusCondition(tenant.Status.Conditions, v1alpha1.ConditionReady)
	checkServiceAccounts := ready == nil || ready.Status != metav1.ConditionTrue || ready.ObservedGeneration != tenant.Generation
	obs.Namespaces = render.NamespaceNames(tenant)
	for _, name := range obs.Namespaces {
		ns := &corev1.Namespace{}
		err := r.Get(ctx, client.ObjectKey{Name: name}, ns)
		if client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("reading namespace %s of tenant %s: %w", name, tenant.Name, err)
		}
		if apierrors.IsNotFound(err) || ns.Status.Phase != corev1.NamespaceActive {
			pendingNS = append(pendingNS, name)
			continue
		}
		quota := &corev1.ResourceQuota{}
		err = r.Get(ctx, client.ObjectKey{Namespace: name, Name: render.QuotaName}, quota)
		if client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("reading quota of namespace %s: %w", name, err)
		}
		// Until the quota controller has computed it once, quota admission
		// refuses every pod. Later changes (a plan change, a tenant-wide
		// rebalance) take effect a moment after the write, the old limit
		// holding meanwhile: the tenant stays Ready through them.
		if apierrors.IsNotFound(err) || len(quota.Status.Hard) == 0 {
			pendingQuota = append(pendingQuota, name)
			continue
		}
		obs.AddQuota(name, quota, tenant.Spec.Suspended)
		if checkServiceAccounts {
			err = r.APIReader.Get(ctx, client.ObjectKey{Namespace: name, Name: "default"}, &corev1.ServiceAccount{})
			if apierrors.IsNotFound(err) {
				pendingSA = append(pendingSA, name)
			} else if err != nil {
				return fmt.Errorf("reading the default service account of namespace %s: %w", name, err)
			}
		}
	}
	obs.NamespacesReady = len(pendingNS) == 0
	if !obs.NamespacesReady {
		obs.NamespacesMessage = "waiting for namespaces to become active: " + strings.Join(pendingNS, ", ")
	}
	obs.GuardrailsReady = len(pendingQuota) == 0
	if !obs.GuardrailsReady {
		obs.GuardrailsMessage = "waiting for the quota controller to enforce the quota in " + strings.Join(pendingQuota, ", ") +
			"; if this lasts, check that kube-controller-manager runs"
	}
	if len(pendingSA) > 0 {
		obs.recheckAfter = 500 * time.Millisecond
		obs.NamespacesReady = false
		obs.NamespacesMessage = "waiting for the default ServiceAccount in " + strings.Join(pendingSA, ", ") +
			" (pods are refused until it exists); if this lasts, check that kube-controller-manager runs"
	}
	var err error
	obs.GitOps, err = r.observeApps(ctx, tenant)
	return err
}

// updateStatus writes the status decide.Status makes of the observation,
// in one patch, and only then records the events and counts the metrics
// the change implies (decide.Transition). It writes nothing when nothing
// changed.
func (r *TenantReconciler) updateStatus(ctx context.Context, tenant *v1alpha1.Tenant, obs decide.Observed) error {
	next := decide.Status(tenant, obs, metav1.Now())
	if equality.Semantic.DeepEqual(tenant.Status, next) {
		return nil
	}
	changes := decide.Transition(tenant.Status, next)
	before := tenant.DeepCopy()
	tenant.Status = next
	// The optimistic lock makes a reconcile that worked from a stale copy
	// fail instead of writing (and announcing) the same transition twice.
	if err := r.Status().Patch(ctx, tenant, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("updating status of tenant %s: %w", tenant.Name, err)
	}
	announcer{r.Recorder}.announce(tenant, changes)
	return nil
}

// announcer records the events and counts the metrics of a status change
// once it is written, for every reconciler that writes the Tenant's status:
// a stale reconcile that lost the optimistic lock must not count the same
// onboarding, or announce the same abort or revert, twice.
type announcer struct {
	recorder events.EventRecorder
}

func (a announcer) announce(tenant *v1alpha1.Tenant, changes decide.Changes) {
	if took := changes.Onboarded; took != nil {
		metrics.OnboardingDuration.Observe(took.Seconds())
	}
	for _, app := range changes.AbortedApps {
		metrics.RolloutAborts.WithLabelValues(tenant.Name, app).Inc()
	}
	for _, e := range changes.Events {
		a.recorder.Eventf(tenant, nil, e.Type, e.Reason, e.Action, "%s", e.Note)
	}
}

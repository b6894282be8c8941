package controller

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tenantry/tenantry/api/v1alpha1"
	"github.com/tenantry/tenantry/internal/metrics"
	"github.com/tenantry/tenantry/internal/render"
)

// Condition reasons: CamelCase words to search the docs and logs for.
const (
	reasonTenantReady        = "TenantReady"
	reasonSuspended          = "Suspended"
	reasonResumed            = "Resumed"
	reasonPlanChanged        = "PlanChanged"
	reasonNotSuspended       = "NotSuspended"
	reasonQuotaExceeded      = "QuotaExceeded"
	reasonWithinQuota        = "WithinQuota"
	reasonEnvironmentRefused = "EnvironmentRemovalRefused"
	reasonPlanNotFound       = "PlanNotFound"
	reasonPlanLimitExceeded  = "PlanLimitExceeded"
	reasonNamespaceConflict  = "NamespaceConflict"
	reasonDomainConflict     = "DomainConflict"
	reasonApplyFailed        = "ApplyFailed"
	reasonNamespacesActive   = "NamespacesActive"
	reasonNamespacesPending  = "NamespacesPending"
	reasonGuardrailsApplied  = "GuardrailsApplied"
	reasonQuotaPending       = "QuotaNotYetEnforced"
	reasonTerminating        = "Terminating"
	reasonNamespaceDeleted   = "NamespaceDeleted"
)

// observation is what one reconcile found: a failure that stops it, or the
// state of the tenant's namespaces and guardrails.
type observation struct {
	terminating        bool
	terminatingMessage string

	failReason, failMessage string
	applyErr                error

	namespacesReady   bool
	namespacesMessage string
	// recheckAfter asks for another look at something the operator does not
	// watch (the default ServiceAccounts).
	recheckAfter      time.Duration
	guardrailsReady   bool
	guardrailsMessage string

	// tenantQuota is the plan's tenant-wide quota, if it has one.
	tenantQuota corev1.ResourceList
	// quotaUsed and quotaHard add up the namespaces' quotas; overQuota
	// lists "namespace: resource used/hard" where use exceeds the limit.
	quotaUsed, quotaHard corev1.ResourceList
	overQuota            []string
	// retainedEnvironments were removed from the spec but still run pods.
	retainedEnvironments []string
	// gitops is the state of the tenant's Argo CD apps, nil without Argo CD or apps.
	gitops *gitopsObservation
}

func (o *observation) fail(reason, message string) { o.failReason, o.failMessage = reason, message }

// addQuota adds a namespace's quota to the tenant's totals and notes any
// resource used beyond its limit; while suspended, pods above the 0 the
// suspension sets are on their way out, not over quota.
func (o *observation) addQuota(namespace string, quota *corev1.ResourceQuota, suspended bool) {
	if o.quotaUsed == nil {
		o.quotaUsed, o.quotaHard = corev1.ResourceList{}, corev1.ResourceList{}
	}
	for _, name := range slices.Sorted(maps.Keys(quota.Status.Hard)) {
		hard := quota.Status.Hard[name]
		used := quota.Status.Used[name]
		sum := o.quotaHard[name]
		sum.Add(hard)
		o.quotaHard[name] = sum
		sum = o.quotaUsed[name]
		sum.Add(used)
		o.quotaUsed[name] = sum
		if used.Cmp(hard) > 0 && !(suspended && name == corev1.ResourcePods) {
			o.overQuota = append(o.overQuota, fmt.Sprintf("%s: %s %s/%s", namespace, name, used.String(), hard.String()))
		}
	}
}

// quotaStatus is the tenant-wide quota use; the plan's tenantQuota, where
// set, is the limit.
func (o *observation) quotaStatus() *v1alpha1.QuotaStatus {
	if o.quotaHard == nil {
		return nil
	}
	hard := o.quotaHard.DeepCopy()
	for name, q := range o.tenantQuota {
		hard[name] = q
	}
	ratio := func(name corev1.ResourceName) string {
		h, ok := hard[name]
		if !ok {
			return ""
		}
		u := o.quotaUsed[name]
		return u.String() + "/" + h.String()
	}
	return &v1alpha1.QuotaStatus{
		Hard: hard, Used: o.quotaUsed.DeepCopy(),
		CPU: ratio(corev1.ResourceRequestsCPU), Memory: ratio(corev1.ResourceRequestsMemory),
	}
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
	for _, name := range render.NamespaceNames(tenant) {
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
		obs.addQuota(name, quota, tenant.Spec.Suspended)
		if checkServiceAccounts {
			err = r.APIReader.Get(ctx, client.ObjectKey{Namespace: name, Name: "default"}, &corev1.ServiceAccount{})
			if apierrors.IsNotFound(err) {
				pendingSA = append(pendingSA, name)
			} else if err != nil {
				return fmt.Errorf("reading the default service account of namespace %s: %w", name, err)
			}
		}
	}
	obs.namespacesReady = len(pendingNS) == 0
	if !obs.namespacesReady {
		obs.namespacesMessage = "waiting for namespaces to become active: " + strings.Join(pendingNS, ", ")
	}
	obs.guardrailsReady = len(pendingQuota) == 0
	if !obs.guardrailsReady {
		obs.guardrailsMessage = "waiting for the quota controller to enforce the quota in " + strings.Join(pendingQuota, ", ") +
			"; if this lasts, check that kube-controller-manager runs"
	}
	if len(pendingSA) > 0 {
		obs.recheckAfter = 500 * time.Millisecond
		obs.namespacesReady = false
		obs.namespacesMessage = "waiting for the default ServiceAccount in " + strings.Join(pendingSA, ", ") +
			" (pods are refused until it exists); if this lasts, check that kube-controller-manager runs"
	}
	var err error
	obs.gitops, err = r.observeApps(ctx, tenant)
	return err
}

// updateStatus writes the phase and conditions the observation implies,
// records the first time the tenant became Ready, and emits an event when
// the phase changes. It writes nothing when nothing changed.
func (r *TenantReconciler) updateStatus(ctx context.Context, tenant *v1alpha1.Tenant, obs observation) error {
	before := tenant.DeepCopy()
	st := &tenant.Status
	gen := tenant.Generation
	set := func(condType string, status metav1.ConditionStatus, reason, message string) {
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{
			Type: condType, Status: status, Reason: reason, Message: message, ObservedGeneration: gen,
		})
	}

	switch {
	case obs.terminating:
		st.Phase = v1alpha1.PhaseTerminating
		set(v1alpha1.ConditionReady, metav1.ConditionFalse, reasonTerminating, obs.terminatingMessage)
	case obs.failReason != "":
		st.Phase = v1alpha1.PhaseFailed
		set(v1alpha1.ConditionReady, metav1.ConditionFalse, obs.failReason, obs.failMessage)
	case obs.applyErr != nil:
		st.Phase = v1alpha1.PhaseFailed
		msg := "applying the tenant's objects failed (retrying): " + obs.applyErr.Error()
		set(v1alpha1.ConditionGuardrailsReady, metav1.ConditionFalse, reasonApplyFailed, msg)
		set(v1alpha1.ConditionReady, metav1.ConditionFalse, reasonApplyFailed, msg)
	default:
		st.Namespaces = render.NamespaceNames(tenant)
		st.IngressDomains = slices.Clone(tenant.Spec.Ingress.Domains)
		st.Plan = tenant.Spec.Plan
		st.RetainedEnvironments = obs.retainedEnvironments
		st.Quota = obs.quotaStatus()
		if len(obs.overQuota) > 0 {
			set(v1alpha1.ConditionQuotaExceeded, metav1.ConditionTrue, reasonQuotaExceeded,
				"using more than the quota allows: "+strings.Join(obs.overQuota, "; ")+
					". Kubernetes evicts nothing for quota; no new pod or object of these resources is admitted until use drops below the limit")
		} else {
			set(v1alpha1.ConditionQuotaExceeded, metav1.ConditionFalse, reasonWithinQuota, "every namespace is within its quota")
		}
		if tenant.Spec.Suspended {
			set(v1alpha1.ConditionSuspended, metav1.ConditionTrue, reasonSuspended,
				"no pod can start (quota pods: 0); Deployments and StatefulSets are scaled to zero and CronJobs suspended; set spec.suspended to false to restore them")
		} else {
			set(v1alpha1.ConditionSuspended, metav1.ConditionFalse, reasonNotSuspended, "the tenant is not suspended")
		}
		if g := obs.gitops; g != nil {
			set(v1alpha1.ConditionGitOpsReady, g.status, g.reason, g.message)
			setGitWriteCondition(&st.Conditions, tenant, g.gitWrite)
			st.Apps = g.apps
			st.AppsReady = ""
			if len(g.apps) > 0 {
				st.AppsReady = fmt.Sprintf("%d/%d", g.ready, len(g.apps))
			}
		} else {
			meta.RemoveStatusCondition(&st.Conditions, v1alpha1.ConditionGitOpsReady)
			meta.RemoveStatusCondition(&st.Conditions, v1alpha1.ConditionGitWriteReady)
			st.Apps, st.AppsReady = nil, ""
		}
		if obs.namespacesReady {
			set(v1alpha1.ConditionNamespacesReady, metav1.ConditionTrue, reasonNamespacesActive, fmt.Sprintf("%d namespaces active", len(st.Namespaces)))
		} else {
			set(v1alpha1.ConditionNamespacesReady, metav1.ConditionFalse, reasonNamespacesPending, obs.namespacesMessage)
		}
		if obs.guardrailsReady {
			set(v1alpha1.ConditionGuardrailsReady, metav1.ConditionTrue, reasonGuardrailsApplied,
				"quota, limit range, network policies, Pod Security restricted and RBAC in force")
		} else {
			set(v1alpha1.ConditionGuardrailsReady, metav1.ConditionFalse, reasonQuotaPending, obs.guardrailsMessage)
		}
		st.Phase = v1alpha1.PhasePending
		switch {
		case !obs.namespacesReady:
			set(v1alpha1.ConditionReady, metav1.ConditionFalse, reasonNamespacesPending, obs.namespacesMessage)
		case !obs.guardrailsReady:
			set(v1alpha1.ConditionReady, metav1.ConditionFalse, reasonQuotaPending, obs.guardrailsMessage)
		case tenant.Spec.Suspended:
			st.Phase = v1alpha1.PhaseSuspended
			set(v1alpha1.ConditionReady, metav1.ConditionFalse, reasonSuspended, "spec.suspended is true: no new pods can start; set it to false to resume")
		default:
			st.Phase = v1alpha1.PhaseReady
			set(v1alpha1.ConditionReady, metav1.ConditionTrue, reasonTenantReady, "the tenant can deploy into "+strings.Join(st.Namespaces, ", "))
		}
		if st.Phase == v1alpha1.PhaseReady && st.ReadyAt == nil {
			now := metav1.Now()
			took := now.Sub(tenant.CreationTimestamp.Time).Truncate(time.Millisecond)
			st.ReadyAt = &now
			st.OnboardingDuration = &metav1.Duration{Duration: took}
		}
	}
	st.ObservedGeneration = gen

	if equality.Semantic.DeepEqual(before.Status, tenant.Status) {
		return nil
	}
	// The optimistic lock makes a reconcile that worked from a stale copy
	// fail instead of writing (and announcing) the same transition twice.
	if err := r.Status().Patch(ctx, tenant, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("updating status of tenant %s: %w", tenant.Name, err)
	}
	// Counted once the write succeeded: a stale reconcile that lost the
	// optimistic lock must not count the same onboarding twice.
	if before.Status.ReadyAt == nil && st.ReadyAt != nil {
		metrics.OnboardingDuration.Observe(st.OnboardingDuration.Seconds())
	}
	if before.Status.Phase != st.Phase {
		r.recordPhase(tenant, before.Status.ReadyAt == nil)
	}
	if before.Status.Plan != "" && before.Status.Plan != st.Plan {
		r.Recorder.Eventf(tenant, nil, corev1.EventTypeNormal, reasonPlanChanged, "ChangePlan",
			"Moved from plan %s to %s: quotas, limits and guardrails updated in place", before.Status.Plan, st.Plan)
	}
	if !meta.IsStatusConditionTrue(before.Status.Conditions, v1alpha1.ConditionQuotaExceeded) && meta.IsStatusConditionTrue(st.Conditions, v1alpha1.ConditionQuotaExceeded) {
		r.Recorder.Eventf(tenant, nil, corev1.EventTypeWarning, reasonQuotaExceeded, "Observe", "%s",
			meta.FindStatusCondition(st.Conditions, v1alpha1.ConditionQuotaExceeded).Message)
	}
	r.recordAppProblems(tenant, before.Status.Apps)
	r.recordRollouts(tenant, before.Status.Apps)
	if added := newEntries(before.Status.RetainedEnvironments, st.RetainedEnvironments); len(added) > 0 {
		r.Recorder.Eventf(tenant, nil, corev1.EventTypeWarning, reasonEnvironmentRefused, "Prune",
			"Kept the namespaces of removed environments %v: they still run pods. Annotate the Tenant %s=%s to delete them",
			added, v1alpha1.AnnotationConfirmDelete, strings.Join(added, ","))
	}
	return nil
}

// recordAppProblems emits a warning for each app whose Argo CD problem is
// new since the last status: a refused sync is seen in the Tenant's events.
func (r *TenantReconciler) recordAppProblems(tenant *v1alpha1.Tenant, before []v1alpha1.AppStatus) {
	for _, app := range tenant.Status.Apps {
		if app.Message == "" {
			continue
		}
		i := slices.IndexFunc(before, func(b v1alpha1.AppStatus) bool { return b.Name == app.Name })
		if i >= 0 && before[i].Message == app.Message {
			continue
		}
		r.Recorder.Eventf(tenant, nil, corev1.EventTypeWarning, reasonAppSyncFailed, "Sync",
			"App %s (Argo CD Application %s): %s", app.Name, app.Application, app.Message)
	}
}

// recordPhase emits an event saying why the tenant entered its phase, with
// the onboarding time the first time it is Ready.
func (r *TenantReconciler) recordPhase(tenant *v1alpha1.Tenant, firstReady bool) {
	ready := meta.FindStatusCondition(tenant.Status.Conditions, v1alpha1.ConditionReady)
	if ready == nil {
		return
	}
	eventType := corev1.EventTypeNormal
	if tenant.Status.Phase == v1alpha1.PhaseFailed {
		eventType = corev1.EventTypeWarning
	}
	note := ready.Message
	if firstReady && tenant.Status.Phase == v1alpha1.PhaseReady && tenant.Status.OnboardingDuration != nil {
		note = fmt.Sprintf("onboarded in %s: %s", tenant.Status.OnboardingDuration.Duration, ready.Message)
	}
	r.Recorder.Eventf(tenant, nil, eventType, ready.Reason, string(tenant.Status.Phase), "%s", note)
}

// newEntries returns what next holds and before does not.
func newEntries(before, next []string) []string {
	var added []string
	for _, e := range next {
		if !slices.Contains(before, e) {
			added = append(added, e)
		}
	}
	return added
}

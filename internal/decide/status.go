package decide

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tenantry/tenantry/api/v1alpha1"
)

// Status is the tenant's status once the reconcile that observed obs is
// done: its phase, the conditions that explain it, what the tenant holds,
// and, the first time it is Ready, when and how long onboarding took. now
// is when the reconcile decided: a condition that changes status
// transitions then. It starts from a copy of tenant.Status and leaves the
// tenant untouched.
func Status(tenant *v1alpha1.Tenant, obs Observed, now metav1.Time) v1alpha1.TenantStatus {
	st := tenant.Status.DeepCopy()
	c := conditions{list: &st.Conditions, generation: tenant.Generation, now: now}
	switch {
	case obs.Terminating:
		st.Phase = v1alpha1.PhaseTerminating
		c.set(v1alpha1.ConditionReady, metav1.ConditionFalse, ReasonTerminating, obs.TerminatingMessage)
	case obs.FailReason != "":
		st.Phase = v1alpha1.PhaseFailed
		c.set(v1alpha1.ConditionReady, metav1.ConditionFalse, obs.FailReason, obs.FailMessage)
	case obs.ApplyErr != nil:
		st.Phase = v1alpha1.PhaseFailed
		msg := "applying the tenant's objects failed (retrying): " + obs.ApplyErr.Error()
		c.set(v1alpha1.ConditionGuardrailsReady, metav1.ConditionFalse, ReasonApplyFailed, msg)
		c.set(v1alpha1.ConditionReady, metav1.ConditionFalse, ReasonApplyFailed, msg)
	default:
		applied(st, c, tenant, obs)
	}
	st.ObservedGeneration = tenant.Generation
	return *st
}

// conditions sets a status's conditions for one generation at one time.
type conditions struct {
	list       *[]metav1.Condition
	generation int64
	now        metav1.Time
}

func (c conditions) set(condType string, status metav1.ConditionStatus, reason, message string) {
	meta.SetStatusCondition(c.list, metav1.Condition{
		Type: condType, Status: status, Reason: reason, Message: message,
		ObservedGeneration: c.generation, LastTransitionTime: c.now,
	})
}

// applied fills the status of a tenant whose objects were applied: what it
// holds, one condition per concern, and the phase they add up to. The
// conditions are set in a fixed order, the order they are listed in.
func applied(st *v1alpha1.TenantStatus, c conditions, tenant *v1alpha1.Tenant, obs Observed) {
	st.Namespaces = slices.Clone(obs.Namespaces)
	st.IngressDomains = slices.Clone(tenant.Spec.Ingress.Domains)
	st.Plan = tenant.Spec.Plan
	st.RetainedEnvironments = obs.RetainedEnvironments
	st.Quota = obs.quotaStatus()
	setQuotaExceeded(c, obs.OverQuota)
	setSuspended(c, tenant.Spec.Suspended)
	setGitOps(st, c, tenant.Spec.RevertOnAbort, obs.GitOps)
	setNamespacesReady(c, obs, len(st.Namespaces))
	setGuardrailsReady(c, obs)
	st.Phase = setReady(c, tenant.Spec.Suspended, obs, st.Namespaces)
	// ReadyAt is set once: onboarding is the first time the tenant could deploy.
	if st.Phase == v1alpha1.PhaseReady && st.ReadyAt == nil {
		readyAt := c.now
		st.ReadyAt = &readyAt
		st.OnboardingDuration = &metav1.Duration{Duration: readyAt.Sub(tenant.CreationTimestamp.Time).Truncate(time.Millisecond)}
	}
}

func setQuotaExceeded(c conditions, overQuota []string) {
	if len(overQuota) > 0 {
		c.set(v1alpha1.ConditionQuotaExceeded, metav1.ConditionTrue, ReasonQuotaExceeded,
			"using more than the quota allows: "+strings.Join(overQuota, "; ")+
				". Kubernetes evicts nothing for quota; no new pod or object of these resources is admitted until use drops below the limit")
		return
	}
	c.set(v1alpha1.ConditionQuotaExceeded, metav1.ConditionFalse, ReasonWithinQuota, "every namespace is within its quota")
}

func setSuspended(c conditions, suspended bool) {
	if suspended {
		c.set(v1alpha1.ConditionSuspended, metav1.ConditionTrue, ReasonSuspended,
			"no pod can start (quota pods: 0); Deployments and StatefulSets are scaled to zero and CronJobs suspended; set spec.suspended to false to restore them")
		return
	}
	c.set(v1alpha1.ConditionSuspended, metav1.ConditionFalse, ReasonNotSuspended, "the tenant is not suspended")
}

// setGitOps reports the apps and the GitOps conditions; without Argo CD or
// apps there is nothing to report, and the conditions go.
func setGitOps(st *v1alpha1.TenantStatus, c conditions, revertOnAbort bool, g *GitOps) {
	if g == nil {
		meta.RemoveStatusCondition(c.list, v1alpha1.ConditionGitOpsReady)
		meta.RemoveStatusCondition(c.list, v1alpha1.ConditionGitWriteReady)
		st.Apps, st.AppsReady = nil, ""
		return
	}
	c.set(v1alpha1.ConditionGitOpsReady, g.Status, g.Reason, g.Message)
	// GitWriteReady is the revert controller's (Reverted); here it only
	// goes when the tenant opts out.
	c.setGitWrite(revertOnAbort, nil)
	st.Apps = g.Apps
	st.AppsReady = ""
	if len(g.Apps) > 0 {
		st.AppsReady = fmt.Sprintf("%d/%d", g.Ready, len(g.Apps))
	}
}

// setGitWrite records the outcome of this reconcile's Git writes (nil:
// none that told anything, the last outcome stays); without
// spec.revertOnAbort the operator writes nothing and the condition goes.
func (c conditions) setGitWrite(revertOnAbort bool, outcome *metav1.Condition) {
	if !revertOnAbort {
		meta.RemoveStatusCondition(c.list, v1alpha1.ConditionGitWriteReady)
		return
	}
	if outcome != nil {
		written := *outcome
		written.ObservedGeneration = c.generation
		if written.LastTransitionTime.IsZero() {
			written.LastTransitionTime = c.now
		}
		meta.SetStatusCondition(c.list, written)
	}
}

func setNamespacesReady(c conditions, obs Observed, namespaces int) {
	if obs.NamespacesReady {
		c.set(v1alpha1.ConditionNamespacesReady, metav1.ConditionTrue, ReasonNamespacesActive, fmt.Sprintf("%d namespaces active", namespaces))
		return
	}
	c.set(v1alpha1.ConditionNamespacesReady, metav1.ConditionFalse, ReasonNamespacesPending, obs.NamespacesMessage)
}

func setGuardrailsReady(c conditions, obs Observed) {
	if obs.GuardrailsReady {
		c.set(v1alpha1.ConditionGuardrailsReady, metav1.ConditionTrue, ReasonGuardrailsApplied,
			"quota, limit range, network policies, Pod Security restricted and RBAC in force")
		return
	}
	c.set(v1alpha1.ConditionGuardrailsReady, metav1.ConditionFalse, ReasonQuotaPending, obs.GuardrailsMessage)
}

// setReady sets the Ready condition and returns the phase: Ready means the
// tenant can deploy, so the first thing it waits for is the reason.
func setReady(c conditions, suspended bool, obs Observed, namespaces []string) v1alpha1.Phase {
	switch {
	case !obs.NamespacesReady:
		c.set(v1alpha1.ConditionReady, metav1.ConditionFalse, ReasonNamespacesPending, obs.NamespacesMessage)
		return v1alpha1.PhasePending
	case !obs.GuardrailsReady:
		c.set(v1alpha1.ConditionReady, metav1.ConditionFalse, ReasonQuotaPending, obs.GuardrailsMessage)
		return v1alpha1.PhasePending
	case suspended:
		c.set(v1alpha1.ConditionReady, metav1.ConditionFalse, ReasonSuspended, "spec.suspended is true: no new pods can start; set it to false to resume")
		return v1alpha1.PhaseSuspended
	}
	c.set(v1alpha1.ConditionReady, metav1.ConditionTrue, ReasonTenantReady, "the tenant can deploy into "+strings.Join(namespaces, ", "))
	return v1alpha1.PhaseReady
}

// FirstStatusHold is how long a new Tenant's first status may wait for
// the controller manager to make its namespaces usable.
const FirstStatusHold = 10 * time.Second

// HoldFirstStatus says how long to hold back next, the first status of a
// Tenant, when it would only say Pending (zero: write it now). Onboarding
// takes about a second, so the first status is then Ready: writing Pending
// before it costs a status write and an event per tenant, most of all in a
// bulk onboarding. A problem (phase Failed) is written at once, and so is
// Pending once the hold is over, so a stuck onboarding still says why.
func HoldFirstStatus(tenant *v1alpha1.Tenant, next v1alpha1.TenantStatus, now time.Time) time.Duration {
	if tenant.Status.Phase != "" || next.Phase != v1alpha1.PhasePending {
		return 0
	}
	return max(FirstStatusHold-now.Sub(tenant.CreationTimestamp.Time), 0)
}

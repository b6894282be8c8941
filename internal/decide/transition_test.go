package decide

import (
	"reflect"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tenantry/tenantry/api/v1alpha1"
)

// status builds a TenantStatus in phase with a Ready condition, changed by edits.
func status(phase v1alpha1.Phase, readyStatus metav1.ConditionStatus, reason, message string, edits ...func(*v1alpha1.TenantStatus)) v1alpha1.TenantStatus {
	st := v1alpha1.TenantStatus{Phase: phase, Plan: "small", Conditions: []metav1.Condition{
		{Type: v1alpha1.ConditionReady, Status: readyStatus, Reason: reason, Message: message},
	}}
	for _, edit := range edits {
		edit(&st)
	}
	return st
}

var (
	pending = status(v1alpha1.PhasePending, metav1.ConditionFalse, ReasonNamespacesPending, "waiting")
	ready   = status(v1alpha1.PhaseReady, metav1.ConditionTrue, ReasonTenantReady, "the tenant can deploy into acme-dev", onboarded)
)

func onboarded(st *v1alpha1.TenantStatus) {
	st.ReadyAt, st.OnboardingDuration = &now, &metav1.Duration{Duration: 1500 * time.Millisecond}
}

func quotaExceeded(st *v1alpha1.TenantStatus) {
	st.Conditions = append(st.Conditions, metav1.Condition{Type: v1alpha1.ConditionQuotaExceeded, Status: metav1.ConditionTrue, Reason: ReasonQuotaExceeded, Message: "over"})
}

func onPlan(plan string) func(*v1alpha1.TenantStatus) {
	return func(st *v1alpha1.TenantStatus) { st.Plan = plan }
}

func retained(envs ...string) func(*v1alpha1.TenantStatus) {
	return func(st *v1alpha1.TenantStatus) { st.RetainedEnvironments = envs }
}

// withApp gives the status app web, in namespace acme-prod, with a problem
// message and a rollout (nil for none).
func withApp(message string, ro *v1alpha1.AppRollout) func(*v1alpha1.TenantStatus) {
	return func(st *v1alpha1.TenantStatus) {
		st.Apps = append(st.Apps, v1alpha1.AppStatus{Name: "web", Application: "acme-web", Namespace: "acme-prod", Message: message, Rollout: ro})
	}
}

// rollout is web's Rollout in phase, on image, at step with weight.
func rollout(phase v1alpha1.RolloutPhase, image, step string, weight int32, edits ...func(*v1alpha1.AppRollout)) *v1alpha1.AppRollout {
	ro := &v1alpha1.AppRollout{Name: "web", Strategy: "canary", Phase: phase, Image: image, Step: step, Weight: weight}
	for _, edit := range edits {
		edit(ro)
	}
	return ro
}

func analysis(outcome string) func(*v1alpha1.AppRollout) {
	return func(ro *v1alpha1.AppRollout) {
		ro.Analysis, ro.Message = outcome, "RolloutAborted: metric error-rate failed"
	}
}

// reverted records a revert decision; each call makes its own AbortedAt,
// so equal decisions are distinct pointers, as after a status round trip.
func reverted(commit, message string) func(*v1alpha1.AppRollout) {
	return func(ro *v1alpha1.AppRollout) {
		abortedAt := metav1.NewTime(created.Time)
		ro.Revert = &v1alpha1.RolloutRevert{AbortedAt: &abortedAt, Revision: "abc", Commit: commit, Message: message}
	}
}

const rolloutPrefix = "App web (Rollout acme-prod/web): "

// One case per event rule of Transition, and one for their order.
func TestTransition(t *testing.T) {
	tests := []struct {
		name          string
		before, after v1alpha1.TenantStatus
		want          []Event
		wantOnboarded time.Duration
		wantAborted   []string
	}{
		{name: "nothing changed", before: ready, after: ready},
		{
			name: "a new phase says why", before: v1alpha1.TenantStatus{}, after: pending,
			want: []Event{{corev1.EventTypeNormal, ReasonNamespacesPending, "Pending", "waiting"}},
		},
		{
			name: "a failure is a warning", before: pending,
			after: status(v1alpha1.PhaseFailed, metav1.ConditionFalse, "PlanNotFound", "no plan"),
			want:  []Event{{corev1.EventTypeWarning, "PlanNotFound", "Failed", "no plan"}},
		},
		{
			name: "a new phase without a Ready condition says nothing", before: pending,
			after: v1alpha1.TenantStatus{Phase: v1alpha1.PhaseTerminating, Plan: "small"},
		},
		{
			name: "first Ready tells the onboarding time", before: pending, after: ready,
			want:          []Event{{corev1.EventTypeNormal, ReasonTenantReady, "Ready", "onboarded in 1.5s: the tenant can deploy into acme-dev"}},
			wantOnboarded: 1500 * time.Millisecond,
		},
		{
			name: "Ready again is not onboarding", before: status(v1alpha1.PhaseSuspended, metav1.ConditionFalse, ReasonSuspended, "suspended", onboarded), after: ready,
			want: []Event{{corev1.EventTypeNormal, ReasonTenantReady, "Ready", "the tenant can deploy into acme-dev"}},
		},
		{
			name: "plan changed", before: ready, after: status(v1alpha1.PhaseReady, metav1.ConditionTrue, ReasonTenantReady, "the tenant can deploy into acme-dev", onboarded, onPlan("large")),
			want: []Event{{corev1.EventTypeNormal, ReasonPlanChanged, "ChangePlan", "Moved from plan small to large: quotas, limits and guardrails updated in place"}},
		},
		{
			name:   "a first plan is no change",
			before: status(v1alpha1.PhasePending, metav1.ConditionFalse, ReasonNamespacesPending, "waiting", onPlan("")),
			after:  status(v1alpha1.PhasePending, metav1.ConditionFalse, ReasonNamespacesPending, "waiting"),
		},
		{
			name: "quota newly exceeded", before: ready, after: status(v1alpha1.PhaseReady, metav1.ConditionTrue, ReasonTenantReady, "the tenant can deploy into acme-dev", onboarded, quotaExceeded),
			want: []Event{{corev1.EventTypeWarning, ReasonQuotaExceeded, "Observe", "over"}},
		},
		{
			name:   "quota still exceeded is not repeated",
			before: status(v1alpha1.PhaseReady, metav1.ConditionTrue, ReasonTenantReady, "ready", onboarded, quotaExceeded),
			after:  status(v1alpha1.PhaseReady, metav1.ConditionTrue, ReasonTenantReady, "ready", onboarded, quotaExceeded),
		},
		{
			name: "a new app problem", before: ready, after: appStatus(withApp("Deployment web: forbidden", nil)),
			want: []Event{{corev1.EventTypeWarning, ReasonAppSyncFailed, "Sync", "App web (Argo CD Application acme-web): Deployment web: forbidden"}},
		},
		{
			name: "the same app problem is not repeated", before: appStatus(withApp("Deployment web: forbidden", nil)), after: appStatus(withApp("Deployment web: forbidden", nil)),
		},
		{
			name: "an app problem that changed is new", before: appStatus(withApp("Deployment web: forbidden", nil)), after: appStatus(withApp("Service web: forbidden", nil)),
			want: []Event{{corev1.EventTypeWarning, ReasonAppSyncFailed, "Sync", "App web (Argo CD Application acme-web): Service web: forbidden"}},
		},
		{
			name:   "rollout aborted by its analysis",
			before: appStatus(withApp("", rollout(v1alpha1.RolloutPaused, "web:2", "1/3", 20))),
			after:  appStatus(withApp("", rollout(v1alpha1.RolloutAborted, "web:2", "1/3", 0, analysis("Failed: error rate 0.4")))),
			want: []Event{{corev1.EventTypeWarning, ReasonRolloutAborted, "Rollout",
				rolloutPrefix + "release of web:2 aborted, the stable version keeps serving: Failed: error rate 0.4"}},
			wantAborted: []string{"web"},
		},
		{
			name:   "rollout aborted while its analysis runs says what the Rollout says",
			before: appStatus(withApp("", rollout(v1alpha1.RolloutPaused, "web:2", "1/3", 20))),
			after:  appStatus(withApp("", rollout(v1alpha1.RolloutAborted, "web:2", "1/3", 0, analysis("Running")))),
			want: []Event{{corev1.EventTypeWarning, ReasonRolloutAborted, "Rollout",
				rolloutPrefix + "release of web:2 aborted, the stable version keeps serving: RolloutAborted: metric error-rate failed"}},
			wantAborted: []string{"web"},
		},
		{
			name:   "an abort is announced once",
			before: appStatus(withApp("", rollout(v1alpha1.RolloutAborted, "web:2", "1/3", 0))),
			after:  appStatus(withApp("", rollout(v1alpha1.RolloutAborted, "web:2", "1/3", 0))),
		},
		{
			name:   "rollout promoted",
			before: appStatus(withApp("", rollout(v1alpha1.RolloutPaused, "web:2", "2/3", 50))),
			after:  appStatus(withApp("", rollout(v1alpha1.RolloutHealthy, "web:2", "3/3", 100))),
			want:   []Event{{corev1.EventTypeNormal, ReasonRolloutPromoted, "Rollout", rolloutPrefix + "released web:2 to all replicas"}},
		},
		{
			name:   "healthy after an abort is no promotion",
			before: appStatus(withApp("", rollout(v1alpha1.RolloutAborted, "web:2", "1/3", 0))),
			after:  appStatus(withApp("", rollout(v1alpha1.RolloutHealthy, "web:1", "3/3", 100))),
		},
		{
			name:   "rollout started",
			before: appStatus(withApp("", rollout(v1alpha1.RolloutHealthy, "web:1", "3/3", 100))),
			after:  appStatus(withApp("", rollout(v1alpha1.RolloutProgressing, "web:2", "0/3", 0))),
			want:   []Event{{corev1.EventTypeNormal, ReasonRolloutStarted, "Rollout", rolloutPrefix + "releasing web:2 (canary), replacing web:1"}},
		},
		{
			name:   "rollout step advanced",
			before: appStatus(withApp("", rollout(v1alpha1.RolloutPaused, "web:2", "1/3", 20))),
			after:  appStatus(withApp("", rollout(v1alpha1.RolloutPaused, "web:2", "2/3", 50))),
			want:   []Event{{corev1.EventTypeNormal, ReasonRolloutStep, "Rollout", rolloutPrefix + "step 2/3: 50% of replicas on web:2"}},
		},
		{
			name:   "revert pushed",
			before: appStatus(withApp("", rollout(v1alpha1.RolloutAborted, "web:2", "1/3", 0))),
			after:  appStatus(withApp("", rollout(v1alpha1.RolloutAborted, "web:2", "1/3", 0, reverted("def", "reverted abc")))),
			want:   []Event{{corev1.EventTypeNormal, ReasonAppReverted, "Rollout", rolloutPrefix + "reverted abc"}},
		},
		{
			name:   "revert skipped",
			before: appStatus(withApp("", rollout(v1alpha1.RolloutAborted, "web:2", "1/3", 0))),
			after:  appStatus(withApp("", rollout(v1alpha1.RolloutAborted, "web:2", "1/3", 0, reverted("", "not reverted: the app comes from a Helm repository")))),
			want:   []Event{{corev1.EventTypeWarning, ReasonRevertSkipped, "Rollout", rolloutPrefix + "not reverted: the app comes from a Helm repository"}},
		},
		{
			name:   "a revert is announced once",
			before: appStatus(withApp("", rollout(v1alpha1.RolloutAborted, "web:2", "1/3", 0, reverted("def", "reverted abc")))),
			after:  appStatus(withApp("", rollout(v1alpha1.RolloutAborted, "web:2", "1/3", 0, reverted("def", "reverted abc")))),
		},
		{
			name: "retained environments newly added", before: appStatus(retained("qa")), after: appStatus(retained("qa", "staging", "perf")),
			want: []Event{{corev1.EventTypeWarning, ReasonEnvironmentRefused, "Prune",
				"Kept the namespaces of removed environments [staging perf]: they still run pods. Annotate the Tenant tenantry.dev/confirm-delete=staging,perf to delete them"}},
		},
		{name: "retained environments already reported", before: appStatus(retained("qa")), after: appStatus(retained("qa"))},
		{
			name:   "events come in order: phase, plan, quota, apps, rollouts, environments",
			before: pending,
			after: status(v1alpha1.PhaseReady, metav1.ConditionTrue, ReasonTenantReady, "ready", onboarded, onPlan("large"), quotaExceeded, retained("qa"),
				withApp("sync failed: boom", rollout(v1alpha1.RolloutAborted, "web:2", "1/3", 0, analysis("Failed: x")))),
			want: []Event{
				{corev1.EventTypeNormal, ReasonTenantReady, "Ready", "onboarded in 1.5s: ready"},
				{corev1.EventTypeNormal, ReasonPlanChanged, "ChangePlan", "Moved from plan small to large: quotas, limits and guardrails updated in place"},
				{corev1.EventTypeWarning, ReasonQuotaExceeded, "Observe", "over"},
				{corev1.EventTypeWarning, ReasonAppSyncFailed, "Sync", "App web (Argo CD Application acme-web): sync failed: boom"},
				{corev1.EventTypeWarning, ReasonRolloutAborted, "Rollout", rolloutPrefix + "release of web:2 aborted, the stable version keeps serving: Failed: x"},
				{corev1.EventTypeWarning, ReasonEnvironmentRefused, "Prune", "Kept the namespaces of removed environments [qa]: they still run pods. Annotate the Tenant tenantry.dev/confirm-delete=qa to delete them"},
			},
			wantOnboarded: 1500 * time.Millisecond,
			wantAborted:   []string{"web"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch := Transition(tt.before, tt.after)
			if !reflect.DeepEqual(ch.Events, tt.want) {
				t.Errorf("events:\n got %q\nwant %q", ch.Events, tt.want)
			}
			var onboarded time.Duration
			if ch.Onboarded != nil {
				onboarded = ch.Onboarded.Duration
			}
			if onboarded != tt.wantOnboarded || !slices.Equal(ch.AbortedApps, tt.wantAborted) {
				t.Errorf("onboarded = %v, aborted = %v; want %v, %v", onboarded, ch.AbortedApps, tt.wantOnboarded, tt.wantAborted)
			}
		})
	}
}

// appStatus is a Ready status, onboarded, changed by edits: the
// background for the app and environment rules.
func appStatus(edits ...func(*v1alpha1.TenantStatus)) v1alpha1.TenantStatus {
	return status(v1alpha1.PhaseReady, metav1.ConditionTrue, ReasonTenantReady, "the tenant can deploy into acme-dev", append([]func(*v1alpha1.TenantStatus){onboarded}, edits...)...)
}

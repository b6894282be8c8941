package decide

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tenantry/tenantry/api/v1alpha1"
)

// Event is one event to record on the Tenant, its note already formatted.
type Event struct {
	Type, Reason, Action, Note string
}

// Changes is what a status change means beyond the status: the events to
// record, in order, and what the metrics count.
type Changes struct {
	Events []Event
	// Onboarded is how long onboarding took when the tenant has just
	// become Ready for the first time, nil otherwise.
	Onboarded *metav1.Duration
	// AbortedApps names the apps whose release has just aborted.
	AbortedApps []string
}

// Transition is what the move from before to after means: an event per
// new phase, plan, quota breach, app problem, release step and kept
// environment, each once. The act layer applies it only after after is
// written, so a reconcile that lost the race announces nothing.
func Transition(before, after v1alpha1.TenantStatus) Changes {
	var ch Changes
	firstReady := before.ReadyAt == nil
	if firstReady && after.ReadyAt != nil {
		ch.Onboarded = after.OnboardingDuration
	}
	if before.Phase != after.Phase {
		ch.Events = append(ch.Events, phaseEvents(after, firstReady)...)
	}
	if before.Plan != "" && before.Plan != after.Plan {
		ch.Events = append(ch.Events, Event{corev1.EventTypeNormal, ReasonPlanChanged, "ChangePlan",
			fmt.Sprintf("Moved from plan %s to %s: quotas, limits and guardrails updated in place", before.Plan, after.Plan)})
	}
	if !meta.IsStatusConditionTrue(before.Conditions, v1alpha1.ConditionQuotaExceeded) && meta.IsStatusConditionTrue(after.Conditions, v1alpha1.ConditionQuotaExceeded) {
		ch.Events = append(ch.Events, Event{corev1.EventTypeWarning, ReasonQuotaExceeded, "Observe",
			meta.FindStatusCondition(after.Conditions, v1alpha1.ConditionQuotaExceeded).Message})
	}
	ch.Events = append(ch.Events, appProblems(before.Apps, after.Apps)...)
	ch.rollouts(before.Apps, after.Apps)
	if added := newEntries(before.RetainedEnvironments, after.RetainedEnvironments); len(added) > 0 {
		ch.Events = append(ch.Events, Event{corev1.EventTypeWarning, ReasonEnvironmentRefused, "Prune",
			fmt.Sprintf("Kept the namespaces of removed environments %v: they still run pods. Annotate the Tenant %s=%s to delete them",
				added, v1alpha1.AnnotationConfirmDelete, strings.Join(added, ","))})
	}
	return ch
}

// phaseEvents says why the tenant entered its phase, with the onboarding
// time the first time it is Ready.
func phaseEvents(after v1alpha1.TenantStatus, firstReady bool) []Event {
	ready := meta.FindStatusCondition(after.Conditions, v1alpha1.ConditionReady)
	if ready == nil {
		return nil
	}
	eventType := corev1.EventTypeNormal
	if after.Phase == v1alpha1.PhaseFailed {
		eventType = corev1.EventTypeWarning
	}
	note := ready.Message
	if firstReady && after.Phase == v1alpha1.PhaseReady && after.OnboardingDuration != nil {
		note = fmt.Sprintf("onboarded in %s: %s", after.OnboardingDuration.Duration, ready.Message)
	}
	return []Event{{eventType, ready.Reason, string(after.Phase), note}}
}

// appProblems warns of each app whose Argo CD problem is new since the
// last status: a refused sync is seen in the Tenant's events.
func appProblems(before, after []v1alpha1.AppStatus) []Event {
	var events []Event
	for _, app := range after {
		if app.Message == "" {
			continue
		}
		if was := appNamed(before, app.Name); was != nil && was.Message == app.Message {
			continue
		}
		events = append(events, Event{corev1.EventTypeWarning, ReasonAppSyncFailed, "Sync",
			fmt.Sprintf("App %s (Argo CD Application %s): %s", app.Name, app.Application, app.Message)})
	}
	return events
}

// rollouts adds an event for each step of each app's release since the
// last status, and for each revert decided, and notes the aborts.
func (ch *Changes) rollouts(before, after []v1alpha1.AppStatus) {
	for _, app := range after {
		now := app.Rollout
		if now == nil {
			continue
		}
		var was v1alpha1.AppRollout
		if b := appNamed(before, app.Name); b != nil && b.Rollout != nil {
			was = *b.Rollout
		}
		event := func(eventType, reason, format string, args ...any) {
			ch.Events = append(ch.Events, Event{eventType, reason, "Rollout",
				fmt.Sprintf("App %s (Rollout %s/%s): "+format, append([]any{app.Name, app.Namespace, now.Name}, args...)...)})
		}
		releasing := now.Phase == v1alpha1.RolloutProgressing || now.Phase == v1alpha1.RolloutPaused
		switch {
		case now.Phase == v1alpha1.RolloutAborted && was.Phase != v1alpha1.RolloutAborted:
			ch.AbortedApps = append(ch.AbortedApps, app.Name)
			event(corev1.EventTypeWarning, ReasonRolloutAborted, "release of %s aborted, the stable version keeps serving: %s", now.Image, AbortCause(now))
		case now.Phase == v1alpha1.RolloutHealthy && was.Phase != "" && was.Phase != v1alpha1.RolloutHealthy && was.Phase != v1alpha1.RolloutAborted:
			event(corev1.EventTypeNormal, ReasonRolloutPromoted, "released %s to all replicas", now.Image)
		case releasing && was.Image != "" && was.Image != now.Image:
			event(corev1.EventTypeNormal, ReasonRolloutStarted, "releasing %s (%s), replacing %s", now.Image, now.Strategy, was.Image)
		case releasing && now.Image == was.Image && was.Step != "" && now.Step != was.Step && now.Weight < 100:
			event(corev1.EventTypeNormal, ReasonRolloutStep, "step %s: %d%% of replicas on %s", now.Step, now.Weight, now.Image)
		}
		// Compared by value: the abort time is a pointer, and a copy of
		// the same revert is not a new one.
		if rv := now.Revert; rv != nil && (was.Revert == nil || !equality.Semantic.DeepEqual(*was.Revert, *rv)) {
			if rv.Commit != "" {
				event(corev1.EventTypeNormal, ReasonAppReverted, "%s", rv.Message)
			} else {
				event(corev1.EventTypeWarning, ReasonRevertSkipped, "%s", rv.Message)
			}
		}
	}
}

// AbortCause is why a release aborted, as people read it: its analysis's
// final outcome, else what the Rollout says.
func AbortCause(ro *v1alpha1.AppRollout) string {
	if AnalysisDone(ro.Analysis) {
		return ro.Analysis
	}
	return ro.Message
}

// AnalysisDone reports whether an outcome is final: Successful, Failed,
// Error or Inconclusive, not Pending or Running.
func AnalysisDone(outcome string) bool {
	return outcome != "" && !strings.HasPrefix(outcome, "Running") && !strings.HasPrefix(outcome, "Pending")
}

func appNamed(apps []v1alpha1.AppStatus, name string) *v1alpha1.AppStatus {
	if i := slices.IndexFunc(apps, func(a v1alpha1.AppStatus) bool { return a.Name == name }); i >= 0 {
		return &apps[i]
	}
	return nil
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

package controller

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/tenantry/tenantry/api/v1alpha1"
	"github.com/tenantry/tenantry/internal/gitops"
	"github.com/tenantry/tenantry/internal/metrics"
	"github.com/tenantry/tenantry/internal/render"
)

// Rollout event reasons.
const (
	reasonRolloutStarted  = "RolloutStarted"
	reasonRolloutStep     = "RolloutStepAdvanced"
	reasonRolloutPromoted = "RolloutPromoted"
	reasonRolloutAborted  = "RolloutAborted"
	reasonAppReverted     = "AppReverted"
	reasonRevertSkipped   = "RevertSkipped"
	// reasonAnalysisCredentials fails a tenant whose analysis credentials
	// Secret cannot be read.
	reasonAnalysisCredentials = "AnalysisCredentialsNotFound"
)

// The identity the operator commits Git reverts as.
const (
	revertAuthorName  = "Tenantry"
	revertAuthorEmail = "tenantry@tenantry.dev"
)

// revertTimeout bounds a Git revert (clone, commit, push) within a reconcile.
const revertTimeout = time.Minute

// observeRollout fills st.Rollout from the Argo Rollout the app's
// Application deploys (found in its status.resources), from the cache:
// Rollouts' status changes wake their tenant. The revert decision of an
// earlier reconcile is carried over from before.
func (r *TenantReconciler) observeRollout(ctx context.Context, app *unstructured.Unstructured, st *v1alpha1.AppStatus, before *v1alpha1.AppRollout) error {
	if !r.rollouts {
		return nil
	}
	resources, _, _ := unstructured.NestedSlice(app.Object, "status", "resources")
	for _, res := range resources {
		ref, _ := res.(map[string]any)
		if ref["group"] != render.RolloutGVK.Group || ref["kind"] != render.RolloutGVK.Kind {
			continue
		}
		name, _ := ref["name"].(string)
		namespace, _ := ref["namespace"].(string)
		ro := &unstructured.Unstructured{}
		ro.SetGroupVersionKind(render.RolloutGVK)
		err := r.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, ro)
		if client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("reading Rollout %s/%s: %w", namespace, name, err)
		}
		if err != nil {
			return nil
		}
		st.Rollout = rolloutState(ro)
		if before != nil && before.Name == st.Rollout.Name {
			if st.Rollout.Analysis == "" && before.Image == st.Rollout.Image {
				st.Rollout.Analysis = before.Analysis
			}
			st.Rollout.Revert = before.Revert
		}
		return nil
	}
	return nil
}

// rolloutState reads a Rollout's release state: its phase (Aborted when
// its analysis, or a person, stopped the release), the canary step and the
// weight that step gives the new version, and the latest analysis outcome.
func rolloutState(ro *unstructured.Unstructured) *v1alpha1.AppRollout {
	s := &v1alpha1.AppRollout{Name: ro.GetName(), Strategy: "canary"}
	if _, blueGreen, _ := unstructured.NestedMap(ro.Object, "spec", "strategy", "blueGreen"); blueGreen {
		s.Strategy = "blueGreen"
	}
	phase, _, _ := unstructured.NestedString(ro.Object, "status", "phase")
	s.Phase = v1alpha1.RolloutPhase(phase)
	aborted, _, _ := unstructured.NestedBool(ro.Object, "status", "abort")
	if aborted {
		s.Phase = v1alpha1.RolloutAborted
	}
	s.Message, _, _ = unstructured.NestedString(ro.Object, "status", "message")
	if at, _, _ := unstructured.NestedString(ro.Object, "status", "abortedAt"); aborted && at != "" {
		if t, err := time.Parse(time.RFC3339, at); err == nil {
			s.AbortedAt = &metav1.Time{Time: t}
		}
	}
	if containers, _, _ := unstructured.NestedSlice(ro.Object, "spec", "template", "spec", "containers"); len(containers) > 0 {
		c, _ := containers[0].(map[string]any)
		s.Image, _ = c["image"].(string)
	}

	// Until the controller has seen the latest spec, its status describes
	// the previous one: the new version is not released, nor started.
	observed, _, _ := unstructured.NestedString(ro.Object, "status", "observedGeneration")
	if observed != strconv.FormatInt(ro.GetGeneration(), 10) {
		s.Phase, s.Message = v1alpha1.RolloutProgressing, "the Argo Rollouts controller has not seen the latest spec yet"
		return s
	}
	current, _, _ := unstructured.NestedString(ro.Object, "status", "currentPodHash")
	stable, _, _ := unstructured.NestedString(ro.Object, "status", "stableRS")
	released := current != "" && current == stable
	switch {
	case aborted:
		s.Weight = 0
	case released:
		s.Weight = 100
	case s.Strategy == "canary":
		s.Weight = canaryWeight(ro)
	}
	if s.Strategy == "canary" {
		steps, _, _ := unstructured.NestedSlice(ro.Object, "spec", "strategy", "canary", "steps")
		index, found, _ := unstructured.NestedInt64(ro.Object, "status", "currentStepIndex")
		if len(steps) > 0 && found {
			s.Step = fmt.Sprintf("%d/%d", index, len(steps))
		}
	}

	for _, path := range [][]string{
		{"status", "canary", "currentStepAnalysisRunStatus"},
		{"status", "canary", "currentBackgroundAnalysisRunStatus"},
		{"status", "blueGreen", "prePromotionAnalysisRunStatus"},
		{"status", "blueGreen", "postPromotionAnalysisRunStatus"},
	} {
		run, found, _ := unstructured.NestedMap(ro.Object, path...)
		if !found {
			continue
		}
		status, _ := run["status"].(string)
		outcome := status
		if msg, _ := run["message"].(string); msg != "" {
			outcome += ": " + msg
		}
		if name, _ := run["name"].(string); name != "" {
			outcome += " (AnalysisRun " + name + ")"
		}
		s.Analysis = outcome
	}
	return s
}

// canaryWeight is the weight the steps done so far set: with traffic
// routing the controller reports it, else it is the last setWeight before
// the current step.
func canaryWeight(ro *unstructured.Unstructured) int32 {
	if w, found, _ := unstructured.NestedInt64(ro.Object, "status", "canary", "weights", "canary", "weight"); found {
		return int32(w)
	}
	steps, _, _ := unstructured.NestedSlice(ro.Object, "spec", "strategy", "canary", "steps")
	index, _, _ := unstructured.NestedInt64(ro.Object, "status", "currentStepIndex")
	var weight int32
	for i, step := range steps {
		if int64(i) > index {
			break
		}
		if w, found, _ := unstructured.NestedInt64(step.(map[string]any), "setWeight"); found {
			weight = int32(w)
		}
	}
	return weight
}

// revertAborted commits, for each app whose release aborted at a revision
// not yet considered, a revert of the Git change that deployed it, when the
// tenant opted in (spec.revertOnAbort). gitops.Revert enforces the safety
// limits: only the newest commit that changed the app's path, only when
// the failed revision contains it and it changed nothing else. The outcome
// is recorded in the app's status, so each abort is handled once.
func (r *TenantReconciler) revertAborted(ctx context.Context, tenant *v1alpha1.Tenant, apps []v1alpha1.AppStatus) {
	if !tenant.Spec.RevertOnAbort {
		return
	}
	for i := range apps {
		st := &apps[i]
		ro := st.Rollout
		if ro == nil || ro.Phase != v1alpha1.RolloutAborted || st.Revision == "" {
			continue
		}
		// Each abort is handled once: Argo CD syncing the revert, or any
		// other commit, before the Rollout leaves its abort is not another.
		if last := ro.Revert; last != nil && sameAbort(last, ro, st.Revision) {
			continue
		}
		spec := tenant.Spec.Apps[slices.IndexFunc(tenant.Spec.Apps, func(a v1alpha1.App) bool { return a.Name == st.Name })]
		revert := &v1alpha1.RolloutRevert{AbortedAt: ro.AbortedAt, Revision: st.Revision}
		ro.Revert = revert
		if spec.Path == "" {
			revert.Message = "not reverted: the app comes from a Helm repository (spec.apps[].chart), not a Git path"
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, revertTimeout)
		res, err := gitops.Revert(rctx, gitops.RevertRequest{
			RepoURL:     spec.RepoURL,
			Branch:      spec.TargetRevision,
			Path:        spec.Path,
			Revision:    st.Revision,
			Reason:      fmt.Sprintf("Tenantry: the release of app %s (Rollout %s/%s) aborted: %s", st.Name, st.Namespace, ro.Name, firstNonEmpty(ro.Analysis, ro.Message)),
			AuthorName:  revertAuthorName,
			AuthorEmail: revertAuthorEmail,
		})
		cancel()
		switch {
		case err != nil:
			revert.Message = "revert failed: " + err.Error()
		case res.Commit == "":
			revert.Message = "not reverted: " + res.Skipped
		default:
			revert.Reverted, revert.Commit = res.Reverted, res.Commit
			revert.Message = fmt.Sprintf("reverted %s (%q) in %s as %s", short(res.Reverted), res.Subject, spec.RepoURL, short(res.Commit))
		}
	}
}

// sameAbort reports whether the revert record answers the Rollout's
// current abort: by its time, or, where Argo Rollouts does not report it,
// by the revision that failed.
func sameAbort(last *v1alpha1.RolloutRevert, ro *v1alpha1.AppRollout, revision string) bool {
	if last.AbortedAt != nil && ro.AbortedAt != nil {
		return last.AbortedAt.Equal(ro.AbortedAt)
	}
	return last.Revision == revision || (last.Commit != "" && last.Commit == revision)
}

// recordRollouts emits an event for each step of each app's release since
// the last status, and counts aborts.
func (r *TenantReconciler) recordRollouts(tenant *v1alpha1.Tenant, before []v1alpha1.AppStatus) {
	for _, app := range tenant.Status.Apps {
		now := app.Rollout
		if now == nil {
			continue
		}
		var was v1alpha1.AppRollout
		if i := slices.IndexFunc(before, func(b v1alpha1.AppStatus) bool { return b.Name == app.Name }); i >= 0 && before[i].Rollout != nil {
			was = *before[i].Rollout
		}
		event := func(eventType, reason, format string, args ...any) {
			r.Recorder.Eventf(tenant, nil, eventType, reason, "Rollout", "App %s (Rollout %s/%s): "+format,
				append([]any{app.Name, app.Namespace, now.Name}, args...)...)
		}
		releasing := now.Phase == v1alpha1.RolloutProgressing || now.Phase == v1alpha1.RolloutPaused
		switch {
		case now.Phase == v1alpha1.RolloutAborted && was.Phase != v1alpha1.RolloutAborted:
			metrics.RolloutAborts.WithLabelValues(tenant.Name, app.Name).Inc()
			event(corev1.EventTypeWarning, reasonRolloutAborted, "release of %s aborted, the stable version keeps serving: %s",
				now.Image, firstNonEmpty(now.Analysis, now.Message))
		case now.Phase == v1alpha1.RolloutHealthy && was.Phase != "" && was.Phase != v1alpha1.RolloutHealthy && was.Phase != v1alpha1.RolloutAborted:
			event(corev1.EventTypeNormal, reasonRolloutPromoted, "released %s to all replicas", now.Image)
		case releasing && was.Image != "" && was.Image != now.Image:
			event(corev1.EventTypeNormal, reasonRolloutStarted, "releasing %s (%s), replacing %s", now.Image, now.Strategy, was.Image)
		case releasing && now.Image == was.Image && was.Step != "" && now.Step != was.Step && now.Weight < 100:
			event(corev1.EventTypeNormal, reasonRolloutStep, "step %s: %d%% of replicas on %s", now.Step, now.Weight, now.Image)
		}
		if rv := now.Revert; rv != nil && (was.Revert == nil || *was.Revert != *rv) {
			if rv.Commit != "" {
				event(corev1.EventTypeNormal, reasonAppReverted, "%s", rv.Message)
			} else {
				event(corev1.EventTypeWarning, reasonRevertSkipped, "%s", rv.Message)
			}
		}
	}
}

// tenantOfNamespaced maps an object in a tenant namespace (a Rollout) to
// the tenant, by the namespace's tenant label.
func (r *TenantReconciler) tenantOfNamespaced(ctx context.Context, obj client.Object) []reconcile.Request {
	ns := &corev1.Namespace{}
	if err := r.Get(ctx, client.ObjectKey{Name: obj.GetNamespace()}, ns); err != nil {
		return nil
	}
	return tenantOf(ctx, ns)
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// short is a commit hash as people read it.
func short(hash string) string {
	if len(hash) > 12 {
		return hash[:12]
	}
	return hash
}

// fillAnalysisCredentials sets the Authorization header of the tenant's
// analysis Secrets from the Secret spec.analysis.credentials names (the
// Tenant's, else the plan's), read directly from the API server: the
// operator caches only Secrets it manages. It returns a problem for the
// status when that Secret or its key is missing.
func (r *TenantReconciler) fillAnalysisCredentials(ctx context.Context, tenant *v1alpha1.Tenant, plan *v1alpha1.TenantPlan, desired []client.Object) (string, error) {
	analysis := render.Analysis(tenant, plan)
	if analysis == nil || analysis.Credentials == nil {
		return "", nil
	}
	ref := analysis.Credentials
	source := &corev1.Secret{}
	err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: ref.Namespace, Name: ref.Name}, source)
	if apierrors.IsNotFound(err) {
		return fmt.Sprintf("spec.analysis.credentials: Secret %s/%s does not exist; create it with the key %q (e.g. \"Bearer <token>\"), or remove the reference",
			ref.Namespace, ref.Name, render.AnalysisKeyAuthorization), nil
	}
	if err != nil {
		return "", fmt.Errorf("reading the analysis credentials Secret %s/%s of tenant %s: %w", ref.Namespace, ref.Name, tenant.Name, err)
	}
	authorization, ok := source.Data[render.AnalysisKeyAuthorization]
	if !ok {
		return fmt.Sprintf("spec.analysis.credentials: Secret %s/%s has no key %q; add it (the Authorization header, e.g. \"Bearer <token>\")",
			ref.Namespace, ref.Name, render.AnalysisKeyAuthorization), nil
	}
	for _, obj := range desired {
		if s, ok := obj.(*corev1.Secret); ok && s.Name == render.AnalysisSecretName {
			s.Data[render.AnalysisKeyAuthorization] = authorization
		}
	}
	return "", nil
}

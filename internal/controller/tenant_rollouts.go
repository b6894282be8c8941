package controller

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/tenantry/tenantry/api/v1alpha1"
	"github.com/tenantry/tenantry/internal/decide"
	"github.com/tenantry/tenantry/internal/render"
)

// observeRollout fills st.Rollout from the Argo Rollout the app's
// Application deploys, from the cache: Rollouts' status changes wake their
// tenant. The revert the revert controller recorded (RevertReconciler) is
// carried over from before.
func (r *TenantReconciler) observeRollout(ctx context.Context, app *unstructured.Unstructured, st *v1alpha1.AppStatus, before *v1alpha1.AppRollout) error {
	key, found := rolloutOf(app)
	if !r.rollouts.Load() || !found {
		return nil
	}
	ro := rolloutObject()
	err := r.Get(ctx, key, ro)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading Rollout %s: %w", key, err)
	}
	now := rolloutState(ro)
	st.Rollout = now
	running := strings.HasPrefix(now.Analysis, "Running")
	if before != nil && before.Name == now.Name {
		now.Revert, now.Released = before.Revert, before.Released
		if now.AnalysisRun == "" && before.Image == now.Image {
			now.Analysis, now.AnalysisRun = before.Analysis, before.AnalysisRun
		}
	}
	// Released: Argo CD applied this revision (Synced; it reports a new
	// revision as soon as it compares, before it applies) and every pod
	// runs what it holds.
	if now.Phase == v1alpha1.RolloutHealthy && now.Weight == 100 && st.Sync == "Synced" && st.Revision != "" {
		now.Released = st.Revision
	}
	// Argo Rollouts forgets an analysis's outcome once the release moves on
	// (a step passed, a promotion, an abort): it is then read from the
	// AnalysisRun itself, found by the version's pod template hash when the
	// release aborted before the operator saw its run.
	if now.AnalysisRun == "" && now.Phase == v1alpha1.RolloutAborted {
		if err := r.findAnalysisRun(ctx, ro, now); err != nil {
			return err
		}
	}
	if now.AnalysisRun != "" && !running && !decide.AnalysisDone(now.Analysis) {
		return r.readAnalysisRun(ctx, key.Namespace, now)
	}
	return nil
}

// rolloutOf is the Argo Rollout among what an Application deploys (its
// status.resources).
func rolloutOf(app *unstructured.Unstructured) (client.ObjectKey, bool) {
	resources, _, _ := unstructured.NestedSlice(app.Object, "status", "resources")
	for _, res := range resources {
		ref, _ := res.(map[string]any)
		if ref["group"] == render.RolloutGVK.Group && ref["kind"] == render.RolloutGVK.Kind {
			name, _ := ref["name"].(string)
			namespace, _ := ref["namespace"].(string)
			return client.ObjectKey{Namespace: namespace, Name: name}, true
		}
	}
	return client.ObjectKey{}, false
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
	case released, stable == "":
		// The first version goes to every pod at once: there is nothing
		// to release it next to.
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

	s.AnalysisRun, s.Analysis = latestAnalysis(ro)
	return s
}

// latestAnalysis is the AnalysisRun a Rollout's status names last, and its outcome.
func latestAnalysis(ro *unstructured.Unstructured) (run, outcome string) {
	for _, path := range [][]string{
		{"status", "canary", "currentStepAnalysisRunStatus"},
		{"status", "canary", "currentBackgroundAnalysisRunStatus"},
		{"status", "blueGreen", "prePromotionAnalysisRunStatus"},
		{"status", "blueGreen", "postPromotionAnalysisRunStatus"},
	} {
		status, found, _ := unstructured.NestedMap(ro.Object, path...)
		if !found {
			continue
		}
		run, _ = status["name"].(string)
		phase, _ := status["status"].(string)
		message, _ := status["message"].(string)
		outcome = analysisOutcome(phase, message)
	}
	return run, outcome
}

// analysisOutcome is an analysis's phase and why, as people read it.
func analysisOutcome(phase, message string) string {
	if message == "" {
		return phase
	}
	return phase + ": " + message
}

// findAnalysisRun names the newest AnalysisRun of the Rollout's current
// version (by its pod template hash), read directly.
func (r *TenantReconciler) findAnalysisRun(ctx context.Context, ro *unstructured.Unstructured, now *v1alpha1.AppRollout) error {
	hash, _, _ := unstructured.NestedString(ro.Object, "status", "currentPodHash")
	if hash == "" {
		return nil
	}
	runs := &unstructured.UnstructuredList{}
	runs.SetGroupVersionKind(render.RolloutGVK.GroupVersion().WithKind("AnalysisRunList"))
	err := r.APIReader.List(ctx, runs, client.InNamespace(ro.GetNamespace()), client.MatchingLabels{"rollouts-pod-template-hash": hash})
	if err != nil {
		return fmt.Errorf("listing the AnalysisRuns of Rollout %s/%s: %w", ro.GetNamespace(), ro.GetName(), err)
	}
	var newest *unstructured.Unstructured
	for i := range runs.Items {
		run := &runs.Items[i]
		owned := slices.ContainsFunc(run.GetOwnerReferences(), func(o metav1.OwnerReference) bool { return o.UID == ro.GetUID() })
		if owned && (newest == nil || newest.GetCreationTimestamp().Time.Before(run.GetCreationTimestamp().Time)) {
			newest = run
		}
	}
	if newest != nil {
		now.AnalysisRun = newest.GetName()
	}
	return nil
}

// readAnalysisRun sets the rollout's analysis outcome from its AnalysisRun,
// read directly (the operator does not cache tenants' AnalysisRuns: it
// needs one only when a release moves past its analysis).
func (r *TenantReconciler) readAnalysisRun(ctx context.Context, namespace string, ro *v1alpha1.AppRollout) error {
	run := &unstructured.Unstructured{}
	run.SetGroupVersionKind(render.RolloutGVK.GroupVersion().WithKind("AnalysisRun"))
	err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: namespace, Name: ro.AnalysisRun}, run)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading AnalysisRun %s/%s: %w", namespace, ro.AnalysisRun, err)
	}
	phase, _, _ := unstructured.NestedString(run.Object, "status", "phase")
	message, _, _ := unstructured.NestedString(run.Object, "status", "message")
	if phase != "" {
		ro.Analysis = analysisOutcome(phase, message)
	}
	return nil
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

// tenantOfNamespaced maps an object in a tenant namespace (a Rollout) to
// the tenant, by the namespace's tenant label.
func (r *TenantReconciler) tenantOfNamespaced(ctx context.Context, obj client.Object) []reconcile.Request {
	ns := &corev1.Namespace{}
	if err := r.Get(ctx, client.ObjectKey{Name: obj.GetNamespace()}, ns); err != nil {
		return nil
	}
	return tenantOf(ctx, ns)
}

package controller

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tenantry/tenantry/api/v1alpha1"
	"github.com/tenantry/tenantry/internal/decide"
	"github.com/tenantry/tenantry/internal/render"
)

// GitOps reasons.
const (
	reasonArgoCDMissing = "ArgoCDNotInstalled"
	reasonProjectReady  = "ProjectReady"
	reasonAppsSynced    = "AppsSynced"
	reasonAppsNotSynced = "AppsNotSynced"
	reasonSyncSuspended = "SyncSuspended"
	reasonAppsDeleting  = "AppsDeleting"
)

// observeApps reads what Argo CD reports on each of the tenant's
// Applications (from the cache: their status changes wake the tenant).
// It returns nil when there is nothing to report: no Argo CD and no apps.
func (r *TenantReconciler) observeApps(ctx context.Context, tenant *v1alpha1.Tenant) (*decide.GitOps, error) {
	ns := r.Options.ArgoCDNamespace
	if ns == "" {
		if len(tenant.Spec.Apps) == 0 {
			return nil, nil
		}
		return &decide.GitOps{Status: metav1.ConditionFalse, Reason: reasonArgoCDMissing, Message: fmt.Sprintf(
			"spec.apps lists %d apps, but the operator found no Argo CD (argoproj.io Applications) when it started; install Argo CD, then restart the operator",
			len(tenant.Spec.Apps))}, nil
	}
	obs := &decide.GitOps{}
	var notReady []string
	for _, app := range tenant.Spec.Apps {
		st := v1alpha1.AppStatus{
			Name:        app.Name,
			Application: render.ApplicationName(tenant, app.Name),
			Namespace:   render.AppNamespace(tenant, app),
		}
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(render.ApplicationGVK)
		err := r.Get(ctx, client.ObjectKey{Namespace: ns, Name: st.Application}, u)
		if client.IgnoreNotFound(err) != nil {
			return nil, fmt.Errorf("reading Application %s/%s: %w", ns, st.Application, err)
		}
		if err == nil {
			st.Sync, _, _ = unstructured.NestedString(u.Object, "status", "sync", "status")
			st.Revision, _, _ = unstructured.NestedString(u.Object, "status", "sync", "revision")
			st.Health, _, _ = unstructured.NestedString(u.Object, "status", "health", "status")
			st.Message = applicationProblems(u)
			var before *v1alpha1.AppRollout
			if i := slices.IndexFunc(tenant.Status.Apps, func(a v1alpha1.AppStatus) bool { return a.Name == app.Name }); i >= 0 {
				before = tenant.Status.Apps[i].Rollout
			}
			if err := r.observeRollout(ctx, u, &st, before); err != nil {
				return nil, err
			}
		}
		if st.Sync == "Synced" && st.Health == "Healthy" {
			obs.Ready++
		} else {
			state := fmt.Sprintf("%s: sync %s, health %s", app.Name, orUnknown(st.Sync), orUnknown(st.Health))
			if st.Message != "" {
				state += " (" + st.Message + ")"
			}
			notReady = append(notReady, state)
		}
		obs.Apps = append(obs.Apps, st)
	}
	switch {
	case tenant.Spec.Suspended && len(tenant.Spec.Apps) > 0:
		obs.Status, obs.Reason = metav1.ConditionFalse, reasonSyncSuspended
		obs.Message = "automated sync is off while the tenant is suspended, so Argo CD does not scale its workloads back up; set spec.suspended to false to resume it"
	case len(tenant.Spec.Apps) == 0:
		obs.Status, obs.Reason = metav1.ConditionTrue, reasonProjectReady
		obs.Message = fmt.Sprintf("Argo CD AppProject %s confines the tenant's apps to its namespaces; spec.apps lists none", render.AppProjectName(tenant))
	case len(notReady) == 0:
		obs.Status, obs.Reason = metav1.ConditionTrue, reasonAppsSynced
		obs.Message = fmt.Sprintf("every app (%d) synced from Git and healthy", obs.Ready)
	default:
		obs.Status, obs.Reason = metav1.ConditionFalse, reasonAppsNotSynced
		obs.Message = strings.Join(notReady, "; ") + fmt.Sprintf("; see `kubectl -n %s get application` and its events", ns)
	}
	return obs, nil
}

// applicationProblems is what Argo CD says is wrong with an Application:
// its conditions (a destination the AppProject refuses, a repository it
// cannot read), and what failed in its last sync: each refused object with
// the reason (a kind or namespace the AppProject forbids, a write the API
// server refused the tenant's deployer), else the sync's message. Argo CD's
// count of retries is left out, so the message changes only when the
// problem does.
func applicationProblems(u *unstructured.Unstructured) string {
	var problems []string
	conditions, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conditions {
		cond, _ := c.(map[string]any)
		kind, _ := cond["type"].(string)
		msg, _ := cond["message"].(string)
		if strings.HasSuffix(kind, "Error") || strings.HasSuffix(kind, "Warning") {
			problems = append(problems, kind+": "+msg)
		}
	}
	phase, _, _ := unstructured.NestedString(u.Object, "status", "operationState", "phase")
	retries, retried, _ := unstructured.NestedFieldNoCopy(u.Object, "status", "operationState", "retryCount")
	retrying := retried && fmt.Sprint(retries) != "0"
	if phase == "Failed" || phase == "Error" || (phase == "Running" && retrying) {
		failed := false
		resources, _, _ := unstructured.NestedSlice(u.Object, "status", "operationState", "syncResult", "resources")
		for _, r := range resources {
			res, _ := r.(map[string]any)
			if res["status"] != "SyncFailed" {
				continue
			}
			failed = true
			problems = append(problems, fmt.Sprintf("%v %v: %v", res["kind"], res["name"], res["message"]))
		}
		if !failed {
			msg, _, _ := unstructured.NestedString(u.Object, "status", "operationState", "message")
			problems = append(problems, "sync failed: "+retryNote.ReplaceAllString(msg, ""))
		}
	}
	return strings.Join(problems, "; ")
}

// retryNote is what Argo CD appends to a failed sync's message.
var retryNote = regexp.MustCompile(`\s*Retrying attempt #\d+ at [^.]*\.?\s*$`)

func orUnknown(s string) string {
	if s == "" {
		return "Unknown"
	}
	return s
}

// deleteApps deletes the tenant's Applications and reports whether any is
// left. Argo CD first removes what each deployed (the resources finalizer),
// so apps go before their namespaces and Argo CD does not recreate their
// workloads meanwhile. With retain, the finalizer is taken off first: the
// workloads stay with the namespaces that are kept.
func (r *TenantReconciler) deleteApps(ctx context.Context, tenant *v1alpha1.Tenant, retain bool) (int, error) {
	if r.Options.ArgoCDNamespace == "" {
		return 0, nil
	}
	apps := unstructuredList(render.ApplicationGVK)
	// Argo CD's kinds are read from the API server: by label, not the index.
	if err := r.List(ctx, apps, client.MatchingLabels(render.Labels(tenant))); err != nil {
		return 0, fmt.Errorf("listing the Applications of tenant %s: %w", tenant.Name, err)
	}
	left := len(apps.Items)
	for i := range apps.Items {
		u := &apps.Items[i]
		if retain && len(u.GetFinalizers()) > 0 {
			patch := client.MergeFrom(u.DeepCopy())
			u.SetFinalizers(nil)
			if err := r.Patch(ctx, u, patch); client.IgnoreNotFound(err) != nil {
				return left, fmt.Errorf("releasing Application %s of tenant %s: %w", u.GetName(), tenant.Name, err)
			}
		}
		if !u.GetDeletionTimestamp().IsZero() {
			continue
		}
		if err := r.deleteApplication(ctx, u); err != nil {
			return left, fmt.Errorf("tenant %s: %w", tenant.Name, err)
		}
		r.Recorder.Eventf(tenant, nil, corev1.EventTypeNormal, reasonAppsDeleting, "Delete",
			"Deleted Argo CD Application %s/%s; Argo CD removes what it deployed", u.GetNamespace(), u.GetName())
	}
	return left, nil
}

// deleteApplication deletes an Argo CD Application. A sync still running
// (or retrying a refused object, which it does for minutes) is terminated
// first, as `argocd app terminate-op` does: Argo CD processes no deletion
// while an operation is in progress.
func (r *TenantReconciler) deleteApplication(ctx context.Context, app *unstructured.Unstructured) error {
	if phase, _, _ := unstructured.NestedString(app.Object, "status", "operationState", "phase"); phase == "Running" {
		terminate := []byte(`{"status":{"operationState":{"phase":"Terminating"}}}`)
		if err := r.Patch(ctx, app, client.RawPatch(types.MergePatchType, terminate)); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("terminating the sync of Application %s: %w", app.GetName(), err)
		}
	}
	if err := r.Delete(ctx, app); client.IgnoreNotFound(err) != nil && !apierrors.IsConflict(err) {
		return fmt.Errorf("deleting Application %s: %w", app.GetName(), err)
	}
	return nil
}

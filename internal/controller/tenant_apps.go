package controller

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tenantry/tenantry/api/v1alpha1"
	"github.com/tenantry/tenantry/internal/render"
)

// readApps reads what Argo CD reports on each of the tenant's
// Applications, and the release state of the Rollout each deploys (from
// the cache: their status changes wake the tenant). Without Argo CD it
// reads nothing.
func (r *TenantReconciler) readApps(ctx context.Context, tenant *v1alpha1.Tenant) ([]v1alpha1.AppStatus, error) {
	ns := r.Options.ArgoCDNamespace
	if ns == "" {
		return nil, nil
	}
	apps := make([]v1alpha1.AppStatus, 0, len(tenant.Spec.Apps))
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
		apps = append(apps, st)
	}
	return apps, nil
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

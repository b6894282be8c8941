package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/tenantry/tenantry/api/v1alpha1"
	"github.com/tenantry/tenantry/internal/decide"
	"github.com/tenantry/tenantry/internal/render"
)

// offboard removes a deleted tenant in order, then releases the Tenant:
// its apps, its workloads, its namespaces (or, with deletionPolicy Retain,
// it keeps them, locked down and labelled orphaned), and last the
// cluster-wide RBAC. Each pass does the next step and reports, in one
// status write, what the deletion waits for.
func (r *TenantReconciler) offboard(ctx context.Context, tenant *v1alpha1.Tenant) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(tenant, v1alpha1.Finalizer) {
		return ctrl.Result{}, nil
	}
	o := decide.Offboarding{Tenant: tenant, Retain: tenant.Spec.DeletionPolicy == v1alpha1.DeletionRetain,
		Now: time.Now(), StuckAfter: r.StuckAfter}
	message, starts := o.Started()
	if starts {
		r.Recorder.Eventf(tenant, nil, corev1.EventTypeNormal, decide.ReasonTerminating, "Delete", "%s", message)
	}
	done, held, err := r.offboardStep(ctx, tenant, o)
	if done && err == nil {
		patch := client.MergeFromWithOptions(tenant.DeepCopy(), client.MergeFromWithOptimisticLock{})
		controllerutil.RemoveFinalizer(tenant, v1alpha1.Finalizer)
		if err := r.Patch(ctx, tenant, patch); client.IgnoreNotFound(err) != nil {
			return ctrl.Result{}, fmt.Errorf("removing finalizer of tenant %s: %w", tenant.Name, err)
		}
		ctrl.LoggerFrom(ctx).Info("offboarded tenant", "tenant", tenant.Name, "retained", o.Retain)
		return ctrl.Result{}, nil
	}
	if held != "" {
		message = held
	}
	// The deletion events of what is left wake the tenant; the requeue
	// also times the report of what holds it. A Terminating status is never held.
	_, statusErr := r.updateStatus(ctx, tenant, decide.Observed{Terminating: true, TerminatingMessage: message})
	return ctrl.Result{RequeueAfter: 5 * time.Second}, errors.Join(err, statusErr)
}

// offboardStep does the next step of the deletion. It reports whether the
// tenant is gone, else what holds it once that has lasted (decide.Offboarding).
func (r *TenantReconciler) offboardStep(ctx context.Context, tenant *v1alpha1.Tenant, o decide.Offboarding) (done bool, held string, err error) {
	// Apps first, so Argo CD removes what it deployed and does not recreate
	// workloads while their namespaces go.
	left, err := r.deleteApps(ctx, tenant, o.Retain)
	if err != nil || left > 0 {
		return false, o.AppsLeft(left, r.Options.ArgoCDNamespace, render.ResourcesFinalizer), err
	}
	if o.Retain {
		// Keep the namespaces and what locks them down; prune the rest
		// (RoleBindings, the tenant's ClusterRole and binding).
		owned, err := r.tenantObjects(ctx, tenant)
		if err != nil {
			return false, "", err
		}
		keep, err := r.retainNamespaces(ctx, tenant, owned)
		if err != nil {
			return false, "", err
		}
		stale, _ := r.prunable(owned, keep, nil, nil)
		return true, "", r.prune(ctx, tenant, stale)
	}
	var namespaces corev1.NamespaceList
	if err := r.List(ctx, &namespaces, inTenantIndex(tenant)); err != nil {
		return false, "", fmt.Errorf("listing namespaces of tenant %s: %w", tenant.Name, err)
	}
	if len(namespaces.Items) == 0 {
		// The namespaces are gone: the cluster-wide RBAC goes last.
		return true, "", r.pruneAll(ctx, tenant)
	}
	names := make([]string, 0, len(namespaces.Items))
	for _, ns := range namespaces.Items {
		names = append(names, ns.Name)
	}
	if err := r.deleteWorkloads(ctx, names); err != nil {
		return false, "", err
	}
	// Namespaces now; their content goes with them.
	if err := r.pruneAll(ctx, tenant); err != nil {
		return false, "", err
	}
	return false, o.NamespacesLeft(namespaces.Items), nil
}

// pruneAll deletes every object the tenant owns.
func (r *TenantReconciler) pruneAll(ctx context.Context, tenant *v1alpha1.Tenant) error {
	owned, err := r.tenantObjects(ctx, tenant)
	if err != nil {
		return err
	}
	stale, _ := r.prunable(owned, nil, nil, nil)
	return r.prune(ctx, tenant, stale)
}

// deleteWorkloads deletes the tenant's workloads before its namespaces, so
// controllers stop creating pods while the namespace controller empties them.
func (r *TenantReconciler) deleteWorkloads(ctx context.Context, namespaces []string) error {
	for _, ns := range namespaces {
		for _, obj := range []client.Object{&appsv1.Deployment{}, &appsv1.StatefulSet{}, &appsv1.DaemonSet{}, &batchv1.CronJob{}, &batchv1.Job{}} {
			err := r.DeleteAllOf(ctx, obj, client.InNamespace(ns), client.PropagationPolicy("Background"))
			if client.IgnoreNotFound(err) != nil {
				return fmt.Errorf("deleting %T in %s: %w", obj, ns, err)
			}
		}
	}
	return nil
}

// retainNamespaces keeps the tenant's namespaces, among what it owns, for deletionPolicy Retain:
// they lose the Tenant as owner (so garbage collection spares them and the
// quota, limit range and network policies inside, which stay in force) and
// get the orphaned label. It returns what it kept; the owners' RoleBindings
// and the cluster RBAC are left for pruning.
func (r *TenantReconciler) retainNamespaces(ctx context.Context, tenant *v1alpha1.Tenant, owned []client.Object) ([]client.Object, error) {
	var kept []client.Object
	for _, obj := range owned {
		metadata := map[string]any{"ownerReferences": nil}
		switch objectKind(obj) {
		case "Namespace":
			metadata["labels"] = map[string]any{v1alpha1.LabelOrphaned: "true"}
		case "ResourceQuota", "LimitRange", "NetworkPolicy":
		default:
			continue
		}
		kept = append(kept, obj)
		if len(obj.GetOwnerReferences()) == 0 {
			continue // released by an earlier pass
		}
		data, err := json.Marshal(map[string]any{"metadata": metadata})
		if err != nil {
			return nil, err
		}
		if err := r.Patch(ctx, obj, client.RawPatch(types.MergePatchType, data)); client.IgnoreNotFound(err) != nil {
			return nil, fmt.Errorf("releasing %s of tenant %s: %w", objectID(obj), tenant.Name, err)
		}
	}
	return kept, nil
}

// deleteApps deletes the tenant's Applications and returns how many are
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
		r.Recorder.Eventf(tenant, nil, corev1.EventTypeNormal, decide.ReasonAppsDeleting, "Delete",
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

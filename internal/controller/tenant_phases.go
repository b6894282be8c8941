package controller

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/tenantry/tenantry/api/v1alpha1"
	"github.com/tenantry/tenantry/internal/decide"
	"github.com/tenantry/tenantry/internal/render"
)

// namespaceConflict returns why the tenant cannot have one of its
// namespaces, or "". The ingress and monitoring namespaces are never a
// tenant's. A namespace that exists but is not this tenant's (an
// unmanaged one, or another tenant's: "acme" + "prod-eu" and "acme-prod" +
// "eu" collide) is never taken over.
func (r *TenantReconciler) namespaceConflict(ctx context.Context, tenant *v1alpha1.Tenant) (string, error) {
	for _, name := range render.NamespaceNames(tenant) {
		// Checked even before the platform's namespace exists: once it
		// does, every tenant's network policies would let the tenant in.
		if slices.Contains(render.PlatformNamespaces(r.Options), name) {
			return fmt.Sprintf("namespace %s is reserved for the platform (every tenant admits traffic from it); rename the tenant or the environment", name), nil
		}
		ns := &corev1.Namespace{}
		err := r.Get(ctx, client.ObjectKey{Name: name}, ns)
		if apierrors.IsNotFound(err) {
			// The cache holds managed namespaces only: ask the API server.
			err = r.APIReader.Get(ctx, client.ObjectKey{Name: name}, ns)
		}
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("reading namespace %s of tenant %s: %w", name, tenant.Name, err)
		}
		if owner := ns.Labels[v1alpha1.LabelTenant]; owner != tenant.Name || ns.Labels[v1alpha1.LabelManagedBy] != v1alpha1.ManagedByValue {
			if owner != "" {
				return fmt.Sprintf("namespace %s already belongs to tenant %s; rename an environment or the tenant", name, owner), nil
			}
			return fmt.Sprintf("namespace %s already exists and is not managed by Tenantry; rename the environment, or delete or rename that namespace", name), nil
		}
	}
	return "", nil
}

// domainConflict returns why the tenant cannot have one of its ingress
// domains, or "": another tenant holds the same or an overlapping domain, or
// claims it too and came first (render.DomainConflict). The API server
// would refuse the tenant's Ingresses for the domain anyway, since its
// namespaces never get it; refusing the Tenant says so where its provider looks.
func (r *TenantReconciler) domainConflict(ctx context.Context, tenant *v1alpha1.Tenant) (string, error) {
	if len(tenant.Spec.Ingress.Domains) == 0 {
		return "", nil
	}
	var tenants v1alpha1.TenantList
	// Read-only scan of the cache; copying every Tenant would cost O(N) allocations.
	if err := r.List(ctx, &tenants, client.UnsafeDisableDeepCopy); err != nil {
		return "", fmt.Errorf("listing tenants to check the domains of %s: %w", tenant.Name, err)
	}
	domain, owner, ownerDomain := render.DomainConflict(tenant, tenants.Items)
	if owner == "" {
		return "", nil
	}
	return fmt.Sprintf("spec.ingress.domains: %s overlaps %s, which tenant %s holds or claimed first; choose another domain or remove it from %s",
		domain, ownerDomain, owner, owner), nil
}

// applyDesired applies every desired object, namespaces first so the
// objects inside them can be created.
func (r *TenantReconciler) applyDesired(ctx context.Context, desired []client.Object) error {
	a := applier{client: r.Client, uncached: r.APIReader, metadataOnly: metadataOnlyKinds()}
	for _, obj := range desired {
		wrote, err := a.apply(ctx, obj)
		if err != nil {
			return err
		}
		if wrote {
			ctrl.LoggerFrom(ctx).V(1).Info("applied", "kind", obj.GetObjectKind().GroupVersionKind().Kind,
				"namespace", obj.GetNamespace(), "name", obj.GetName())
		}
	}
	return nil
}

// pruneStale deletes the tenant's objects that are no longer desired: the
// namespace of a removed environment, the binding of a removed role. Objects
// in a namespace that is not desired are left to go with their namespace.
// With guardWorkloads, a removed environment's namespace that still runs
// pods is kept unless the Tenant confirms its removal
// (tenantry.dev/confirm-delete=<env>); the kept environments are returned.
func (r *TenantReconciler) pruneStale(ctx context.Context, tenant *v1alpha1.Tenant, desired []client.Object, guardWorkloads bool) ([]string, error) {
	want, wantNamespace := map[string]bool{}, map[string]bool{}
	for _, obj := range desired {
		want[objectID(obj)] = true
		if _, isNamespace := obj.(*corev1.Namespace); isNamespace {
			wantNamespace[obj.GetName()] = true
		}
	}
	objs, err := r.tenantObjects(ctx, tenant)
	if err != nil {
		return nil, err
	}
	var kept []string
	for _, obj := range objs {
		// Argo CD's objects live in its namespace, not the tenant's.
		inTenantNamespace := obj.GetNamespace() != "" && obj.GetNamespace() != r.Options.ArgoCDNamespace
		goesWithNamespace := inTenantNamespace && !wantNamespace[obj.GetNamespace()]
		if want[objectID(obj)] || goesWithNamespace || !obj.GetDeletionTimestamp().IsZero() {
			continue
		}
		_, isNamespace := obj.(*corev1.Namespace)
		if isNamespace && guardWorkloads {
			env := obj.GetLabels()[v1alpha1.LabelEnvironment]
			busy, err := r.runsWorkloads(ctx, obj.GetName())
			if err != nil {
				return nil, err
			}
			if busy && !removalConfirmed(tenant, env) {
				kept = append(kept, env)
				continue
			}
		}
		if u, ok := obj.(*unstructured.Unstructured); ok && u.GetKind() == render.ApplicationGVK.Kind {
			if err := r.deleteApplication(ctx, u); err != nil {
				return nil, fmt.Errorf("pruning an app of tenant %s: %w", tenant.Name, err)
			}
		} else if err := r.Delete(ctx, obj); client.IgnoreNotFound(err) != nil {
			return nil, fmt.Errorf("pruning %s of tenant %s: %w", objectID(obj), tenant.Name, err)
		}
		if isNamespace {
			r.Recorder.Eventf(tenant, nil, corev1.EventTypeNormal, reasonNamespaceDeleted, "Delete",
				"Deleted namespace %s and everything in it", obj.GetName())
		}
		ctrl.LoggerFrom(ctx).Info("pruned", "object", objectID(obj))
	}
	slices.Sort(kept)
	return kept, nil
}

// tenantObjects lists, from the cache, every object the operator manages
// for the tenant, namespaces first (in the order of managedKinds).
func (r *TenantReconciler) tenantObjects(ctx context.Context, tenant *v1alpha1.Tenant) ([]client.Object, error) {
	var objs []client.Object
	for _, kind := range r.kinds {
		list := kind.list()
		if err := r.List(ctx, list, kind.ownedBy(tenant)); err != nil {
			return nil, fmt.Errorf("listing %T of tenant %s: %w", list, tenant.Name, err)
		}
		items, err := meta.ExtractList(list)
		if err != nil {
			return nil, err
		}
		for _, item := range items {
			obj := item.(client.Object)
			// Listed items carry no kind; objectID and Delete need it.
			obj.GetObjectKind().SetGroupVersionKind(kind.gvk)
			objs = append(objs, obj)
		}
	}
	return objs, nil
}

// objectID names an object by kind, namespace and name.
func objectID(obj client.Object) string {
	return objectKind(obj) + "/" + obj.GetNamespace() + "/" + obj.GetName()
}

// objectKind is an object's kind: from its type meta, which rendered and
// listed objects carry, else from its Go type (a typed object's type is
// named after its kind).
func objectKind(obj client.Object) string {
	if kind := obj.GetObjectKind().GroupVersionKind().Kind; kind != "" {
		return kind
	}
	return reflect.TypeOf(obj).Elem().Name()
}

// reconcileDelete offboards the tenant in order, then releases the Tenant:
// its apps (once GitOps lands), its workloads, its namespaces (or, with
// deletionPolicy Retain, it keeps them, locked down and labelled orphaned),
// and last the cluster-wide RBAC. A step that does not finish is reported
// in the Ready condition, with what holds it.
func (r *TenantReconciler) reconcileDelete(ctx context.Context, tenant *v1alpha1.Tenant) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(tenant, v1alpha1.Finalizer) {
		return ctrl.Result{}, nil
	}
	retain := tenant.Spec.DeletionPolicy == v1alpha1.DeletionRetain
	if tenant.Status.Phase != v1alpha1.PhaseTerminating {
		what := fmt.Sprintf("Deleting the workloads and namespaces %v, then the tenant's bindings", tenant.Status.Namespaces)
		if retain {
			what = fmt.Sprintf("Keeping namespaces %v (deletionPolicy Retain) and removing the owners' access", tenant.Status.Namespaces)
		}
		r.Recorder.Eventf(tenant, nil, corev1.EventTypeNormal, decide.ReasonTerminating, "Delete", "%s", what)
		if err := r.updateStatus(ctx, tenant, decide.Observed{Terminating: true, TerminatingMessage: what}); err != nil {
			return ctrl.Result{}, err
		}
	}
	// Apps first, so Argo CD removes what it deployed and does not recreate
	// workloads while their namespaces go. Their deletion events wake us.
	left, err := r.deleteApps(ctx, tenant, retain)
	if err != nil {
		return ctrl.Result{}, err
	}
	if left > 0 {
		return ctrl.Result{RequeueAfter: 5 * time.Second}, r.reportStuckApps(ctx, tenant, left)
	}

	var namespaces corev1.NamespaceList
	if err := r.List(ctx, &namespaces, inTenantIndex(tenant)); err != nil {
		return ctrl.Result{}, fmt.Errorf("listing namespaces of tenant %s: %w", tenant.Name, err)
	}
	if retain {
		// Keep the namespaces and what locks them down; prune the rest
		// (RoleBindings, the tenant's ClusterRole and binding).
		keep, err := r.retainNamespaces(ctx, tenant)
		if err != nil {
			return ctrl.Result{}, err
		}
		if _, err := r.pruneStale(ctx, tenant, keep, false); err != nil {
			return ctrl.Result{}, err
		}
	} else if len(namespaces.Items) > 0 {
		names := make([]string, 0, len(namespaces.Items))
		for _, ns := range namespaces.Items {
			names = append(names, ns.Name)
		}
		if err := r.deleteWorkloads(ctx, names); err != nil {
			return ctrl.Result{}, err
		}
		// Namespaces now (their content goes with them); the cluster-wide
		// RBAC stays until they are gone, so the owners can still watch.
		keep := []client.Object{render.TenantClusterRole(tenant), render.TenantClusterRoleBinding(tenant)}
		if _, err := r.pruneStale(ctx, tenant, keep, false); err != nil {
			return ctrl.Result{}, err
		}
		// Gone only once the namespace controller has emptied them. Their
		// deletion events wake us; the requeue also times the stuck report.
		return ctrl.Result{RequeueAfter: 5 * time.Second}, r.reportStuckNamespaces(ctx, tenant, namespaces.Items)
	}
	if !retain {
		// The namespaces are gone: the cluster-wide RBAC goes last.
		if _, err := r.pruneStale(ctx, tenant, nil, false); err != nil {
			return ctrl.Result{}, err
		}
	}

	patch := client.MergeFromWithOptions(tenant.DeepCopy(), client.MergeFromWithOptimisticLock{})
	controllerutil.RemoveFinalizer(tenant, v1alpha1.Finalizer)
	if err := r.Patch(ctx, tenant, patch); client.IgnoreNotFound(err) != nil {
		return ctrl.Result{}, fmt.Errorf("removing finalizer of tenant %s: %w", tenant.Name, err)
	}
	ctrl.LoggerFrom(ctx).Info("offboarded tenant", "tenant", tenant.Name, "retained", retain)
	return ctrl.Result{}, nil
}

// reportStuckApps says, once deletion has taken StuckAfter, that Argo CD
// has not yet removed the tenant's Applications.
func (r *TenantReconciler) reportStuckApps(ctx context.Context, tenant *v1alpha1.Tenant, left int) error {
	stuckAfter := r.StuckAfter
	if stuckAfter == 0 {
		stuckAfter = time.Minute
	}
	if time.Since(tenant.DeletionTimestamp.Time) < stuckAfter {
		return nil
	}
	return r.updateStatus(ctx, tenant, decide.Observed{Terminating: true, TerminatingMessage: fmt.Sprintf(
		"waiting for Argo CD to delete %d Applications in %s and what they deployed (finalizer %s); check that the Argo CD application controller runs",
		left, r.Options.ArgoCDNamespace, render.ResourcesFinalizer)})
}

// reportStuckNamespaces puts, in the Ready condition, why namespaces still
// exist after StuckAfter (a minute) of deletion: what the namespace
// controller says is left in them (content, finalizers).
func (r *TenantReconciler) reportStuckNamespaces(ctx context.Context, tenant *v1alpha1.Tenant, namespaces []corev1.Namespace) error {
	var stuck []string
	for _, ns := range namespaces {
		stuckAfter := r.StuckAfter
		if stuckAfter == 0 {
			stuckAfter = time.Minute
		}
		if ns.DeletionTimestamp == nil || time.Since(ns.DeletionTimestamp.Time) < stuckAfter {
			continue
		}
		why := "still terminating"
		for _, c := range ns.Status.Conditions {
			if c.Status == corev1.ConditionTrue {
				why = c.Message
			}
		}
		stuck = append(stuck, fmt.Sprintf("%s (%s, since %s)", ns.Name, why, ns.DeletionTimestamp.Format(time.RFC3339)))
	}
	if len(stuck) == 0 {
		return nil
	}
	return r.updateStatus(ctx, tenant, decide.Observed{Terminating: true,
		TerminatingMessage: "waiting for namespaces to be deleted: " + strings.Join(stuck, "; ") + "; remove what holds them (finalizers of objects inside)"})
}

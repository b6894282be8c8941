package controller

import (
	"context"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/tenantry/tenantry/api/v1alpha1"
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
	a := applier{client: r.Client}
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
func (r *TenantReconciler) pruneStale(ctx context.Context, tenant *v1alpha1.Tenant, desired []client.Object) error {
	want, wantNamespace := map[string]bool{}, map[string]bool{}
	for _, obj := range desired {
		want[objectID(obj)] = true
		if _, isNamespace := obj.(*corev1.Namespace); isNamespace {
			wantNamespace[obj.GetName()] = true
		}
	}
	for _, kind := range managedKinds {
		list := kind.list()
		if err := r.List(ctx, list, client.MatchingLabels(render.Labels(tenant))); err != nil {
			return fmt.Errorf("listing %T of tenant %s: %w", list, tenant.Name, err)
		}
		items, err := meta.ExtractList(list)
		if err != nil {
			return err
		}
		for _, item := range items {
			obj := item.(client.Object)
			goesWithNamespace := obj.GetNamespace() != "" && !wantNamespace[obj.GetNamespace()]
			if want[objectID(obj)] || goesWithNamespace || !obj.GetDeletionTimestamp().IsZero() {
				continue
			}
			if err := r.Delete(ctx, obj); client.IgnoreNotFound(err) != nil {
				return fmt.Errorf("pruning %s of tenant %s: %w", objectID(obj), tenant.Name, err)
			}
			if _, isNamespace := obj.(*corev1.Namespace); isNamespace {
				r.Recorder.Eventf(tenant, nil, corev1.EventTypeNormal, reasonNamespaceDeleted, "Delete",
					"Deleted namespace %s and everything in it", obj.GetName())
			}
			ctrl.LoggerFrom(ctx).Info("pruned", "object", objectID(obj))
		}
	}
	return nil
}

// objectID names an object by kind, namespace and name.
func objectID(obj client.Object) string {
	kind := fmt.Sprintf("%T", obj)
	return kind + "/" + obj.GetNamespace() + "/" + obj.GetName()
}

// reconcileDelete removes the tenant's namespaces and cluster-wide RBAC,
// waits until the namespaces are gone, then releases the Tenant.
func (r *TenantReconciler) reconcileDelete(ctx context.Context, tenant *v1alpha1.Tenant) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(tenant, v1alpha1.Finalizer) {
		return ctrl.Result{}, nil
	}
	if tenant.Status.Phase != v1alpha1.PhaseTerminating {
		r.Recorder.Eventf(tenant, nil, corev1.EventTypeNormal, reasonTerminating, "Delete",
			"Deleting namespaces %v and the tenant's bindings", tenant.Status.Namespaces)
		if err := r.updateStatus(ctx, tenant, observation{terminating: true}); err != nil {
			return ctrl.Result{}, err
		}
	}

	// With nothing desired, pruning deletes the namespaces (their content
	// goes with them) and the cluster-wide RBAC.
	if err := r.pruneStale(ctx, tenant, nil); err != nil {
		return ctrl.Result{}, err
	}
	var namespaces corev1.NamespaceList
	if err := r.List(ctx, &namespaces, client.MatchingLabels(render.Labels(tenant))); err != nil {
		return ctrl.Result{}, fmt.Errorf("listing namespaces of tenant %s: %w", tenant.Name, err)
	}
	if len(namespaces.Items) > 0 {
		// Gone only once the namespace controller has emptied them. Their
		// deletion events wake us; the requeue is a safety net.
		return ctrl.Result{RequeueAfter: 5 * time.Second}, nil
	}

	patch := client.MergeFromWithOptions(tenant.DeepCopy(), client.MergeFromWithOptimisticLock{})
	controllerutil.RemoveFinalizer(tenant, v1alpha1.Finalizer)
	if err := r.Patch(ctx, tenant, patch); client.IgnoreNotFound(err) != nil {
		return ctrl.Result{}, fmt.Errorf("removing finalizer of tenant %s: %w", tenant.Name, err)
	}
	ctrl.LoggerFrom(ctx).Info("offboarded tenant", "tenant", tenant.Name)
	return ctrl.Result{}, nil
}

package controller

import (
	"context"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/tenantry/tenantry/internal/render"
)

// Creating the owner roles and binding them needs escalate and bind on them
// (RBAC forbids granting rights one does not hold), and on them only:
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=clusterroles,verbs=bind;escalate,resourceNames=tenantry:tenant-admin;tenantry:tenant-developer;tenantry:tenant-viewer

// ClusterRoleReconciler keeps the three ClusterRoles owners are bound to
// (tenantry:tenant-admin, -developer, -viewer) as render says: it creates
// them when the operator starts leading and puts them back when edited or
// deleted.
type ClusterRoleReconciler struct {
	client.Client
}

// SetupWithManager watches the owner roles by name and queues one
// reconcile at start, so they exist before the first tenant needs them.
func (r *ClusterRoleReconciler) SetupWithManager(mgr ctrl.Manager) error {
	names := map[string]bool{}
	for _, role := range render.ClusterRoles() {
		names[role.Name] = true
	}
	ownerRole := predicate.NewPredicateFuncs(func(o client.Object) bool { return names[o.GetName()] })
	atStart := source.Func(func(_ context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
		q.Add(reconcile.Request{})
		return nil
	})
	return ctrl.NewControllerManagedBy(mgr).
		Named("clusterroles").
		For(&rbacv1.ClusterRole{}, builder.WithPredicates(ownerRole)).
		WatchesRawSource(atStart).
		Complete(r)
}

// Reconcile applies every owner role, whichever one changed: they are few
// and unchanged ones cost no write.
func (r *ClusterRoleReconciler) Reconcile(ctx context.Context, _ ctrl.Request) (ctrl.Result, error) {
	a := applier{client: r.Client}
	for _, role := range render.ClusterRoles() {
		wrote, err := a.apply(ctx, role)
		if err != nil {
			return ctrl.Result{}, err
		}
		if wrote {
			ctrl.LoggerFrom(ctx).Info("applied owner role", "clusterRole", role.Name)
		}
	}
	return ctrl.Result{}, nil
}

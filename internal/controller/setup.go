package controller

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/tenantry/tenantry/api/v1alpha1"
	"github.com/tenantry/tenantry/internal/metrics"
	"github.com/tenantry/tenantry/internal/render"
)

// Config is how the operator is tuned and what it renders.
type Config struct {
	Render render.Options
	// MaxConcurrentReconciles is how many Tenants are reconciled at once.
	MaxConcurrentReconciles int
}

// CacheOptions make the manager cache only what the operator manages: every
// managed kind is selected by the managed-by label, so the cluster's other
// namespaces, bindings and policies cost nothing, and managed fields are
// stripped from what is cached.
func CacheOptions() cache.Options {
	managed := labels.SelectorFromSet(labels.Set{v1alpha1.LabelManagedBy: v1alpha1.ManagedByValue})
	byObject := map[client.Object]cache.ByObject{}
	for _, obj := range ManagedObjects() {
		byObject[obj] = cache.ByObject{Label: managed}
	}
	return cache.Options{ByObject: byObject, DefaultTransform: cache.TransformStripManagedFields()}
}

// Setup registers the operator's controllers, metrics and start-up tasks with a manager.
func Setup(mgr manager.Manager, cfg Config) error {
	if err := metrics.Register(mgr.GetClient()); err != nil {
		return fmt.Errorf("registering metrics: %w", err)
	}
	if err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		return applyClusterRoles(ctx, mgr.GetClient())
	})); err != nil {
		return err
	}
	r := &TenantReconciler{
		Client:                  mgr.GetClient(),
		APIReader:               mgr.GetAPIReader(),
		Recorder:                mgr.GetEventRecorder(FieldOwner),
		Options:                 cfg.Render,
		MaxConcurrentReconciles: cfg.MaxConcurrentReconciles,
	}
	return r.SetupWithManager(mgr)
}

// Creating the owner roles and binding them needs escalate and bind on them
// (RBAC forbids granting rights one does not hold), and on them only:
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=clusterroles,verbs=bind;escalate,resourceNames=tenantry:tenant-admin;tenantry:tenant-developer;tenantry:tenant-viewer

// applyClusterRoles installs the roles owners are bound to, once the
// operator leads. They are the same for every tenant.
func applyClusterRoles(ctx context.Context, c client.Client) error {
	a := applier{client: c}
	for _, role := range render.ClusterRoles() {
		if _, err := a.apply(ctx, role); err != nil {
			return err
		}
	}
	return nil
}

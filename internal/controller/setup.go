package controller

import (
	"fmt"
	"time"

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
	// StuckAfter is how long a namespace of a deleted Tenant may take to go
	// before the Tenant's status says what holds it (default a minute).
	StuckAfter time.Duration
}

// CacheOptions make the manager cache only what the operator manages: every
// managed kind is selected by the managed-by label, so the cluster's other
// namespaces, bindings and policies cost nothing, and managed fields are
// stripped from what is cached.
func CacheOptions() cache.Options {
	managed := labels.SelectorFromSet(labels.Set{v1alpha1.LabelManagedBy: v1alpha1.ManagedByValue})
	byObject := map[client.Object]cache.ByObject{}
	for _, kind := range managedKinds {
		byObject[kind.object] = cache.ByObject{Label: managed}
	}
	return cache.Options{ByObject: byObject, DefaultTransform: cache.TransformStripManagedFields()}
}

// Setup registers the operator's controllers and metrics with a manager.
func Setup(mgr manager.Manager, cfg Config) error {
	if err := metrics.Register(mgr.GetClient()); err != nil {
		return fmt.Errorf("registering metrics: %w", err)
	}
	r := &TenantReconciler{
		Client:                  mgr.GetClient(),
		APIReader:               mgr.GetAPIReader(),
		Recorder:                mgr.GetEventRecorder(FieldOwner),
		Options:                 cfg.Render,
		MaxConcurrentReconciles: cfg.MaxConcurrentReconciles,
		StuckAfter:              cfg.StuckAfter,
	}
	return r.SetupWithManager(mgr)
}

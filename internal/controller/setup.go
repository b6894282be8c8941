package controller

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
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
	// Rollouts is true when the cluster serves Argo Rollouts' Rollout kind:
	// the operator then reports each app's release in the Tenant status.
	Rollouts bool
	// StuckAfter is how long a namespace of a deleted Tenant may take to go
	// before the Tenant's status says what holds it (default a minute).
	StuckAfter time.Duration
	// RolloutsPoll is how often, while GitOps is on and Argo Rollouts is
	// not installed, the operator looks for it (default 30 seconds).
	RolloutsPoll time.Duration
	// MetricsTokenAudience is the audience of the metrics credentials the
	// operator mints, the one the metrics gateway accepts (default
	// tenantry-metrics); MetricsTokenTTL their lifetime (default 24 hours).
	MetricsTokenAudience string
	MetricsTokenTTL      time.Duration
	// QuotaMetrics is how much quota use the operator exports (empty:
	// per tenant and per namespace).
	QuotaMetrics metrics.QuotaDetail
	// FleetHub makes the operator a fleet's hub: it places Tenants on
	// member clusters (PlacementReconciler) and onboards none itself.
	FleetHub bool
	// FleetProbeInterval is how often a hub asks each member's API server
	// whether it is ready (default 10 seconds); three failures in a row
	// make the member unavailable.
	FleetProbeInterval time.Duration
}

// CacheOptions make the manager cache only what the operator manages: every
// managed kind is selected by the managed-by label, so the cluster's other
// namespaces, bindings and policies cost nothing, and what is cached is
// compacted (compactForCache). Argo CD's kinds are cached in its namespace only.
func CacheOptions(cfg Config) cache.Options {
	managed := labels.SelectorFromSet(labels.Set{v1alpha1.LabelManagedBy: v1alpha1.ManagedByValue})
	byObject := map[client.Object]cache.ByObject{}
	for _, kind := range managedKinds {
		byObject[kind.object] = cache.ByObject{Label: managed}
	}
	for _, kind := range argoKinds(cfg.Render.ArgoCDNamespace) {
		byObject[kind.object] = cache.ByObject{Label: managed, Namespaces: map[string]cache.Config{cfg.Render.ArgoCDNamespace: {}}}
	}
	if cfg.Rollouts {
		// Rollouts are the tenants' own objects, so they carry no label of
		// the platform's: they are cached in every namespace. A cluster
		// holds one per app, few next to Secrets or Pods.
		byObject[rolloutObject()] = cache.ByObject{}
	}
	if cfg.FleetHub {
		return hubCacheOptions(cfg.Render.ArgoCDNamespace)
	}
	return cache.Options{ByObject: byObject, DefaultTransform: compactForCache}
}

// hubCacheOptions cache what a fleet's hub reads, all in Argo CD's
// namespace: its members' cluster Secrets (metadata), the
// PlacementDecisions, the Applications that target members, and its own
// AppProjects.
func hubCacheOptions(namespace string) cache.Options {
	inArgoCD := map[string]cache.Config{namespace: {}}
	project := &unstructured.Unstructured{}
	project.SetGroupVersionKind(render.AppProjectGVK)
	managed := labels.SelectorFromSet(labels.Set{v1alpha1.LabelManagedBy: v1alpha1.ManagedByValue})
	return cache.Options{ByObject: map[client.Object]cache.ByObject{
		memberSecret():                {Label: memberSelector(), Namespaces: inArgoCD},
		&v1alpha1.PlacementDecision{}: {Namespaces: inArgoCD},
		memberApplication():           {Label: memberSelector(), Namespaces: inArgoCD, Transform: compactApplication},
		project:                       {Label: managed, Namespaces: inArgoCD},
	}, DefaultTransform: compactForCache}
}

// WithArgoCD returns cfg with GitOps on, in Argo CD's namespace, when the
// cluster serves Argo CD's AppProject and Application kinds; otherwise with
// GitOps off, and Tenants listing apps say so in their GitOpsReady
// condition. Where Argo Rollouts is installed too, apps' releases are
// reported (Config.Rollouts), and an Argo Rollouts installed later is found
// while the operator runs. The manager must be created after this, with
// CacheOptions(cfg); an Argo CD installed later is seen after a restart.
func WithArgoCD(restConfig *rest.Config, cfg Config, namespace string) (Config, error) {
	cfg.Render.ArgoCDNamespace = ""
	if namespace == "" {
		return cfg, nil
	}
	dc, err := discovery.NewDiscoveryClientForConfig(restConfig)
	if err != nil {
		return cfg, err
	}
	kinds, err := argoprojKinds(dc)
	if err != nil {
		return cfg, fmt.Errorf("looking for Argo CD's kinds: %w", err)
	}
	found := 0
	for _, kind := range []string{render.AppProjectGVK.Kind, render.ApplicationGVK.Kind} {
		if kinds[kind] {
			found++
		}
	}
	cfg.Rollouts = kinds[render.RolloutGVK.Kind]
	if found == 2 {
		cfg.Render.ArgoCDNamespace = namespace
	} else {
		cfg.Rollouts = false
	}
	return cfg, nil
}

// Setup registers the operator's controllers and metrics with a manager.
func Setup(mgr manager.Manager, cfg Config) error {
	if cfg.FleetHub {
		if cfg.Render.ArgoCDNamespace == "" {
			return fmt.Errorf("a fleet's hub places tenants through Argo CD: --argocd-namespace is empty or this cluster serves no Argo CD Applications; install Argo CD and name its namespace, or run without --fleet-hub")
		}
		placements := &PlacementReconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(),
			Recorder: mgr.GetEventRecorder(FieldOwner), Namespace: cfg.Render.ArgoCDNamespace,
			probe: newMemberProbe(mgr.GetAPIReader(), cfg.Render.ArgoCDNamespace, cfg.FleetProbeInterval)}
		return placements.SetupWithManager(mgr)
	}
	if err := metrics.Register(mgr.GetClient(), mgr.Elected(), cfg.QuotaMetrics); err != nil {
		return fmt.Errorf("registering metrics: %w", err)
	}
	r := &TenantReconciler{
		Client:                  mgr.GetClient(),
		APIReader:               mgr.GetAPIReader(),
		Recorder:                mgr.GetEventRecorder(FieldOwner),
		Options:                 cfg.Render,
		MaxConcurrentReconciles: cfg.MaxConcurrentReconciles,
		StuckAfter:              cfg.StuckAfter,
		MetricsTokenAudience:    cfg.MetricsTokenAudience,
		MetricsTokenTTL:         cfg.MetricsTokenTTL,
		rolloutsPoll:            cmp.Or(cfg.RolloutsPoll, rolloutsPollDefault),
		kinds:                   append(slices.Clone(managedKinds), argoKinds(cfg.Render.ArgoCDNamespace)...),
	}
	r.rollouts.Store(cfg.Rollouts)
	if err := r.SetupWithManager(mgr); err != nil {
		return err
	}
	if cfg.Render.ArgoCDNamespace == "" {
		return nil
	}
	// Reverts on abort have their own controller: a Git push takes up to
	// a minute, which no Tenant reconcile should wait for.
	reverts := &RevertReconciler{
		Client:                  mgr.GetClient(),
		APIReader:               mgr.GetAPIReader(),
		Recorder:                r.Recorder,
		Options:                 cfg.Render,
		MaxConcurrentReconciles: cfg.MaxConcurrentReconciles,
	}
	return reverts.SetupWithManager(mgr)
}

// argoprojKinds are the kinds the API server serves in argoproj.io/v1alpha1,
// the group version of Argo CD's and Argo Rollouts' kinds; none when it
// serves no such group version.
func argoprojKinds(dc discovery.DiscoveryInterface) (map[string]bool, error) {
	resources, err := dc.ServerResourcesForGroupVersion(render.ApplicationGVK.GroupVersion().String())
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	kinds := map[string]bool{}
	for _, res := range resources.APIResources {
		kinds[res.Kind] = true
	}
	return kinds, nil
}

// unstructuredList is an empty list of gvk's objects, for the client to fill.
func unstructuredList(gvk schema.GroupVersionKind) *unstructured.UnstructuredList {
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
	return list
}

// rolloutObject is the prototype of Argo Rollouts' Rollout for the cache
// and the watch.
func rolloutObject() *unstructured.Unstructured {
	ro := &unstructured.Unstructured{}
	ro.SetGroupVersionKind(render.RolloutGVK)
	return ro
}

package controller

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/tenantry/tenantry/internal/render"
)

// rolloutsWatcher finds Argo Rollouts when it is installed after the
// operator started: it asks the API server's discovery, every rolloutsPoll,
// whether it serves the Rollout kind, and once it does, adds the watch on
// Rollouts to the running controller and turns on release reporting and
// Rollout suspension. A GitOps bootstrap that syncs the operator and Argo
// Rollouts together then needs no restart, whichever comes up first.
type rolloutsWatcher struct {
	reconciler *TenantReconciler
	controller controller.Controller
	cache      cache.Cache
	config     *rest.Config
}

// NeedLeaderElection is false: every replica must know its cluster's kinds,
// so a new leader starts with the watch in place.
func (w *rolloutsWatcher) NeedLeaderElection() bool { return false }

// Start polls until Argo Rollouts is found or ctx ends.
func (w *rolloutsWatcher) Start(ctx context.Context) error {
	dc, err := discovery.NewDiscoveryClientForConfig(w.config)
	if err != nil {
		return err
	}
	log := ctrl.LoggerFrom(ctx).WithName("rollouts-watcher")
	err = wait.PollUntilContextCancel(ctx, w.reconciler.rolloutsPoll, false, func(ctx context.Context) (bool, error) {
		kinds, err := argoprojKinds(dc)
		if err != nil {
			log.Error(err, "looking for Argo Rollouts failed; trying again", "every", w.reconciler.rolloutsPoll)
			return false, nil
		}
		return kinds[render.RolloutGVK.Kind], nil
	})
	if err != nil {
		return nil // the manager is stopping
	}
	src := source.Kind(w.cache, client.Object(rolloutObject()), handler.EnqueueRequestsFromMapFunc(w.reconciler.tenantOfNamespaced))
	if err := w.controller.Watch(src); err != nil {
		return fmt.Errorf("watching Argo Rollouts, found after start-up: %w", err)
	}
	w.reconciler.rollouts.Store(true)
	log.Info("found Argo Rollouts; reporting releases and suspending Rollouts from now on")
	return nil
}

// rolloutsPollDefault is how often the operator looks for Argo Rollouts.
const rolloutsPollDefault = 30 * time.Second

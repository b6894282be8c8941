package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/tenantry/tenantry/api/v1alpha1"
	"github.com/tenantry/tenantry/internal/decide"
	"github.com/tenantry/tenantry/internal/metrics"
	"github.com/tenantry/tenantry/internal/render"
)

// Reasons of the controller's own events.
const (
	reasonResumed          = "Resumed"
	reasonNamespaceDeleted = "NamespaceDeleted"
)

// act does what the reconcile decided: fills in the analysis credentials,
// applies, mints tokens, prunes, scales, and then records the outcome in
// todo.obs (readOutcome). A failure it reports in the status (a write
// refused, credentials missing) is set in todo.obs.
func (r *TenantReconciler) act(ctx context.Context, tenant *v1alpha1.Tenant, todo *onboarding) (ctrl.Result, error) {
	creds, problem, err := r.analysisCredentials(ctx, tenant, todo.plan, todo.desired, todo.now)
	if err != nil {
		return ctrl.Result{}, err
	}
	if problem != "" {
		todo.obs.Fail(reasonAnalysisCredentials, problem)
		return ctrl.Result{}, nil
	}
	if err := r.applyDesired(ctx, withoutObjects(todo.desired, creds.mint)); err != nil {
		todo.obs.ApplyErr = err
		return ctrl.Result{}, err
	}
	renewIn, err := r.mintCredentials(ctx, creds, todo.now)
	if err != nil {
		todo.obs.ApplyErr = err
		return ctrl.Result{}, err
	}
	if err := r.prune(ctx, tenant, todo.prune); err != nil {
		return ctrl.Result{}, err
	}
	if err := r.scale(ctx, tenant, todo.scaling); err != nil {
		return ctrl.Result{}, err
	}
	recheckAfter, err := r.readOutcome(ctx, tenant, &todo.obs)
	if err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{RequeueAfter: soonest(recheckAfter, renewIn)}, nil
}

// ensureFinalizer holds the Tenant until offboard has removed everything it owns.
func (r *TenantReconciler) ensureFinalizer(ctx context.Context, tenant *v1alpha1.Tenant) error {
	if controllerutil.ContainsFinalizer(tenant, v1alpha1.Finalizer) {
		return nil
	}
	patch := client.MergeFromWithOptions(tenant.DeepCopy(), client.MergeFromWithOptimisticLock{})
	controllerutil.AddFinalizer(tenant, v1alpha1.Finalizer)
	if err := r.Patch(ctx, tenant, patch); err != nil {
		return fmt.Errorf("adding finalizer to tenant %s: %w", tenant.Name, err)
	}
	return nil
}

// applyDesired applies every desired object in order (namespaces first,
// so the objects inside them can be created).
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

// prune deletes what decide.Prune picked; Applications through
// deleteApplication, which first stops a sync in progress.
func (r *TenantReconciler) prune(ctx context.Context, tenant *v1alpha1.Tenant, objs []client.Object) error {
	for _, obj := range objs {
		if u, ok := obj.(*unstructured.Unstructured); ok && u.GetKind() == render.ApplicationGVK.Kind {
			if err := r.deleteApplication(ctx, u); err != nil {
				return fmt.Errorf("pruning an app of tenant %s: %w", tenant.Name, err)
			}
		} else if err := r.Delete(ctx, obj); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("pruning %s of tenant %s: %w", objectID(obj), tenant.Name, err)
		}
		if _, isNamespace := obj.(*corev1.Namespace); isNamespace {
			r.Recorder.Eventf(tenant, nil, corev1.EventTypeNormal, reasonNamespaceDeleted, "Delete",
				"Deleted namespace %s and everything in it", obj.GetName())
		}
		ctrl.LoggerFrom(ctx).Info("pruned", "object", objectID(obj))
	}
	return nil
}

// scale patches the workloads a suspension or a resumption changes
// (decide.Scale), and says so in an event when it changed anything. The
// tenant's Argo CD Applications stop syncing meanwhile, or Argo CD would
// scale them back up from Git: render leaves out their automated sync
// while suspended.
func (r *TenantReconciler) scale(ctx context.Context, tenant *v1alpha1.Tenant, scaling []decide.Scaling) error {
	changed := 0
	var err error
	for _, s := range scaling {
		if err = r.patchWorkload(ctx, s); err != nil {
			err = fmt.Errorf("scaling %s %s/%s of tenant %s: %w", s.Workload.GVK.Kind, s.Workload.Namespace, s.Workload.Name, tenant.Name, err)
			break
		}
		changed++
	}
	switch {
	case changed == 0:
	case tenant.Spec.Suspended:
		r.Recorder.Eventf(tenant, nil, corev1.EventTypeNormal, decide.ReasonSuspended, "Suspend",
			"Scaled %d workloads to zero (replica counts recorded in %s)", changed, v1alpha1.AnnotationSuspendedReplicas)
	default:
		r.Recorder.Eventf(tenant, nil, corev1.EventTypeNormal, reasonResumed, "Resume",
			"Restored %d workloads to their replica counts before the suspension", changed)
	}
	return err
}

func (r *TenantReconciler) patchWorkload(ctx context.Context, s decide.Scaling) error {
	data, err := json.Marshal(s.Patch)
	if err != nil {
		return err
	}
	obj := &unstructured.Unstructured{}
	obj.SetGroupVersionKind(s.Workload.GVK)
	obj.SetNamespace(s.Workload.Namespace)
	obj.SetName(s.Workload.Name)
	return r.Patch(ctx, obj, client.RawPatch(types.MergePatchType, data))
}

// updateStatus writes the status decide.Status makes of the observation,
// in one patch, and only then records the events and counts the metrics
// the change implies (decide.Transition). It writes nothing when nothing
// changed, nor a new tenant's first Pending status while
// decide.HoldFirstStatus holds it: it then returns when to look again.
func (r *TenantReconciler) updateStatus(ctx context.Context, tenant *v1alpha1.Tenant, obs decide.Observed) (time.Duration, error) {
	now := metav1.Now()
	next := decide.Status(tenant, obs, now)
	if equality.Semantic.DeepEqual(tenant.Status, next) {
		return 0, nil
	}
	if hold := decide.HoldFirstStatus(tenant, next, now.Time); hold > 0 {
		return hold, nil
	}
	changes := decide.Transition(tenant.Status, next)
	before := tenant.DeepCopy()
	tenant.Status = next
	// The optimistic lock makes a reconcile that worked from a stale copy
	// fail instead of writing (and announcing) the same transition twice.
	if err := r.Status().Patch(ctx, tenant, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
		return 0, fmt.Errorf("updating status of tenant %s: %w", tenant.Name, err)
	}
	announcer{r.Recorder}.announce(tenant, changes)
	return 0, nil
}

// announcer records the events and counts the metrics of a status change
// once it is written, for every reconciler that writes the Tenant's status:
// a stale reconcile that lost the optimistic lock must not count the same
// onboarding, or announce the same abort or revert, twice.
type announcer struct {
	recorder events.EventRecorder
}

func (a announcer) announce(tenant *v1alpha1.Tenant, changes decide.Changes) {
	if took := changes.Onboarded; took != nil {
		metrics.OnboardingDuration.Observe(took.Seconds())
	}
	for _, app := range changes.AbortedApps {
		metrics.RolloutAborts.WithLabelValues(tenant.Name, app).Inc()
	}
	for _, e := range changes.Events {
		a.recorder.Eventf(tenant, nil, e.Type, e.Reason, e.Action, "%s", e.Note)
	}
}

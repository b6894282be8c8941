package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tenantry/tenantry/api/v1alpha1"
	"github.com/tenantry/tenantry/internal/decide"
	"github.com/tenantry/tenantry/internal/render"
)

// Tenant workloads are not labelled by the platform, so the operator does
// not cache them: it lists them past the cache, and only while a suspension
// or a resumption is under way, or when an environment or tenant goes.

// scaleWorkloads scales every Deployment, StatefulSet and Argo Rollout of
// the tenant to zero and suspends every CronJob (suspend), or puts back what
// a suspension recorded (resume). Workloads already in the wanted state are
// left alone, so suspending twice, or resuming an active tenant, writes
// nothing. It returns how many workloads it changed. (The tenant's Argo CD
// Applications stop syncing meanwhile, or Argo CD would scale them back up
// from Git: render leaves out their automated sync while suspended.)
func (r *TenantReconciler) scaleWorkloads(ctx context.Context, tenant *v1alpha1.Tenant, suspend bool) (int, error) {
	changed := 0
	patch := func(obj client.Object, body map[string]any) error {
		data, err := json.Marshal(body)
		if err != nil {
			return err
		}
		if err := r.Patch(ctx, obj, client.RawPatch(types.MergePatchType, data)); err != nil {
			return fmt.Errorf("scaling %T %s/%s of tenant %s: %w", obj, obj.GetNamespace(), obj.GetName(), tenant.Name, err)
		}
		changed++
		return nil
	}
	for _, ns := range render.NamespaceNames(tenant) {
		var deployments appsv1.DeploymentList
		var statefulSets appsv1.StatefulSetList
		var cronJobs batchv1.CronJobList
		for _, list := range []client.ObjectList{&deployments, &statefulSets, &cronJobs} {
			if err := r.APIReader.List(ctx, list, client.InNamespace(ns)); err != nil {
				return changed, fmt.Errorf("listing workloads in %s: %w", ns, err)
			}
		}
		scalable := make([]scalable, 0, len(deployments.Items)+len(statefulSets.Items))
		for i := range deployments.Items {
			scalable = append(scalable, newScalable(&deployments.Items[i], deployments.Items[i].Spec.Replicas))
		}
		for i := range statefulSets.Items {
			scalable = append(scalable, newScalable(&statefulSets.Items[i], statefulSets.Items[i].Spec.Replicas))
		}
		if r.rollouts.Load() {
			rollouts, err := r.rolloutsIn(ctx, ns)
			if err != nil {
				return changed, err
			}
			scalable = append(scalable, rollouts...)
		}
		for _, w := range scalable {
			recorded, wasSuspended := w.obj.GetAnnotations()[v1alpha1.AnnotationSuspendedReplicas]
			switch {
			case suspend && !wasSuspended && w.replicas > 0:
				err := patch(w.obj, map[string]any{
					"metadata": map[string]any{"annotations": map[string]any{v1alpha1.AnnotationSuspendedReplicas: strconv.Itoa(int(w.replicas))}},
					"spec":     map[string]any{"replicas": 0},
				})
				if err != nil {
					return changed, err
				}
			case !suspend && wasSuspended:
				replicas, err := strconv.Atoi(recorded)
				if err != nil {
					return changed, fmt.Errorf("%s/%s: annotation %s=%q is not a replica count", w.obj.GetNamespace(), w.obj.GetName(), v1alpha1.AnnotationSuspendedReplicas, recorded)
				}
				err = patch(w.obj, map[string]any{
					"metadata": map[string]any{"annotations": map[string]any{v1alpha1.AnnotationSuspendedReplicas: nil}},
					"spec":     map[string]any{"replicas": replicas},
				})
				if err != nil {
					return changed, err
				}
			}
		}
		for i := range cronJobs.Items {
			cj := &cronJobs.Items[i]
			_, suspendedByUs := cj.Annotations[v1alpha1.AnnotationSuspendedCronJob]
			alreadySuspended := cj.Spec.Suspend != nil && *cj.Spec.Suspend
			switch {
			case suspend && !alreadySuspended:
				err := patch(cj, map[string]any{
					"metadata": map[string]any{"annotations": map[string]any{v1alpha1.AnnotationSuspendedCronJob: "true"}},
					"spec":     map[string]any{"suspend": true},
				})
				if err != nil {
					return changed, err
				}
			case !suspend && suspendedByUs:
				err := patch(cj, map[string]any{
					"metadata": map[string]any{"annotations": map[string]any{v1alpha1.AnnotationSuspendedCronJob: nil}},
					"spec":     map[string]any{"suspend": false},
				})
				if err != nil {
					return changed, err
				}
			}
		}
	}
	return changed, nil
}

// scalable is a Deployment or a StatefulSet and its desired replicas.
type scalable struct {
	obj      client.Object
	replicas int32
}

// rolloutsIn lists a namespace's Argo Rollouts as scalables (live: the
// client caches no unstructured objects).
func (r *TenantReconciler) rolloutsIn(ctx context.Context, namespace string) ([]scalable, error) {
	list := unstructuredList(render.RolloutGVK)
	if err := r.List(ctx, list, client.InNamespace(namespace)); err != nil {
		return nil, fmt.Errorf("listing Rollouts in %s: %w", namespace, err)
	}
	out := make([]scalable, 0, len(list.Items))
	for i := range list.Items {
		ro := &list.Items[i]
		var replicas *int32
		if n, found, err := unstructured.NestedInt64(ro.Object, "spec", "replicas"); err == nil && found {
			replicas = ptr.To(int32(n))
		}
		out = append(out, newScalable(ro, replicas))
	}
	return out, nil
}

func newScalable(obj client.Object, replicas *int32) scalable {
	if replicas == nil {
		return scalable{obj: obj, replicas: 1} // the API's default
	}
	return scalable{obj: obj, replicas: *replicas}
}

// runsWorkloads reports whether a namespace still has pods.
func (r *TenantReconciler) runsWorkloads(ctx context.Context, namespace string) (bool, error) {
	var pods corev1.PodList
	if err := r.APIReader.List(ctx, &pods, client.InNamespace(namespace), client.Limit(1)); err != nil {
		return false, fmt.Errorf("listing pods in %s: %w", namespace, err)
	}
	return len(pods.Items) > 0, nil
}

// removalConfirmed reports whether the Tenant's tenantry.dev/confirm-delete
// annotation names the environment.
func removalConfirmed(tenant *v1alpha1.Tenant, env string) bool {
	for _, e := range strings.Split(tenant.Annotations[v1alpha1.AnnotationConfirmDelete], ",") {
		if strings.TrimSpace(e) == env {
			return true
		}
	}
	return false
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

// retainNamespaces keeps the tenant's namespaces for deletionPolicy Retain:
// they lose the Tenant as owner (so garbage collection spares them and the
// quota, limit range and network policies inside, which stay in force) and
// get the orphaned label. It returns what it kept; the owners' RoleBindings
// and the cluster RBAC are left for pruning.
func (r *TenantReconciler) retainNamespaces(ctx context.Context, tenant *v1alpha1.Tenant) ([]client.Object, error) {
	objs, err := r.tenantObjects(ctx, tenant)
	if err != nil {
		return nil, err
	}
	var kept []client.Object
	for _, obj := range objs {
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

// suspendOrResume scales the tenant's workloads down (spec.suspended) or
// back up (a suspension recorded in status, spec no longer suspended), and
// says so in an event when it changed anything.
func (r *TenantReconciler) suspendOrResume(ctx context.Context, tenant *v1alpha1.Tenant) error {
	suspend := tenant.Spec.Suspended
	changed, err := r.scaleWorkloads(ctx, tenant, suspend)
	if changed > 0 {
		if suspend {
			r.Recorder.Eventf(tenant, nil, corev1.EventTypeNormal, decide.ReasonSuspended, "Suspend",
				"Scaled %d workloads to zero (replica counts recorded in %s)", changed, v1alpha1.AnnotationSuspendedReplicas)
		} else {
			r.Recorder.Eventf(tenant, nil, corev1.EventTypeNormal, reasonResumed, "Resume",
				"Restored %d workloads to their replica counts before the suspension", changed)
		}
	}
	return err
}

// splitTenantQuota replaces the hard limits of the desired ResourceQuotas
// with their share of the plan's tenantQuota (render.SplitTenantQuota),
// from the usage the quota controller last reported. Quotas that shrink are
// applied before those that grow, so the namespaces' limits never add up to
// more than the total, even between two writes.
func (r *TenantReconciler) splitTenantQuota(ctx context.Context, plan *v1alpha1.TenantPlan, desired []client.Object) ([]client.Object, error) {
	used := map[string]corev1.ResourceList{}
	current := map[string]corev1.ResourceList{}
	perNamespace := map[string]corev1.ResourceList{}
	for _, obj := range desired {
		q, ok := obj.(*corev1.ResourceQuota)
		if !ok {
			continue
		}
		perNamespace[q.Namespace] = q.Spec.Hard
		existing := &corev1.ResourceQuota{}
		err := r.Get(ctx, client.ObjectKeyFromObject(q), existing)
		if client.IgnoreNotFound(err) != nil {
			return nil, fmt.Errorf("reading quota of %s: %w", q.Namespace, err)
		}
		used[q.Namespace], current[q.Namespace] = existing.Status.Used, existing.Spec.Hard
	}
	split := render.SplitTenantQuota(plan.Spec.TenantQuota, used, perNamespace)
	// Namespaces stay first (a quota needs its namespace); among the rest,
	// quotas that shrink go before everything else. The sort is stable, so
	// the rendered order holds otherwise.
	rank := func(obj client.Object) int {
		switch o := obj.(type) {
		case *corev1.Namespace:
			return 0
		case *corev1.ResourceQuota:
			if shrinks(current[o.Namespace], o.Spec.Hard) {
				return 1
			}
		}
		return 2
	}
	for _, obj := range desired {
		if q, ok := obj.(*corev1.ResourceQuota); ok {
			q.Spec.Hard = split[q.Namespace]
		}
	}
	ordered := slices.Clone(desired)
	slices.SortStableFunc(ordered, func(a, b client.Object) int { return rank(a) - rank(b) })
	return ordered, nil
}

// shrinks reports whether any limit in next is below its value in current.
func shrinks(current, next corev1.ResourceList) bool {
	for name, q := range next {
		if c, ok := current[name]; ok && q.Cmp(c) < 0 {
			return true
		}
	}
	return false
}

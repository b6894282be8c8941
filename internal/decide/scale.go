package decide

import (
	"fmt"
	"strconv"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/tenantry/tenantry/api/v1alpha1"
)

// Workload is a tenant workload a suspension scales: a Deployment,
// StatefulSet or Argo Rollout (Replicas), or a CronJob (Suspend).
type Workload struct {
	GVK             schema.GroupVersionKind
	Namespace, Name string
	// Replicas is the desired replica count; nil means the API's default, 1.
	Replicas    *int32
	Suspend     *bool
	Annotations map[string]string
}

// Scaling is one workload's change: a JSON merge patch of its annotations and spec.
type Scaling struct {
	Workload Workload
	Patch    map[string]any
}

// Scale decides what a suspension (suspend) or a resumption changes: every
// scalable workload goes to zero with its replica count recorded in
// tenantry.dev/suspended-replicas, and every CronJob is suspended and
// marked; a resumption puts back what was recorded and unsuspends only the
// CronJobs the suspension marked. Workloads already in the wanted state
// are left out, so suspending twice, or resuming an active tenant, changes
// nothing.
func Scale(workloads []Workload, suspend bool) ([]Scaling, error) {
	var out []Scaling
	for _, w := range workloads {
		patch, err := scaling(w, suspend)
		if err != nil {
			return nil, err
		}
		if patch != nil {
			out = append(out, Scaling{Workload: w, Patch: patch})
		}
	}
	return out, nil
}

func scaling(w Workload, suspend bool) (map[string]any, error) {
	change := func(annotation string, value any, spec map[string]any) map[string]any {
		return map[string]any{"metadata": map[string]any{"annotations": map[string]any{annotation: value}}, "spec": spec}
	}
	if w.GVK.Kind == "CronJob" {
		_, suspendedByUs := w.Annotations[v1alpha1.AnnotationSuspendedCronJob]
		alreadySuspended := w.Suspend != nil && *w.Suspend
		switch {
		case suspend && !alreadySuspended:
			return change(v1alpha1.AnnotationSuspendedCronJob, "true", map[string]any{"suspend": true}), nil
		case !suspend && suspendedByUs:
			return change(v1alpha1.AnnotationSuspendedCronJob, nil, map[string]any{"suspend": false}), nil
		}
		return nil, nil
	}
	replicas := int32(1)
	if w.Replicas != nil {
		replicas = *w.Replicas
	}
	recorded, wasSuspended := w.Annotations[v1alpha1.AnnotationSuspendedReplicas]
	switch {
	case suspend && !wasSuspended && replicas > 0:
		return change(v1alpha1.AnnotationSuspendedReplicas, strconv.Itoa(int(replicas)), map[string]any{"replicas": 0}), nil
	case !suspend && wasSuspended:
		n, err := strconv.Atoi(recorded)
		if err != nil {
			return nil, fmt.Errorf("%s %s/%s: annotation %s=%q is not a replica count", w.GVK.Kind, w.Namespace, w.Name, v1alpha1.AnnotationSuspendedReplicas, recorded)
		}
		return change(v1alpha1.AnnotationSuspendedReplicas, nil, map[string]any{"replicas": n}), nil
	}
	return nil, nil
}

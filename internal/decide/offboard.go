package decide

import (
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/tenantry/tenantry/api/v1alpha1"
)

// Offboarding is what a Tenant's deletion reports in its Ready condition.
type Offboarding struct {
	Tenant *v1alpha1.Tenant
	// Retain is deletionPolicy Retain: the namespaces are kept.
	Retain bool
	// Now and StuckAfter time the reports of what holds the deletion.
	Now        time.Time
	StuckAfter time.Duration
}

// Started is the message of the deletion's first step, and whether the
// deletion starts now (the Tenant is not yet Terminating); later passes
// keep the message in force.
func (o Offboarding) Started() (message string, starts bool) {
	if o.Tenant.Status.Phase == v1alpha1.PhaseTerminating {
		for _, c := range o.Tenant.Status.Conditions {
			if c.Type == v1alpha1.ConditionReady {
				return c.Message, false
			}
		}
	}
	if o.Retain {
		return fmt.Sprintf("Keeping namespaces %v (deletionPolicy Retain) and removing the owners' access", o.Tenant.Status.Namespaces), true
	}
	return fmt.Sprintf("Deleting the workloads and namespaces %v, then the tenant's bindings", o.Tenant.Status.Namespaces), true
}

// stuck reports whether a deletion that started at since has taken StuckAfter.
func (o Offboarding) stuck(since time.Time) bool {
	after := o.StuckAfter
	if after == 0 {
		after = time.Minute
	}
	return o.Now.Sub(since) >= after
}

// AppsLeft is the message while Argo CD has not removed the tenant's
// Applications (left of them) once the deletion has taken StuckAfter, or "".
func (o Offboarding) AppsLeft(left int, argoCDNamespace, finalizer string) string {
	if left == 0 || !o.stuck(o.Tenant.DeletionTimestamp.Time) {
		return ""
	}
	return fmt.Sprintf("waiting for Argo CD to delete %d Applications in %s and what they deployed (finalizer %s); check that the Argo CD application controller runs",
		left, argoCDNamespace, finalizer)
}

// NamespacesLeft is the message while namespaces are still there
// StuckAfter into their deletion, or "": what the namespace controller
// says is left in them (content, finalizers).
func (o Offboarding) NamespacesLeft(namespaces []corev1.Namespace) string {
	var stuck []string
	for _, ns := range namespaces {
		if ns.DeletionTimestamp == nil || !o.stuck(ns.DeletionTimestamp.Time) {
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
		return ""
	}
	return "waiting for namespaces to be deleted: " + strings.Join(stuck, "; ") + "; remove what holds them (finalizers of objects inside)"
}

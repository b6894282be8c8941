package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tenantry/tenantry/api/v1alpha1"
)

// goal is the state --wait waits for.
type goal int

const (
	goalReady goal = iota
	goalSuspended
	goalGone
	// goalAppsSynced is Ready with every app synced by Argo CD and healthy.
	goalAppsSynced
	// goalMoved is placed by a fleet's hub on the change's cluster alone.
	goalMoved
)

// heartbeat is how often --wait repeats the state when nothing changes, so
// a long wait never looks hung.
const heartbeat = 5 * time.Second

// waitFor watches the Tenant until it reaches the change's goal, printing
// each new state (and a heartbeat) with the elapsed time to stderr. On
// timeout the error names what blocks: the pending condition's message.
func (o *options) waitFor(ctx context.Context, c client.WithWatch, ch change, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	last, lastPrinted := "", time.Time{}
	report := func(state string) {
		if state != last || time.Since(lastPrinted) >= heartbeat {
			fmt.Fprintf(o.errOut, "[%5.1fs] %s\n", time.Since(start).Seconds(), state)
			last, lastPrinted = state, time.Now()
		}
	}
	ticker := time.NewTicker(heartbeat)
	defer ticker.Stop()
	for {
		// Read, then watch from that version, so no update falls in between.
		t := &v1alpha1.Tenant{}
		err := c.Get(ctx, client.ObjectKey{Name: ch.tenant}, t)
		if err != nil && !apierrors.IsNotFound(err) {
			return o.waitError(ctx, ch, timeout, last, err)
		}
		if apierrors.IsNotFound(err) {
			t = nil
		}
		done, state := progress(t, ch)
		report(state)
		if done {
			fmt.Fprintf(o.out, "tenant %s: %s after %.1fs\n", ch.tenant, state, time.Since(start).Seconds())
			return nil
		}
		opts := []client.ListOption{client.MatchingFields{"metadata.name": ch.tenant}}
		if t != nil {
			opts = append(opts, &client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: t.ResourceVersion}})
		}
		w, err := c.Watch(ctx, &v1alpha1.TenantList{}, opts...)
		if err != nil {
			return o.waitError(ctx, ch, timeout, last, err)
		}
		err = o.watchUntil(ctx, w, ticker, ch, report)
		w.Stop()
		if err == nil {
			continue // the watch ended: read again and watch anew
		}
		if errors.Is(err, errDone) {
			fmt.Fprintf(o.out, "tenant %s: %s after %.1fs\n", ch.tenant, last, time.Since(start).Seconds())
			return nil
		}
		return o.waitError(ctx, ch, timeout, last, err)
	}
}

var errDone = errors.New("done")

// watchUntil follows one watch: errDone at the goal, nil when the watch
// closes, the context's error on timeout.
func (o *options) watchUntil(ctx context.Context, w watch.Interface, ticker *time.Ticker, ch change, report func(string)) error {
	current := ""
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ticker.C:
			if current != "" {
				report(current)
			}
		case ev, ok := <-w.ResultChan():
			if !ok {
				return nil
			}
			var t *v1alpha1.Tenant
			switch ev.Type {
			case watch.Added, watch.Modified:
				t, _ = ev.Object.(*v1alpha1.Tenant)
			case watch.Deleted:
				t = nil
			default:
				return nil // an error or bookmark: start over from a fresh read
			}
			done, state := progress(t, ch)
			current = state
			report(state)
			if done {
				return errDone
			}
		}
	}
}

func (o *options) waitError(ctx context.Context, ch change, timeout time.Duration, state string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("timed out after %s waiting for tenant %s: %s", timeout, ch.tenant, state)
	}
	return fmt.Errorf("waiting for tenant %s: %w", ch.tenant, err)
}

// progress says whether t (nil: absent) has reached the change's goal, and
// in words where it stands.
func progress(t *v1alpha1.Tenant, ch change) (bool, string) {
	if t == nil {
		if ch.goal == goalGone {
			return true, "gone"
		}
		return false, "not in the cluster yet (is a GitOps controller syncing the folder? --apply applies it)"
	}
	ready := meta.FindStatusCondition(t.Status.Conditions, v1alpha1.ConditionReady)
	if t.DeletionTimestamp != nil {
		if ch.goal != goalGone {
			return false, "being deleted"
		}
		return false, "offboarding" + conditionText(ready)
	}
	if ch.goal == goalGone {
		return false, "not deleted yet"
	}
	if !applied(t, ch) {
		return false, "the cluster does not have the change yet (is a GitOps controller syncing the folder? --apply applies it)"
	}
	if ch.goal == goalMoved {
		// The hub's operator writes the Placed condition alone.
		return moveProgress(t, ch.to)
	}
	if meta.FindStatusCondition(t.Status.Conditions, v1alpha1.ConditionPlaced) != nil {
		// A fleet's hub onboards no tenant: Ready, suspended and synced
		// are its member's to say.
		return true, "placed by the fleet's hub on " + clusterOf(*t) + "; the tenant's own state is on that member"
	}
	if t.Status.ObservedGeneration < t.Generation {
		return false, fmt.Sprintf("waiting for the operator to see generation %d", t.Generation)
	}
	if ch.goal == goalSuspended {
		if meta.IsStatusConditionTrue(t.Status.Conditions, v1alpha1.ConditionSuspended) {
			return true, "Suspended"
		}
		return false, "suspending" + conditionText(meta.FindStatusCondition(t.Status.Conditions, v1alpha1.ConditionSuspended))
	}
	if ready != nil && ready.Status == metav1.ConditionTrue && ready.ObservedGeneration >= t.Generation {
		if ch.goal != goalAppsSynced {
			return true, "Ready"
		}
		gitops := meta.FindStatusCondition(t.Status.Conditions, v1alpha1.ConditionGitOpsReady)
		if gitops != nil && gitops.Status == metav1.ConditionTrue && gitops.ObservedGeneration >= t.Generation {
			return true, "Ready, apps synced and healthy (" + t.Status.AppsReady + ")"
		}
		return false, "Ready, waiting for Argo CD" + conditionText(gitops)
	}
	var pending []string
	for _, cond := range []string{v1alpha1.ConditionNamespacesReady, v1alpha1.ConditionGuardrailsReady} {
		if !meta.IsStatusConditionTrue(t.Status.Conditions, cond) {
			pending = append(pending, cond)
		}
	}
	state := "not Ready" + conditionText(ready)
	if len(pending) > 0 {
		state += "; pending: " + strings.Join(pending, ", ")
	}
	return false, state
}

// applied says whether the cluster's Tenant has the change: making it again
// would change nothing (or the change's own test says so).
func applied(t *v1alpha1.Tenant, ch change) bool {
	if ch.applied != nil {
		return ch.applied(t)
	}
	if ch.edit == nil {
		return true
	}
	again := t.DeepCopy()
	if err := ch.edit(again); err != nil {
		return false
	}
	return equality.Semantic.DeepEqual(again.Spec, t.Spec) && equality.Semantic.DeepEqual(again.Annotations, t.Annotations)
}

func conditionText(c *metav1.Condition) string {
	if c == nil {
		return ""
	}
	if c.Message == "" {
		return fmt.Sprintf(" (%s)", c.Reason)
	}
	return fmt.Sprintf(" (%s: %s)", c.Reason, c.Message)
}

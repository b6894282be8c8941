package resilience

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tenantry/tenantry/api/v1alpha1"
)

// tracker follows every Tenant with a list and a watch, as a client would,
// and records when each was first seen Ready and when it was seen gone.
// When the watch ends or the API server is away it lists again every
// 100 ms, without client-go's growing backoff, so that the times it records
// are the API server's, not those of a reconnect delay.
type tracker struct {
	mu      sync.Mutex
	present map[string]bool
	ready   map[string]time.Time
	gone    map[string]time.Time
	// status is the last phase and Ready message seen, for failure messages.
	status map[string]string
	// changed is signalled (without blocking) after every change.
	changed chan struct{}
}

func track(ctx context.Context, c client.WithWatch) *tracker {
	tr := &tracker{
		present: map[string]bool{}, ready: map[string]time.Time{}, gone: map[string]time.Time{},
		status: map[string]string{}, changed: make(chan struct{}, 1),
	}
	go tr.run(ctx, c)
	return tr
}

func (tr *tracker) run(ctx context.Context, c client.WithWatch) {
	retry := time.NewTicker(100 * time.Millisecond)
	defer retry.Stop()
	for ctx.Err() == nil {
		if err := tr.listAndWatch(ctx, c); err != nil && ctx.Err() == nil {
			select {
			case <-ctx.Done():
			case <-retry.C:
			}
		}
	}
}

// listAndWatch lists every Tenant, then follows changes from that list's
// resource version until the watch ends.
func (tr *tracker) listAndWatch(ctx context.Context, c client.WithWatch) error {
	var list v1alpha1.TenantList
	if err := c.List(ctx, &list); err != nil {
		return err
	}
	tr.replace(list.Items)
	w, err := c.Watch(ctx, &v1alpha1.TenantList{}, &client.ListOptions{Raw: &metav1.ListOptions{
		ResourceVersion: list.ResourceVersion, AllowWatchBookmarks: true,
	}})
	if err != nil {
		return err
	}
	defer w.Stop()
	for ev := range w.ResultChan() {
		switch ev.Type {
		case watch.Error:
			return apierrors.FromObject(ev.Object)
		case watch.Deleted:
			if t, ok := ev.Object.(*v1alpha1.Tenant); ok {
				tr.delete(t.Name)
			}
		case watch.Added, watch.Modified:
			if t, ok := ev.Object.(*v1alpha1.Tenant); ok {
				tr.observe(t)
			}
		}
	}
	return nil
}

// replace takes a full list: tenants missing from it are gone.
func (tr *tracker) replace(items []v1alpha1.Tenant) {
	listed := make(map[string]bool, len(items))
	for i := range items {
		listed[items[i].Name] = true
		tr.observe(&items[i])
	}
	tr.mu.Lock()
	var missing []string
	for name := range tr.present {
		if !listed[name] {
			missing = append(missing, name)
		}
	}
	tr.mu.Unlock()
	for _, name := range missing {
		tr.delete(name)
	}
}

func (tr *tracker) observe(t *v1alpha1.Tenant) {
	now := time.Now()
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.present[t.Name] = true
	delete(tr.gone, t.Name)
	msg := string(t.Status.Phase)
	for _, c := range t.Status.Conditions {
		if c.Type == v1alpha1.ConditionReady {
			msg += ": " + c.Message
		}
	}
	tr.status[t.Name] = msg
	if _, seen := tr.ready[t.Name]; !seen && t.Status.Phase == v1alpha1.PhaseReady {
		tr.ready[t.Name] = now
	}
	tr.signal()
}

func (tr *tracker) delete(name string) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if !tr.present[name] {
		return
	}
	delete(tr.present, name)
	tr.gone[name] = time.Now()
	tr.signal()
}

func (tr *tracker) signal() {
	select {
	case tr.changed <- struct{}{}:
	default:
	}
}

// readyCount is how many of names have been seen Ready.
func (tr *tracker) readyCount(names []string) int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	n := 0
	for _, name := range names {
		if _, ok := tr.ready[name]; ok {
			n++
		}
	}
	return n
}

// readyTimes returns when each of names was first seen Ready, sorted; the
// second result is false unless all were.
func (tr *tracker) readyTimes(names []string) ([]time.Time, bool) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	times := make([]time.Time, 0, len(names))
	for _, name := range names {
		if at, ok := tr.ready[name]; ok {
			times = append(times, at)
		}
	}
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	return times, len(times) == len(names)
}

// waitReadyCount waits until at least n of names have been seen Ready and
// returns how many were.
func (tr *tracker) waitReadyCount(t *testing.T, names []string, n int, timeout time.Duration) int {
	t.Helper()
	var got int
	tr.waitFor(t, timeout, func() (bool, string) {
		got = tr.readyCount(names)
		return got >= n, fmt.Sprintf("%d of %d tenants Ready, waiting for %d", got, len(names), n)
	})
	return got
}

// waitReady waits until every one of names has been seen Ready and
// returns when the last one was.
func (tr *tracker) waitReady(t *testing.T, names []string, timeout time.Duration) time.Time {
	t.Helper()
	tr.waitFor(t, timeout, func() (bool, string) {
		times, all := tr.readyTimes(names)
		if all {
			return true, ""
		}
		return false, fmt.Sprintf("%d of %d tenants Ready; not Ready: %s", len(times), len(names), tr.notReady(names, 5))
	})
	times, _ := tr.readyTimes(names)
	return times[len(times)-1]
}

// waitGone waits until every one of names has been seen gone and returns
// when the last one was.
func (tr *tracker) waitGone(t *testing.T, names []string, timeout time.Duration) time.Time {
	t.Helper()
	var last time.Time
	tr.waitFor(t, timeout, func() (bool, string) {
		tr.mu.Lock()
		defer tr.mu.Unlock()
		var left []string
		for _, name := range names {
			at, ok := tr.gone[name]
			if !ok {
				left = append(left, name+" ("+tr.status[name]+")")
				continue
			}
			if at.After(last) {
				last = at
			}
		}
		if len(left) == 0 {
			return true, ""
		}
		return false, fmt.Sprintf("%d of %d tenants still there: %s", len(left), len(names), strings.Join(left[:min(len(left), 5)], "; "))
	})
	return last
}

// notReady describes up to max of names not yet seen Ready.
func (tr *tracker) notReady(names []string, max int) string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	var out []string
	for _, name := range names {
		if _, ok := tr.ready[name]; !ok && len(out) < max {
			out = append(out, fmt.Sprintf("%s (%s)", name, tr.status[name]))
		}
	}
	return strings.Join(out, "; ")
}

// waitFor re-evaluates done on every change the tracker sees (and every
// second, for a deadline) until it holds, failing the test with its last
// description after timeout.
func (tr *tracker) waitFor(t *testing.T, timeout time.Duration, done func() (bool, string)) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		ok, why := done()
		if ok {
			return
		}
		select {
		case <-tr.changed:
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("after %s: %s", timeout, why)
		case <-t.Context().Done():
			t.Fatalf("test ended: %s", why)
		}
	}
}

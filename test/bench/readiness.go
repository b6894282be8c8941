package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tenantry/tenantry/api/v1alpha1"
)

// readiness follows every Tenant with one watch and records, for each
// tenant the benchmark created, the time from its create call to the first
// event showing it Ready.
type readiness struct {
	mu        sync.Mutex
	createdAt map[string]time.Time
	readyIn   map[string]time.Duration
	changed   chan struct{}
}

func trackReadiness(ctx context.Context, c client.WithWatch) (*readiness, error) {
	r := &readiness{createdAt: map[string]time.Time{}, readyIn: map[string]time.Duration{}, changed: make(chan struct{}, 1)}
	w, err := c.Watch(ctx, &v1alpha1.TenantList{})
	if err != nil {
		return nil, err
	}
	go func() {
		for {
			for ev := range w.ResultChan() {
				t, ok := ev.Object.(*v1alpha1.Tenant)
				if ok && ev.Type != watch.Deleted && t.Status.Phase == v1alpha1.PhaseReady {
					r.observe(t.Name)
				}
			}
			// The API server ends watches after a while: start another.
			if ctx.Err() != nil {
				return
			}
			if w, err = c.Watch(ctx, &v1alpha1.TenantList{}); err != nil {
				return
			}
		}
	}()
	return r, nil
}

func (r *readiness) created(name string) {
	r.mu.Lock()
	r.createdAt[name] = time.Now()
	r.mu.Unlock()
}

func (r *readiness) observe(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	at, ok := r.createdAt[name]
	if _, seen := r.readyIn[name]; !ok || seen {
		return
	}
	r.readyIn[name] = time.Since(at)
	select {
	case r.changed <- struct{}{}:
	default:
	}
}

// wait returns each named tenant's create→Ready time once all are Ready.
func (r *readiness) wait(ctx context.Context, names []string, timeout time.Duration) ([]time.Duration, error) {
	deadline := time.After(timeout)
	progress := time.NewTicker(10 * time.Second)
	defer progress.Stop()
	for {
		r.mu.Lock()
		var lat []time.Duration
		for _, n := range names {
			if d, ok := r.readyIn[n]; ok {
				lat = append(lat, d)
			}
		}
		r.mu.Unlock()
		if len(lat) == len(names) {
			return lat, nil
		}
		select {
		case <-r.changed:
		case <-progress.C:
			step("   %d of %d Ready", len(lat), len(names))
		case <-deadline:
			return nil, fmt.Errorf("%d of %d tenants Ready after %s", len(lat), len(names), timeout)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

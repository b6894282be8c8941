package controller_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tenantry/tenantry/api/v1alpha1"
	"github.com/tenantry/tenantry/internal/install"
)

// BenchmarkOnboard100Tenants creates 100 Tenants with two environments each
// (200 namespaces, ~2,400 objects) from 8 goroutines against the operator
// and measures, from a watch, the time from each create call to Ready: once
// with the guardrails' admission policies unbound, once with them in force,
// on the same cluster, so their cost reads off the two results.
//
//	go test -run '^$' -bench Onboard -benchtime 1x ./internal/controller/
func BenchmarkOnboard100Tenants(b *testing.B) {
	ctx := b.Context()
	plan := &v1alpha1.TenantPlan{ObjectMeta: metav1.ObjectMeta{Name: "bench-plan"}, Spec: smallPlanSpec()}
	if err := admin.Create(ctx, plan); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = admin.Delete(context.Background(), plan) })

	b.Run("guardrails=off", func(b *testing.B) {
		bindings := &admissionregistrationv1.ValidatingAdmissionPolicyBindingList{}
		if err := admin.List(ctx, bindings, client.MatchingLabels{"app.kubernetes.io/part-of": "tenantry"}); err != nil {
			b.Fatal(err)
		}
		for i := range bindings.Items {
			if err := admin.Delete(ctx, &bindings.Items[i]); err != nil {
				b.Fatal(err)
			}
		}
		b.Cleanup(func() {
			if err := install.Guardrails(context.Background(), admin); err != nil {
				b.Errorf("reinstalling the guardrails: %v", err)
			}
		})
		benchmarkOnboarding(b, plan.Name, "off")
	})
	b.Run("guardrails=on", func(b *testing.B) { benchmarkOnboarding(b, plan.Name, "on") })
}

func benchmarkOnboarding(b *testing.B, plan, prefix string) {
	const tenants, workers = 100, 8
	ctx := b.Context()
	watcher, err := client.NewWithWatch(cluster.Config, client.Options{Scheme: scheme})
	if err != nil {
		b.Fatal(err)
	}

	var latencies []time.Duration
	var total time.Duration
	for i := 0; b.Loop(); i++ {
		w, err := watcher.Watch(ctx, &v1alpha1.TenantList{})
		if err != nil {
			b.Fatal(err)
		}
		var mu sync.Mutex
		created := map[string]time.Time{}
		start := time.Now()
		names := make(chan string)
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for name := range names {
					t := &v1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v1alpha1.TenantSpec{
						Plan:         plan,
						Environments: []string{"prod", "staging"},
						Owners:       []v1alpha1.Owner{{Kind: v1alpha1.SubjectUser, Name: name + "-admin", Role: v1alpha1.RoleAdmin}},
					}}
					mu.Lock()
					created[name] = time.Now()
					mu.Unlock()
					if err := admin.Create(ctx, t); err != nil {
						b.Error(err)
					}
				}
			})
		}
		go func() {
			for n := range tenants {
				names <- fmt.Sprintf("bench-%s-%d-%03d", prefix, i, n)
			}
			close(names)
		}()

		ready := map[string]bool{}
		timeout := time.After(5 * time.Minute)
		for len(ready) < tenants {
			select {
			case ev := <-w.ResultChan():
				t, ok := ev.Object.(*v1alpha1.Tenant)
				if !ok || ev.Type == watch.Deleted || t.Status.Phase != v1alpha1.PhaseReady || ready[t.Name] {
					continue
				}
				mu.Lock()
				at, mine := created[t.Name]
				mu.Unlock()
				if mine {
					ready[t.Name] = true
					latencies = append(latencies, time.Since(at))
				}
			case <-timeout:
				b.Fatalf("%d of %d tenants Ready after 5 minutes", len(ready), tenants)
			}
		}
		total += time.Since(start)
		w.Stop()
		wg.Wait()

		// Offboard outside the timer, and wait for it: 200 namespaces being
		// deleted would otherwise slow the next measurement down.
		b.StopTimer()
		for name := range created {
			_ = admin.Delete(context.Background(), &v1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: name}})
		}
		for name := range created {
			for admin.Get(ctx, client.ObjectKey{Name: name}, &v1alpha1.Tenant{}) == nil {
				time.Sleep(200 * time.Millisecond)
			}
		}
		b.StartTimer()
	}

	slices.Sort(latencies)
	pct := func(p float64) float64 { return latencies[int(p*float64(len(latencies)-1))].Seconds() }
	b.ReportMetric(pct(0.50), "p50-ready-s")
	b.ReportMetric(pct(0.99), "p99-ready-s")
	b.ReportMetric(total.Seconds()/float64(b.N), "total-s")
	b.ReportMetric(float64(tenants*b.N)/total.Seconds(), "tenants/s")
	b.ReportMetric(0, "ns/op")
}

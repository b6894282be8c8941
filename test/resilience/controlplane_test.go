package resilience

import (
	"context"
	"github.com/tenantry/tenantry/internal/testutil"
	"testing"
	"time"
)

// TestControlPlaneCrashMidOnboarding crashes kube-apiserver, then etcd,
// each while tenants are being created and onboarded. The operator runs as
// in production, with leader election, and is not restarted: it must ride
// out both outages by itself (keeping its lease: each outage is shorter
// than its 10 s renew deadline), and the moment after the API server's
// restart when it answers but refuses the operator with 403 until its RBAC
// caches have synced (see localcluster.RestartAPIServer), and onboard every
// tenant, including those whose creation had to be retried through an outage.
func TestControlPlaneCrashMidOnboarding(t *testing.T) {
	testutil.NeedsCluster(t)
	ctx := t.Context()
	op := newOperator(t, "controlplane-operator", true)
	op.start(t)
	waitOneLeader(t, op)
	pid := op.pid()
	names := tenantNames("crash", restartTenants)

	begin := time.Now()
	created := make(chan error, 1)
	go func() { created <- createTenants(ctx, names, "crash") }()

	crashes := []struct {
		component string
		// afterReady is how many tenants are Ready before the crash.
		afterReady int
		restart    func(context.Context) error
	}{
		{"kube-apiserver", restartTenants / 5, cluster.RestartAPIServer},
		{"etcd", restartTenants / 2, cluster.RestartEtcd},
	}
	var lastRecovered time.Time
	for _, c := range crashes {
		tenants.waitReadyCount(t, names, c.afterReady, 2*time.Minute)
		readyBefore := tenants.readyCount(names)
		if readyBefore == len(names) {
			t.Fatalf("all %d tenants were Ready before %s crashed: raise restartTenants", len(names), c.component)
		}
		crashedAt := time.Now()
		if err := c.restart(ctx); err != nil {
			t.Fatal(err)
		}
		lastRecovered = time.Now()
		outage := lastRecovered.Sub(crashedAt)
		// The first tenant Ready after the API server is back shows the
		// operator at work again.
		var resumed time.Time
		tenants.waitFor(t, time.Minute, func() (bool, string) {
			times, _ := tenants.readyTimes(names)
			resumed = firstAfter(times, lastRecovered)
			return !resumed.IsZero(), "no tenant Ready since " + c.component + " came back"
		})
		t.Logf("%s crashed with %d of %d tenants Ready: API server ready again %s later; next tenant Ready %s after that",
			c.component, readyBefore, len(names), outage.Round(time.Millisecond), resumed.Sub(lastRecovered).Round(time.Millisecond))
	}
	if err := <-created; err != nil {
		t.Fatal(err)
	}
	last := tenants.waitReady(t, names, 2*time.Minute)
	t.Logf("control plane crashes: all %d tenants Ready %s after the last recovery (%s from the first create)",
		len(names), last.Sub(lastRecovered).Round(time.Millisecond), last.Sub(begin).Round(time.Millisecond))

	if !op.running() || op.pid() != pid {
		t.Fatalf("the operator exited during the outages; log:\n%s", op.logTail(20))
	}
	if leads, err := op.leader(); err != nil || !leads {
		t.Errorf("the operator no longer leads after the outages (err %v)", err)
	}
	if op.logContains("leader election lost") {
		t.Errorf("the operator lost its lease during the outages")
	}
	verifyOnboarded(t, names)
	verifyNoOrphans(t)
	op.logErrorSummary(t)
}

// firstAfter is the first of the sorted times after t, or the zero time.
func firstAfter(times []time.Time, t time.Time) time.Time {
	for _, at := range times {
		if at.After(t) {
			return at
		}
	}
	return time.Time{}
}

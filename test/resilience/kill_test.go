package resilience

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tenantry/tenantry/api/v1alpha1"
	"github.com/tenantry/tenantry/internal/testutil"
)

// TestKill9MidOnboarding kills the operator with SIGKILL while it onboards
// killTenants tenants, some Ready, some half-applied, some not yet seen,
// and starts it again: every tenant must become Ready with exactly the
// objects a tenant onboarded without interruption has: no duplicate, no
// orphan, nothing half-applied left behind.
//
// It runs without leader election, so the figures are those of the
// operator's own recovery; with it, a restarted single replica first waits
// for its dead predecessor's lease to expire (TestLeaderFailover measures that).
func TestKill9MidOnboarding(t *testing.T) {
	testutil.NeedsCluster(t)
	ctx := t.Context()
	op := newOperator(t, "kill-operator", false)
	op.start(t)
	names := tenantNames("kill", killTenants)

	begin := time.Now()
	created := make(chan error, 1)
	go func() { created <- createTenants(ctx, names, "kill") }()
	tenants.waitReadyCount(t, names, killAfterReady, 3*time.Minute)
	op.kill(t)
	killedAt := time.Now()
	readyAtKill := tenants.readyCount(names)
	if err := <-created; err != nil {
		t.Fatal(err)
	}
	if readyAtKill >= len(names) {
		t.Fatalf("all %d tenants were Ready before the kill: raise killTenants or lower killAfterReady", len(names))
	}
	started := halfOnboarded(t, names)
	t.Logf("killed after %s with %d of %d tenants Ready; %d more had objects but were not Ready, %d had none",
		killedAt.Sub(begin).Round(time.Millisecond), readyAtKill, len(names), started-readyAtKill, len(names)-started)

	op.start(t)
	restartedAt := time.Now()
	last := tenants.waitReady(t, names, 3*time.Minute)
	times, _ := tenants.readyTimes(names)
	t.Logf("kill -9 recovery: first tenant Ready %s after the restart, all %d %s after it (%s after the kill; %s from the first create)",
		firstAfter(times, restartedAt).Sub(restartedAt).Round(time.Millisecond), len(names), last.Sub(restartedAt).Round(time.Millisecond),
		last.Sub(killedAt).Round(time.Millisecond), last.Sub(begin).Round(time.Millisecond))

	verifyOnboarded(t, names)
	verifyNoOrphans(t)
	// The restarted operator's view agrees: every tenant of the cluster counted Ready.
	var all v1alpha1.TenantList
	if err := admin.List(ctx, &all); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 30*time.Second, func() error {
		v, _, err := op.metric("tenantry_tenants", `phase="Ready"`)
		if err != nil {
			return err
		}
		if int(v) != len(all.Items) {
			return fmt.Errorf("tenantry_tenants{phase=\"Ready\"} = %v, want %d", v, len(all.Items))
		}
		return nil
	})
	op.logErrorSummary(t)
}

// halfOnboarded counts the named tenants that have at least one namespace.
func halfOnboarded(t *testing.T, names []string) int {
	t.Helper()
	var namespaces corev1.NamespaceList
	if err := admin.List(t.Context(), &namespaces, client.HasLabels{v1alpha1.LabelTenant}); err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, ns := range namespaces.Items {
		have[ns.Labels[v1alpha1.LabelTenant]] = true
	}
	n := 0
	for _, name := range names {
		if have[name] {
			n++
		}
	}
	return n
}

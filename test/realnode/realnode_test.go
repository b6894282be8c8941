// Package realnode proves on real containers what kwok cannot: the
// platform installed by its Helm chart runs as pods from its own image
// (built without Docker, pulled from the cluster's registry), hands over
// leadership when its leader dies and onboards tenants; a tenant's app
// answers HTTP through its Service and cluster DNS; the guardrails refuse
// what they must with their exact messages; and stopping the cluster leaves
// nothing of it on the host.
//
// Everything runs on one real node (internal/localcluster Options.RealNode):
// one test starts it, so the host's single real-node lock is taken once.
package realnode

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tenantry/tenantry/internal/localcluster"
	"github.com/tenantry/tenantry/internal/testutil"
)

func TestRealNode(t *testing.T) {
	testutil.NeedsRealNode(t)
	dataDir := t.TempDir()
	before, err := localcluster.SnapshotHost(dataDir)
	if err != nil {
		t.Fatal(err)
	}

	ctx := context.Background()
	start := time.Now()
	// One kwok node beside the real one: it carries kwok's taint, so the
	// pods below landing on the real node show that the taint steers them.
	cluster, err := localcluster.Start(ctx, localcluster.Options{
		DataDir: dataDir, Nodes: 1, RealNode: true, Progress: os.Stderr, StartTimeout: 5 * time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("control plane + real node Ready + CoreDNS available in %.1fs", time.Since(start).Seconds())
	stopped := false
	defer func() {
		if !stopped {
			_ = cluster.Stop()
		}
	}()

	env := newEnv(t, ctx, cluster)
	ok := t.Run("platform installed by helm", env.testPlatform) &&
		t.Run("tenant user", env.testTenantUser) &&
		t.Run("one real node per host", func(t *testing.T) { testSecondRealNode(t, dataDir) })
	if !ok {
		cluster.DumpLogs(os.Stderr, 40)
	}

	during, err := localcluster.SnapshotHost(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	stopStart := time.Now()
	stopped = true
	if err := cluster.Stop(); err != nil {
		t.Errorf("Stop: %v", err)
	}
	t.Logf("Stop took %.1fs", time.Since(stopStart).Seconds())
	after, err := localcluster.SnapshotHost(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("stop leaves nothing", func(t *testing.T) { checkCleanup(t, before, during, after) })
}

// testSecondRealNode starts a second cluster with a real node while the
// first runs: it waits for the first to stop, and says so when its start-up
// time runs out.
func testSecondRealNode(t *testing.T, firstDataDir string) {
	start := time.Now()
	second, err := localcluster.Start(context.Background(), localcluster.Options{
		DataDir: t.TempDir(), Nodes: -1, RealNode: true, StartTimeout: 3 * time.Second,
	})
	if err == nil {
		_ = second.Stop()
		t.Fatal("a second real node started beside the first")
	}
	want := "another local cluster's real node runs on this host (data dir " + firstDataDir + "), and one runs per host"
	if !strings.Contains(err.Error(), want) {
		t.Errorf("second Start: %v\nwant it to say %q", err, want)
	}
	t.Logf("second Start gave up after %.1fs: %v", time.Since(start).Seconds(), err)
}

// checkCleanup compares the host before the cluster started and after it
// stopped, kind by kind, and prints all three lists: what the cluster made
// while running must be gone, nothing else touched.
func checkCleanup(t *testing.T, before, during, after localcluster.HostResources) {
	kinds := []struct {
		name                  string
		before, during, after []string
	}{
		{"processes", before.Processes, during.Processes, after.Processes},
		{"mounts", before.Mounts, during.Mounts, after.Mounts},
		{"network namespaces", before.NetworkNamespaces, during.NetworkNamespaces, after.NetworkNamespaces},
		{"bridges and veths", before.Links, during.Links, after.Links},
		{"netfilter rules", before.NetfilterRules, during.NetfilterRules, after.NetfilterRules},
	}
	for _, k := range kinds {
		t.Logf("%s: %d before, %d while running, %d after Stop", k.name, len(k.before), len(k.during), len(k.after))
		if len(k.during) <= len(k.before) {
			t.Errorf("%s: the running cluster added none, so the check proves nothing: %v", k.name, k.during)
		}
		var left []string
		for _, r := range k.after {
			if !slices.Contains(k.before, r) {
				left = append(left, r)
			}
		}
		if len(left) > 0 {
			t.Errorf("%s left after Stop:\n  %s", k.name, strings.Join(left, "\n  "))
		}
		for _, r := range k.during {
			if !slices.Contains(k.before, r) {
				t.Logf("  made and removed: %s", r)
			}
		}
	}
}

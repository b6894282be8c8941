package localcluster_test

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/tenantry/tenantry/internal/localcluster"
	"github.com/tenantry/tenantry/internal/testutil"
)

// TestRestartKeepsStateAndClients restarts kube-apiserver, then etcd, on a
// node-less cluster of its own (restarting the shared one would disturb the
// tests running in parallel) and checks after each that the client made
// before the restart still works, the data written before is still there,
// and exactly one process was replaced.
func TestRestartKeepsStateAndClients(t *testing.T) {
	testutil.NeedsCluster(t)
	t.Parallel()
	c, err := localcluster.Start(t.Context(), localcluster.Options{Nodes: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop() })
	client := kubernetes.NewForConfigOrDie(c.Config)
	ctx := t.Context()

	tests := []struct {
		component string
		restart   func(context.Context) error
	}{
		{"kube-apiserver", c.RestartAPIServer},
		{"etcd", c.RestartEtcd},
	}
	for _, tt := range tests {
		before := c.PIDs()
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "before-" + tt.component, Namespace: metav1.NamespaceDefault}}
		if _, err := client.CoreV1().ConfigMaps(cm.Namespace).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}

		start := time.Now()
		if err := tt.restart(ctx); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s restarted and the API server ready again in %s", tt.component, time.Since(start).Round(time.Millisecond))

		after := c.PIDs()
		if len(after) != len(before) {
			t.Fatalf("after restarting %s: %d processes, want %d", tt.component, len(after), len(before))
		}
		replaced := 0
		for i := range before {
			if before[i] != after[i] {
				replaced++
				if alive(before[i]) {
					t.Errorf("the old %s (pid %d) still runs", tt.component, before[i])
				}
			}
		}
		if replaced != 1 {
			t.Errorf("restarting %s replaced %d processes (%v -> %v), want 1", tt.component, replaced, before, after)
		}
		// The same client, built before the restart, reads what was
		// written before it and can write again.
		if _, err := client.CoreV1().ConfigMaps(cm.Namespace).Get(ctx, cm.Name, metav1.GetOptions{}); err != nil {
			t.Fatalf("after restarting %s: %v", tt.component, err)
		}
		cm.Name = "after-" + tt.component
		if _, err := client.CoreV1().ConfigMaps(cm.Namespace).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			t.Fatalf("after restarting %s: %v", tt.component, err)
		}
	}

	pids := c.PIDs()
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("process %d still runs after Stop", pid)
		}
	}
}

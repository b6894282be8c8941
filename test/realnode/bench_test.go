package realnode

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/tenantry/tenantry/internal/images"
	"github.com/tenantry/tenantry/internal/localcluster"
	"github.com/tenantry/tenantry/internal/testutil"
)

// BenchmarkRealNodeStart measures, per iteration, a cold start of a local
// cluster with a real node: control plane, node Ready and CoreDNS
// available (start-s), then the first pod Running from the loopback
// registry, its image pulled (first-pod-s), then Stop (stop-s).
//
//	go test ./test/realnode -run '^$' -bench RealNodeStart -benchtime 3x
func BenchmarkRealNodeStart(b *testing.B) {
	binDir := testutil.NeedsRealNode(b)
	ctx := context.Background()
	var start, firstPod, stop time.Duration
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		cluster, err := localcluster.Start(ctx, localcluster.Options{Nodes: -1, RealNode: true, StartTimeout: 5 * time.Minute})
		if err != nil {
			b.Fatal(err)
		}
		start += time.Since(t0)
		t1 := time.Now()
		if err := runFirstPod(ctx, b, cluster, binDir); err != nil {
			_ = cluster.Stop()
			b.Fatal(err)
		}
		firstPod += time.Since(t1)
		t2 := time.Now()
		if err := cluster.Stop(); err != nil {
			b.Fatal(err)
		}
		stop += time.Since(t2)
	}
	n := float64(b.N)
	b.ReportMetric(start.Seconds()/n, "start-s")
	b.ReportMetric(firstPod.Seconds()/n, "first-pod-s")
	b.ReportMetric(stop.Seconds()/n, "stop-s")
}

// runFirstPod pushes the pause image under a new name (so containerd has
// not pulled it yet) and waits until a pod of it is Running.
func runFirstPod(ctx context.Context, b *testing.B, cluster *localcluster.Cluster, binDir string) error {
	if _, err := cluster.PushBinaryImage(ctx, "first:1", binDir+"/pause", images.Options{User: 65535}); err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(cluster.Config)
	if err != nil {
		return err
	}
	if err := cluster.WaitForServiceAccount(ctx, metav1.NamespaceDefault); err != nil {
		return err
	}
	pod := testutil.RestrictedPod("first")
	pod.Spec.Containers[0].Image = localcluster.LocalRegistry + "/first:1"
	if _, err := cs.CoreV1().Pods(metav1.NamespaceDefault).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		return err
	}
	testutil.Eventually(b, 2*time.Minute, func() error {
		p, err := cs.CoreV1().Pods(metav1.NamespaceDefault).Get(ctx, "first", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if p.Status.Phase != corev1.PodRunning {
			return fmt.Errorf("pod first is %s", p.Status.Phase)
		}
		return nil
	})
	return nil
}

package realnode

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/tenantry/tenantry/api/v1alpha1"
	"github.com/tenantry/tenantry/gitops"
	"github.com/tenantry/tenantry/internal/install"
	"github.com/tenantry/tenantry/internal/localcluster"
	"github.com/tenantry/tenantry/internal/testutil"
)

// env is what the subtests share: the cluster, an admin client, and what
// the platform subtest installed.
type env struct {
	ctx      context.Context
	cluster  *localcluster.Cluster
	scheme   *runtime.Scheme
	admin    client.Client
	platform *localcluster.Platform
}

func newEnv(t *testing.T, ctx context.Context, cluster *localcluster.Cluster) *env {
	// The clients log nothing worth reading here; set before the first,
	// or controller-runtime complains with a stack trace.
	ctrllog.SetLogger(logr.Discard())
	scheme, err := install.NewScheme()
	if err != nil {
		t.Fatal(err)
	}
	admin, err := client.New(cluster.Config, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	return &env{ctx: ctx, cluster: cluster, scheme: scheme, admin: admin}
}

// operatorLease is the operator's leader election Lease (cmd/tenantry-operator).
const operatorLease = "tenantry-operator.tenantry.dev"

// testPlatform installs the chart with helm, as docs/install.md does, and
// checks the operator as a platform engineer would: both pods Running and
// Ready from the pushed image, one holding the Lease, the other taking over
// when the leader's pod is deleted, and a Tenant onboarded by the pods.
func (e *env) testPlatform(t *testing.T) {
	start := time.Now()
	platform, err := e.cluster.InstallPlatform(e.ctx, localcluster.PlatformOptions{})
	if err != nil {
		t.Fatal(err)
	}
	e.platform = platform
	t.Logf("image built and pushed, chart installed, both operator pods Ready in %.1fs", time.Since(start).Seconds())

	pods := e.operatorPods(t)
	if len(pods) != 2 {
		t.Fatalf("%d operator pods, want the chart's 2 replicas", len(pods))
	}
	for _, p := range pods {
		if p.Spec.NodeName != e.cluster.RealNodeName() {
			t.Errorf("pod %s on node %q, want the real node", p.Name, p.Spec.NodeName)
		}
		if !podReady(&p) {
			t.Errorf("pod %s not Ready: %+v", p.Name, p.Status.Conditions)
		}
		if id := p.Status.ContainerStatuses[0].ImageID; !strings.HasSuffix(id, platform.ImageDigest) {
			t.Errorf("pod %s runs image %s, want the pushed %s", p.Name, id, platform.ImageDigest)
		}
	}

	leader := e.leader(t, "")
	t.Logf("leader: %s", leader)
	var follower string
	for _, p := range pods {
		if p.Name != leader {
			follower = p.Name
		}
	}
	// The node is cordoned first, as in a drain: the leader's replacement
	// cannot start, so the replica already running must take over.
	e.setUnschedulable(t, true)
	deleted := time.Now()
	if err := e.admin.Delete(e.ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: platform.Namespace, Name: leader}}); err != nil {
		t.Fatal(err)
	}
	if got := e.leader(t, leader); got != follower {
		t.Errorf("after deleting leader %s, %s leads; want the other replica %s", leader, got, follower)
	}
	t.Logf("%s took over %.1fs after its leader's pod was deleted", follower, time.Since(deleted).Seconds())
	e.setUnschedulable(t, false)

	if _, err := install.Apply(e.ctx, e.admin, examples.Examples, "plans/*.yaml"); err != nil {
		t.Fatal(err)
	}
	if _, err := install.Apply(e.ctx, e.admin, examples.Examples, "tenants/globex.yaml"); err != nil {
		t.Fatal(err)
	}
	tenant := &v1alpha1.Tenant{}
	testutil.Eventually(t, 2*time.Minute, func() error {
		if err := e.admin.Get(e.ctx, client.ObjectKey{Name: "globex"}, tenant); err != nil {
			return err
		}
		if tenant.Status.Phase != v1alpha1.PhaseReady {
			return fmt.Errorf("tenant globex is %q: %+v", tenant.Status.Phase, tenant.Status.Conditions)
		}
		return nil
	})
	t.Logf("tenant globex Ready (onboarded in %s by the in-cluster operator)", tenant.Status.OnboardingDuration.Duration)
}

func (e *env) operatorPods(t *testing.T) []corev1.Pod {
	t.Helper()
	var pods corev1.PodList
	if err := e.admin.List(e.ctx, &pods, client.InNamespace(e.platform.Namespace),
		client.MatchingLabels{"app.kubernetes.io/name": "tenantry", "app.kubernetes.io/component": "operator"}); err != nil {
		t.Fatal(err)
	}
	return pods.Items
}

// leader waits until the Lease names a holder other than not, and returns
// the holder's pod name (controller-runtime's identity is the pod's
// hostname, then "_" and a UUID).
func (e *env) leader(t *testing.T, not string) string {
	t.Helper()
	var holder string
	testutil.Eventually(t, 90*time.Second, func() error {
		var lease coordinationv1.Lease
		if err := e.admin.Get(e.ctx, client.ObjectKey{Namespace: e.platform.Namespace, Name: operatorLease}, &lease); err != nil {
			return err
		}
		if lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity == "" {
			return fmt.Errorf("lease %s has no holder", operatorLease)
		}
		holder, _, _ = strings.Cut(*lease.Spec.HolderIdentity, "_")
		if holder == not {
			return fmt.Errorf("lease %s still held by %s", operatorLease, not)
		}
		return nil
	})
	return holder
}

// setUnschedulable cordons or uncordons the real node.
func (e *env) setUnschedulable(t *testing.T, on bool) {
	t.Helper()
	node := &corev1.Node{}
	if err := e.admin.Get(e.ctx, client.ObjectKey{Name: e.cluster.RealNodeName()}, node); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(node.DeepCopy())
	node.Spec.Unschedulable = on
	if err := e.admin.Patch(e.ctx, node, patch); err != nil {
		t.Fatal(err)
	}
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// Package testutil holds the polling and assertion helpers the tests on the
// local control plane share.
package testutil

import (
	"flag"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tenantry/tenantry/internal/localcluster"
)

// ShortMode parses the test flags and reports -short, for a TestMain to
// decide before it starts a cluster: the fast tier (`go test -short`,
// `make test-unit`) runs only the tests that need no control plane.
func ShortMode() bool {
	flag.Parse()
	return testing.Short()
}

// NeedsCluster skips t in the fast tier: it needs the local control plane
// its package's TestMain starts only without -short.
func NeedsCluster(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs the local control plane: run without -short (make test)")
	}
}

// NeedsRealNode skips t in the fast tier and on a host that cannot run the
// local cluster's real node (the skip names what it lacks), and returns
// the bin/ directory that holds the node's binaries.
func NeedsRealNode(t testing.TB) (binDir string) {
	t.Helper()
	NeedsCluster(t)
	binDir, err := localcluster.DefaultBinDir()
	if err != nil {
		t.Fatal(err)
	}
	if err := localcluster.CheckRealNodeHost(binDir); err != nil {
		t.Skipf("no real node on this host: %v", err)
	}
	return binDir
}

// Eventually polls check until it returns nil, failing the test with the
// last error when timeout passes.
func Eventually(t testing.TB, timeout time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still failing after %s: %v", timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// WantRefusal fails the test unless err is a refusal that is(err) accepts
// and whose message holds every fragment.
func WantRefusal(t testing.TB, err error, is func(error) bool, fragments ...string) {
	t.Helper()
	if err == nil {
		t.Fatal("request succeeded; want it refused")
	}
	if !is(err) {
		t.Fatalf("refused with the wrong status: %v", err)
	}
	for _, f := range fragments {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("refusal %q does not mention %q", err.Error(), f)
		}
	}
}

// UserClient is a client of cluster authenticated with a client certificate
// for user in groups, as a real tenant user is.
func UserClient(t testing.TB, cluster *localcluster.Cluster, scheme *runtime.Scheme, user string, groups ...string) client.Client {
	t.Helper()
	cfg, err := cluster.UserConfig(user, groups...)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// RestrictedPod passes Pod Security "restricted".
func RestrictedPod(name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       RestrictedPodSpec(),
	}
}

// RestrictedPodSpec runs as non-root with no privileges, as Pod Security
// "restricted" requires, and always pulls its image, as the guardrails do.
func RestrictedPodSpec() corev1.PodSpec {
	return corev1.PodSpec{
		SecurityContext: &corev1.PodSecurityContext{
			RunAsNonRoot:   ptr.To(true),
			RunAsUser:      ptr.To[int64](65532),
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
		Containers: []corev1.Container{{
			Name:  "app",
			Image: "registry.k8s.io/pause:3.10",
			// The guardrails require it: a node's cached copy of a private
			// image must not serve a tenant that has no pull credentials.
			ImagePullPolicy: corev1.PullAlways,
			SecurityContext: &corev1.SecurityContext{
				AllowPrivilegeEscalation: ptr.To(false),
				Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			},
		}},
	}
}

// Deployment runs replicas of a restricted pod labelled app=name.
func Deployment(name string, replicas int32) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       RestrictedPodSpec(),
			},
		},
	}
}

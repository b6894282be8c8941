package localcluster_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/tenantry/tenantry/internal/localcluster"
	"github.com/tenantry/tenantry/internal/testutil"
)

// The package shares one control plane, started once; each test works in
// namespaces of its own so tests can run in parallel.
var (
	cluster *localcluster.Cluster
	admin   kubernetes.Interface
)

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	if os.Getenv(panicHelperEnv) != "" {
		return startThenPanic()
	}
	if testutil.ShortMode() {
		return m.Run()
	}
	var err error
	cluster, err = localcluster.Start(context.Background(), localcluster.Options{Progress: os.Stderr})
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting the local control plane:", err)
		return 1
	}
	defer func() {
		if err := cluster.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping the local control plane:", err)
		}
	}()
	admin = kubernetes.NewForConfigOrDie(cluster.Config)
	code := m.Run()
	if code != 0 {
		cluster.DumpLogs(os.Stderr, 40)
	}
	return code
}

func TestPodSecurityRestrictedRefusesPrivilegedPod(t *testing.T) {
	testutil.NeedsCluster(t)
	t.Parallel()
	ns := newNamespace(t, "psa", map[string]string{"pod-security.kubernetes.io/enforce": "restricted"})
	alice := userClient(t, "alice", "acme-admins")
	bindRole(t, ns, "alice-admin", "admin", rbacv1.Subject{Kind: rbacv1.UserKind, Name: "alice"})

	privileged := testutil.RestrictedPod("privileged")
	privileged.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: ptr.To(true)}
	_, err := alice.CoreV1().Pods(ns).Create(t.Context(), privileged, metav1.CreateOptions{})
	testutil.WantRefusal(t, err, apierrors.IsForbidden, `violates PodSecurity "restricted:latest"`, `privileged (container "app" must not set securityContext.privileged=true)`)

	if _, err := alice.CoreV1().Pods(ns).Create(t.Context(), testutil.RestrictedPod("compliant"), metav1.CreateOptions{}); err != nil {
		t.Fatalf("compliant pod refused: %v", err)
	}
}

func TestResourceQuotaRefusesPodOverLimit(t *testing.T) {
	testutil.NeedsCluster(t)
	t.Parallel()
	ns := newNamespace(t, "quota", nil)
	quota := &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: "pods"},
		Spec:       corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("1")}},
	}
	if _, err := admin.CoreV1().ResourceQuotas(ns).Create(t.Context(), quota, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Quota admission refuses everything until the quota controller has
	// filled in status.hard; wait for that, as a real client would see it.
	testutil.Eventually(t, 30*time.Second, func() error {
		q, err := admin.CoreV1().ResourceQuotas(ns).Get(t.Context(), "pods", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if q.Status.Hard.Pods().IsZero() {
			return errors.New("quota status not computed yet")
		}
		return nil
	})
	if _, err := admin.CoreV1().Pods(ns).Create(t.Context(), testutil.RestrictedPod("first"), metav1.CreateOptions{}); err != nil {
		t.Fatalf("first pod refused: %v", err)
	}
	_, err := admin.CoreV1().Pods(ns).Create(t.Context(), testutil.RestrictedPod("second"), metav1.CreateOptions{})
	testutil.WantRefusal(t, err, apierrors.IsForbidden, "exceeded quota: pods", "limited: pods=1")
}

func TestLimitRangeDefaultsAndCapsContainers(t *testing.T) {
	testutil.NeedsCluster(t)
	t.Parallel()
	ns := newNamespace(t, "limits", nil)
	ctx := t.Context()
	limits := &corev1.LimitRange{
		ObjectMeta: metav1.ObjectMeta{Name: "containers"},
		Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
			Type:           corev1.LimitTypeContainer,
			Default:        corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("256Mi")},
			DefaultRequest: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
			Max:            corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")},
		}}},
	}
	if _, err := admin.CoreV1().LimitRanges(ns).Create(ctx, limits, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	pod, err := admin.CoreV1().Pods(ns).Create(ctx, testutil.RestrictedPod("defaulted"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := pod.Spec.Containers[0].Resources
	if got.Limits.Cpu().String() != "500m" || got.Requests.Memory().String() != "128Mi" {
		t.Errorf("LimitRanger did not default the container: limits %v, requests %v", got.Limits, got.Requests)
	}

	greedy := testutil.RestrictedPod("greedy")
	greedy.Spec.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}
	_, err = admin.CoreV1().Pods(ns).Create(ctx, greedy, metav1.CreateOptions{})
	testutil.WantRefusal(t, err, apierrors.IsForbidden, "maximum cpu usage per Container is 1, but limit is 2")
}

// TestServiceAccountTokensAuthenticate proves the service-account signing
// keys: a TokenRequest token authenticates as the ServiceAccount, and the
// token controller fills a legacy token Secret.
func TestServiceAccountTokensAuthenticate(t *testing.T) {
	testutil.NeedsCluster(t)
	t.Parallel()
	ns := newNamespace(t, "tokens", nil)
	ctx := t.Context()
	token, err := admin.CoreV1().ServiceAccounts(ns).CreateToken(ctx, "default", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := rest.AnonymousClientConfig(cluster.Config)
	cfg.BearerToken = token.Status.Token
	review, err := kubernetes.NewForConfigOrDie(cfg).AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := "system:serviceaccount:" + ns + ":default"; review.Status.UserInfo.Username != want {
		t.Errorf("token authenticates as %q, want %q", review.Status.UserInfo.Username, want)
	}

	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "legacy-token", Annotations: map[string]string{corev1.ServiceAccountNameKey: "default"}},
		Type:       corev1.SecretTypeServiceAccountToken,
	}
	if _, err := admin.CoreV1().Secrets(ns).Create(ctx, secret, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 30*time.Second, func() error {
		s, err := admin.CoreV1().Secrets(ns).Get(ctx, "legacy-token", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if len(s.Data[corev1.ServiceAccountTokenKey]) == 0 {
			return errors.New("token controller has not filled the Secret yet")
		}
		return nil
	})
}

func TestNamespaceDeletionRemovesEverything(t *testing.T) {
	testutil.NeedsCluster(t)
	t.Parallel()
	ns := newNamespace(t, "deletion", nil)
	ctx := t.Context()
	if _, err := admin.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "settings"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.AppsV1().Deployments(ns).Create(ctx, testutil.Deployment("web", 2), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitAvailable(t, ns, "web", 2)

	if err := admin.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// The namespace controller empties the namespace (the garbage collector
	// removes the ReplicaSet's pods, kwok confirms their deletion) and only
	// then removes it.
	testutil.Eventually(t, 90*time.Second, func() error {
		_, err := admin.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("namespace %s still there (err=%v)", ns, err)
	})
}

func TestGarbageCollectorRemovesOrphanedReplicaSets(t *testing.T) {
	testutil.NeedsCluster(t)
	t.Parallel()
	ns := newNamespace(t, "gc", nil)
	ctx := t.Context()
	if _, err := admin.AppsV1().Deployments(ns).Create(ctx, testutil.Deployment("web", 1), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitAvailable(t, ns, "web", 1)
	if err := admin.AppsV1().Deployments(ns).Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 60*time.Second, func() error {
		rs, err := admin.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		pods, err := admin.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		if n := len(rs.Items) + len(pods.Items); n > 0 {
			return fmt.Errorf("%d ReplicaSets and %d pods left", len(rs.Items), len(pods.Items))
		}
		return nil
	})
}

// TestDeploymentStaysAvailableOnKwokNodes proves the node leases: without
// them the node lifecycle controller marks kwok Nodes NotReady after its
// grace period (~50 s) and their pods lose readiness.
func TestDeploymentStaysAvailableOnKwokNodes(t *testing.T) {
	testutil.NeedsCluster(t)
	t.Parallel()
	ns := newNamespace(t, "available", nil)
	ctx := t.Context()
	if _, err := admin.AppsV1().Deployments(ns).Create(ctx, testutil.Deployment("web", 3), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitAvailable(t, ns, "web", 3)

	pods, err := admin.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if !strings.HasPrefix(p.Spec.NodeName, "kwok-node-") || p.Status.Phase != corev1.PodRunning {
			t.Errorf("pod %s: node %q phase %s; want Running on a kwok node", p.Name, p.Spec.NodeName, p.Status.Phase)
		}
	}

	// Watch availability for longer than the node monitor grace period; any
	// dip fails the test at once.
	deadline := time.Now().Add(70 * time.Second)
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for time.Now().Before(deadline) {
		<-tick.C
		d, err := admin.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if d.Status.AvailableReplicas != 3 {
			t.Fatalf("available replicas dropped to %d after %s", d.Status.AvailableReplicas, time.Until(deadline))
		}
	}
	nodes, err := admin.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes.Items {
		if !localcluster.NodeReady(&n) {
			t.Errorf("node %s is not Ready after 70 s", n.Name)
		}
	}
}

func TestRBACGatesCertificateUsers(t *testing.T) {
	testutil.NeedsCluster(t)
	t.Parallel()
	ns := newNamespace(t, "rbac", nil)
	bob := userClient(t, "bob", "acme-developers")
	ctx := t.Context()

	_, err := bob.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	testutil.WantRefusal(t, err, apierrors.IsForbidden, `User "bob" cannot list resource "pods"`)

	bindRole(t, ns, "developers-view", "view", rbacv1.Subject{Kind: rbacv1.GroupKind, Name: "acme-developers"})
	testutil.Eventually(t, 10*time.Second, func() error {
		_, err := bob.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		return err
	})
	// The binding is namespaced: the rest of the cluster stays closed.
	_, err = bob.CoreV1().Pods(metav1.NamespaceSystem).List(ctx, metav1.ListOptions{})
	testutil.WantRefusal(t, err, apierrors.IsForbidden, `cannot list resource "pods"`, `in the namespace "kube-system"`)
}

// TestTwoClustersSideBySide starts a second, node-less control plane next to
// the shared one and checks that Stop leaves none of its processes behind.
func TestTwoClustersSideBySide(t *testing.T) {
	testutil.NeedsCluster(t)
	t.Parallel()
	second, err := localcluster.Start(t.Context(), localcluster.Options{Nodes: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = second.Stop() })
	if second.Config.Host == cluster.Config.Host {
		t.Fatalf("both clusters serve on %s", second.Config.Host)
	}
	client := kubernetes.NewForConfigOrDie(second.Config)
	if _, err := client.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "only-in-second"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CoreV1().Namespaces().Get(t.Context(), "only-in-second", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("the shared cluster sees the second cluster's namespace (err=%v)", err)
	}

	pids := second.PIDs()
	if len(pids) != 5 { // etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok
		t.Fatalf("second cluster runs %d processes, want 5", len(pids))
	}
	if err := second.Stop(); err != nil {
		t.Fatal(err)
	}
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("process %d still runs after Stop", pid)
		}
	}
	if _, err := admin.CoreV1().Namespaces().Get(t.Context(), metav1.NamespaceDefault, metav1.GetOptions{}); err != nil {
		t.Fatalf("the shared cluster stopped answering: %v", err)
	}
}

// panicHelperEnv makes the test binary a helper that starts a cluster and
// panics, for TestPanicLeavesNoProcessBehind.
const panicHelperEnv = "LOCALCLUSTER_PANIC_HELPER"

func startThenPanic() int {
	c, err := localcluster.Start(context.Background(), localcluster.Options{Nodes: -1})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(c.DataDir)
	for _, pid := range c.PIDs() {
		fmt.Println(pid)
	}
	panic("a test panicked without stopping its cluster")
}

// TestPanicLeavesNoProcessBehind runs a process that starts a cluster and
// panics before Stop: the kernel must end every component with it.
func TestPanicLeavesNoProcessBehind(t *testing.T) {
	testutil.NeedsCluster(t)
	t.Parallel()
	helper := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^$")
	helper.Env = append(os.Environ(), panicHelperEnv+"=1")
	out, err := helper.Output()
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("helper did not fail as planned: %v\n%s", err, out)
	}
	lines := strings.Fields(string(out))
	if len(lines) != 6 {
		t.Fatalf("helper printed %q, want its data dir and 5 PIDs; stderr:\n%s", lines, exit.Stderr)
	}
	t.Cleanup(func() { os.RemoveAll(lines[0]) })
	testutil.Eventually(t, 10*time.Second, func() error {
		for _, pid := range lines[1:] {
			n, err := strconv.Atoi(pid)
			if err != nil {
				return err
			}
			if alive(n) {
				return fmt.Errorf("process %d outlived the panicking test", n)
			}
		}
		return nil
	})
}

// alive reports whether pid is a live process. A zombie waiting for its new
// parent to reap it counts as ended.
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name: "pid (comm) S ...".
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	return len(fields) > 0 && fields[0] != "Z"
}

// newNamespace creates a namespace with a unique name and waits for its
// default ServiceAccount, without which pod creation is refused.
func newNamespace(t *testing.T, prefix string, labels map[string]string) string {
	t.Helper()
	ns, err := admin.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-", Labels: labels},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := cluster.WaitForServiceAccount(t.Context(), ns.Name); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

func userClient(t *testing.T, user string, groups ...string) kubernetes.Interface {
	t.Helper()
	cfg, err := cluster.UserConfig(user, groups...)
	if err != nil {
		t.Fatal(err)
	}
	return kubernetes.NewForConfigOrDie(cfg)
}

func bindRole(t *testing.T, ns, name, clusterRole string, subject rbacv1.Subject) {
	t.Helper()
	rb := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: clusterRole},
		Subjects:   []rbacv1.Subject{subject},
	}
	if _, err := admin.RbacV1().RoleBindings(ns).Create(t.Context(), rb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func waitAvailable(t *testing.T, ns, name string, replicas int32) {
	t.Helper()
	testutil.Eventually(t, 60*time.Second, func() error {
		d, err := admin.AppsV1().Deployments(ns).Get(t.Context(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if d.Status.AvailableReplicas != replicas {
			return fmt.Errorf("deployment %s/%s: %d of %d replicas available", ns, name, d.Status.AvailableReplicas, replicas)
		}
		return nil
	})
}

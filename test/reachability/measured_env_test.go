package reachability

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
	utilexec "k8s.io/client-go/util/exec"
	"k8s.io/utils/ptr"

	"github.com/tenantry/tenantry/internal/images"
	"github.com/tenantry/tenantry/internal/localcluster"
	"github.com/tenantry/tenantry/internal/render"
	"github.com/tenantry/tenantry/internal/testutil"
)

// measuredEnv is the cluster of TestMeasuredMatrix and the admin's client.
type measuredEnv struct {
	t       *testing.T
	ctx     context.Context
	cluster *localcluster.Cluster
	cfg     *rest.Config
	cs      kubernetes.Interface
	image   string
}

func newMeasuredEnv(t *testing.T, ctx context.Context, cluster *localcluster.Cluster, demoApp string) *measuredEnv {
	t.Helper()
	cs, err := kubernetes.NewForConfig(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cluster.PushBinaryImage(ctx, "demo-app:reach", demoApp, images.Options{Title: "demo-app", Version: "reach"}); err != nil {
		t.Fatal(err)
	}
	return &measuredEnv{t: t, ctx: ctx, cluster: cluster, cfg: cluster.Config, cs: cs, image: localcluster.LocalRegistry + "/demo-app:reach"}
}

// nodeIP is the real node's InternalIP, where kubelet and the API server
// listen.
func (e *measuredEnv) nodeIP() string {
	e.t.Helper()
	node, err := e.cs.CoreV1().Nodes().Get(e.ctx, e.cluster.RealNodeName(), metav1.GetOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, a := range node.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			return a.Address
		}
	}
	e.t.Fatalf("node %s has no InternalIP: %v", node.Name, node.Status.Addresses)
	return ""
}

// applyTenants creates what render.Tenant produces that decides who
// reaches whom, the tenants' Namespaces (their labels are what the
// policies select) and NetworkPolicies, unchanged, and the platform's
// namespaces. The rest of a tenant (quota, RBAC, guardrail annotations) has
// no say over packets. It returns how many NetworkPolicies it created.
func (e *measuredEnv) applyTenants(s scenario) int {
	e.t.Helper()
	core, netv1 := e.cs.CoreV1(), e.cs.NetworkingV1()
	policies := 0
	for _, tp := range s.tenants {
		objs, err := render.Tenant(tp.tenant, tp.plan, s.opts)
		if err != nil {
			e.t.Fatalf("render tenant %s: %v", tp.tenant.Name, err)
		}
		for _, obj := range objs {
			switch o := obj.(type) {
			case *corev1.Namespace:
				_, err = core.Namespaces().Create(e.ctx, o, metav1.CreateOptions{})
			case *networkingv1.NetworkPolicy:
				_, err = netv1.NetworkPolicies(o.Namespace).Create(e.ctx, o, metav1.CreateOptions{})
				policies++
			default:
				continue
			}
			if err != nil {
				e.t.Fatalf("creating %s %s/%s of tenant %s: %v", obj.GetObjectKind().GroupVersionKind().Kind, obj.GetNamespace(), obj.GetName(), tp.tenant.Name, err)
			}
		}
	}
	for _, p := range s.platform {
		if p.namespace == metav1.NamespaceSystem {
			continue
		}
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: p.namespace, Labels: p.namespaceLabels}}
		if _, err := core.Namespaces().Create(e.ctx, ns, metav1.CreateOptions{}); err != nil {
			e.t.Fatalf("creating namespace %s: %v", p.namespace, err)
		}
	}
	return policies
}

// runPods runs demo-app as every pod endpoint of the prediction (named and
// labelled as it says), waits until all are Ready, and returns each pod
// endpoint's address by name, CoreDNS's (the DNS endpoint) included.
func (e *measuredEnv) runPods(endpoints []endpoint) map[string]string {
	e.t.Helper()
	var pods []*corev1.Pod
	ips := map[string]string{}
	for _, ep := range endpoints {
		if ep.outside() || ep.role == roleDNS {
			continue
		}
		pod := e.demoAppPod(ep.name, ep.peer.Internal.Namespace, ep.peer.Internal.PodLabels)
		if _, err := e.cs.CoreV1().Pods(pod.Namespace).Create(e.ctx, pod, metav1.CreateOptions{}); err != nil {
			e.t.Fatalf("creating pod %s/%s: %v", pod.Namespace, pod.Name, err)
		}
		pods = append(pods, pod)
	}
	start := time.Now()
	testutil.Eventually(e.t, 3*time.Minute, func() error {
		for _, p := range pods {
			got, err := e.cs.CoreV1().Pods(p.Namespace).Get(e.ctx, p.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if !podReady(got) {
				return fmt.Errorf("pod %s/%s is %s: %+v", p.Namespace, p.Name, got.Status.Phase, got.Status.ContainerStatuses)
			}
			ips[p.Name] = got.Status.PodIP
		}
		return nil
	})
	e.t.Logf("%d demo-app pods Ready in %.1fs", len(pods), time.Since(start).Seconds())
	dns, err := e.cs.CoreV1().Pods(metav1.NamespaceSystem).List(e.ctx, metav1.ListOptions{LabelSelector: "k8s-app=kube-dns"})
	if err != nil || len(dns.Items) != 1 {
		e.t.Fatalf("want the one CoreDNS pod in kube-system: %v (%d found)", err, len(dns.Items))
	}
	for _, ep := range endpoints {
		if ep.role == roleDNS {
			ips[ep.name] = dns.Items[0].Status.PodIP
		}
	}
	return ips
}

func (e *measuredEnv) demoAppPod(name, namespace string, labels map[string]string) *corev1.Pod {
	spec := testutil.RestrictedPodSpec()
	spec.TerminationGracePeriodSeconds = ptr.To[int64](1)
	spec.NodeName = e.cluster.RealNodeName()
	c := &spec.Containers[0]
	c.Image = e.image
	c.Env = []corev1.EnvVar{{Name: "TENANT", Value: namespace}, {Name: "SHUTDOWN_DELAY", Value: "0s"}}
	c.Ports = []corev1.ContainerPort{
		{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP},
		{Name: "echo", ContainerPort: 8080, Protocol: corev1.ProtocolUDP},
	}
	c.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{
		HTTPGet: &corev1.HTTPGetAction{Path: "/readyz", Port: intstr.FromString("http")},
	}, PeriodSeconds: 1}
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: labels}, Spec: spec}
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// waitForPolicies waits until kube-router has written a sync that knows
// every policy and every pod: a chain per NetworkPolicy (KUBE-NWPLCY-
// and a hash, besides its three fixed chains) and a jump to a pod firewall
// chain (KUBE-POD-FW-) for every given pod address (the tenants' pods,
// which the policies select). Policies were
// created before the pods, so a sync that has the pods has them too.
func (e *measuredEnv) waitForPolicies(podIPs map[string]string, policies int) {
	e.t.Helper()
	fixed := map[string]bool{"KUBE-NWPLCY-DEFAULT": true, "KUBE-NWPLCY-COMMON": true, "KUBE-NWPLCY-TAIL": true}
	start := time.Now()
	testutil.Eventually(e.t, time.Minute, func() error {
		out, err := exec.Command("iptables-save", "-t", "filter").Output()
		if err != nil {
			return fmt.Errorf("iptables-save: %w", err)
		}
		saved := string(out)
		chains := 0
		for _, line := range strings.Split(saved, "\n") {
			name, _, _ := strings.Cut(strings.TrimPrefix(line, ":"), " ")
			if strings.HasPrefix(line, ":KUBE-NWPLCY-") && !fixed[name] {
				chains++
			}
		}
		if chains < policies {
			return fmt.Errorf("kube-router has written %d of %d NetworkPolicy chains", chains, policies)
		}
		for name, ip := range podIPs {
			jump := slices.ContainsFunc(strings.Split(saved, "\n"), func(line string) bool {
				return strings.Contains(line, " -s "+ip+"/32 ") && strings.Contains(line, " -j KUBE-POD-FW-")
			})
			if !jump {
				return fmt.Errorf("no jump to a pod firewall chain yet for pod %s (%s)", name, ip)
			}
		}
		return nil
	})
	e.t.Logf("kube-router's chains in place %.1fs after the pods were Ready", time.Since(start).Seconds())
}

// execProbe runs `/app probe ARGS...` in the source pod (demo-app's image
// has it at /app) and returns its exit code and output.
func (e *measuredEnv) execProbe(src source, args []string) (int, string, error) {
	req := e.cs.CoreV1().RESTClient().Post().Resource("pods").Namespace(src.namespace).Name(src.pod).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{
			Container: "app", Command: append([]string{"/app", "probe"}, args...), Stdout: true, Stderr: true,
		}, scheme.ParameterCodec)
	executor, err := remotecommand.NewSPDYExecutor(e.cfg, "POST", req.URL())
	if err != nil {
		return 0, "", err
	}
	ctx, cancel := context.WithTimeout(e.ctx, 30*time.Second)
	defer cancel()
	// One buffer each: the streams are copied by goroutines of their own.
	var stdout, stderr bytes.Buffer
	err = executor.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: &stdout, Stderr: &stderr})
	out := strings.TrimSpace(stdout.String() + stderr.String())
	var exitErr utilexec.ExitError
	if errors.As(err, &exitErr) {
		return exitErr.ExitStatus(), out, nil
	}
	if err != nil {
		return 0, out, fmt.Errorf("exec in %s/%s: %w", src.namespace, src.pod, err)
	}
	return 0, out, nil
}

// checkDNSResolves resolves the API server's Service name from every
// tenant pod through its own resolver (resolv.conf, search domains and the
// kube-dns Service): DNS works under the tenant policies.
func (e *measuredEnv) checkDNSResolves(sources []source) {
	e.t.Helper()
	for _, s := range sources {
		if s.tenant == "" {
			continue
		}
		name := "kubernetes.default.svc." + localcluster.ClusterDomain
		code, out, err := e.execProbe(s, []string{"dns", name, "--timeout", "5s"})
		if err != nil || code != 0 || !strings.Contains(out, "resolved to") {
			e.t.Errorf("%s cannot resolve %s through its resolver: exit %d, %v: %s", s.name, name, code, err, out)
			continue
		}
		e.t.Logf("%s: %s", s.name, out)
	}
}

// checkPodsSteady fails the test if a source pod restarted or lost
// readiness while the probes ran: a probe to a restarting pod times out, and
// would read as a refusal.
func (e *measuredEnv) checkPodsSteady(sources []source) {
	e.t.Helper()
	for _, s := range sources {
		p, err := e.cs.CoreV1().Pods(s.namespace).Get(e.ctx, s.pod, metav1.GetOptions{})
		if err != nil {
			e.t.Errorf("pod %s/%s: %v", s.namespace, s.pod, err)
			continue
		}
		if p.Status.Reason == "Evicted" {
			// The kubelet's eviction thresholds are a share of the host's
			// disk (localcluster's kubelet config); a nearly full disk
			// evicts pods mid-test.
			e.t.Errorf("pod %s/%s was evicted during the probes (its cells are void): %s", s.namespace, s.pod, p.Status.Message)
			continue
		}
		for _, c := range p.Status.ContainerStatuses {
			if c.RestartCount > 0 || !c.Ready {
				e.t.Errorf("pod %s/%s restarted %d times or is not ready during the probes (its cells are void): last state %+v, state %+v",
					s.namespace, s.pod, c.RestartCount, c.LastTerminationState, c.State)
			}
		}
	}
}

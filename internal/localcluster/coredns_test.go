package localcluster

import (
	"fmt"
	"go/parser"
	"go/token"
	"net"
	"path"
	"slices"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// These tests need no cluster: they read the objects installCoreDNS
// creates. (The package's TestMain still starts one first.)

func TestCoreDNSPodPassesPodSecurityRestricted(t *testing.T) {
	spec := coreDNSObjects("registry.example/coredns:1").deployment.Spec.Template.Spec
	if v := restrictedViolations(spec); len(v) > 0 {
		t.Errorf("CoreDNS's pod violates Pod Security restricted:\n%s", strings.Join(v, "\n"))
	}
	// Port 53 is bound thanks to the sysctl, not a capability.
	if !slices.Contains(spec.SecurityContext.Sysctls, corev1.Sysctl{Name: "net.ipv4.ip_unprivileged_port_start", Value: "0"}) {
		t.Errorf("sysctls = %v, want net.ipv4.ip_unprivileged_port_start=0", spec.SecurityContext.Sysctls)
	}
	c := spec.Containers[0]
	if c.SecurityContext.Capabilities.Add != nil || c.SecurityContext.ReadOnlyRootFilesystem == nil || !*c.SecurityContext.ReadOnlyRootFilesystem {
		t.Errorf("container securityContext = %+v, want no added capability and a read-only root", c.SecurityContext)
	}
}

// restrictedViolations checks a pod spec against the Pod Security
// "restricted" profile (baseline included), field by field, as
// k8s.io/pod-security-admission/policy does; that module is not a
// dependency of this one. It says what each failed check found.
func restrictedViolations(spec corev1.PodSpec) []string {
	var out []string
	fail := func(format string, args ...any) { out = append(out, "  "+fmt.Sprintf(format, args...)) }
	if spec.HostNetwork || spec.HostPID || spec.HostIPC {
		fail("host namespaces")
	}
	psc := spec.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	for _, v := range spec.Volumes {
		if v.ConfigMap == nil && v.Secret == nil && v.EmptyDir == nil && v.Projected == nil && v.DownwardAPI == nil &&
			v.PersistentVolumeClaim == nil && v.CSI == nil && v.Ephemeral == nil {
			fail("volume %s: type not allowed", v.Name)
		}
	}
	// The safe sysctls of Pod Security v1.22; later versions only add.
	safe := []string{"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start", "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range"}
	for _, s := range psc.Sysctls {
		if !slices.Contains(safe, s.Name) {
			fail("sysctl %s not in the safe set", s.Name)
		}
	}
	if psc.RunAsUser != nil && *psc.RunAsUser == 0 {
		fail("pod runAsUser 0")
	}
	for _, c := range append(slices.Clone(spec.InitContainers), spec.Containers...) {
		sc := c.SecurityContext
		if sc == nil {
			sc = &corev1.SecurityContext{}
		}
		if sc.Privileged != nil && *sc.Privileged {
			fail("container %s privileged", c.Name)
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			fail("container %s: allowPrivilegeEscalation not false", c.Name)
		}
		if caps := sc.Capabilities; caps == nil || !slices.Contains(caps.Drop, "ALL") {
			fail("container %s: capabilities do not drop ALL", c.Name)
		} else if slices.ContainsFunc(caps.Add, func(c corev1.Capability) bool { return c != "NET_BIND_SERVICE" }) {
			fail("container %s adds capabilities %v", c.Name, caps.Add)
		}
		if nonRoot := sc.RunAsNonRoot; (nonRoot == nil && (psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot)) || (nonRoot != nil && !*nonRoot) {
			fail("container %s: runAsNonRoot not true", c.Name)
		}
		if sc.RunAsUser != nil && *sc.RunAsUser == 0 {
			fail("container %s: runAsUser 0", c.Name)
		}
		seccomp := psc.SeccompProfile
		if sc.SeccompProfile != nil {
			seccomp = sc.SeccompProfile
		}
		if seccomp == nil || (seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault && seccomp.Type != corev1.SeccompProfileTypeLocalhost) {
			fail("container %s: seccompProfile not RuntimeDefault or Localhost", c.Name)
		}
		for _, p := range c.Ports {
			if p.HostPort != 0 {
				fail("container %s: hostPort %d", c.Name, p.HostPort)
			}
		}
	}
	return out
}

func TestCoreDNSServiceIsClusterDNS(t *testing.T) {
	o := coreDNSObjects("registry.example/coredns:1")
	svc := o.service
	if svc.Namespace != metav1.NamespaceSystem || svc.Name != "kube-dns" {
		t.Errorf("Service %s/%s, want kube-system/kube-dns", svc.Namespace, svc.Name)
	}
	_, cidr, err := net.ParseCIDR(serviceCIDR)
	if err != nil {
		t.Fatal(err)
	}
	if ip := net.ParseIP(svc.Spec.ClusterIP); svc.Spec.ClusterIP != ClusterDNSIP || !cidr.Contains(ip) || ip.Equal(kubernetesServiceIP) {
		t.Errorf("clusterIP %s, want ClusterDNSIP %s, in %s and not the kubernetes Service's", svc.Spec.ClusterIP, ClusterDNSIP, serviceCIDR)
	}
	wantLabels := map[string]string{"k8s-app": "kube-dns", "kubernetes.io/name": "CoreDNS"}
	if !labels.Equals(svc.Labels, wantLabels) {
		t.Errorf("Service labels %v, want %v", svc.Labels, wantLabels)
	}
	var ports []string
	for _, p := range svc.Spec.Ports {
		ports = append(ports, p.Name+" "+strconv.Itoa(int(p.Port))+"/"+string(p.Protocol))
	}
	if want := []string{"dns 53/UDP", "dns-tcp 53/TCP", "metrics 9153/TCP"}; !slices.Equal(ports, want) {
		t.Errorf("Service ports %v, want %v", ports, want)
	}

	// The tenants' NetworkPolicies allow DNS to k8s-app=kube-dns pods in
	// kube-system: the pods must carry the label, and the Service and the
	// Deployment must select them by it.
	d := o.deployment
	podLabels := labels.Set(d.Spec.Template.Labels)
	if d.Namespace != metav1.NamespaceSystem || podLabels.Get("k8s-app") != "kube-dns" {
		t.Errorf("pods %s/%v, want kube-system pods labelled k8s-app=kube-dns", d.Namespace, podLabels)
	}
	selector, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		t.Fatal(err)
	}
	if !selector.Matches(podLabels) || !labels.SelectorFromSet(svc.Spec.Selector).Matches(podLabels) {
		t.Errorf("Deployment selector %v or Service selector %v misses the pods %v", selector, svc.Spec.Selector, podLabels)
	}
	if *d.Spec.Replicas != 1 || d.Spec.Template.Spec.PriorityClassName != "system-cluster-critical" || d.Spec.Template.Spec.DNSPolicy != corev1.DNSDefault {
		t.Errorf("Deployment spec: %d replicas, priority class %q, dnsPolicy %s; want 1, system-cluster-critical, Default",
			*d.Spec.Replicas, d.Spec.Template.Spec.PriorityClassName, d.Spec.Template.Spec.DNSPolicy)
	}
}

func TestCoreDNSRBACGrantsOnlyWhatItWatches(t *testing.T) {
	o := coreDNSObjects("registry.example/coredns:1")
	var got []string
	for _, r := range o.clusterRole.Rules {
		for _, res := range r.Resources {
			got = append(got, strings.Join(r.APIGroups, ",")+"/"+res+":"+strings.Join(r.Verbs, ","))
		}
	}
	want := []string{"/services:list,watch", "/namespaces:list,watch", "discovery.k8s.io/endpointslices:list,watch"}
	if !slices.Equal(got, want) {
		t.Errorf("ClusterRole grants %v, want %v", got, want)
	}
	b := o.clusterRoleBinding
	sa := rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: o.serviceAccount.Name, Namespace: o.serviceAccount.Namespace}
	if b.RoleRef.Name != o.clusterRole.Name || !slices.Equal(b.Subjects, []rbacv1.Subject{sa}) {
		t.Errorf("ClusterRoleBinding binds %v to %s, want %v to %s", b.Subjects, b.RoleRef.Name, sa, o.clusterRole.Name)
	}
	if name := o.deployment.Spec.Template.Spec.ServiceAccountName; name != o.serviceAccount.Name {
		t.Errorf("pods run as %s, want the ServiceAccount %s", name, o.serviceAccount.Name)
	}
}

func TestCoreDNSCorefile(t *testing.T) {
	o := coreDNSObjects("registry.example/coredns:1")
	conf := o.configMap.Data["Corefile"]
	if !strings.Contains(conf, "kubernetes "+ClusterDomain+" in-addr.arpa ip6.arpa {") {
		t.Errorf("Corefile does not serve %s with the kubernetes plugin:\n%s", ClusterDomain, conf)
	}
	// The pod reads the Corefile where the ConfigMap is mounted.
	spec := o.deployment.Spec.Template.Spec
	c := spec.Containers[0]
	if spec.Volumes[0].ConfigMap.Name != o.configMap.Name || c.VolumeMounts[0].Name != spec.Volumes[0].Name ||
		!slices.Equal(c.Args, []string{"-conf", path.Join(c.VolumeMounts[0].MountPath, "Corefile")}) {
		t.Errorf("CoreDNS args %v do not name the Corefile of ConfigMap %s", c.Args, o.configMap.Name)
	}

	// bin/coredns links only the plugins tools/coredns/main.go imports; a
	// directive without its plugin stops CoreDNS at start-up on the node.
	linked := linkedCoreDNSPlugins(t)
	for _, d := range corefileDirectives(conf) {
		if !linked[d] {
			t.Errorf("the Corefile uses %s, which tools/coredns/main.go does not link (it links %v)", d, linked)
		}
	}
}

// corefileDirectives are the directives of the Corefile's server blocks.
func corefileDirectives(conf string) []string {
	var out []string
	depth := 0
	for line := range strings.Lines(conf) {
		if fields := strings.Fields(line); depth == 1 && len(fields) > 0 && fields[0] != "}" {
			out = append(out, fields[0])
		}
		depth += strings.Count(line, "{") - strings.Count(line, "}")
	}
	return out
}

// linkedCoreDNSPlugins are the directives of the plugins
// tools/coredns/main.go imports: each package's name, but metrics', which
// registers "prometheus".
func linkedCoreDNSPlugins(t *testing.T) map[string]bool {
	f, err := parser.ParseFile(token.NewFileSet(), "../../tools/coredns/main.go", nil, parser.ImportsOnly)
	if err != nil {
		t.Fatal(err)
	}
	linked := map[string]bool{}
	for _, imp := range f.Imports {
		p, _ := strconv.Unquote(imp.Path.Value)
		dir, name := path.Split(p)
		if dir != "github.com/coredns/coredns/plugin/" {
			continue
		}
		if name == "metrics" {
			name = "prometheus"
		}
		linked[name] = true
	}
	return linked
}

func TestCoreDNSPodsNotReady(t *testing.T) {
	pod := func(name string, status corev1.PodStatus) corev1.Pod {
		return corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: status}
	}
	tests := []struct {
		name string
		pods []corev1.Pod
		want string
	}{
		{"no pods", nil, "no pods yet"},
		{"unschedulable", []corev1.Pod{pod("a", corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{
			Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable", Message: "0/1 nodes are available",
		}}})}, "pod a: not scheduled (Unschedulable: 0/1 nodes are available)"},
		{"image pull", []corev1.Pod{pod("a", corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{{
			Name: "coredns", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff", Message: "not found"}},
		}}})}, "pod a: container coredns waiting (ImagePullBackOff: not found)"},
		{"crashed", []corev1.Pod{pod("a", corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{
			Name: "coredns", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Error", ExitCode: 1}},
		}}})}, "pod a: container coredns terminated (Error, exit code 1)"},
		{"probe failing, two pods", []corev1.Pod{
			pod("a", corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{
				Name: "coredns", RestartCount: 2, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}},
			}}}),
			pod("b", corev1.PodStatus{Phase: corev1.PodPending}),
		}, "pod a: container coredns running, not ready (restarts: 2); pod b: Pending"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := podsNotReady(tt.pods); got != tt.want {
				t.Errorf("podsNotReady = %q, want %q", got, tt.want)
			}
		})
	}
}

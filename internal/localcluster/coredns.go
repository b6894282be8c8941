package localcluster

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// Cluster DNS for the real node: CoreDNS as kubeadm installs it, a
// Deployment in kube-system behind the kube-dns Service, with the labels
// real clusters use. The tenants' NetworkPolicies allow DNS to pods
// labelled k8s-app=kube-dns in kube-system, so on this cluster they are
// exercised exactly as on a production one.

// ClusterDNSIP is the kube-dns Service's address, which kubelet writes into
// every pod's resolv.conf: serviceCIDR's tenth address, as kubeadm picks.
const ClusterDNSIP = "10.0.0.10"

// ClusterDomain is the DNS domain of Services and pods (kubelet's
// --cluster-domain): <service>.<namespace>.svc.cluster.local.
const ClusterDomain = "cluster.local"

const (
	coreDNSName      = "coredns"
	coreDNSNamespace = metav1.NamespaceSystem
	// coreDNSRoleName is the ClusterRole and ClusterRoleBinding kubeadm
	// gives CoreDNS.
	coreDNSRoleName = "system:coredns"
	// coreDNSConfigDir is where the Corefile ConfigMap is mounted.
	coreDNSConfigDir = "/etc/coredns"
)

// kubeDNSLabels select CoreDNS's pods: the label real clusters give them,
// which the tenants' NetworkPolicies allow DNS traffic to.
var kubeDNSLabels = map[string]string{"k8s-app": "kube-dns"}

// corefile serves as kubeadm's does: cluster names from the API server,
// pod names answered from the name itself (pods insecure: no pod watch, so
// no right to read pods), everything else forwarded to the node's
// resolvers (dnsPolicy Default gives the pod the node's resolv.conf).
// health and ready serve the liveness and readiness probes; loop stops
// CoreDNS if its forwarded queries come back to it, rather than letting
// them spin.
const corefile = `.:53 {
    errors
    health {
        lameduck 5s
    }
    ready
    kubernetes ` + ClusterDomain + ` in-addr.arpa ip6.arpa {
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 30
    }
    prometheus :9153
    forward . /etc/resolv.conf
    cache 30
    loop
    reload
    loadbalance
}
`

// coreDNS holds CoreDNS's objects, all in kube-system but the cluster-wide
// role and binding.
type coreDNS struct {
	serviceAccount     *corev1.ServiceAccount
	clusterRole        *rbacv1.ClusterRole
	clusterRoleBinding *rbacv1.ClusterRoleBinding
	configMap          *corev1.ConfigMap
	deployment         *appsv1.Deployment
	service            *corev1.Service
}

// coreDNSObjects returns CoreDNS running image, which must run as
// images.NonRootUID (FromBinary's images do).
func coreDNSObjects(image string) coreDNS {
	meta := metav1.ObjectMeta{Name: coreDNSName, Namespace: coreDNSNamespace}
	// The Service keeps the name and labels of the kube-dns it replaced,
	// as kubeadm's does, with a display name.
	serviceLabels := maps.Clone(kubeDNSLabels)
	serviceLabels["kubernetes.io/name"] = "CoreDNS"
	return coreDNS{
		serviceAccount: &corev1.ServiceAccount{ObjectMeta: meta},
		clusterRole: &rbacv1.ClusterRole{
			ObjectMeta: metav1.ObjectMeta{Name: coreDNSRoleName},
			// What the kubernetes plugin lists and watches with this
			// Corefile: no pods (pods insecure), no ServiceImports (no
			// multicluster zone), no Endpoints (it reads EndpointSlices).
			Rules: []rbacv1.PolicyRule{
				{APIGroups: []string{""}, Resources: []string{"services", "namespaces"}, Verbs: []string{"list", "watch"}},
				{APIGroups: []string{discoveryv1.GroupName}, Resources: []string{"endpointslices"}, Verbs: []string{"list", "watch"}},
			},
		},
		clusterRoleBinding: &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: coreDNSRoleName},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: coreDNSRoleName},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: coreDNSName, Namespace: coreDNSNamespace}},
		},
		configMap: &corev1.ConfigMap{ObjectMeta: meta, Data: map[string]string{"Corefile": corefile}},
		deployment: &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: coreDNSName, Namespace: coreDNSNamespace, Labels: kubeDNSLabels},
			Spec: appsv1.DeploymentSpec{
				Replicas: ptr.To[int32](1),
				Selector: &metav1.LabelSelector{MatchLabels: kubeDNSLabels},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: kubeDNSLabels},
					Spec:       coreDNSPodSpec(image),
				},
			},
		},
		service: &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "kube-dns", Namespace: coreDNSNamespace, Labels: serviceLabels},
			Spec: corev1.ServiceSpec{
				Selector:  kubeDNSLabels,
				ClusterIP: ClusterDNSIP,
				Ports: []corev1.ServicePort{
					{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP},
					{Name: "dns-tcp", Port: 53, Protocol: corev1.ProtocolTCP},
					{Name: "metrics", Port: 9153, Protocol: corev1.ProtocolTCP},
				},
			},
		},
	}
}

// coreDNSPodSpec runs CoreDNS as Pod Security "restricted" requires, which
// kubeadm's manifest does not: it adds NET_BIND_SERVICE to bind port 53 as
// non-root. Here the pod's network namespace lets every user bind any port
// (net.ipv4.ip_unprivileged_port_start=0, a sysctl the kubelet allows to
// every pod), so all capabilities are dropped.
func coreDNSPodSpec(image string) corev1.PodSpec {
	probe := func(path string, port int32) *corev1.Probe {
		return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
			Path: path, Port: intstr.FromInt32(port), Scheme: corev1.URISchemeHTTP,
		}}}
	}
	// The cluster's start waits for the pod to be ready, and the first
	// probe often comes before CoreDNS has synced with the API server:
	// probe again after a second, not after the default ten.
	readiness := probe("/ready", 8181)
	readiness.PeriodSeconds = 1
	liveness := probe("/health", 8080)
	// kubeadm's values: a CoreDNS that is slow to sync with a busy API
	// server is not restarted for it.
	liveness.InitialDelaySeconds, liveness.TimeoutSeconds, liveness.FailureThreshold = 60, 5, 5
	// Port 53 without a capability: the pod's own network namespace lets
	// unprivileged users bind low ports.
	security := restrictedPodSecurity()
	security.Sysctls = []corev1.Sysctl{{Name: "net.ipv4.ip_unprivileged_port_start", Value: "0"}}
	return corev1.PodSpec{
		ServiceAccountName: coreDNSName,
		PriorityClassName:  "system-cluster-critical",
		// The node's resolv.conf, not the cluster's: CoreDNS forwards to it.
		DNSPolicy:       corev1.DNSDefault,
		SecurityContext: security,
		Containers: []corev1.Container{{
			Name:  coreDNSName,
			Image: image,
			Args:  []string{"-conf", coreDNSConfigDir + "/Corefile"},
			Ports: []corev1.ContainerPort{
				{Name: "dns", ContainerPort: 53, Protocol: corev1.ProtocolUDP},
				{Name: "dns-tcp", ContainerPort: 53, Protocol: corev1.ProtocolTCP},
				{Name: "metrics", ContainerPort: 9153, Protocol: corev1.ProtocolTCP},
			},
			Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("70Mi")},
				Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("170Mi")},
			},
			VolumeMounts:    []corev1.VolumeMount{{Name: "config", MountPath: coreDNSConfigDir, ReadOnly: true}},
			ReadinessProbe:  readiness,
			LivenessProbe:   liveness,
			SecurityContext: restrictedContainerSecurity(),
		}},
		Volumes: []corev1.Volume{{
			Name: "config",
			VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: coreDNSName},
			}},
		}},
	}
}

// installCoreDNS creates CoreDNS's objects, running image, and waits until
// its Deployment has an available replica: CoreDNS has synced with the API
// server and answers (its readiness probe is the ready plugin). The cluster
// is new, so every object is created, not applied; on timeout the error
// says what the pods are waiting for.
func (c *Cluster) installCoreDNS(ctx context.Context, image string) error {
	o := coreDNSObjects(image)
	core, rbac := c.client.CoreV1(), c.client.RbacV1()
	// Each create is tried and every failure reported. The Deployment
	// comes last, so its pods find their rights and Corefile in place.
	err := errors.Join(
		createObject(ctx, core.ServiceAccounts(coreDNSNamespace).Create, o.serviceAccount),
		createObject(ctx, rbac.ClusterRoles().Create, o.clusterRole),
		createObject(ctx, rbac.ClusterRoleBindings().Create, o.clusterRoleBinding),
		createObject(ctx, core.ConfigMaps(coreDNSNamespace).Create, o.configMap),
		createObject(ctx, core.Services(coreDNSNamespace).Create, o.service),
		createObject(ctx, c.client.AppsV1().Deployments(coreDNSNamespace).Create, o.deployment),
	)
	if err != nil {
		return fmt.Errorf("installing CoreDNS: %w", err)
	}
	return waitFor(ctx, "CoreDNS (Deployment kube-system/coredns) available", nil, func() error {
		return c.coreDNSAvailable(ctx)
	})
}

// createObject calls a typed client's Create for obj; the API server's error
// names the object.
func createObject[T any](ctx context.Context, createFunc func(context.Context, T, metav1.CreateOptions) (T, error), obj T) error {
	_, err := createFunc(ctx, obj, metav1.CreateOptions{FieldManager: fieldManager})
	return err
}

// coreDNSAvailable returns nil once CoreDNS's Deployment has an available
// replica, else an error that says why each pod is not ready.
func (c *Cluster) coreDNSAvailable(ctx context.Context) error {
	d, err := c.client.AppsV1().Deployments(coreDNSNamespace).Get(ctx, coreDNSName, metav1.GetOptions{})
	if err != nil {
		return err
	}
	if d.Status.AvailableReplicas > 0 {
		return nil
	}
	pods, err := c.client.CoreV1().Pods(coreDNSNamespace).List(ctx, metav1.ListOptions{
		LabelSelector: labels.SelectorFromSet(kubeDNSLabels).String(),
	})
	if err != nil {
		return err
	}
	return fmt.Errorf("no replica available: %s", podsNotReady(pods.Items))
}

// podsNotReady says, for each pod, what keeps it from being ready: not
// scheduled, a container waiting (ImagePullBackOff, CrashLoopBackOff...),
// or a container running but failing its readiness probe.
func podsNotReady(pods []corev1.Pod) string {
	if len(pods) == 0 {
		return "no pods yet"
	}
	var out []string
	for _, p := range pods {
		out = append(out, fmt.Sprintf("pod %s: %s", p.Name, podNotReady(&p)))
	}
	return strings.Join(out, "; ")
}

func podNotReady(p *corev1.Pod) string {
	for _, cond := range p.Status.Conditions {
		if cond.Type == corev1.PodScheduled && cond.Status != corev1.ConditionTrue {
			return fmt.Sprintf("not scheduled (%s: %s)", cond.Reason, cond.Message)
		}
	}
	for _, s := range p.Status.ContainerStatuses {
		switch {
		case s.State.Waiting != nil:
			return fmt.Sprintf("container %s waiting (%s: %s)", s.Name, s.State.Waiting.Reason, s.State.Waiting.Message)
		case s.State.Terminated != nil:
			return fmt.Sprintf("container %s terminated (%s, exit code %d)", s.Name, s.State.Terminated.Reason, s.State.Terminated.ExitCode)
		case !s.Ready:
			return fmt.Sprintf("container %s running, not ready (restarts: %d)", s.Name, s.RestartCount)
		}
	}
	return string(p.Status.Phase)
}

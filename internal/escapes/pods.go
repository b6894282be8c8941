package escapes

import (
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// podEscapes are the pods that would reach the node, run foreign code or
// leave the tenant's nodes: Pod Security "restricted" refuses every
// control a tenant could use to reach the node; guardrail rules 4, 5, 9
// and 12 refuse foreign images, cached images, other nodes and the
// deployer's rights.
func podEscapes(t Target) []Entry {
	psa := func(id, description, control string, mutate func(*corev1.PodSpec)) Entry {
		p := t.pod("psa-"+id, t.Image)
		mutate(&p.Spec)
		return Entry{ID: "pod-security/" + id, Description: description, Try: create(t, p), Want: podSecurity(control)}
	}
	app := func(s *corev1.PodSpec) *corev1.SecurityContext { return s.Containers[0].SecurityContext }
	entries := []Entry{
		psa("privileged", "run a privileged pod", "privileged", func(s *corev1.PodSpec) {
			// The API refuses privileged without privilege escalation.
			app(s).Privileged, app(s).AllowPrivilegeEscalation = ptr.To(true), ptr.To(true)
		}),
		psa("host-network", "create a pod with hostNetwork", "host namespaces", func(s *corev1.PodSpec) { s.HostNetwork = true }),
		psa("host-pid", "create a pod with hostPID", "host namespaces", func(s *corev1.PodSpec) { s.HostPID = true }),
		psa("host-ipc", "create a pod with hostIPC", "host namespaces", func(s *corev1.PodSpec) { s.HostIPC = true }),
		psa("host-path", "mount the node's root with hostPath", "hostPath", func(s *corev1.PodSpec) {
			s.Volumes = []corev1.Volume{{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}}}
		}),
		psa("host-port", "listen on a host port", "hostPort", func(s *corev1.PodSpec) {
			s.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 8080, HostPort: 8080}}
		}),
		psa("added-capability", "add the NET_ADMIN capability", `"NET_ADMIN"`, func(s *corev1.PodSpec) {
			app(s).Capabilities.Add = []corev1.Capability{"NET_ADMIN"}
		}),
		psa("run-as-root", "run as root (runAsUser 0)", "runAsUser=0", func(s *corev1.PodSpec) { s.SecurityContext.RunAsUser = ptr.To[int64](0) }),
		psa("run-as-non-root-false", "set runAsNonRoot false", "runAsNonRoot", func(s *corev1.PodSpec) { s.SecurityContext.RunAsNonRoot = ptr.To(false) }),
		psa("privilege-escalation", "allow privilege escalation", "allowPrivilegeEscalation", func(s *corev1.PodSpec) { app(s).AllowPrivilegeEscalation = ptr.To(true) }),
		psa("unsafe-sysctl", "set an unsafe sysctl", "forbidden sysctls", func(s *corev1.PodSpec) {
			s.SecurityContext.Sysctls = []corev1.Sysctl{{Name: "kernel.msgmax", Value: "65536"}}
		}),
		psa("seccomp-unconfined", "run without seccomp", "seccompProfile", func(s *corev1.PodSpec) {
			s.SecurityContext.SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined}
		}),
		psa("apparmor-unconfined", "run without AppArmor", "AppArmor", func(s *corev1.PodSpec) {
			s.SecurityContext.AppArmorProfile = &corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeUnconfined}
		}),
		psa("proc-mount-unmasked", "unmask /proc", "procMount", func(s *corev1.PodSpec) {
			s.HostUsers = ptr.To(false) // the API refuses Unmasked otherwise, before admission
			app(s).ProcMount = ptr.To(corev1.UnmaskedProcMount)
		}),
	}

	podRule := func(id, description, image, rule string, mutate func(*corev1.PodSpec)) Entry {
		p := t.pod(strings.ReplaceAll(id, "/", "-"), image)
		if mutate != nil {
			mutate(&p.Spec)
		}
		return Entry{ID: id, Description: description, Try: create(t, p), Want: guardrail("tenantry-pods", rule)}
	}
	noRegistries := podRule("registry/plan-lists-none", "run an image on a plan that lists no registry", t.Image,
		"tenantry rule 4 (registries): plan "+t.Plan.Name+" allows no registry (its spec.allowedRegistries is empty), so "+t.Image+" cannot run", nil)
	noRegistries.Needs = NoRegistries
	if len(t.Plan.Spec.AllowedRegistries) > 0 {
		noRegistries.Skip = "plan " + t.Plan.Name + " lists registries"
	}
	otherPlans := podRule("registry/other-plans-registry", "run an image from a registry only other plans allow", "ghcr.io/"+t.Tenant.Name+"/web:1", "tenantry rule 4", nil)
	otherPlans.Needs = FreePlan
	pool := podRule("nodes/outside-node-pool", "run outside its plan's node pool", t.Image, "runs on the node pool "+nodePool(t), func(s *corev1.PodSpec) {
		for k := range s.NodeSelector {
			s.NodeSelector[k] = "shared"
		}
	})
	pool.Needs = NodePool
	if len(t.nodeSelector()) == 0 {
		pool.Skip = "plan " + t.Plan.Name + " has no node pool"
	}
	entries = append(entries,
		podRule("registry/foreign", "run an image from a foreign registry", "evil.example.com/miner:1", "tenantry rule 4 (registries): evil.example.com/miner:1", nil),
		podRule("registry/lookalike-prefix", "run an image from a lookalike registry", "ghcr.io.evil.io/"+t.Tenant.Name+"/web:1", "tenantry rule 4", nil),
		podRule("registry/docker-hub-shorthand", "run a Docker Hub image by its short name", "nginx:1.27", "tenantry rule 4 (registries): nginx:1.27", nil),
		otherPlans,
		podRule("registry/init-container", "run a foreign image as an init container", t.Image, "tenantry rule 4 (registries): evil.example.com/init:1", func(s *corev1.PodSpec) {
			init := s.Containers[0]
			init.Name, init.Image = "init", "evil.example.com/init:1"
			s.InitContainers = []corev1.Container{init}
		}),
		noRegistries,
		// IfNotPresent, the API's default for a tagged image, becomes
		// Always where the pod defaults run; Never is kept.
		podRule("pull-policy/never", "run a node's cached image (pull policy Never)", t.Image, "tenantry rule 5 (image pull policy): container app", func(s *corev1.PodSpec) {
			s.Containers[0].ImagePullPolicy = corev1.PullNever
		}),
		podRule("nodes/tolerate-control-plane", "tolerate the control plane's taint", t.Image, "node-role.kubernetes.io/control-plane", func(s *corev1.PodSpec) {
			s.Tolerations = []corev1.Toleration{{Key: "node-role.kubernetes.io/control-plane", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}
		}),
		podRule("nodes/tolerate-every-taint", "tolerate every taint", t.Image, "every taint", func(s *corev1.PodSpec) {
			s.Tolerations = []corev1.Toleration{{Operator: corev1.TolerationOpExists}}
		}),
		podRule("nodes/node-name", "pick a node by spec.nodeName", t.Image, "spec.nodeName bypasses the scheduler", func(s *corev1.PodSpec) {
			s.NodeName = "kwok-node-0"
		}),
		pool,
	)

	// Argo CD syncs the tenant's apps as tenantry-deployer, with the
	// admins' rights: no workload may borrow them. (A bare pod naming an
	// account that does not exist, as without Argo CD, is refused by the
	// ServiceAccount admission plugin first.)
	asDeployer := t.deployment(t.ns(), t.name("escape-deployer"), t.Image)
	asDeployer.Spec.Template.Spec.ServiceAccountName = "tenantry-deployer"
	foreign := t.deployment(t.ns(), t.name("escape-deploy"), "evil.example.com/web:1")
	return append(entries,
		Entry{ID: "deployer/deployment-as-deployer", Description: "run a workload as the deployer's ServiceAccount",
			Try: create(t, asDeployer), Want: guardrail("tenantry-pods", "tenantry rule 12 (deployer)")},
		Entry{ID: "registry/deployment-template", Description: "deploy a foreign image through a Deployment",
			Try: create(t, foreign), Want: guardrail("tenantry-pods", "tenantry rule 4 (registries): evil.example.com/web:1")},
		Entry{ID: "registry/ephemeral-debug-container", Description: "debug a pod with a foreign image", Needs: RealWrites,
			Try: debugPod(t, "debug-target", "evil.example.com/debug:1"), Want: guardrail("tenantry-pods", "tenantry rule 4 (registries): evil.example.com/debug:1")},
	)
}

// nodePool is the plan's node pool as the guardrail names it: key=value.
func nodePool(t Target) string {
	sel := t.nodeSelector()
	keys := make([]string, 0, len(sel))
	for k := range sel {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	pairs := make([]string, 0, len(keys))
	for _, k := range keys {
		pairs = append(pairs, k+"="+sel[k])
	}
	return strings.Join(pairs, ",")
}

// debugPod creates a pod and attaches a debug container with image to it,
// as kubectl debug does.
func debugPod(t Target, name, image string) func(context.Context, client.Client) error {
	return func(ctx context.Context, c client.Client) error {
		p := t.pod(name, t.Image)
		if err := c.Create(ctx, p, t.writeOpts()...); err != nil {
			return fmt.Errorf("creating the pod to debug: %w", err)
		}
		debug := corev1.EphemeralContainer{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
			Name: "debug", Image: image, ImagePullPolicy: corev1.PullAlways,
			SecurityContext: p.Spec.Containers[0].SecurityContext,
		}}
		// The scheduler and the node update the new pod meanwhile.
		return retry.RetryOnConflict(retry.DefaultRetry, func() error {
			if err := c.Get(ctx, client.ObjectKeyFromObject(p), p); err != nil {
				return err
			}
			p.Spec.EphemeralContainers = []corev1.EphemeralContainer{debug}
			return c.SubResource("ephemeralcontainers").Update(ctx, p)
		})
	}
}

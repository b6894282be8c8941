package localcluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/tenantry/tenantry/internal/images"
)

// Argo Rollouts' controller as a pod on the real node, as its own manifests
// install it (manifests/base and manifests/role of the pinned module): a
// Deployment argo-rollouts under the ServiceAccount argo-rollouts, bound to
// the ClusterRole argo-rollouts. In cluster it resolves Service names and
// reaches Service IPs, as the AnalysisTemplates' Prometheus address and web
// checks expect; on this host it could do neither.

const (
	rolloutsName        = "argo-rollouts"
	rolloutsMetricsPort = 8090
	rolloutsHealthzPort = 8080
)

var rolloutsLabels = map[string]string{"app.kubernetes.io/name": rolloutsName}

// rolloutsClusterRole is Argo Rollouts v1.10's ClusterRole
// (manifests/role/argo-rollouts-clusterrole.yaml) for the traffic routers
// this project can use (Ingress, Traefik) and none of the others (Istio,
// SMI, Ambassador, AWS, App Mesh, APISIX), whose kinds do not exist here.
func rolloutsClusterRole() *rbacv1.ClusterRole {
	all := []string{"create", "get", "list", "watch", "update", "patch", "delete"}
	return &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: rolloutsName, Labels: rolloutsLabels},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{"argoproj.io"}, Resources: []string{"rollouts", "rollouts/status", "rollouts/finalizers"}, Verbs: []string{"get", "list", "watch", "update", "patch"}},
			{APIGroups: []string{"argoproj.io"}, Resources: []string{"analysisruns", "analysisruns/finalizers", "experiments", "experiments/finalizers"}, Verbs: all},
			{APIGroups: []string{"argoproj.io"}, Resources: []string{"analysistemplates", "clusteranalysistemplates"}, Verbs: []string{"get", "list", "watch"}},
			{APIGroups: []string{"apps"}, Resources: []string{"replicasets"}, Verbs: all},
			// Workload references (a Rollout reusing a Deployment's template).
			{APIGroups: []string{"", "apps"}, Resources: []string{"deployments", "podtemplates"}, Verbs: []string{"get", "list", "watch", "update"}},
			// The selectors of the stable, canary, active and preview Services.
			{APIGroups: []string{""}, Resources: []string{"services"}, Verbs: []string{"get", "list", "watch", "patch", "create", "delete"}},
			{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"create", "get", "update"}},
			// Analysis arguments from Secrets (valueFrom.secretKeyRef) and the
			// notification settings.
			{APIGroups: []string{""}, Resources: []string{"secrets", "configmaps"}, Verbs: []string{"get", "list", "watch"}},
			{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"list", "update", "watch"}},
			{APIGroups: []string{""}, Resources: []string{"pods/eviction"}, Verbs: []string{"create"}},
			{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"create", "update", "patch"}},
			{APIGroups: []string{"networking.k8s.io"}, Resources: []string{"ingresses"}, Verbs: []string{"create", "get", "list", "watch", "update", "patch"}},
			// Job metrics of AnalysisTemplates.
			{APIGroups: []string{"batch"}, Resources: []string{"jobs"}, Verbs: all},
			{APIGroups: []string{"traefik.io", "traefik.containo.us"}, Resources: []string{"traefikservices"}, Verbs: []string{"watch", "get", "update"}},
		},
	}
}

// rolloutsPodSpec runs the controller as its manifest does, made to pass
// Pod Security restricted (non-root with a fixed UID, seccomp on the pod);
// flags as the host process gets them.
func rolloutsPodSpec(image string) corev1.PodSpec {
	healthz := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
		Path: "/healthz", Port: intstr.FromString("healthz"),
	}}, PeriodSeconds: 1}
	liveness := healthz.DeepCopy()
	liveness.InitialDelaySeconds, liveness.PeriodSeconds, liveness.TimeoutSeconds = 30, 20, 10
	return corev1.PodSpec{
		ServiceAccountName: rolloutsName,
		SecurityContext:    restrictedPodSecurity(),
		Containers: []corev1.Container{{
			Name:            rolloutsName,
			Image:           image,
			ImagePullPolicy: corev1.PullAlways,
			Args: []string{
				"--metricsPort=" + strconv.Itoa(rolloutsMetricsPort),
				"--healthzPort=" + strconv.Itoa(rolloutsHealthzPort),
				// One replica: see startController.
				"--leader-elect=false",
				"--logformat=text",
			},
			Env: []corev1.EnvVar{{Name: "POD_NAMESPACE", ValueFrom: &corev1.EnvVarSource{
				FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"},
			}}},
			Ports: []corev1.ContainerPort{
				{Name: "metrics", ContainerPort: rolloutsMetricsPort},
				{Name: "healthz", ContainerPort: rolloutsHealthzPort},
			},
			ReadinessProbe: healthz,
			LivenessProbe:  liveness,
			Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
			},
			VolumeMounts: []corev1.VolumeMount{
				{Name: "plugin-bin", MountPath: "/home/argo-rollouts/plugin-bin"},
				{Name: "tmp", MountPath: "/tmp"},
			},
			SecurityContext: restrictedContainerSecurity(),
		}},
		Volumes: []corev1.Volume{
			{Name: "plugin-bin", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		},
	}
}

// startInCluster pushes the controller's image and creates its
// ServiceAccount, ClusterRole, binding and Deployment, and waits until its
// pod is ready (/healthz answers).
func (r *Rollouts) startInCluster(ctx context.Context) error {
	c := r.cluster
	r.InCluster = true
	digest, err := c.PushBinaryImage(ctx, "argo-rollouts:local", c.bin(rolloutsBinary), images.Options{
		Title: "argo-rollouts", SharedLibraries: true,
	})
	if err != nil {
		return err
	}
	image := LocalRegistry + "/argo-rollouts@" + digest
	ns := r.Namespace
	core, rbac := c.client.CoreV1(), c.client.RbacV1()
	deployment := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: rolloutsName, Namespace: ns, Labels: rolloutsLabels},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: rolloutsLabels},
			// One controller at a time, as --leader-elect=false asks.
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: rolloutsLabels},
				Spec:       rolloutsPodSpec(image),
			},
		},
	}
	err = errors.Join(
		ignoreExists(createObject(ctx, core.ServiceAccounts(ns).Create, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: rolloutsName, Namespace: ns}})),
		ignoreExists(createObject(ctx, rbac.ClusterRoles().Create, rolloutsClusterRole())),
		ignoreExists(createObject(ctx, rbac.ClusterRoleBindings().Create, &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: rolloutsName},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: rolloutsName},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: rolloutsName, Namespace: ns}},
		})),
		createObject(ctx, c.client.AppsV1().Deployments(ns).Create, deployment),
	)
	if err != nil {
		return err
	}
	err = waitFor(ctx, "Argo Rollouts' controller pod ready", nil, func() error {
		return c.deploymentAvailable(ctx, ns, rolloutsName)
	})
	if err != nil {
		return err
	}
	pods, err := core.Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=" + rolloutsName})
	if err != nil {
		return err
	}
	for _, p := range pods.Items {
		if p.Status.PodIP != "" && p.DeletionTimestamp == nil {
			r.MetricsAddr = net.JoinHostPort(p.Status.PodIP, strconv.Itoa(rolloutsMetricsPort))
			r.HealthzAddr = net.JoinHostPort(p.Status.PodIP, strconv.Itoa(rolloutsHealthzPort))
		}
	}
	return nil
}

// stopInCluster deletes the controller's Deployment and waits until its
// pods are gone, so a controller started next is the only one.
func (r *Rollouts) stopInCluster() error {
	c := r.cluster
	if c.node == nil {
		return nil // the cluster stopped, and the pod with it
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.StartTimeout)
	defer cancel()
	err := c.client.AppsV1().Deployments(r.Namespace).Delete(ctx, rolloutsName, metav1.DeleteOptions{
		PropagationPolicy: ptr.To(metav1.DeletePropagationForeground),
	})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("stopping Argo Rollouts: %w", err)
	}
	return waitFor(ctx, "Argo Rollouts' controller pod gone", nil, func() error {
		pods, err := c.client.CoreV1().Pods(r.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=" + rolloutsName})
		if err != nil {
			return err
		}
		if n := len(pods.Items); n > 0 {
			return fmt.Errorf("%d pods left", n)
		}
		return nil
	})
}

func ignoreExists(err error) error {
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

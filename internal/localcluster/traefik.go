package localcluster

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os/exec"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/dynamic"
	"k8s.io/utils/ptr"

	"github.com/tenantry/tenantry/internal/images"
)

// Traefik on the real node: the cluster's ingress controller, and the
// traffic router Argo Rollouts shifts a canary's share of requests with
// (a weighted TraefikService). It runs as a Deployment in its own
// namespace from bin/traefik (tools/traefik), with the kubernetescrd
// provider (IngressRoute, TraefikService, Middleware...) and the
// kubernetesingress provider (Ingress, IngressClass "traefik", the
// cluster's default), and sends requests straight to the pods the Services'
// EndpointSlices list, as Traefik does everywhere.

const (
	traefikBinary   = "traefik"
	traefikCRDsFile = "traefik-crds.yaml"
	traefikName     = "traefik"
	// traefikWebPort is the entry point tenants' routes are served on; the
	// Service maps port 80 to it. Above 1024: Traefik runs unprivileged,
	// as Pod Security restricted requires.
	traefikWebPort = 8000
	// traefikAdminPort serves /ping (the probes), /metrics and the
	// read-only API (/api/...) on the pod's address only: the Service does
	// not publish it.
	traefikAdminPort = 9000
	// TraefikIngressClass is the IngressClass Traefik serves, the cluster's
	// default.
	TraefikIngressClass = "traefik"
)

// IngressNamespace is where StartTraefik runs Traefik by default. The
// platform chart admits the ingress controller into tenant namespaces by
// the labels of its namespace (operator.ingressNamespaceSelector, whose
// default names ingress-nginx): install it with TraefikPlatformValue.
const IngressNamespace = "traefik"

// TraefikPlatformValue is the `helm install --set` value (for
// PlatformOptions.Values) that makes the platform's NetworkPolicies admit
// Traefik running in IngressNamespace into tenant namespaces.
const TraefikPlatformValue = `operator.ingressNamespaceSelector.kubernetes\.io/metadata\.name=` + IngressNamespace

// TraefikBinaries are the files StartTraefik runs from, in BinDir: the
// binary and the CRDs of its version (hack/traefik-crds.sh).
var TraefikBinaries = []string{traefikBinary, traefikCRDsFile}

// TraefikServiceGVR is Traefik's weighted service, which Argo Rollouts
// sets the canary's weight on (traefik.io/v1alpha1, Argo Rollouts'
// default --traefik-api-version).
var TraefikServiceGVR = schema.GroupVersionResource{Group: "traefik.io", Version: "v1alpha1", Resource: "traefikservices"}

// TraefikOptions configure StartTraefik. The zero value is usable.
type TraefikOptions struct {
	// Namespace Traefik runs in. Default IngressNamespace.
	Namespace string
}

// Traefik is Traefik running as a pod on the real node.
type Traefik struct {
	// Namespace is where it runs.
	Namespace string
	// Version is bin/traefik's (`traefik version`), e.g. v3.7.13.
	Version string
	// URL is its web entry point inside the cluster,
	// http://traefik.<namespace>.svc: clients send a route's Host header.
	URL string
	// HostURL reaches the same entry point from this host (the Service's
	// cluster IP, which kube-proxy routes for the host too).
	HostURL string
	// AdminURL is the pod's admin entry point (/ping, /metrics, /api),
	// reachable from this host.
	AdminURL string
}

// StartTraefik runs Traefik on the real node and returns once it is ready:
// it creates Traefik's CRDs (from bin/traefik-crds.yaml, Traefik's own)
// and waits until they are served, pushes bin/traefik as an image, creates
// the namespace (Pod Security restricted enforced), the ServiceAccount,
// the ClusterRole Traefik documents for its Kubernetes providers, the
// IngressClass, the Deployment and the Service, and waits until Traefik
// answers /ping. Cluster.Stop stops it with the node.
func (c *Cluster) StartTraefik(ctx context.Context, opts TraefikOptions) (_ *Traefik, err error) {
	if c.node == nil {
		return nil, errors.New("StartTraefik runs Traefik as a pod: the cluster needs a real node (Options.RealNode)")
	}
	if err := c.needBinaries("Traefik", TraefikBinaries); err != nil {
		return nil, err
	}
	opts.Namespace = cmp.Or(opts.Namespace, IngressNamespace)
	ctx, cancel := context.WithTimeout(ctx, c.opts.StartTimeout)
	defer cancel()
	defer func() {
		if err != nil {
			err = fmt.Errorf("starting Traefik in namespace %s: %w", opts.Namespace, err)
		}
	}()
	step := c.progressSteps()
	t := &Traefik{
		Namespace: opts.Namespace,
		URL:       fmt.Sprintf("http://%s.%s.svc", traefikName, opts.Namespace),
	}
	if t.Version, err = traefikVersion(ctx, c.bin(traefikBinary)); err != nil {
		return nil, err
	}
	client, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		return nil, err
	}
	if err := installCRDs(ctx, client, c.bin(traefikCRDsFile), "Traefik", step); err != nil {
		return nil, err
	}
	tag := traefikName + ":" + t.Version
	digest, err := c.PushBinaryImage(ctx, tag, c.bin(traefikBinary), images.Options{Title: traefikName, Version: t.Version})
	if err != nil {
		return nil, err
	}
	step("Traefik image pushed")

	o := traefikObjects(opts.Namespace, LocalRegistry+"/"+traefikName+"@"+digest)
	core, rbac := c.client.CoreV1(), c.client.RbacV1()
	if err := createObject(ctx, core.Namespaces().Create, o.namespace); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, err
	}
	err = errors.Join(
		createObject(ctx, core.ServiceAccounts(opts.Namespace).Create, o.serviceAccount),
		ignoreExists(createObject(ctx, rbac.ClusterRoles().Create, o.clusterRole)),
		ignoreExists(createObject(ctx, rbac.ClusterRoleBindings().Create, o.clusterRoleBinding)),
		ignoreExists(createObject(ctx, c.client.NetworkingV1().IngressClasses().Create, o.ingressClass)),
		createObject(ctx, core.Services(opts.Namespace).Create, o.service),
		createObject(ctx, c.client.AppsV1().Deployments(opts.Namespace).Create, o.deployment),
	)
	if err != nil {
		return nil, err
	}
	svc, err := core.Services(opts.Namespace).Get(ctx, traefikName, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	t.HostURL = "http://" + svc.Spec.ClusterIP
	err = waitFor(ctx, "Traefik ready", nil, func() error {
		if err := c.deploymentAvailable(ctx, opts.Namespace, traefikName); err != nil {
			return err
		}
		pods, err := core.Pods(opts.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=" + traefikName})
		if err != nil {
			return err
		}
		for _, p := range pods.Items {
			if p.Status.PodIP != "" && p.DeletionTimestamp == nil && podReady(&p) {
				t.AdminURL = "http://" + net.JoinHostPort(p.Status.PodIP, strconv.Itoa(traefikAdminPort))
				return httpOK(plainHTTP, t.AdminURL+"/ping")
			}
		}
		return errors.New("no ready pod yet")
	})
	if err != nil {
		return nil, err
	}
	step("Traefik ready")
	c.progressf("Traefik %s ready at %s (%s from this host)", t.Version, t.URL, t.HostURL)
	return t, nil
}

// podReady is true once the pod's Ready condition is.
func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// traefikVersion asks the binary for its version (stamped by
// hack/traefik-build.sh): "Version:      v3.7.13" among other lines.
func traefikVersion(ctx context.Context, binary string) (string, error) {
	out, err := exec.CommandContext(ctx, binary, "version").Output()
	if err != nil {
		return "", fmt.Errorf("%s version: %w", binary, err)
	}
	return parseTraefikVersion(string(out))
}

func parseTraefikVersion(out string) (string, error) {
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, "Version:"); ok {
			if v = strings.TrimSpace(v); v != "" && v != "dev" {
				return v, nil
			}
		}
	}
	return "", fmt.Errorf("no version in `traefik version` output %q: build bin/traefik with `make testbin` (hack/traefik-build.sh stamps it)", out)
}

// traefikObjectSet holds Traefik's objects.
type traefikObjectSet struct {
	namespace          *corev1.Namespace
	serviceAccount     *corev1.ServiceAccount
	clusterRole        *rbacv1.ClusterRole
	clusterRoleBinding *rbacv1.ClusterRoleBinding
	ingressClass       *networkingv1.IngressClass
	deployment         *appsv1.Deployment
	service            *corev1.Service
}

// traefikLabels select Traefik's pod.
var traefikLabels = map[string]string{"app.kubernetes.io/name": traefikName}

func traefikObjects(namespace, image string) traefikObjectSet {
	meta := metav1.ObjectMeta{Name: traefikName, Namespace: namespace, Labels: traefikLabels}
	// Cluster-wide names carry the namespace, as Traefik's Helm chart does.
	clusterName := traefikName + "-" + namespace
	return traefikObjectSet{
		namespace: &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
			Name:   namespace,
			Labels: map[string]string{"pod-security.kubernetes.io/enforce": "restricted"},
		}},
		serviceAccount: &corev1.ServiceAccount{ObjectMeta: meta},
		clusterRole: &rbacv1.ClusterRole{
			ObjectMeta: metav1.ObjectMeta{Name: clusterName, Labels: traefikLabels},
			Rules:      traefikRules(),
		},
		clusterRoleBinding: &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: clusterName, Labels: traefikLabels},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: clusterName},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: traefikName, Namespace: namespace}},
		},
		ingressClass: &networkingv1.IngressClass{
			ObjectMeta: metav1.ObjectMeta{
				Name:   TraefikIngressClass,
				Labels: traefikLabels,
				// Ingresses without a class (charts/tenant-app's default
				// className "") are Traefik's.
				Annotations: map[string]string{networkingv1.AnnotationIsDefaultIngressClass: "true"},
			},
			Spec: networkingv1.IngressClassSpec{Controller: "traefik.io/ingress-controller"},
		},
		deployment: &appsv1.Deployment{
			ObjectMeta: meta,
			Spec: appsv1.DeploymentSpec{
				Replicas: ptr.To[int32](1),
				Selector: &metav1.LabelSelector{MatchLabels: traefikLabels},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: traefikLabels},
					Spec:       traefikPodSpec(image, namespace),
				},
			},
		},
		service: &corev1.Service{
			ObjectMeta: meta,
			Spec: corev1.ServiceSpec{
				Selector: traefikLabels,
				Ports:    []corev1.ServicePort{{Name: "web", Port: 80, TargetPort: intstr.FromString("web")}},
			},
		},
	}
}

// traefikRules are the rights Traefik documents for its kubernetescrd and
// kubernetesingress providers (docs/content/reference/dynamic-configuration/
// kubernetes-crd-rbac.yml), less pods, which it reads only for
// OpenTelemetry attributes. Nodes stay: its client watches them whatever
// the configuration (for NodePort load balancing), and serves no route
// until that watch has synced. Reading Secrets is for the TLS certificates
// routes name; tenants' Secrets are readable to it as to any ingress
// controller.
func traefikRules() []rbacv1.PolicyRule {
	read := []string{"get", "list", "watch"}
	return []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"services", "secrets", "configmaps", "nodes"}, Verbs: read},
		{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: []string{"list", "watch"}},
		{APIGroups: []string{"networking.k8s.io"}, Resources: []string{"ingresses", "ingressclasses"}, Verbs: read},
		{APIGroups: []string{"networking.k8s.io"}, Resources: []string{"ingresses/status"}, Verbs: []string{"update"}},
		{APIGroups: []string{"traefik.io"}, Resources: []string{
			"middlewares", "middlewaretcps", "ingressroutes", "traefikservices", "ingressroutetcps",
			"ingressrouteudps", "tlsoptions", "tlsstores", "serverstransports", "serverstransporttcps",
		}, Verbs: read},
	}
}

// traefikArgs configure Traefik by flags (its static configuration):
//
//   - entry points web (:8000, what the Service publishes) and traefik
//     (:9000: ping, metrics and the read-only API, on the pod's address);
//   - the kubernetescrd and kubernetesingress providers, whose routes may
//     name only Services of their own namespace (Traefik's default,
//     allowCrossNamespace=false: a tenant's route cannot reach another
//     tenant's Service) and no ExternalName Service;
//   - safeNaming: Traefik's legacy names join namespace and name with "-",
//     so namespace acme's TraefikService prod-shop and namespace
//     acme-prod's shop would both be acme-prod-shop, and one tenant's
//     route could take over another's; the collision-safe names join them
//     with "_", which no Kubernetes name contains;
//   - allowEmptyServices on both: a Service without ready endpoints (a
//     canary Service at weight 0 before its pods exist, or after an abort
//     scaled them away) is an empty backend that answers 503, rather than
//     an error that drops the whole route, and with it the stable version's
//     traffic;
//   - the Ingress status published from the Service, as ingress controllers do;
//   - no version check and no usage statistics: nothing leaves the host.
//
// Traefik applies a provider's changes (an EndpointSlice, a weight) at
// most every 2 s (providers.providersThrottleDuration's default): the
// demo app's shutdown delay (charts/tenant-app shutdownDelay, 5 s) covers
// it, so a stopping pod keeps answering until Traefik has dropped it.
func traefikArgs(namespace string) []string {
	return []string{
		"--entryPoints.web.address=:" + strconv.Itoa(traefikWebPort),
		"--entryPoints.traefik.address=:" + strconv.Itoa(traefikAdminPort),
		"--ping=true",
		"--api=true",
		"--api.insecure=true",
		"--api.dashboard=false",
		"--metrics.prometheus=true",
		"--providers.kubernetescrd=true",
		"--providers.kubernetescrd.allowEmptyServices=true",
		"--providers.kubernetescrd.safeNaming=true",
		"--providers.kubernetesingress=true",
		"--providers.kubernetesingress.allowEmptyServices=true",
		"--providers.kubernetesingress.ingressClass=" + TraefikIngressClass,
		"--providers.kubernetesingress.ingressEndpoint.publishedService=" + namespace + "/" + traefikName,
		"--global.checkNewVersion=false",
		"--global.sendAnonymousUsage=false",
		"--log.level=INFO",
		"--log.noColor=true",
	}
}

// traefikPodSpec runs Traefik as Pod Security "restricted" requires:
// non-root, ports above 1024, no capabilities, a read-only root file
// system.
func traefikPodSpec(image, namespace string) corev1.PodSpec {
	probe := func() *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ping", Port: intstr.FromString("traefik")}},
			PeriodSeconds: 1,
		}
	}
	liveness := probe()
	liveness.PeriodSeconds, liveness.FailureThreshold = 10, 3
	return corev1.PodSpec{
		ServiceAccountName: traefikName,
		SecurityContext:    restrictedPodSecurity(),
		// Traefik finishes the requests in flight on SIGTERM (its entry
		// points' lifeCycle.graceTimeOut, 10 s by default).
		TerminationGracePeriodSeconds: ptr.To[int64](30),
		Containers: []corev1.Container{{
			Name:            traefikName,
			Image:           image,
			ImagePullPolicy: corev1.PullAlways,
			Args:            traefikArgs(namespace),
			Ports: []corev1.ContainerPort{
				{Name: "web", ContainerPort: traefikWebPort},
				{Name: "traefik", ContainerPort: traefikAdminPort},
			},
			Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
				Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("512Mi")},
			},
			ReadinessProbe:  probe(),
			LivenessProbe:   liveness,
			SecurityContext: restrictedContainerSecurity(),
		}},
	}
}

// ServiceWeights returns the weight of each child of a weighted
// TraefikService as Traefik itself applies it now (its API, not the
// object): the moment a canary's share of requests has really changed.
// Children are named as Traefik's collision-safe naming does: after the
// parent, the index and the Service's port,
// <namespace>_<name>_wrr_<index>_<namespace>_<service>_<port>.
func (t *Traefik) ServiceWeights(ctx context.Context, namespace, name string) (map[string]int, error) {
	u := fmt.Sprintf("%s/api/http/services/%s", t.AdminURL, url.PathEscape(namespace+"_"+name+"@kubernetescrd"))
	body, err := getBody(ctx, plainHTTP, u)
	if err != nil {
		return nil, err
	}
	return parseServiceWeights(body)
}

// parseServiceWeights reads the children of a weighted service from
// Traefik's API answer. A child without a weight has weight 1, as in
// Traefik's configuration.
func parseServiceWeights(body []byte) (map[string]int, error) {
	var svc struct {
		Weighted *struct {
			Services []struct {
				Name   string `json:"name"`
				Weight *int   `json:"weight"`
			} `json:"services"`
		} `json:"weighted"`
	}
	if err := json.Unmarshal(body, &svc); err != nil {
		return nil, fmt.Errorf("reading Traefik's service: %w", err)
	}
	if svc.Weighted == nil {
		return nil, fmt.Errorf("not a weighted service: %s", body)
	}
	weights := map[string]int{}
	for _, s := range svc.Weighted.Services {
		weights[s.Name] = ptr.Deref(s.Weight, 1)
	}
	return weights, nil
}

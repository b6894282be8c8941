package localcluster

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Service discovery for the real node's Prometheus. Debian builds
// Prometheus without its Kubernetes service discovery (kubernetes_sd_configs
// is not compiled in: the package leaves out the discovery mechanisms whose
// client libraries Debian does not ship), and Prometheus 2.42's would not
// see namespace labels anyway. So the harness serves Prometheus's HTTP
// service discovery (http_sd_configs) from the API server's pods,
// namespaces and EndpointSlices, read at each refresh: what kubernetes_sd
// with namespace metadata (Prometheus 2.53+) gives a production Prometheus.

// Paths of the discovery endpoints, one per scrape job.
const (
	sdTenantPodsPath = "/targets/tenant-pods"
	sdOperatorPath   = "/targets/operator"
)

// Scrape annotations of a pod, as most Prometheus setups read them
// (charts/tenant-app sets them).
const (
	annotationScrape = "prometheus.io/scrape"
	annotationPort   = "prometheus.io/port"
	annotationPath   = "prometheus.io/path"
	// rolloutsHashLabel is Argo Rollouts' pod label for the revision.
	rolloutsHashLabel = "rollouts-pod-template-hash"
)

// targetGroup is one entry of an HTTP service discovery answer
// (https://prometheus.io/docs/prometheus/latest/http_sd/), and of a
// scrape job's static_configs, which has the same form.
type targetGroup struct {
	Targets []string          `json:"targets" yaml:"targets"`
	Labels  map[string]string `json:"labels" yaml:"labels,omitempty"`
}

// tenantPodTargets returns a target per running pod of a tenant's
// namespace annotated prometheus.io/scrape=true, at its IP and the port of
// prometheus.io/port (else its first container port), with the labels
// analysis and dashboards select on: namespace, pod, tenant and
// rollouts_pod_template_hash, and the path of prometheus.io/path (default
// /metrics). The tenant is the namespace's tenantry.dev/tenant label, which
// only the platform sets; pods of other namespaces are left out.
func tenantPodTargets(pods []corev1.Pod, namespaces []corev1.Namespace) []targetGroup {
	tenantOf := map[string]string{}
	for _, ns := range namespaces {
		if tenant := ns.Labels[tenantLabel]; tenant != "" {
			tenantOf[ns.Name] = tenant
		}
	}
	groups := []targetGroup{}
	for _, p := range pods {
		tenant := tenantOf[p.Namespace]
		if tenant == "" || p.Annotations[annotationScrape] != "true" || p.Status.Phase != corev1.PodRunning || p.Status.PodIP == "" {
			continue
		}
		port := p.Annotations[annotationPort]
		if port == "" {
			port = firstContainerPort(p)
		}
		if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			continue // no port, or not a number: nothing to scrape
		}
		labels := map[string]string{
			"__metrics_path__": cmp.Or(p.Annotations[annotationPath], "/metrics"),
			"namespace":        p.Namespace,
			"pod":              p.Name,
			"tenant":           tenant,
		}
		if hash := p.Labels[rolloutsHashLabel]; hash != "" {
			labels["rollouts_pod_template_hash"] = hash
		}
		groups = append(groups, targetGroup{Targets: []string{net.JoinHostPort(p.Status.PodIP, port)}, Labels: labels})
	}
	slices.SortFunc(groups, func(a, b targetGroup) int {
		return cmp.Or(cmp.Compare(a.Labels["namespace"], b.Labels["namespace"]), cmp.Compare(a.Labels["pod"], b.Labels["pod"]))
	})
	return groups
}

func firstContainerPort(p corev1.Pod) string {
	for _, c := range p.Spec.Containers {
		for _, port := range c.Ports {
			if port.Protocol == "" || port.Protocol == corev1.ProtocolTCP {
				return strconv.Itoa(int(port.ContainerPort))
			}
		}
	}
	return ""
}

// endpointTargets returns a target per address of slices (a Service's
// EndpointSlices) on the port named portName, labelled with its pod.
func endpointTargets(eps []discoveryv1.EndpointSlice, portName string) []targetGroup {
	groups := []targetGroup{}
	for _, s := range eps {
		var port int32
		for _, p := range s.Ports {
			if p.Name != nil && *p.Name == portName && p.Port != nil {
				port = *p.Port
			}
		}
		if port == 0 {
			continue
		}
		for _, e := range s.Endpoints {
			labels := map[string]string{}
			if e.TargetRef != nil && e.TargetRef.Kind == "Pod" {
				labels["pod"] = e.TargetRef.Name
			}
			for _, addr := range e.Addresses {
				groups = append(groups, targetGroup{Targets: []string{net.JoinHostPort(addr, strconv.Itoa(int(port)))}, Labels: labels})
			}
		}
	}
	slices.SortFunc(groups, func(a, b targetGroup) int { return cmp.Compare(a.Targets[0], b.Targets[0]) })
	return groups
}

// promSD serves the discovery endpoints on the node's address, where the
// Prometheus pod reaches the host, answering only the pod network.
type promSD struct {
	// URL is the base URL the Prometheus pod fetches targets from.
	URL    string
	server *http.Server
}

func startPromSD(nodeIP net.IP, podCIDR string, cs kubernetes.Interface, operatorNamespace string) (*promSD, error) {
	_, pods, err := net.ParseCIDR(podCIDR)
	if err != nil {
		return nil, err
	}
	listener, err := net.Listen("tcp", net.JoinHostPort(nodeIP.String(), "0"))
	if err != nil {
		return nil, fmt.Errorf("listening for Prometheus's service discovery on the node's address: %w", err)
	}
	serve := func(targets func(context.Context) ([]targetGroup, error)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			// The host's address is reachable from its network too: only
			// pods get the list of targets.
			host, _, _ := net.SplitHostPort(r.RemoteAddr)
			if ip := net.ParseIP(host); ip == nil || !pods.Contains(ip) {
				http.Error(w, "service discovery answers pods of "+podCIDR+" only", http.StatusForbidden)
				return
			}
			groups, err := targets(r.Context())
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(groups)
		}
	}
	mux := http.NewServeMux()
	mux.Handle(sdTenantPodsPath, serve(func(ctx context.Context) ([]targetGroup, error) {
		pods, err := cs.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, err
		}
		namespaces, err := cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: tenantLabel})
		if err != nil {
			return nil, err
		}
		return tenantPodTargets(pods.Items, namespaces.Items), nil
	}))
	mux.Handle(sdOperatorPath, serve(func(ctx context.Context) ([]targetGroup, error) {
		list, err := cs.DiscoveryV1().EndpointSlices(operatorNamespace).List(ctx, metav1.ListOptions{
			LabelSelector: discoveryv1.LabelServiceName + "=" + operatorMetricsService,
		})
		if err != nil {
			return nil, err
		}
		return endpointTargets(list.Items, "metrics"), nil
	}))
	sd := &promSD{
		URL:    "http://" + listener.Addr().String(),
		server: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second},
	}
	go func() { _ = sd.server.Serve(listener) }()
	return sd, nil
}

func (sd *promSD) close() error {
	if sd == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := sd.server.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("stopping Prometheus's service discovery: %w", err)
	}
	return nil
}

// operatorMetricsService is the platform chart's Service in front of the
// operator's /metrics (charts/tenantry/templates/monitoring.yaml).
const operatorMetricsService = "tenantry-operator-metrics"

// sdURL joins the discovery server's URL and a path.
func sdURL(base, path string) string { return strings.TrimSuffix(base, "/") + path }

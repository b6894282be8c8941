package localcluster

import "k8s.io/utils/ptr"

// Prometheus scrapes the real node's kubelet for what each container uses,
// which cost showback bills (docs/cost.md).

const (
	// prometheusKubeletRole is the ClusterRole (and its binding) that lets
	// Prometheus's ServiceAccount read the kubelet's /metrics/*.
	prometheusKubeletRole = "prometheus-kubelet"
	// serviceAccountDir is where a pod's ServiceAccount token and the
	// cluster's CA (kube-root-ca.crt) are mounted.
	serviceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"
	// kubeletPort is the kubelet's HTTPS port (realnode_config.go).
	kubeletPort = 10250
)

// kubeletTarget is the node whose kubelet the kubelet jobs scrape.
type kubeletTarget struct {
	// node is the Node's name, the node label of the kubelet's series.
	node string
	// addr is the kubelet's HTTPS address, host:port.
	addr string
}

// kubeletScrapeConfigs scrape the kubelet as a production Prometheus does,
// for showback of what each tenant's containers use:
//   - job kubelet, /metrics/resource: container_cpu_usage_seconds_total,
//     container_memory_working_set_bytes and the like per namespace, pod
//     and container, and the node's own (node_cpu_usage_seconds_total).
//   - job kubelet-cadvisor, /metrics/cadvisor: only the node's capacity
//     (machine_cpu_cores, machine_memory_bytes); its thousands of other
//     series per container repeat /metrics/resource at far greater cost.
//
// Both authenticate with the pod's ServiceAccount token, which the
// kubelet's webhook checks (TokenReview, then a SubjectAccessReview for
// get nodes/metrics: prometheusKubeletRole), and verify the kubelet's
// serving certificate against the cluster CA the pod is given with the
// token (kube-root-ca.crt): that CA signs the kubelet's certificate, which
// names the node's IP, the address scraped, so no server_name is needed.
//
// honor_labels keeps the kubelet's namespace, pod and container: those
// are the subject of its series, and only the kubelet writes them. The
// target adds node. Neither job carries tenant: it is the namespace's
// tenant, which a query joins on namespace.
//
// honor_timestamps is off: the kubelet stamps each series with the time of
// its stats, and Prometheus (before 2.48's track_timestamps_staleness)
// writes no staleness marker for a series that carried its own timestamp,
// so a deleted pod's memory would still count for the 5 minutes of the
// query lookback, billed to its tenant twice over with its replacement.
// The kubelet reads containers' stats when scraped, so the scrape's time
// is theirs to within milliseconds; the node's own are cached up to about
// 10–15 s and now repeat at each scrape until they change.
func kubeletScrapeConfigs(k kubeletTarget) []scrapeConfig {
	job := func(name, path string) scrapeConfig {
		return scrapeConfig{
			JobName:         name,
			HonorLabels:     true,
			HonorTimestamps: ptr.To(false),
			Scheme:          "https",
			MetricsPath:     path,
			Authorization:   &promAuthorization{CredentialsFile: serviceAccountDir + "/token"},
			TLSConfig:       &promTLSConfig{CAFile: serviceAccountDir + "/ca.crt"},
			StaticConfigs:   []targetGroup{{Targets: []string{k.addr}, Labels: map[string]string{"node": k.node}}},
		}
	}
	cadvisor := job("kubelet-cadvisor", "/metrics/cadvisor")
	cadvisor.MetricRelabelConfigs = []relabelConfig{
		{SourceLabels: []string{"__name__"}, Regex: "machine_cpu_cores|machine_memory_bytes", Action: "keep"},
	}
	return []scrapeConfig{job("kubelet", "/metrics/resource"), cadvisor}
}

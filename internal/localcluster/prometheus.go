package localcluster

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"time"

	"go.yaml.in/yaml/v3"
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

// A real Prometheus for the real node: Debian's build (/usr/bin/prometheus,
// installed by hack/node-packages.sh) as a pod in the monitoring namespace,
// the namespace the tenants' NetworkPolicies let scrape their pods, so its
// scrapes cross the tenants' policies like any production Prometheus's.

// PrometheusBinary is the Prometheus StartPrometheus runs: Debian's package.
const PrometheusBinary = "/usr/bin/prometheus"

const (
	prometheusName       = "prometheus"
	prometheusPort       = 9090
	prometheusConfigDir  = "/etc/prometheus"
	prometheusRulesDir   = "/etc/prometheus/rules"
	prometheusConfigFile = "prometheus.yml"
	prometheusDataDir    = "/prometheus"
	// tenantLabel is the namespace label only the platform sets (the
	// guardrails refuse it to tenants): the source of a series' tenant.
	tenantLabel = "tenantry.dev/tenant"
)

// PrometheusOptions configure StartPrometheus. The zero value is usable.
type PrometheusOptions struct {
	// Namespace Prometheus runs in. Default "monitoring": the one the
	// platform chart's monitoringNamespaceSelector selects
	// (kubernetes.io/metadata.name=monitoring), so the tenants'
	// NetworkPolicies let it scrape their pods.
	Namespace string
	// ScrapeInterval is how often every target is scraped and the rules
	// evaluated. Default 2s, for tests; production uses 15–30s.
	ScrapeInterval time.Duration
	// OperatorNamespace is where the platform chart runs the operator,
	// whose Service tenantry-operator-metrics is scraped. Default
	// "tenantry-system".
	OperatorNamespace string
	// Rules are rule files Prometheus loads (name → content, Prometheus's
	// rule file format), such as the platform's alerts.
	Rules map[string]string
}

// Prometheus is a Prometheus server running as a pod on the real node.
type Prometheus struct {
	// Namespace is where it runs.
	Namespace string
	// URL is its address inside the cluster,
	// http://prometheus.<namespace>.svc:9090: what AnalysisTemplates and a
	// query proxy in front of it are given.
	URL string
	// HostURL reaches it from this host (its Service's cluster IP, which
	// kube-proxy routes for the host too): for tests' queries.
	HostURL string

	sd *promSD
}

// StartPrometheus runs Prometheus on the real node and returns once it is
// ready: its image is /usr/bin/prometheus with the shared libraries it links
// to, pushed to the cluster's registry; it scrapes the annotated pods
// (prometheus.io/scrape, port, path) of every tenant's namespaces and the
// operator's pods (the platform chart's tenantry-operator-metrics Service),
// found by the harness's service discovery (prometheus_sd.go), so tenants
// onboarded later and new pods are scraped within a scrape interval. It
// also scrapes the node's kubelet (kubeletScrapeConfigs): every
// container's CPU and memory, and the node's capacity.
//
// Every series of a tenant pod carries namespace, pod, tenant and
// rollouts_pod_template_hash (the labels charts/tenant-app's
// AnalysisTemplates select on). tenant comes from the namespace's
// tenantry.dev/tenant label, which only the platform may set, not from
// the pod's labels, which the tenant writes; and since every target has
// these labels, a pod exporting them itself only gets exported_<label>:
// a tenant cannot make its series pass for another's.
//
// Cluster.Stop stops it with the node.
func (c *Cluster) StartPrometheus(ctx context.Context, opts PrometheusOptions) (_ *Prometheus, err error) {
	if c.node == nil {
		return nil, errors.New("StartPrometheus runs Prometheus as a pod: the cluster needs a real node (Options.RealNode)")
	}
	if c.prometheus != nil {
		return nil, fmt.Errorf("prometheus already runs in namespace %s: one per cluster", c.prometheus.Namespace)
	}
	opts.Namespace = cmp.Or(opts.Namespace, "monitoring")
	opts.OperatorNamespace = cmp.Or(opts.OperatorNamespace, "tenantry-system")
	opts.ScrapeInterval = cmp.Or(opts.ScrapeInterval, 2*time.Second)
	ctx, cancel := context.WithTimeout(ctx, c.opts.StartTimeout)
	defer cancel()
	p := &Prometheus{
		Namespace: opts.Namespace,
		URL:       fmt.Sprintf("http://%s.%s.svc:%d", prometheusName, opts.Namespace, prometheusPort),
	}
	defer func() {
		if err != nil {
			_ = p.sd.close()
			err = fmt.Errorf("starting Prometheus in namespace %s: %w", opts.Namespace, err)
		}
	}()

	version, err := prometheusVersion(ctx)
	if err != nil {
		return nil, err
	}
	c.progressf("pushing Prometheus %s with its shared libraries", version)
	tag := "prometheus:" + imageTag(version)
	if _, err := c.PushBinaryImage(ctx, tag, PrometheusBinary, images.Options{
		Title: "prometheus", Version: version, SharedLibraries: true,
	}); err != nil {
		return nil, err
	}
	if p.sd, err = startPromSD(c.node.ip, realPodCIDR, c.client, opts.OperatorNamespace); err != nil {
		return nil, err
	}
	kubelet := kubeletTarget{node: realNodeName, addr: net.JoinHostPort(c.node.ip.String(), strconv.Itoa(kubeletPort))}
	config, err := prometheusConfig(opts, p.sd.URL, kubelet)
	if err != nil {
		return nil, err
	}
	o := prometheusObjects(opts, LocalRegistry+"/"+tag, config)
	core, rbac := c.client.CoreV1(), c.client.RbacV1()
	if err := createObject(ctx, core.Namespaces().Create, o.namespace); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, err
	}
	err = errors.Join(
		createObject(ctx, core.ServiceAccounts(opts.Namespace).Create, o.serviceAccount),
		createObject(ctx, rbac.ClusterRoles().Create, o.clusterRole),
		createObject(ctx, rbac.ClusterRoleBindings().Create, o.clusterRoleBinding),
		createObject(ctx, core.ConfigMaps(opts.Namespace).Create, o.configMap),
		createObject(ctx, core.Services(opts.Namespace).Create, o.service),
		createObject(ctx, c.client.AppsV1().Deployments(opts.Namespace).Create, o.deployment),
	)
	if err != nil {
		return nil, err
	}
	svc, err := core.Services(opts.Namespace).Get(ctx, prometheusName, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	p.HostURL = fmt.Sprintf("http://%s:%d", svc.Spec.ClusterIP, prometheusPort)
	// Said every 10 s while it waits, so a slow start shows why.
	said := time.Now()
	err = waitFor(ctx, "Prometheus ready", nil, func() error {
		err := c.deploymentAvailable(ctx, opts.Namespace, prometheusName)
		if err == nil {
			err = httpOK(prometheusHTTP, p.HostURL+"/-/ready")
		}
		if err != nil && time.Since(said) > 10*time.Second {
			said = time.Now()
			c.progressf("waiting for Prometheus: %v", err)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	c.prometheus = p
	c.progressf("Prometheus ready at %s (%s from this host), scraping every %s", p.URL, p.HostURL, opts.ScrapeInterval)
	return p, nil
}

// prometheusHTTP asks Prometheus from this host through its Service's
// cluster IP, on a new connection each time: kube-proxy's DNAT applies to a
// connection when it opens, so one opened before kube-proxy wrote the
// Service's rules would go on to whatever the host's route reaches at that
// address (here the default gateway, answering 404) for as long as it is
// kept alive.
var prometheusHTTP = &http.Client{
	Timeout:   10 * time.Second,
	Transport: &http.Transport{DisableKeepAlives: true},
}

// PrometheusURL is the in-cluster URL of the Prometheus StartPrometheus
// started, empty before.
func (c *Cluster) PrometheusURL() string {
	if c.prometheus == nil {
		return ""
	}
	return c.prometheus.URL
}

// prometheusVersion is the version /usr/bin/prometheus reports, such as
// "2.42.0+ds" for Debian's.
func prometheusVersion(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, PrometheusBinary, "--version").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s --version: %w: %s (install Debian's prometheus package: hack/node-packages.sh)", PrometheusBinary, err, out)
	}
	m := regexp.MustCompile(`version (\S+)`).FindSubmatch(out)
	if m == nil {
		return "", fmt.Errorf("%s --version printed no version: %s", PrometheusBinary, out)
	}
	return string(m[1]), nil
}

// imageTag makes a version a valid image tag, which allows letters,
// digits, '_', '.' and '-': "2.42.0+ds" becomes "2.42.0-ds".
func imageTag(version string) string {
	return regexp.MustCompile(`[^A-Za-z0-9_.-]`).ReplaceAllString(version, "-")
}

// Sample is one series of a query's answer: its labels and value.
type Sample struct {
	Labels map[string]string
	Value  float64
}

// Query runs an instant PromQL query and returns the vector it answers
// (a scalar comes back as one sample without labels).
func (p *Prometheus) Query(ctx context.Context, query string) ([]Sample, error) {
	body, err := p.Get(ctx, "/api/v1/query", url.Values{"query": {query}})
	if err != nil {
		return nil, fmt.Errorf("query %s: %w", query, err)
	}
	samples, err := parseQueryResponse(body)
	if err != nil {
		return nil, fmt.Errorf("query %s: %w", query, err)
	}
	return samples, nil
}

// Get asks Prometheus's HTTP API (path such as /api/v1/rules) from this
// host and returns the answer's body, or an error with it unless 200 OK.
func (p *Prometheus) Get(ctx context.Context, path string, params url.Values) ([]byte, error) {
	u := p.HostURL + path
	if len(params) > 0 {
		u += "?" + params.Encode()
	}
	return getBody(ctx, prometheusHTTP, u)
}

// parseQueryResponse reads the vector or scalar of a /api/v1/query answer.
func parseQueryResponse(body []byte) ([]Sample, error) {
	var resp struct {
		Status, Error string
		Data          struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		}
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		return nil, fmt.Errorf("reading the answer: %w", err)
	}
	if resp.Status != "success" {
		return nil, fmt.Errorf("prometheus answered %s: %s", resp.Status, resp.Error)
	}
	value := func(pair []any) (float64, error) {
		if len(pair) != 2 {
			return 0, fmt.Errorf("sample %v is not [time, value]", pair)
		}
		s, ok := pair[1].(string)
		if !ok {
			return 0, fmt.Errorf("sample value %v is not a string", pair[1])
		}
		return strconv.ParseFloat(s, 64)
	}
	switch resp.Data.ResultType {
	case "scalar":
		var pair []any
		if err := json.Unmarshal(resp.Data.Result, &pair); err != nil {
			return nil, err
		}
		v, err := value(pair)
		return []Sample{{Value: v}}, err
	case "vector":
		var series []struct {
			Metric map[string]string
			Value  []any
		}
		if err := json.Unmarshal(resp.Data.Result, &series); err != nil {
			return nil, err
		}
		samples := make([]Sample, 0, len(series))
		for _, s := range series {
			v, err := value(s.Value)
			if err != nil {
				return nil, err
			}
			samples = append(samples, Sample{Labels: s.Metric, Value: v})
		}
		return samples, nil
	default:
		return nil, fmt.Errorf("result type %q, want vector or scalar (an instant query)", resp.Data.ResultType)
	}
}

// Prometheus configuration, as the subset of its YAML this harness writes.
type (
	promConfig struct {
		Global        promGlobal     `yaml:"global"`
		RuleFiles     []string       `yaml:"rule_files,omitempty"`
		ScrapeConfigs []scrapeConfig `yaml:"scrape_configs"`
	}
	promGlobal struct {
		ScrapeInterval     string `yaml:"scrape_interval"`
		ScrapeTimeout      string `yaml:"scrape_timeout"`
		EvaluationInterval string `yaml:"evaluation_interval"`
	}
	scrapeConfig struct {
		JobName              string             `yaml:"job_name"`
		HonorLabels          bool               `yaml:"honor_labels,omitempty"`
		HonorTimestamps      *bool              `yaml:"honor_timestamps,omitempty"`
		Scheme               string             `yaml:"scheme,omitempty"`
		MetricsPath          string             `yaml:"metrics_path,omitempty"`
		Authorization        *promAuthorization `yaml:"authorization,omitempty"`
		TLSConfig            *promTLSConfig     `yaml:"tls_config,omitempty"`
		HTTPSDConfigs        []httpSD           `yaml:"http_sd_configs,omitempty"`
		StaticConfigs        []targetGroup      `yaml:"static_configs,omitempty"`
		RelabelConfigs       []relabelConfig    `yaml:"relabel_configs,omitempty"`
		MetricRelabelConfigs []relabelConfig    `yaml:"metric_relabel_configs,omitempty"`
	}
	httpSD struct {
		URL             string `yaml:"url"`
		RefreshInterval string `yaml:"refresh_interval"`
	}
	promAuthorization struct {
		CredentialsFile string `yaml:"credentials_file"`
	}
	promTLSConfig struct {
		CAFile string `yaml:"ca_file"`
	}
	relabelConfig struct {
		SourceLabels []string `yaml:"source_labels,omitempty,flow"`
		Regex        string   `yaml:"regex,omitempty"`
		Action       string   `yaml:"action,omitempty"`
	}
)

// prometheusConfig returns Prometheus's configuration: the tenant pods and
// the operator, found through the discovery server at sdBase, scraped every
// opts.ScrapeInterval; the rules evaluated as often; the rule files of
// opts.Rules loaded. Targets are refreshed as often as they are scraped, so
// a canary's pods are scraped within one interval of starting.
//
// The operator job keeps the operator's own labels: its gauges carry the
// tenant and namespace of the objects they count, and its targets set
// neither (only pod). The kubelet jobs follow (kubeletScrapeConfigs).
func prometheusConfig(opts PrometheusOptions, sdBase string, kubelet kubeletTarget) (string, error) {
	interval := opts.ScrapeInterval.String()
	sd := func(path string) []httpSD { return []httpSD{{URL: sdURL(sdBase, path), RefreshInterval: interval}} }
	cfg := promConfig{
		Global: promGlobal{ScrapeInterval: interval, ScrapeTimeout: interval, EvaluationInterval: interval},
		ScrapeConfigs: []scrapeConfig{
			{
				JobName:       "tenant-pods",
				HTTPSDConfigs: sd(sdTenantPodsPath),
				// The discovery lists only targets with a tenant; this
				// keeps it so should it ever list others, since a target
				// without one would let a pod's own tenant label through.
				RelabelConfigs: []relabelConfig{{SourceLabels: []string{"tenant"}, Regex: ".+", Action: "keep"}},
			},
			{JobName: "tenantry-operator", HTTPSDConfigs: sd(sdOperatorPath)},
		},
	}
	cfg.ScrapeConfigs = append(cfg.ScrapeConfigs, kubeletScrapeConfigs(kubelet)...)
	for _, name := range slices.Sorted(maps.Keys(opts.Rules)) {
		cfg.RuleFiles = append(cfg.RuleFiles, prometheusRulesDir+"/"+name)
	}
	out, err := yaml.Marshal(cfg)
	if err != nil {
		return "", err
	}
	return string(out), nil
}

// prometheusObjectSet holds Prometheus's objects: a namespace with Pod
// Security restricted enforced, a ServiceAccount of its own with the one
// right to read the kubelet's metrics (discovery is the harness's, so it
// needs no other), its configuration and rules, a Deployment and a Service.
type prometheusObjectSet struct {
	namespace          *corev1.Namespace
	serviceAccount     *corev1.ServiceAccount
	clusterRole        *rbacv1.ClusterRole
	clusterRoleBinding *rbacv1.ClusterRoleBinding
	configMap          *corev1.ConfigMap
	deployment         *appsv1.Deployment
	service            *corev1.Service
}

// prometheusLabels select Prometheus's pod.
var prometheusLabels = map[string]string{"app.kubernetes.io/name": prometheusName}

func prometheusObjects(opts PrometheusOptions, image, config string) prometheusObjectSet {
	meta := metav1.ObjectMeta{Name: prometheusName, Namespace: opts.Namespace, Labels: prometheusLabels}
	data := map[string]string{prometheusConfigFile: config}
	var items []corev1.KeyToPath
	items = append(items, corev1.KeyToPath{Key: prometheusConfigFile, Path: prometheusConfigFile})
	for _, name := range slices.Sorted(maps.Keys(opts.Rules)) {
		key := "rules-" + name
		data[key] = opts.Rules[name]
		items = append(items, corev1.KeyToPath{Key: key, Path: "rules/" + name})
	}
	return prometheusObjectSet{
		namespace: &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
			Name:   opts.Namespace,
			Labels: map[string]string{"pod-security.kubernetes.io/enforce": "restricted"},
		}},
		serviceAccount: &corev1.ServiceAccount{ObjectMeta: meta},
		clusterRole: &rbacv1.ClusterRole{
			ObjectMeta: metav1.ObjectMeta{Name: prometheusKubeletRole, Labels: prometheusLabels},
			// The kubelet authorizes every /metrics/* path (resource,
			// cadvisor, probes) as get nodes/metrics; /stats/* would be
			// nodes/stats, which no job reads.
			Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"nodes/metrics"}, Verbs: []string{"get"}}},
		},
		clusterRoleBinding: &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: prometheusKubeletRole, Labels: prometheusLabels},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: prometheusKubeletRole},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: prometheusName, Namespace: opts.Namespace}},
		},
		configMap: &corev1.ConfigMap{ObjectMeta: meta, Data: data},
		deployment: &appsv1.Deployment{
			ObjectMeta: meta,
			Spec: appsv1.DeploymentSpec{
				Replicas: ptr.To[int32](1),
				Selector: &metav1.LabelSelector{MatchLabels: prometheusLabels},
				// One TSDB at a time: a second pod beside the old one
				// would only double the scrapes during a restart.
				Strategy: appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: prometheusLabels},
					Spec:       prometheusPodSpec(image, items),
				},
			},
		},
		service: &corev1.Service{
			ObjectMeta: meta,
			Spec: corev1.ServiceSpec{
				Selector: prometheusLabels,
				Ports:    []corev1.ServicePort{{Name: "http", Port: prometheusPort, TargetPort: intstr.FromString("http")}},
			},
		},
	}
}

// prometheusPodSpec runs Prometheus as Pod Security "restricted" requires:
// non-root, no capabilities, read-only root file system; its TSDB and
// write-ahead log go to an emptyDir (the data lives as long as the pod, as
// a test's does).
func prometheusPodSpec(image string, configItems []corev1.KeyToPath) corev1.PodSpec {
	ready := &corev1.Probe{
		ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/-/ready", Port: intstr.FromString("http")}},
		PeriodSeconds: 1,
	}
	// The emptyDir is the user's to write.
	security := restrictedPodSecurity()
	security.FSGroup = ptr.To[int64](images.NonRootUID)
	return corev1.PodSpec{
		ServiceAccountName: prometheusName,
		// The kubelet jobs authenticate with the token and verify the
		// kubelet against the ca.crt mounted beside it; the kubelet
		// refreshes the token before it expires, and Prometheus reads the
		// file again for every scrape.
		AutomountServiceAccountToken: ptr.To(true),
		SecurityContext:              security,
		Containers: []corev1.Container{{
			Name:            prometheusName,
			Image:           image,
			ImagePullPolicy: corev1.PullAlways,
			Args: []string{
				"--config.file=" + prometheusConfigDir + "/" + prometheusConfigFile,
				"--storage.tsdb.path=" + prometheusDataDir,
				"--storage.tsdb.retention.time=1d",
				"--web.listen-address=:" + strconv.Itoa(prometheusPort),
			},
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: prometheusPort}},
			Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
				Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")},
			},
			VolumeMounts: []corev1.VolumeMount{
				{Name: "config", MountPath: prometheusConfigDir, ReadOnly: true},
				{Name: "data", MountPath: prometheusDataDir},
			},
			ReadinessProbe:  ready,
			SecurityContext: restrictedContainerSecurity(),
		}},
		Volumes: []corev1.Volume{
			{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: prometheusName}, Items: configItems,
			}}},
			{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		},
	}
}

// deploymentAvailable returns nil once a Deployment has an available
// replica, else an error that says why each of its pods is not ready.
func (c *Cluster) deploymentAvailable(ctx context.Context, namespace, name string) error {
	d, err := c.client.AppsV1().Deployments(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	if d.Status.AvailableReplicas > 0 {
		return nil
	}
	selector, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return err
	}
	pods, err := c.client.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: selector.String()})
	if err != nil {
		return err
	}
	return fmt.Errorf("deployment %s/%s has no replica available: %s", namespace, name, podsNotReady(pods.Items))
}

package localcluster

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestPrometheusConfig(t *testing.T) {
	tests := []struct {
		name          string
		opts          PrometheusOptions
		wantInterval  string
		wantRuleFiles []string
	}{
		{name: "test interval, no rules", opts: PrometheusOptions{ScrapeInterval: 2 * time.Second}, wantInterval: "2s"},
		{
			name:          "rule files are loaded from the rules folder, sorted",
			opts:          PrometheusOptions{ScrapeInterval: 15 * time.Second, Rules: map[string]string{"b.yaml": "groups: []", "a.yaml": "groups: []"}},
			wantInterval:  "15s",
			wantRuleFiles: []string{"/etc/prometheus/rules/a.yaml", "/etc/prometheus/rules/b.yaml"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := prometheusConfig(tt.opts, "http://192.0.2.1:4321", testKubelet)
			if err != nil {
				t.Fatal(err)
			}
			var cfg promConfig
			if err := yaml.Unmarshal([]byte(out), &cfg); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			i := tt.wantInterval
			if cfg.Global != (promGlobal{i, i, i}) {
				t.Errorf("global = %+v, want every interval %s", cfg.Global, i)
			}
			if !reflect.DeepEqual(cfg.RuleFiles, tt.wantRuleFiles) {
				t.Errorf("rule_files = %v, want %v", cfg.RuleFiles, tt.wantRuleFiles)
			}
			want := []scrapeConfig{
				{
					JobName:        "tenant-pods",
					HTTPSDConfigs:  []httpSD{{URL: "http://192.0.2.1:4321/targets/tenant-pods", RefreshInterval: i}},
					RelabelConfigs: []relabelConfig{{SourceLabels: []string{"tenant"}, Regex: ".+", Action: "keep"}},
				},
				{JobName: "tenantry-operator", HTTPSDConfigs: []httpSD{{URL: "http://192.0.2.1:4321/targets/operator", RefreshInterval: i}}},
				kubeletJob("kubelet", "/metrics/resource", nil),
				kubeletJob("kubelet-cadvisor", "/metrics/cadvisor", []relabelConfig{
					{SourceLabels: []string{"__name__"}, Regex: "machine_cpu_cores|machine_memory_bytes", Action: "keep"},
				}),
			}
			if !reflect.DeepEqual(cfg.ScrapeConfigs, want) {
				t.Errorf("scrape_configs:\n got %+v\nwant %+v", cfg.ScrapeConfigs, want)
			}
		})
	}
}

// testKubelet is the node the configuration tests scrape.
var testKubelet = kubeletTarget{node: "real-node-0", addr: "192.0.2.1:10250"}

// kubeletJob is a kubelet job as testKubelet's configuration has it: over
// HTTPS with the pod's ServiceAccount token, the kubelet verified against
// the cluster CA mounted with it, its own labels kept and the node's
// added, its timestamps dropped.
func kubeletJob(name, path string, metricRelabel []relabelConfig) scrapeConfig {
	return scrapeConfig{
		JobName:              name,
		HonorLabels:          true,
		HonorTimestamps:      ptr.To(false),
		Scheme:               "https",
		MetricsPath:          path,
		Authorization:        &promAuthorization{CredentialsFile: "/var/run/secrets/kubernetes.io/serviceaccount/token"},
		TLSConfig:            &promTLSConfig{CAFile: "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"},
		StaticConfigs:        []targetGroup{{Targets: []string{"192.0.2.1:10250"}, Labels: map[string]string{"node": "real-node-0"}}},
		MetricRelabelConfigs: metricRelabel,
	}
}

// TestPrometheusConfigKubeletYAML pins the kubelet jobs as Prometheus reads
// them: the field names and nesting a struct comparison cannot see.
func TestPrometheusConfigKubeletYAML(t *testing.T) {
	out, err := prometheusConfig(PrometheusOptions{ScrapeInterval: 2 * time.Second}, "http://192.0.2.1:4321", testKubelet)
	if err != nil {
		t.Fatal(err)
	}
	want := `
    - job_name: kubelet
      honor_labels: true
      honor_timestamps: false
      scheme: https
      metrics_path: /metrics/resource
      authorization:
        credentials_file: /var/run/secrets/kubernetes.io/serviceaccount/token
      tls_config:
        ca_file: /var/run/secrets/kubernetes.io/serviceaccount/ca.crt
      static_configs:
        - targets:
            - 192.0.2.1:10250
          labels:
            node: real-node-0
    - job_name: kubelet-cadvisor
      honor_labels: true
      honor_timestamps: false
      scheme: https
      metrics_path: /metrics/cadvisor
      authorization:
        credentials_file: /var/run/secrets/kubernetes.io/serviceaccount/token
      tls_config:
        ca_file: /var/run/secrets/kubernetes.io/serviceaccount/ca.crt
      static_configs:
        - targets:
            - 192.0.2.1:10250
          labels:
            node: real-node-0
      metric_relabel_configs:
        - source_labels: [__name__]
          regex: machine_cpu_cores|machine_memory_bytes
          action: keep
`
	if !strings.HasSuffix(out, want) {
		t.Errorf("the configuration does not end with the kubelet jobs:\n%s\nwant it to end with:%s", out, want)
	}
}

// TestPrometheusConfigPromtool has Prometheus's own checker read the
// configuration, rule files included, when promtool is installed (Debian's
// prometheus package ships it): what Debian's build accepts is what the
// pod runs.
func TestPrometheusConfigPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed (hack/node-packages.sh installs Debian's prometheus)")
	}
	dir := t.TempDir()
	rules := map[string]string{"platform.yaml": "groups:\n  - name: g\n    rules:\n      - record: x\n        expr: vector(1)\n"}
	out, err := prometheusConfig(PrometheusOptions{ScrapeInterval: 2 * time.Second, Rules: rules}, "http://192.0.2.1:4321", testKubelet)
	if err != nil {
		t.Fatal(err)
	}
	// The absolute paths of the rule files and of the pod's ServiceAccount
	// token and CA (promtool checks that the kubelet jobs' credentials
	// file exists), moved under dir.
	out = strings.ReplaceAll(out, prometheusRulesDir, filepath.Join(dir, "rules"))
	out = strings.ReplaceAll(out, serviceAccountDir, filepath.Join(dir, "serviceaccount"))
	ca, err := newCA("promtool-test-ca")
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{"serviceaccount/token": "a-token", "serviceaccount/ca.crt": string(ca.caPEM)}
	for name, content := range rules {
		files["rules/"+name] = content
	}
	for name, content := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	config := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(config, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	check, err := exec.Command(promtool, "check", "config", config).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check config: %v\n%s\n%s", err, check, out)
	}
	t.Logf("promtool check config:\n%s", check)
}

func TestTenantPodTargets(t *testing.T) {
	namespaces := []corev1.Namespace{
		{ObjectMeta: metav1.ObjectMeta{Name: "acme-prod", Labels: map[string]string{tenantLabel: "acme"}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "globex", Labels: map[string]string{tenantLabel: "globex"}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "kube-system"}},
	}
	pod := func(ns, name string, mutate func(*corev1.Pod)) corev1.Pod {
		p := corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name,
				Annotations: map[string]string{annotationScrape: "true", annotationPort: "8080"},
				Labels:      map[string]string{rolloutsHashLabel: "abc123"}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.245.0.7"},
		}
		if mutate != nil {
			mutate(&p)
		}
		return p
	}
	tests := []struct {
		name string
		pod  corev1.Pod
		want []targetGroup // nil: no target
	}{
		{
			name: "a canary pod of a tenant: its tenant from the namespace, its revision",
			pod:  pod("acme-prod", "web-abc123-x", nil),
			want: []targetGroup{{Targets: []string{"10.245.0.7:8080"}, Labels: map[string]string{
				"__metrics_path__": "/metrics", "namespace": "acme-prod", "pod": "web-abc123-x", "tenant": "acme", "rollouts_pod_template_hash": "abc123",
			}}},
		},
		{
			name: "a pod claiming another tenant by label still counts as its namespace's",
			pod: pod("globex", "spoof", func(p *corev1.Pod) {
				p.Labels = map[string]string{tenantLabel: "acme", "tenant": "acme"}
				p.Annotations[annotationPath] = "/stats"
			}),
			want: []targetGroup{{Targets: []string{"10.245.0.7:8080"}, Labels: map[string]string{
				"__metrics_path__": "/stats", "namespace": "globex", "pod": "spoof", "tenant": "globex",
			}}},
		},
		{
			name: "no port annotation: the first TCP container port",
			pod: pod("globex", "ports", func(p *corev1.Pod) {
				delete(p.Annotations, annotationPort)
				p.Spec.Containers = []corev1.Container{{Ports: []corev1.ContainerPort{{ContainerPort: 53, Protocol: corev1.ProtocolUDP}, {ContainerPort: 9000}}}}
			}),
			want: []targetGroup{{Targets: []string{"10.245.0.7:9000"}, Labels: map[string]string{
				"__metrics_path__": "/metrics", "namespace": "globex", "pod": "ports", "tenant": "globex", "rollouts_pod_template_hash": "abc123",
			}}},
		},
		{name: "not annotated", pod: pod("globex", "quiet", func(p *corev1.Pod) { delete(p.Annotations, annotationScrape) })},
		{name: "not a tenant's namespace", pod: pod("kube-system", "coredns", nil)},
		{name: "pending, no IP yet", pod: pod("globex", "new", func(p *corev1.Pod) { p.Status = corev1.PodStatus{Phase: corev1.PodPending} })},
		{name: "finished", pod: pod("globex", "done", func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded })},
		{name: "a port that is no number", pod: pod("globex", "bad", func(p *corev1.Pod) { p.Annotations[annotationPort] = "http" })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tenantPodTargets([]corev1.Pod{tt.pod}, namespaces)
			if tt.want == nil {
				tt.want = []targetGroup{}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("targets:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestEndpointTargets(t *testing.T) {
	name := func(s string) *string { return &s }
	port := func(p int32) *int32 { return &p }
	slices := []discoveryv1.EndpointSlice{
		{
			Ports: []discoveryv1.EndpointPort{{Name: name("health"), Port: port(8081)}, {Name: name("metrics"), Port: port(8080)}},
			Endpoints: []discoveryv1.Endpoint{
				{Addresses: []string{"10.245.0.9"}, TargetRef: &corev1.ObjectReference{Kind: "Pod", Name: "op-b"}},
				{Addresses: []string{"10.245.0.8"}, TargetRef: &corev1.ObjectReference{Kind: "Pod", Name: "op-a"}},
			},
		},
		{Ports: []discoveryv1.EndpointPort{{Name: name("other"), Port: port(1)}}, Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.245.0.1"}}}},
	}
	want := []targetGroup{
		{Targets: []string{"10.245.0.8:8080"}, Labels: map[string]string{"pod": "op-a"}},
		{Targets: []string{"10.245.0.9:8080"}, Labels: map[string]string{"pod": "op-b"}},
	}
	if got := endpointTargets(slices, "metrics"); !reflect.DeepEqual(got, want) {
		t.Errorf("targets:\n got %+v\nwant %+v", got, want)
	}
}

func TestImageTag(t *testing.T) {
	for version, want := range map[string]string{
		"2.42.0+ds": "2.42.0-ds",
		"v1.10.1":   "v1.10.1",
		"3.0.0~rc1": "3.0.0-rc1",
	} {
		if got := imageTag(version); got != want {
			t.Errorf("imageTag(%q) = %q, want %q", version, got, want)
		}
	}
}

func TestParseQueryResponse(t *testing.T) {
	tests := []struct {
		name, body string
		want       []Sample
		wantErr    string
	}{
		{
			name: "vector",
			body: `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"tenant":"acme"},"value":[1700000000.1,"0.95"]}]}}`,
			want: []Sample{{Labels: map[string]string{"tenant": "acme"}, Value: 0.95}},
		},
		{name: "empty vector", body: `{"status":"success","data":{"resultType":"vector","result":[]}}`, want: []Sample{}},
		{
			name: "scalar",
			body: `{"status":"success","data":{"resultType":"scalar","result":[1700000000,"1"]}}`,
			want: []Sample{{Value: 1}},
		},
		{name: "error", body: `{"status":"error","errorType":"bad_data","error":"parse error"}`, wantErr: "prometheus answered error: parse error"},
		{name: "range result", body: `{"status":"success","data":{"resultType":"matrix","result":[]}}`, wantErr: `result type "matrix"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseQueryResponse([]byte(tt.body))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestAddonPodsRestricted checks the pods of Prometheus and of the in-cluster
// Argo Rollouts controller against Pod Security restricted, which the
// monitoring namespace enforces, and the namespace against the platform
// chart's monitoringNamespaceSelector.
func TestAddonPodsRestricted(t *testing.T) {
	prom := prometheusObjects(PrometheusOptions{Namespace: "monitoring", Rules: map[string]string{"a.yaml": "groups: []"}}, "registry.example/prometheus:1", "global: {}")
	if got := prom.namespace.Labels["pod-security.kubernetes.io/enforce"]; got != "restricted" {
		t.Errorf("namespace monitoring enforces %q, want restricted", got)
	}
	for name, spec := range map[string]corev1.PodSpec{
		"prometheus":    prom.deployment.Spec.Template.Spec,
		"argo-rollouts": rolloutsPodSpec("registry.example/argo-rollouts:1"),
	} {
		if v := restrictedViolations(spec); len(v) > 0 {
			t.Errorf("%s's pod violates Pod Security restricted:\n%s", name, strings.Join(v, "\n"))
		}
		if ro := spec.Containers[0].SecurityContext.ReadOnlyRootFilesystem; ro == nil || !*ro {
			t.Errorf("%s: root file system writable, want read-only (writes go to emptyDirs)", name)
		}
	}
	// The configuration and each rule file, mounted from the one ConfigMap.
	var paths []string
	for _, item := range prom.deployment.Spec.Template.Spec.Volumes[0].ConfigMap.Items {
		paths = append(paths, item.Path)
		if _, ok := prom.configMap.Data[item.Key]; !ok {
			t.Errorf("item %s: no key %s in the ConfigMap", item.Path, item.Key)
		}
	}
	if want := []string{"prometheus.yml", "rules/a.yaml"}; !reflect.DeepEqual(paths, want) {
		t.Errorf("config files %v, want %v", paths, want)
	}
}

// TestPrometheusKubeletRights checks that Prometheus's ServiceAccount gets
// what the kubelet jobs need and nothing more: its token mounted, and get
// on nodes/metrics, the one right the kubelet asks for /metrics/*.
func TestPrometheusKubeletRights(t *testing.T) {
	o := prometheusObjects(PrometheusOptions{Namespace: "monitoring"}, "registry.example/prometheus:1", "global: {}")
	spec := o.deployment.Spec.Template.Spec
	if spec.ServiceAccountName != o.serviceAccount.Name {
		t.Errorf("pod runs as %q, want the ServiceAccount %q", spec.ServiceAccountName, o.serviceAccount.Name)
	}
	if a := spec.AutomountServiceAccountToken; a == nil || !*a {
		t.Errorf("pod automountServiceAccountToken = %v, want true (the kubelet jobs' credentials_file)", a)
	}
	if a := o.serviceAccount.AutomountServiceAccountToken; a != nil && !*a {
		t.Error("ServiceAccount refuses to mount its token, want it mounted")
	}
	want := []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"nodes/metrics"}, Verbs: []string{"get"}}}
	if !reflect.DeepEqual(o.clusterRole.Rules, want) {
		t.Errorf("ClusterRole %s grants %+v, want %+v", o.clusterRole.Name, o.clusterRole.Rules, want)
	}
	b := o.clusterRoleBinding
	sa := []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: o.serviceAccount.Name, Namespace: "monitoring"}}
	if !reflect.DeepEqual(b.Subjects, sa) || b.RoleRef.Kind != "ClusterRole" || b.RoleRef.Name != o.clusterRole.Name {
		t.Errorf("ClusterRoleBinding binds %+v to %s %s, want %+v to ClusterRole %s", b.Subjects, b.RoleRef.Kind, b.RoleRef.Name, sa, o.clusterRole.Name)
	}
}

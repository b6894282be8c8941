package chart

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/loader/archive"
	"helm.sh/helm/v4/pkg/chart/v2/lint/support"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	release "helm.sh/helm/v4/pkg/release/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	psaapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
	"sigs.k8s.io/yaml"

	"github.com/tenantry/tenantry/charts"
)

// The release the tenant app tests render: Argo CD names the release after
// the Application and renders it for the app's namespace.
const (
	appRelease   = "hello"
	appNamespace = "acme-dev"
	// appRegistry is the registry every plan allows.
	appRegistry = "registry.tenantry.dev/"
)

// renderTenantApp renders charts/tenant-app as embedded in package charts,
// the copy the demo and the tests publish to Git, as `helm template` does
// (values checked against values.schema.json).
func renderTenantApp(values map[string]any) (string, error) {
	var files []*archive.BufferedFile
	err := fs.WalkDir(charts.TenantApp, "tenant-app", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := charts.TenantApp.ReadFile(name)
		if err != nil {
			return err
		}
		files = append(files, &archive.BufferedFile{Name: strings.TrimPrefix(name, "tenant-app/"), Data: data})
		return nil
	})
	if err != nil {
		return "", err
	}
	chrt, err := loader.LoadFiles(files)
	if err != nil {
		return "", fmt.Errorf("loading the embedded tenant-app chart: %w", err)
	}
	install := action.NewInstall(action.NewConfiguration())
	install.DryRunStrategy = action.DryRunClient
	install.Replace = true
	install.ReleaseName, install.Namespace = appRelease, appNamespace
	if install.KubeVersion, err = common.ParseKubeVersion(KubeVersion); err != nil {
		return "", err
	}
	if values == nil {
		values = map[string]any{}
	}
	rel, err := install.RunWithContext(context.Background(), chrt, values)
	if err != nil {
		return "", err
	}
	r, ok := rel.(*release.Release)
	if !ok {
		return "", fmt.Errorf("unexpected release type %T", rel)
	}
	return r.Manifest, nil
}

// values parses YAML values, so test cases read as a values file would.
func values(t *testing.T, s string) map[string]any {
	t.Helper()
	v := map[string]any{}
	if err := yaml.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("values %q: %v", s, err)
	}
	return v
}

// TestTenantAppLint runs what `helm lint --strict` does, with the default
// values and with every optional part switched on.
func TestTenantAppLint(t *testing.T) {
	dir := filepath.Join(Dir(), "..", "tenant-app")
	for name, v := range map[string]string{
		"defaults":  "",
		"blueGreen": "strategy: blueGreen",
		"everything on": `
tenant: acme
autoscaling: {enabled: true, targetMemoryUtilizationPercentage: 80}
ingress: {enabled: true, className: nginx, hosts: [hello.acme.example.com], tls: [{secretName: hello-tls, hosts: [hello.acme.example.com]}]}
analysis: {initialDelay: 10s, noData: fail, prometheus: {address: "http://mimir.monitoring:8080/prometheus"}}
`,
		"traffic through Traefik": "{trafficRouting: {traefik: {enabled: true}}, ingress: {enabled: true, hosts: [hello.acme.example.com]}}",
	} {
		t.Run(name, func(t *testing.T) {
			lint := action.NewLint()
			lint.Strict = true
			lint.Namespace = appNamespace
			result := lint.Run([]string{dir}, values(t, v))
			for _, msg := range result.Messages {
				if msg.Severity >= support.WarningSev {
					t.Errorf("helm lint: %s", msg)
				} else {
					t.Logf("helm lint: %s", msg)
				}
			}
			for _, err := range result.Errors {
				t.Errorf("helm lint: %v", err)
			}
		})
	}
}

// TestTenantAppRender checks what the chart renders: the Rollout's strategy,
// steps and analysis, the Services, the AnalysisTemplates and their
// arguments, and the optional objects. Every case also goes through
// checkTenantApp: each pod template passes Pod Security restricted and the
// platform's image rules, and every analysis argument resolves.
func TestTenantAppRender(t *testing.T) {
	canaryAnalysis := map[string]any{
		"templates": []any{
			map[string]any{"templateName": "hello-success-rate"},
			map[string]any{"templateName": "hello-latency"},
			map[string]any{"templateName": "hello-web"},
		},
		"args": []any{
			map[string]any{"name": "namespace", "valueFrom": map[string]any{"fieldRef": map[string]any{"fieldPath": "metadata.namespace"}}},
			map[string]any{"name": "new-hash", "valueFrom": map[string]any{"podTemplateHashValue": "Latest"}},
			map[string]any{"name": "service", "value": "hello-canary"},
		},
	}
	pause30s := map[string]any{"pause": map[string]any{"duration": "30s"}}
	tests := []struct {
		name   string
		values string
		check  func(t *testing.T, objs []*unstructured.Unstructured)
	}{{
		name: "canary by default",
		check: func(t *testing.T, objs []*unstructured.Unstructured) {
			wantKinds(t, objs, "AnalysisTemplate", "NetworkPolicy", "PodDisruptionBudget", "Rollout", "Service")
			ro := rollout(t, objs)
			wantField(t, ro, 2, "spec", "replicas")
			wantField(t, ro, "hello-stable", "spec", "strategy", "canary", "stableService")
			wantField(t, ro, "hello-canary", "spec", "strategy", "canary", "canaryService")
			wantField(t, ro, "25%", "spec", "strategy", "canary", "maxSurge")
			wantField(t, ro, 0, "spec", "strategy", "canary", "maxUnavailable")
			if _, ok, _ := unstructured.NestedMap(ro.Object, "spec", "strategy", "canary", "trafficRouting"); ok {
				t.Error("the default canary has trafficRouting; without a router its share is its share of the pods")
			}
			wantField(t, ro, []any{
				map[string]any{"setWeight": 20}, pause30s,
				map[string]any{"analysis": canaryAnalysis},
				map[string]any{"setWeight": 50}, pause30s,
				map[string]any{"setWeight": 100},
			}, "spec", "strategy", "canary", "steps")
			wantServices(t, objs, "hello", "hello-stable", "hello-canary")

			c := podContainer(t, ro)
			wantEnv(t, c, "VERSION", "0.1.0")
			wantEnv(t, c, "FAILURE_RATE", "0")
			wantEnv(t, c, "LATENCY", "0s")
			if got := envVar(c, "TENANT")["valueFrom"]; !reflect.DeepEqual(got, map[string]any{"secretKeyRef": map[string]any{
				"name": "tenantry-analysis", "key": "tenant", "optional": true}}) {
				t.Errorf("TENANT = %v, want the tenant's defaults (optional)", got)
			}
			if c["image"] != "registry.tenantry.dev/demo-app:0.1.0" {
				t.Errorf("image = %v, want the appVersion tag", c["image"])
			}

			// The tenant's defaults: every Prometheus argument not set in
			// values comes from the Secret the operator writes.
			for _, name := range []string{"hello-success-rate", "hello-latency"} {
				at := find(objs, "AnalysisTemplate", name)
				for _, key := range []string{"prometheus-address", "tenant", "authorization"} {
					if got := templateArg(t, at, key)["valueFrom"]; !reflect.DeepEqual(got, map[string]any{"secretKeyRef": map[string]any{"name": "tenantry-analysis", "key": key}}) {
						t.Errorf("%s: arg %s = %v, want key %s of Secret tenantry-analysis", name, key, got, key)
					}
				}
				prom := metric(t, at)
				wantField(t, prom, "{{args.prometheus-address}}", "provider", "prometheus", "address")
				wantField(t, prom, []any{
					map[string]any{"key": "X-Scope-OrgID", "value": "{{args.tenant}}"},
					map[string]any{"key": "Authorization", "value": "{{args.authorization}}"},
				}, "provider", "prometheus", "headers")
				query, _, _ := unstructured.NestedString(prom, "provider", "prometheus", "query")
				for _, want := range []string{`tenant="{{args.tenant}}"`, `namespace="{{args.namespace}}"`, `rollouts_pod_template_hash="{{args.new-hash}}"`, `route!~"/healthz|/readyz|/metrics"`} {
					if !strings.Contains(query, want) {
						t.Errorf("%s: query lacks %s:\n%s", name, want, query)
					}
				}
				wantField(t, prom, "30s", "interval")
				wantField(t, prom, 3, "count")
				wantField(t, prom, 1, "failureLimit")
				if _, ok := prom["failureCondition"]; !ok {
					t.Errorf("%s: no failureCondition: without data a measurement must be inconclusive, not failed", name)
				}
			}
			sr := find(objs, "AnalysisTemplate", "hello-success-rate")
			wantField(t, templateArg(t, sr, "min-success-rate"), "0.95", "value")
			wantField(t, metric(t, sr), `len(result) > 0 && !isNaN(result[0]) && result[0] >= {{args.min-success-rate}}`, "successCondition")
			query, _, _ := unstructured.NestedString(metric(t, sr), "provider", "prometheus", "query")
			if !strings.Contains(query, "sum(rate(demo_app_requests_total{") || !strings.Contains(query, `code!~"5.."`) {
				t.Errorf("success-rate query: %s", query)
			}
			lat := find(objs, "AnalysisTemplate", "hello-latency")
			wantField(t, templateArg(t, lat, "latency-quantile"), "0.95", "value")
			wantField(t, templateArg(t, lat, "max-latency-seconds"), "0.5", "value")
			query, _, _ = unstructured.NestedString(metric(t, lat), "provider", "prometheus", "query")
			if !strings.Contains(query, "histogram_quantile({{args.latency-quantile}},") || !strings.Contains(query, "demo_app_request_duration_seconds_bucket{") {
				t.Errorf("latency query: %s", query)
			}
			web := metric(t, find(objs, "AnalysisTemplate", "hello-web"))
			wantField(t, web, "http://{{args.service}}.{{args.namespace}}.svc/healthz", "provider", "web", "url")
			wantField(t, web, "{$.status}", "provider", "web", "jsonPath")
			wantField(t, web, `result == "ok"`, "successCondition")
			// A fresh connection per measurement, to the pods the Service selects now.
			wantField(t, web, []any{map[string]any{"key": "Connection", "value": "close"}}, "provider", "web", "headers")

			np := find(objs, "NetworkPolicy", "hello-allow-rollouts")
			wantField(t, np, map[string]any{"kubernetes.io/metadata.name": "argo-rollouts"}, "spec", "ingress", "0", "from", "0", "namespaceSelector", "matchLabels")
		},
	}, {
		name:   "blueGreen",
		values: "strategy: blueGreen",
		check: func(t *testing.T, objs []*unstructured.Unstructured) {
			ro := rollout(t, objs)
			if _, ok, _ := unstructured.NestedMap(ro.Object, "spec", "strategy", "canary"); ok {
				t.Error("blueGreen Rollout has a canary strategy too")
			}
			wantField(t, ro, "hello", "spec", "strategy", "blueGreen", "activeService")
			wantField(t, ro, "hello-preview", "spec", "strategy", "blueGreen", "previewService")
			wantField(t, ro, true, "spec", "strategy", "blueGreen", "autoPromotionEnabled")
			wantField(t, ro, 30, "spec", "strategy", "blueGreen", "scaleDownDelaySeconds")
			want := map[string]any{"templates": canaryAnalysis["templates"], "args": []any{
				canaryAnalysis["args"].([]any)[0], canaryAnalysis["args"].([]any)[1],
				map[string]any{"name": "service", "value": "hello-preview"},
			}}
			wantField(t, ro, want, "spec", "strategy", "blueGreen", "prePromotionAnalysis")
			wantServices(t, objs, "hello", "hello-preview")
		},
	}, {
		name:   "HPA on",
		values: "autoscaling: {enabled: true, minReplicas: 3, maxReplicas: 9}",
		check: func(t *testing.T, objs []*unstructured.Unstructured) {
			if _, ok, _ := unstructured.NestedFieldNoCopy(rollout(t, objs).Object, "spec", "replicas"); ok {
				t.Error("Rollout sets replicas although the HorizontalPodAutoscaler owns them")
			}
			hpa := find(objs, "HorizontalPodAutoscaler", "hello")
			if hpa == nil {
				t.Fatal("no HorizontalPodAutoscaler")
			}
			wantField(t, hpa, map[string]any{"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": "hello"}, "spec", "scaleTargetRef")
			wantField(t, hpa, 3, "spec", "minReplicas")
			wantField(t, hpa, 9, "spec", "maxReplicas")
			wantField(t, hpa, 80, "spec", "metrics", "0", "resource", "target", "averageUtilization")
		},
	}, {
		name:   "ingress on",
		values: "ingress: {enabled: true, className: nginx, hosts: [hello.acme.example.com]}",
		check: func(t *testing.T, objs []*unstructured.Unstructured) {
			ing := find(objs, "Ingress", "hello")
			if ing == nil {
				t.Fatal("no Ingress")
			}
			wantField(t, ing, "nginx", "spec", "ingressClassName")
			wantField(t, ing, "hello.acme.example.com", "spec", "rules", "0", "host")
			// The Service every version serves on, so the canary gets its share.
			wantField(t, ing, map[string]any{"name": "hello", "port": map[string]any{"name": "http"}}, "spec", "rules", "0", "http", "paths", "0", "backend", "service")
		},
	}, {
		name:   "analysis disabled",
		values: "analysis: {enabled: false}",
		check: func(t *testing.T, objs []*unstructured.Unstructured) {
			wantKinds(t, objs, "PodDisruptionBudget", "Rollout", "Service")
			wantField(t, rollout(t, objs), []any{
				map[string]any{"setWeight": 20}, pause30s,
				map[string]any{"setWeight": 50}, pause30s,
				map[string]any{"setWeight": 100},
			}, "spec", "strategy", "canary", "steps")
		},
	}, {
		name:   "blueGreen without analysis",
		values: "{strategy: blueGreen, analysis: {enabled: false}}",
		check: func(t *testing.T, objs []*unstructured.Unstructured) {
			if _, ok, _ := unstructured.NestedMap(rollout(t, objs).Object, "spec", "strategy", "blueGreen", "prePromotionAnalysis"); ok {
				t.Error("prePromotionAnalysis without templates")
			}
		},
	}, {
		name: "per-app overrides, fast analysis for tests, a bad release",
		values: `
tenant: acme
image: {tag: 0.2.0}
faults: {failureRate: 0.5, latency: 300ms}
canary: {pauseDuration: 2s}
analysis:
  interval: 2s
  count: 2
  failureLimit: 0
  consecutiveErrorLimit: 1
  latency: {enabled: false}
  web: {enabled: false}
  successRate: {minimum: 0.99}
  prometheus: {address: "http://mimir.monitoring:8080/prometheus", tenantLabel: tenant_id, tenantHeader: ""}
`,
		check: func(t *testing.T, objs []*unstructured.Unstructured) {
			c := podContainer(t, rollout(t, objs))
			wantEnv(t, c, "TENANT", "acme")
			wantEnv(t, c, "VERSION", "0.2.0")
			wantEnv(t, c, "FAILURE_RATE", "0.5")
			wantEnv(t, c, "LATENCY", "300ms")
			if find(objs, "AnalysisTemplate", "hello-latency") != nil || find(objs, "AnalysisTemplate", "hello-web") != nil {
				t.Error("disabled AnalysisTemplates rendered")
			}
			if find(objs, "NetworkPolicy", "") != nil {
				t.Error("NetworkPolicy for the web analysis rendered without it")
			}
			sr := find(objs, "AnalysisTemplate", "hello-success-rate")
			wantField(t, templateArg(t, sr, "prometheus-address"), "http://mimir.monitoring:8080/prometheus", "value")
			wantField(t, templateArg(t, sr, "tenant"), "acme", "value")
			wantField(t, templateArg(t, sr, "min-success-rate"), "0.99", "value")
			// Credentials never come from values.
			wantField(t, templateArg(t, sr, "authorization"), map[string]any{"secretKeyRef": map[string]any{"name": "tenantry-analysis", "key": "authorization"}}, "valueFrom")
			m := metric(t, sr)
			wantField(t, m, []any{map[string]any{"key": "Authorization", "value": "{{args.authorization}}"}}, "provider", "prometheus", "headers")
			wantField(t, m, "2s", "interval")
			wantField(t, m, 2, "count")
			wantField(t, m, 0, "failureLimit")
			wantField(t, m, 1, "consecutiveErrorLimit")
			query, _, _ := unstructured.NestedString(m, "provider", "prometheus", "query")
			if !strings.Contains(query, `tenant_id="{{args.tenant}}"`) {
				t.Errorf("query not scoped by tenant_id: %s", query)
			}
			steps, _, _ := unstructured.NestedSlice(rollout(t, objs).Object, "spec", "strategy", "canary", "steps")
			wantField(t, map[string]any{"steps": steps}, map[string]any{"duration": "2s"}, "steps", "1", "pause")
			wantField(t, map[string]any{"steps": steps}, []any{
				map[string]any{"name": "namespace", "valueFrom": map[string]any{"fieldRef": map[string]any{"fieldPath": "metadata.namespace"}}},
				map[string]any{"name": "new-hash", "valueFrom": map[string]any{"podTemplateHashValue": "Latest"}},
			}, "steps", "2", "analysis", "args")
		},
	}, {
		name:   "no defaults Secret",
		values: `{tenant: acme, analysis: {defaultsSecret: "", prometheus: {address: "http://prometheus.monitoring:9090"}}}`,
		check: func(t *testing.T, objs []*unstructured.Unstructured) {
			for _, u := range objs {
				if data, _ := yaml.Marshal(u.Object); strings.Contains(string(data), "secretKeyRef") || strings.Contains(string(data), "args.authorization") {
					t.Errorf("%s %s reads a Secret although defaultsSecret is empty", u.GetKind(), u.GetName())
				}
			}
		},
	}, {
		name:   "canary through Traefik: weighted TraefikService, IngressRoute, no Ingress",
		values: `{trafficRouting: {traefik: {enabled: true}}, ingress: {enabled: true, hosts: [hello.acme.example.com, www.acme.example.com], path: /shop, tls: [{secretName: hello-tls}]}}`,
		check: func(t *testing.T, objs []*unstructured.Unstructured) {
			wantKinds(t, objs, "AnalysisTemplate", "IngressRoute", "NetworkPolicy", "PodDisruptionBudget", "Rollout", "Service", "TraefikService")
			ro := rollout(t, objs)
			wantField(t, ro, map[string]any{"traefik": map[string]any{"weightedTraefikServiceName": "hello"}}, "spec", "strategy", "canary", "trafficRouting")
			// The steps are the replica-weighted canary's: setWeight now
			// means a share of requests.
			wantField(t, ro, map[string]any{"setWeight": 20}, "spec", "strategy", "canary", "steps", "0")
			wantServices(t, objs, "hello", "hello-stable", "hello-canary")
			// Argo Rollouts finds the children by the names of the
			// Rollout's stable and canary Services.
			wantField(t, find(objs, "TraefikService", "hello"), map[string]any{"services": []any{
				map[string]any{"name": "hello-stable", "port": "http", "weight": 100},
				map[string]any{"name": "hello-canary", "port": "http", "weight": 0},
			}}, "spec", "weighted")
			route := find(objs, "IngressRoute", "hello")
			wantField(t, route, []any{
				map[string]any{"kind": "Rule", "match": "Host(`hello.acme.example.com`) && PathPrefix(`/shop`)",
					"services": []any{map[string]any{"kind": "TraefikService", "name": "hello"}}},
				map[string]any{"kind": "Rule", "match": "Host(`www.acme.example.com`) && PathPrefix(`/shop`)",
					"services": []any{map[string]any{"kind": "TraefikService", "name": "hello"}}},
			}, "spec", "routes")
			wantField(t, route, map[string]any{"secretName": "hello-tls"}, "spec", "tls")
		},
	}, {
		name:   "blue-green through Traefik: IngressRoute to the active Service",
		values: `{strategy: blueGreen, trafficRouting: {traefik: {enabled: true, entryPoints: [websecure]}}, ingress: {enabled: true, hosts: [hello.acme.example.com]}}`,
		check: func(t *testing.T, objs []*unstructured.Unstructured) {
			wantKinds(t, objs, "AnalysisTemplate", "IngressRoute", "NetworkPolicy", "PodDisruptionBudget", "Rollout", "Service")
			route := find(objs, "IngressRoute", "hello")
			wantField(t, route, []any{"websecure"}, "spec", "entryPoints")
			wantField(t, route, []any{map[string]any{"kind": "Rule", "match": "Host(`hello.acme.example.com`)",
				"services": []any{map[string]any{"kind": "Service", "name": "hello", "port": "http"}}}}, "spec", "routes")
			if _, ok, _ := unstructured.NestedMap(rollout(t, objs).Object, "spec", "strategy", "blueGreen", "trafficRouting"); ok {
				t.Error("a blue-green Rollout has trafficRouting; Argo Rollouts switches its active Service's selector")
			}
		},
	}, {
		name:   "own steps; analysis: {} runs the chart's analysis",
		values: "canary: {steps: [{setWeight: 10}, {pause: {}}, {analysis: {}}, {setWeight: 60}, {pause: {duration: 1m}}]}",
		check: func(t *testing.T, objs []*unstructured.Unstructured) {
			wantField(t, rollout(t, objs), []any{
				map[string]any{"setWeight": 10}, map[string]any{"pause": map[string]any{}},
				map[string]any{"analysis": canaryAnalysis},
				map[string]any{"setWeight": 60}, map[string]any{"pause": map[string]any{"duration": "1m"}},
			}, "spec", "strategy", "canary", "steps")
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			manifest, err := renderTenantApp(values(t, tt.values))
			if err != nil {
				t.Fatalf("rendering the chart: %v", err)
			}
			objs := decode(t, manifest)
			checkTenantApp(t, objs)
			tt.check(t, objs)
		})
	}
}

// checkTenantApp holds for every rendering: standard labels, pods the
// platform admits, and analysis whose arguments all resolve.
func checkTenantApp(t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	for _, u := range objs {
		l := u.GetLabels()
		if l["app.kubernetes.io/name"] != "tenant-app" || l["app.kubernetes.io/instance"] != appRelease || l["app.kubernetes.io/managed-by"] != "Helm" {
			t.Errorf("%s %s: labels %v lack the app.kubernetes.io ones", u.GetKind(), u.GetName(), l)
		}
		if u.GetName() != appRelease && !strings.HasPrefix(u.GetName(), appRelease+"-") {
			t.Errorf("%s %s is not named after the release", u.GetKind(), u.GetName())
		}
	}
	ro := rollout(t, objs)
	tmpl, _, _ := unstructured.NestedMap(ro.Object, "spec", "template")
	wantPodAdmitted(t, tmpl)

	// Every {{args.X}} an AnalysisTemplate uses is declared in it, and every
	// argument without a value is one the Rollout supplies.
	supplied := map[string]bool{}
	for _, a := range rolloutAnalyses(ro) {
		args, _, _ := unstructured.NestedSlice(a, "args")
		for _, arg := range args {
			supplied[arg.(map[string]any)["name"].(string)] = true
		}
		names, _, _ := unstructured.NestedSlice(a, "templates")
		for _, n := range names {
			name := n.(map[string]any)["templateName"].(string)
			if find(objs, "AnalysisTemplate", name) == nil {
				t.Errorf("the Rollout runs AnalysisTemplate %s, which the chart does not render", name)
			}
		}
	}
	argRef := regexp.MustCompile(`\{\{args\.([a-z0-9-]+)\}\}`)
	for _, at := range objs {
		if at.GetKind() != "AnalysisTemplate" {
			continue
		}
		declared := map[string]bool{}
		args, _, _ := unstructured.NestedSlice(at.Object, "spec", "args")
		for _, a := range args {
			arg := a.(map[string]any)
			declared[arg["name"].(string)] = true
			_, hasValue := arg["value"]
			_, hasValueFrom := arg["valueFrom"]
			if !hasValue && !hasValueFrom && !supplied[arg["name"].(string)] {
				t.Errorf("AnalysisTemplate %s: argument %s is supplied neither by the template nor by the Rollout", at.GetName(), arg["name"])
			}
		}
		metrics, _ := yaml.Marshal(at.Object["spec"].(map[string]any)["metrics"])
		for _, m := range argRef.FindAllStringSubmatch(string(metrics), -1) {
			if !declared[m[1]] {
				t.Errorf("AnalysisTemplate %s uses {{args.%s}}, which it does not declare", at.GetName(), m[1])
			}
		}
	}
}

// wantPodAdmitted checks a pod template against Pod Security restricted, as
// the API server evaluates it, and against the platform's image rules.
func wantPodAdmitted(t *testing.T, tmpl map[string]any) {
	t.Helper()
	var pod corev1.PodTemplateSpec
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(tmpl, &pod); err != nil {
		t.Fatalf("pod template: %v", err)
	}
	if reason := restrictedViolations(t, &pod); reason != "" {
		t.Errorf("the pod template violates Pod Security restricted: %s", reason)
	}
	if pod.Spec.AutomountServiceAccountToken == nil || *pod.Spec.AutomountServiceAccountToken {
		t.Error("the pod mounts a ServiceAccount token")
	}
	for _, c := range slices.Concat(pod.Spec.InitContainers, pod.Spec.Containers) {
		if !strings.HasPrefix(c.Image, appRegistry) {
			t.Errorf("container %s: image %s is not from %s", c.Name, c.Image, appRegistry)
		}
		if c.ImagePullPolicy != corev1.PullAlways {
			t.Errorf("container %s: imagePullPolicy %q, the platform requires Always", c.Name, c.ImagePullPolicy)
		}
		if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() ||
			c.Resources.Limits.Cpu().IsZero() || c.Resources.Limits.Memory().IsZero() {
			t.Errorf("container %s: resources %v lack a cpu or memory request or limit", c.Name, c.Resources)
		}
		if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" || c.LivenessProbe == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" {
			t.Errorf("container %s: want readiness /readyz and liveness /healthz probes", c.Name)
		}
	}
}

// restrictedViolations evaluates a pod template with Kubernetes' own Pod
// Security checks at level restricted, latest version.
func restrictedViolations(t *testing.T, pod *corev1.PodTemplateSpec) string {
	t.Helper()
	evaluator, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		t.Fatal(err)
	}
	lv := psaapi.LevelVersion{Level: psaapi.LevelRestricted, Version: psaapi.LatestVersion()}
	result := policy.AggregateCheckResults(evaluator.EvaluatePod(lv, &pod.ObjectMeta, &pod.Spec))
	if result.Allowed {
		return ""
	}
	return result.ForbiddenReason() + ": " + result.ForbiddenDetail()
}

// TestTenantAppPodSecurityCheckBites: the Pod Security evaluation above
// refuses what it should, so its silence means something.
func TestTenantAppPodSecurityCheckBites(t *testing.T) {
	manifest, err := renderTenantApp(nil)
	if err != nil {
		t.Fatal(err)
	}
	tmpl, _, _ := unstructured.NestedMap(rollout(t, decode(t, manifest)).Object, "spec", "template")
	var pod corev1.PodTemplateSpec
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(tmpl, &pod); err != nil {
		t.Fatal(err)
	}
	pod.Spec.SecurityContext.SeccompProfile = nil
	pod.Spec.Containers[0].SecurityContext.Capabilities = nil
	reason := restrictedViolations(t, &pod)
	for _, want := range []string{"seccompProfile", "capabilities"} {
		if !strings.Contains(reason, want) {
			t.Errorf("without %s the pod still passes restricted (%q)", want, reason)
		}
	}
}

// TestTenantAppValuesSchemaRefusesBadValues: a typo or an out-of-range value
// fails `helm template`, so the Argo CD sync, with a message naming it.
func TestTenantAppValuesSchemaRefusesBadValues(t *testing.T) {
	tests := []struct {
		name   string
		values string
		want   []string
	}{
		{"failure rate above 1", "faults: {failureRate: 2}", []string{"failureRate", "maximum"}},
		{"unknown strategy", "strategy: yolo", []string{"strategy", "canary", "blueGreen"}},
		{"pull policy other than Always", "image: {pullPolicy: IfNotPresent}", []string{"pullPolicy", "Always"}},
		{"unknown top-level key", "replicaCount: 3", []string{"replicaCount", "not allowed"}},
		{"latency without a unit", "faults: {latency: \"300\"}", []string{"latency"}},
		{"no replicas", "replicas: 0", []string{"replicas", "minimum"}},
		{"success rate threshold above 1", "analysis: {successRate: {minimum: 1.5}}", []string{"successRate", "minimum"}},
		{"latency quantile of 1", "analysis: {latency: {quantile: 1}}", []string{"quantile"}},
		{"misspelt analysis key", "analysis: {intervall: 2s}", []string{"intervall", "not allowed"}},
		{"Argo CD's ServiceAccount", "serviceAccountName: tenantry-deployer", []string{"serviceAccountName"}},
		{"ingress without hosts", "ingress: {enabled: true}", []string{"hosts"}},
		{"more failures tolerated than measured", "analysis: {count: 2, failureLimit: 3}", []string{"analysis.failureLimit", "analysis.count"}},
		{"Traefik routing without hosts", "trafficRouting: {traefik: {enabled: true}}", []string{"trafficRouting.traefik.enabled needs ingress.enabled and ingress.hosts"}},
		{"Traefik routing of a wildcard host", "{trafficRouting: {traefik: {enabled: true}}, ingress: {enabled: true, hosts: ['*.acme.example.com']}}", []string{"*.acme.example.com is a wildcard"}},
		{"misspelt Traefik key", "trafficRouting: {traefik: {enable: true}}", []string{"enable", "not allowed"}},
		{"no address and no defaults Secret", `{tenant: acme, analysis: {defaultsSecret: ""}}`, []string{"analysis.prometheus.address"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := renderTenantApp(values(t, tt.values))
			if err == nil {
				t.Fatalf("values %q rendered; want an error", tt.values)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not mention %q:\n%v", w, err)
				}
			}
		})
	}
}

func rollout(t *testing.T, objs []*unstructured.Unstructured) *unstructured.Unstructured {
	t.Helper()
	ro := find(objs, "Rollout", appRelease)
	if ro == nil {
		t.Fatal("no Rollout named after the release")
	}
	return ro
}

// rolloutAnalyses returns the analyses a Rollout runs: its canary analysis
// steps, or its blue-green pre-promotion analysis.
func rolloutAnalyses(ro *unstructured.Unstructured) []map[string]any {
	var out []map[string]any
	steps, _, _ := unstructured.NestedSlice(ro.Object, "spec", "strategy", "canary", "steps")
	for _, s := range steps {
		if a, ok := s.(map[string]any)["analysis"].(map[string]any); ok {
			out = append(out, a)
		}
	}
	if a, ok, _ := unstructured.NestedMap(ro.Object, "spec", "strategy", "blueGreen", "prePromotionAnalysis"); ok {
		out = append(out, a)
	}
	return out
}

func podContainer(t *testing.T, ro *unstructured.Unstructured) map[string]any {
	t.Helper()
	containers, _, _ := unstructured.NestedSlice(ro.Object, "spec", "template", "spec", "containers")
	if len(containers) != 1 {
		t.Fatalf("want one container, got %d", len(containers))
	}
	return containers[0].(map[string]any)
}

func envVar(c map[string]any, name string) map[string]any {
	env, _ := c["env"].([]any)
	for _, e := range env {
		if e := e.(map[string]any); e["name"] == name {
			return e
		}
	}
	return nil
}

func wantEnv(t *testing.T, c map[string]any, name, want string) {
	t.Helper()
	if got := envVar(c, name); got == nil || got["value"] != want {
		t.Errorf("env %s = %v, want %q", name, got, want)
	}
}

func wantKinds(t *testing.T, objs []*unstructured.Unstructured, want ...string) {
	t.Helper()
	if got := kinds(objs); !reflect.DeepEqual(got, want) {
		t.Errorf("kinds = %v\nwant %v", got, want)
	}
}

// wantServices checks the chart renders exactly these Services, each
// forwarding port 80 to the container's http port.
func wantServices(t *testing.T, objs []*unstructured.Unstructured, want ...string) {
	t.Helper()
	var got []string
	for _, u := range objs {
		if u.GetKind() != "Service" {
			continue
		}
		got = append(got, u.GetName())
		wantField(t, u, []any{map[string]any{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}}, "spec", "ports")
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Services = %v, want %v", got, want)
	}
}

// templateArg returns an AnalysisTemplate's argument by name.
func templateArg(t *testing.T, at *unstructured.Unstructured, name string) map[string]any {
	t.Helper()
	if at == nil {
		t.Fatal("no such AnalysisTemplate")
	}
	args, _, _ := unstructured.NestedSlice(at.Object, "spec", "args")
	for _, a := range args {
		if a := a.(map[string]any); a["name"] == name {
			return a
		}
	}
	t.Fatalf("AnalysisTemplate %s has no argument %s", at.GetName(), name)
	return nil
}

// metric returns an AnalysisTemplate's only metric.
func metric(t *testing.T, at *unstructured.Unstructured) map[string]any {
	t.Helper()
	if at == nil {
		t.Fatal("no such AnalysisTemplate")
	}
	metrics, _, _ := unstructured.NestedSlice(at.Object, "spec", "metrics")
	if len(metrics) != 1 {
		t.Fatalf("AnalysisTemplate %s: want one metric, got %d", at.GetName(), len(metrics))
	}
	return metrics[0].(map[string]any)
}

// wantField compares the field at fields (list indices as numbers) of an
// object, or of a plain map, with want; a missing field never matches.
func wantField(t *testing.T, obj any, want any, fields ...string) {
	t.Helper()
	var cur any
	switch o := obj.(type) {
	case *unstructured.Unstructured:
		cur = o.Object
	default:
		cur = o
	}
	for _, f := range fields {
		switch c := cur.(type) {
		case map[string]any:
			cur = c[f]
		case []any:
			var i int
			if _, err := fmt.Sscan(f, &i); err != nil || i >= len(c) {
				cur = nil
				break
			}
			cur = c[i]
		default:
			cur = nil
		}
	}
	// Compared as JSON: decoded numbers may be int64 or float64.
	got, _ := json.Marshal(cur)
	wantJSON, _ := json.Marshal(want)
	if cur == nil || string(got) != string(wantJSON) {
		t.Errorf("%s = %s\nwant %s", path.Join(fields...), got, wantJSON)
	}
}

package chart

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/v2/lint/support"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/tenantry/tenantry/gitops"
	"github.com/tenantry/tenantry/internal/install"
)

// decode splits a rendered manifest into objects.
func decode(t *testing.T, manifest string) []*unstructured.Unstructured {
	t.Helper()
	objs, err := install.Decode([]byte(manifest))
	if err != nil {
		t.Fatalf("decoding the rendered chart: %v", err)
	}
	return objs
}

func render(t *testing.T, opts Options) []*unstructured.Unstructured {
	t.Helper()
	manifest, err := Render(context.Background(), opts)
	if err != nil {
		t.Fatalf("rendering the chart: %v", err)
	}
	return decode(t, manifest)
}

func find(objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	for _, u := range objs {
		if u.GetKind() == kind && (name == "" || u.GetName() == name) {
			return u
		}
	}
	return nil
}

func kinds(objs []*unstructured.Unstructured) []string {
	var out []string
	for _, u := range objs {
		if !slices.Contains(out, u.GetKind()) {
			out = append(out, u.GetKind())
		}
	}
	slices.Sort(out)
	return out
}

// wantRendered checks that the chart renders each of want, in its
// namespace, with the same rules, bindings and data: what the tests and the
// demo install through internal/install is what the chart installs.
func wantRendered(t *testing.T, objs []*unstructured.Unstructured, want []client.Object) {
	t.Helper()
	for _, obj := range want {
		kind := obj.GetObjectKind().GroupVersionKind().Kind
		got := find(objs, kind, obj.GetName())
		if got == nil || got.GetNamespace() != obj.GetNamespace() {
			t.Errorf("no %s %s in namespace %q: %v", kind, obj.GetName(), obj.GetNamespace(), got)
			continue
		}
		u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
		if err != nil {
			t.Fatal(err)
		}
		for _, field := range []string{"rules", "roleRef", "subjects", "data"} {
			if want, ok := u[field]; ok && !reflect.DeepEqual(got.Object[field], want) {
				t.Errorf("%s %s %s = %v, want %v", kind, obj.GetName(), field, got.Object[field], want)
			}
		}
	}
}

// TestLint runs what `helm lint --strict` does, with the default values and
// with every optional part switched on.
func TestLint(t *testing.T) {
	for name, values := range map[string]map[string]any{
		"defaults": nil,
		"everything on": {
			"createNamespace": true, "plans": map[string]any{"create": true},
			"image": map[string]any{"digest": "sha256:" + strings.Repeat("ab", 32)},
			"fleet": map[string]any{"hub": true},
		},
		"fleet member": {"fleet": map[string]any{"member": true}},
	} {
		t.Run(name, func(t *testing.T) {
			lint := action.NewLint()
			lint.Strict = true
			lint.Namespace = "tenantry-system"
			result := lint.Run([]string{Dir()}, values)
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

// TestValuesSchemaRefusesBadValues: a typo or a wrong type in the values
// fails rendering (so `helm install`) with a message naming the value.
func TestValuesSchemaRefusesBadValues(t *testing.T) {
	tests := []struct {
		name   string
		values string
		want   []string
	}{
		{"misspelt top-level key", "replicaCount: 3", []string{"replicaCount", "not allowed"}},
		{"wrong type", "replicas: two", []string{"replicas", "integer"}},
		{"unknown pull policy", "image: {pullPolicy: Sometimes}", []string{"pullPolicy", "IfNotPresent"}},
		{"bad digest", "image: {digest: latest}", []string{"digest"}},
		{"unknown log level", "operator: {logLevel: verbose}", []string{"logLevel"}},
		{"misspelt nested key", "operator: {maxConcurentReconciles: 8}", []string{"maxConcurentReconciles", "not allowed"}},
		{"ServiceAccount name not a DNS label", "serviceAccount: {name: Tenantry_Operator}", []string{"serviceAccount", "name"}},
		{"interval without a unit", "metrics: {serviceMonitor: {interval: \"30\"}}", []string{"interval"}},
		{"extra flag without dashes", "operator: {extraArgs: [leader-elect]}", []string{"extraArgs"}},
		{"plan name with capitals", "plans: {items: {Gold: {displayName: Gold}}}", []string{"Gold"}},
		{"DNS server not a CIDR", "operator: {dns: {cidrs: [169.254.20.10]}}", []string{"cidrs"}},
		{"fleet hub and member at once", "fleet: {hub: true, member: true}", []string{"fleet"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			values := map[string]any{}
			if err := yaml.Unmarshal([]byte(tt.values), &values); err != nil {
				t.Fatal(err)
			}
			_, err := Render(context.Background(), Options{Values: values})
			if err == nil {
				t.Fatalf("values %q rendered; want a schema error", tt.values)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not mention %q:\n%v", w, err)
				}
			}
		})
	}
}

// TestStaticManifestIsCurrent: deploy/tenantry.yaml, which every other test
// installs, is the chart's current rendering.
func TestStaticManifestIsCurrent(t *testing.T) {
	want, err := Static(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(Dir(), "..", "..", "deploy", "tenantry.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, []byte(want)) {
		t.Error("deploy/tenantry.yaml differs from the chart's rendering: run `make generate` and commit it")
	}
}

// TestRender checks what the chart renders with default and other values.
func TestRender(t *testing.T) {
	digest := "sha256:" + strings.Repeat("0f", 32)
	tests := []struct {
		name  string
		opts  Options
		check func(t *testing.T, objs []*unstructured.Unstructured)
	}{{
		name: "defaults",
		check: func(t *testing.T, objs []*unstructured.Unstructured) {
			want := []string{"ClusterRole", "ClusterRoleBinding", "ConfigMap", "CustomResourceDefinition", "Deployment",
				"FlowSchema", "PodDisruptionBudget", "PriorityLevelConfiguration", "Role", "RoleBinding", "Service", "ServiceAccount",
				"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"}
			if got := kinds(objs); !reflect.DeepEqual(got, want) {
				t.Errorf("kinds = %v\nwant %v (no Namespace, plans or Prometheus Operator kinds by default)", got, want)
			}
			deploy := find(objs, "Deployment", "tenantry-operator")
			if got, _, _ := unstructured.NestedFieldNoCopy(deploy.Object, "spec", "replicas"); fmt.Sprint(got) != "2" {
				t.Errorf("replicas = %v, want 2", got)
			}
			image := container(t, deploy)["image"]
			if image != "ghcr.io/tenantry/tenantry-operator:0.1.0" {
				t.Errorf("image = %v, want the appVersion tag", image)
			}
			if find(objs, "PodDisruptionBudget", "tenantry-operator") == nil {
				t.Error("no PodDisruptionBudget")
			}
			wantExemption(t, objs, "system:serviceaccount:tenantry-system:tenantry-operator")
		},
	}, {
		name: "other namespace, account, image and options",
		opts: Options{
			ReleaseName: "platform", Namespace: "platform-system",
			Values: map[string]any{
				"replicas":            3,
				"serviceAccount":      map[string]any{"name": "tenantry-controller"},
				"image":               map[string]any{"repository": "registry.example.com/tenantry", "digest": digest},
				"operator":            map[string]any{"logLevel": "debug", "extraArgs": []any{"--kube-api-qps=80"}},
				"podDisruptionBudget": map[string]any{"enabled": false},
				"metrics":             map[string]any{"dashboard": map[string]any{"enabled": false}},
				"createNamespace":     true,
			},
		},
		check: func(t *testing.T, objs []*unstructured.Unstructured) {
			deploy := find(objs, "Deployment", "tenantry-operator")
			if deploy.GetNamespace() != "platform-system" {
				t.Errorf("Deployment in %q, want the release namespace", deploy.GetNamespace())
			}
			c := container(t, deploy)
			if c["image"] != "registry.example.com/tenantry@"+digest {
				t.Errorf("image = %v, want the digest to win over the tag", c["image"])
			}
			args, _ := c["args"].([]any)
			for _, want := range []string{"--zap-log-level=debug", "--kube-api-qps=80"} {
				if !slices.Contains(args, any(want)) {
					t.Errorf("args %v lack %s", args, want)
				}
			}
			if sa, _, _ := unstructured.NestedString(deploy.Object, "spec", "template", "spec", "serviceAccountName"); sa != "tenantry-controller" {
				t.Errorf("serviceAccountName = %q", sa)
			}
			ns := find(objs, "Namespace", "platform-system")
			if ns == nil || ns.GetLabels()["pod-security.kubernetes.io/enforce"] != "restricted" {
				t.Errorf("want the release namespace with Pod Security restricted enforced, got %v", ns)
			}
			if find(objs, "PodDisruptionBudget", "") != nil || find(objs, "ConfigMap", "") != nil {
				t.Error("disabled PodDisruptionBudget or dashboard rendered")
			}
			crb := find(objs, "ClusterRoleBinding", "tenantry-operator")
			subjects, _, _ := unstructured.NestedSlice(crb.Object, "subjects")
			want := []any{map[string]any{"kind": "ServiceAccount", "name": "tenantry-controller", "namespace": "platform-system"}}
			if !reflect.DeepEqual(subjects, want) {
				t.Errorf("ClusterRoleBinding subjects = %v, want %v", subjects, want)
			}
			// The guardrails follow the operator's identity, or they would
			// refuse the operator's own writes.
			wantExemption(t, objs, "system:serviceaccount:platform-system:tenantry-controller")
		},
	}, {
		name: "Prometheus Operator present",
		opts: Options{
			APIVersions: []string{"monitoring.coreos.com/v1/ServiceMonitor", "monitoring.coreos.com/v1/PrometheusRule"},
			Values: map[string]any{"metrics": map[string]any{
				"serviceMonitor": map[string]any{"labels": map[string]any{"release": "kube-prometheus-stack"}},
			}},
		},
		check: func(t *testing.T, objs []*unstructured.Unstructured) {
			sm := find(objs, "ServiceMonitor", "tenantry-operator")
			if sm == nil || sm.GetLabels()["release"] != "kube-prometheus-stack" {
				t.Fatalf("want a ServiceMonitor with the extra label, got %v", sm)
			}
			selector, _, _ := unstructured.NestedStringMap(sm.Object, "spec", "selector", "matchLabels")
			svc := find(objs, "Service", "tenantry-operator-metrics")
			for k, v := range selector {
				if svc.GetLabels()[k] != v {
					t.Errorf("ServiceMonitor selects %s=%s, which the metrics Service lacks (%v)", k, v, svc.GetLabels())
				}
			}
			rule := find(objs, "PrometheusRule", "tenantry")
			groups, _, _ := unstructured.NestedSlice(rule.Object, "spec", "groups")
			if len(groups) == 0 {
				t.Fatal("PrometheusRule has no rule groups")
			}
			// The alerts' own templates reach Prometheus untouched by Helm.
			if data, _ := yaml.Marshal(groups); !strings.Contains(string(data), "{{ $labels.tenant }}") {
				t.Error("the alerts' {{ $labels }} templates were lost")
			}
		},
	}, {
		name: "sample plans",
		opts: Options{Values: map[string]any{"plans": map[string]any{"create": true}}},
		check: func(t *testing.T, objs []*unstructured.Unstructured) {
			// The chart's plans are the ones in gitops/plans, so the two
			// ways of getting them agree.
			files, err := examples.Examples.ReadDir("plans")
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range files {
				data, err := examples.Examples.ReadFile("plans/" + f.Name())
				if err != nil {
					t.Fatal(err)
				}
				example := &unstructured.Unstructured{}
				if err := yaml.Unmarshal(data, &example.Object); err != nil {
					t.Fatal(err)
				}
				if example.GetKind() != "TenantPlan" { // the PriceList beside them
					continue
				}
				plan := find(objs, "TenantPlan", example.GetName())
				if plan == nil {
					t.Errorf("no TenantPlan %s", example.GetName())
					continue
				}
				if !reflect.DeepEqual(plan.Object["spec"], example.Object["spec"]) {
					t.Errorf("TenantPlan %s differs from gitops/plans/%s:\nchart:   %v\nexample: %v", plan.GetName(), f.Name(), plan.Object["spec"], example.Object["spec"])
				}
			}
		},
	}, {
		name: "pod defaults where the cluster serves them, and DNS servers",
		opts: Options{APIVersions: KubeAPIVersions, Values: map[string]any{"operator": map[string]any{"dns": map[string]any{
			// Helm merges maps with the defaults: null removes a default key.
			"namespaceSelector": map[string]any{"kubernetes.io/metadata.name": nil, "dns": "cluster"},
			"podSelector":       map[string]any{"k8s-app": nil},
			"cidrs":             []any{"169.254.20.10/32", "fd00::a/128"},
		}}}},
		check: func(t *testing.T, objs []*unstructured.Unstructured) {
			for _, name := range []string{"tenantry-pod-defaults", "tenantry-workload-defaults", "tenantry-cronjob-defaults"} {
				policy, binding := find(objs, "MutatingAdmissionPolicy", name), find(objs, "MutatingAdmissionPolicyBinding", name)
				if policy == nil || binding == nil {
					t.Errorf("MutatingAdmissionPolicy %s: policy %v, binding %v; want both", name, policy != nil, binding != nil)
					continue
				}
				// A defaulting fault must never block a tenant; the guardrails stay the backstop.
				if fp, _, _ := unstructured.NestedString(policy.Object, "spec", "failurePolicy"); fp != "Ignore" {
					t.Errorf("%s: failurePolicy %q, want Ignore", name, fp)
				}
			}
			args, _ := container(t, find(objs, "Deployment", "tenantry-operator"))["args"].([]any)
			for _, want := range []string{"--dns-namespace-selector=dns=cluster", "--dns-pod-selector=", "--dns-cidrs=169.254.20.10/32,fd00::a/128"} {
				if !slices.Contains(args, any(want)) {
					t.Errorf("args %v lack %s", args, want)
				}
			}
		},
	}, {
		name: "pod defaults turned off",
		opts: Options{APIVersions: KubeAPIVersions, Values: map[string]any{"podDefaults": map[string]any{"enabled": false}}},
		check: func(t *testing.T, objs []*unstructured.Unstructured) {
			if slices.Contains(kinds(objs), "MutatingAdmissionPolicy") {
				t.Error("podDefaults.enabled=false rendered MutatingAdmissionPolicies")
			}
			if find(objs, "Role", install.FleetMembersRole) != nil {
				t.Error("a cluster that is no fleet hub got the Role to read cluster Secrets")
			}
		},
	}, {
		name: "fleet member",
		opts: Options{Values: map[string]any{"fleet": map[string]any{"member": true}}},
		check: func(t *testing.T, objs []*unstructured.Unstructured) {
			args, _ := container(t, find(objs, "Deployment", "tenantry-operator"))["args"].([]any)
			if !slices.Contains(args, any("--fleet-member")) || slices.Contains(args, any("--fleet-hub")) {
				t.Errorf("args %v: want --fleet-member, not --fleet-hub", args)
			}
			if find(objs, "Role", install.FleetMembersRole) != nil {
				t.Error("a member got the hub's Role to read cluster Secrets")
			}
			wantRendered(t, objs, install.FleetMemberObjects())
		},
	}, {
		name: "fleet hub",
		opts: Options{Values: map[string]any{"fleet": map[string]any{"hub": true}}},
		check: func(t *testing.T, objs []*unstructured.Unstructured) {
			args, _ := container(t, find(objs, "Deployment", "tenantry-operator"))["args"].([]any)
			if !slices.Contains(args, any("--fleet-hub")) {
				t.Errorf("args %v lack --fleet-hub", args)
			}
			// What the hub's tests and the demo install (install.FleetHub)
			// is what the chart renders.
			wantRendered(t, objs, install.FleetHubObjects("argocd"))
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs := render(t, tt.opts)
			for _, u := range objs {
				if u.GetLabels()["app.kubernetes.io/managed-by"] == "tenantry" {
					// The guardrails let only the operator change such objects:
					// Helm or Argo CD could not upgrade them.
					t.Errorf("%s %s carries managed-by=tenantry", u.GetKind(), u.GetName())
				}
			}
			tt.check(t, objs)
		})
	}
}

func container(t *testing.T, deploy *unstructured.Unstructured) map[string]any {
	t.Helper()
	containers, _, _ := unstructured.NestedSlice(deploy.Object, "spec", "template", "spec", "containers")
	if len(containers) != 1 {
		t.Fatalf("want one container, got %d", len(containers))
	}
	return containers[0].(map[string]any)
}

// wantExemption checks every not-the-platform match condition names the
// operator's identity.
func wantExemption(t *testing.T, objs []*unstructured.Unstructured, username string) {
	t.Helper()
	n := 0
	for _, u := range objs {
		if u.GetKind() != "ValidatingAdmissionPolicy" {
			continue
		}
		conditions, _, _ := unstructured.NestedSlice(u.Object, "spec", "matchConditions")
		for _, c := range conditions {
			if c := c.(map[string]any); c["name"] == "not-the-platform" {
				n++
				if !strings.Contains(c["expression"].(string), "'"+username+"'") {
					t.Errorf("policy %s exempts another identity than %s: %s", u.GetName(), username, c["expression"])
				}
			}
		}
	}
	if n == 0 {
		t.Error("no policy has a not-the-platform condition")
	}
}

// TestRBACIsLeastPrivilege reads the rendered roles: no wildcards anywhere,
// and the operator's own ClusterRole holds none of the rights that would
// let it (or whoever steals its token) become cluster admin. The control
// plane test shows the same refusals on a real API server.
func TestRBACIsLeastPrivilege(t *testing.T) {
	objs := render(t, Options{})
	forbidden := []struct{ resource, verb string }{
		{"secrets", ""}, {"clusterroles", "escalate"}, {"users", "impersonate"}, {"groups", "impersonate"},
		{"serviceaccounts", "impersonate"}, {"serviceaccounts/token", ""}, {"pods/exec", ""}, {"nodes", ""},
		{"validatingadmissionpolicies", ""}, {"validatingadmissionpolicybindings", ""}, {"customresourcedefinitions", ""},
	}
	for _, u := range objs {
		if u.GetKind() != "ClusterRole" && u.GetKind() != "Role" {
			continue
		}
		rules, _, _ := unstructured.NestedSlice(u.Object, "rules")
		for _, r := range rules {
			rule := r.(map[string]any)
			for _, field := range []string{"apiGroups", "resources", "verbs", "resourceNames", "nonResourceURLs"} {
				values, _, _ := unstructured.NestedStringSlice(rule, field)
				if slices.Contains(values, "*") {
					t.Errorf("%s %s: wildcard in %s: %v", u.GetKind(), u.GetName(), field, rule)
				}
			}
			if u.GetName() != "tenantry-operator" {
				continue
			}
			resources, _, _ := unstructured.NestedStringSlice(rule, "resources")
			verbs, _, _ := unstructured.NestedStringSlice(rule, "verbs")
			names, _, _ := unstructured.NestedStringSlice(rule, "resourceNames")
			for _, f := range forbidden {
				if slices.Contains(resources, f.resource) && (f.verb == "" || slices.Contains(verbs, f.verb)) {
					t.Errorf("the operator's ClusterRole grants %s %s: %v", f.verb, f.resource, rule)
				}
			}
			if slices.Contains(verbs, "bind") && len(names) == 0 {
				t.Errorf("the operator may bind any role: %v", rule)
			}
		}
	}
	if find(objs, "ClusterRole", "tenantry-operator") == nil {
		t.Fatal("no tenantry-operator ClusterRole")
	}
	lease := find(objs, "Role", "tenantry-leader-election")
	if lease == nil || lease.GetNamespace() != "tenantry-system" {
		t.Errorf("leader election must be a Role in the release namespace, got %v", lease)
	}
}

package chart

import (
	"reflect"
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// The metrics gateway, when enabled: a restricted pod of two containers
// (the operator image's metrics-gateway command, prom-label-proxy on
// loopback only), a role that reviews tokens and watches namespaces and
// nothing else, and the operator told where the gateway is. Off, none of it.
func TestMetricsGateway(t *testing.T) {
	off := render(t, Options{})
	if find(off, "Deployment", "tenantry-metrics-gateway") != nil || slices.Contains(container(t, find(off, "Deployment", "tenantry-operator"))["args"].([]any), any("--metrics-gateway-url=http://tenantry-metrics-gateway.tenantry-system.svc:9090")) {
		t.Error("the gateway or its flag rendered although metricsGateway.enabled is false")
	}

	objs := render(t, Options{Values: map[string]any{"metricsGateway": map[string]any{
		"enabled": true, "prometheusURL": "http://prometheus.monitoring.svc:9090", "tokenTTL": "12h",
	}}})
	for _, kind := range []string{"Deployment", "Service", "ServiceAccount"} {
		if find(objs, kind, "tenantry-metrics-gateway") == nil {
			t.Errorf("no %s tenantry-metrics-gateway", kind)
		}
	}
	operatorArgs := container(t, find(objs, "Deployment", "tenantry-operator"))["args"].([]any)
	for _, want := range []string{"--metrics-gateway-url=http://tenantry-metrics-gateway.tenantry-system.svc:9090",
		"--metrics-token-audience=tenantry-metrics", "--metrics-token-ttl=12h"} {
		if !slices.Contains(operatorArgs, any(want)) {
			t.Errorf("operator args %v: want %s", operatorArgs, want)
		}
	}

	u := find(objs, "Deployment", "tenantry-metrics-gateway")
	deploy := &appsv1.Deployment{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, deploy); err != nil {
		t.Fatal(err)
	}
	if v := restrictedViolations(t, &deploy.Spec.Template); v != "" {
		t.Errorf("the gateway's pod breaks Pod Security restricted: %s", v)
	}
	containers := map[string][]string{}
	for _, c := range deploy.Spec.Template.Spec.Containers {
		containers[c.Name] = c.Args
	}
	if args := containers["gateway"]; len(args) == 0 || args[0] != "metrics-gateway" || !slices.Contains(args, "--upstream=http://127.0.0.1:9091") {
		t.Errorf("gateway args %v: want the metrics-gateway command forwarding to prom-label-proxy on loopback", args)
	}
	for _, want := range []string{"-insecure-listen-address=127.0.0.1:9091", "-upstream=http://prometheus.monitoring.svc:9090",
		"-label=namespace", "-header-name=X-Tenantry-Namespace"} {
		if !slices.Contains(containers["prom-label-proxy"], want) {
			t.Errorf("prom-label-proxy args %v: want %s", containers["prom-label-proxy"], want)
		}
	}

	role := &rbacv1.ClusterRole{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(find(objs, "ClusterRole", "tenantry:metrics-gateway").Object, role); err != nil {
		t.Fatal(err)
	}
	want := []rbacv1.PolicyRule{
		{APIGroups: []string{"authentication.k8s.io"}, Resources: []string{"tokenreviews"}, Verbs: []string{"create"}},
		{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"list", "watch"}},
	}
	if !reflect.DeepEqual(role.Rules, want) {
		t.Errorf("the gateway's rules %+v, want only %+v", role.Rules, want)
	}
}

package realnode

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tenantry/tenantry/api/v1alpha1"
	"github.com/tenantry/tenantry/gitops"
	"github.com/tenantry/tenantry/internal/images"
	"github.com/tenantry/tenantry/internal/install"
	"github.com/tenantry/tenantry/internal/localcluster"
	"github.com/tenantry/tenantry/internal/render"
	"github.com/tenantry/tenantry/internal/testutil"
)

// The tenants of the metrics test: acme (pro plan, namespaces acme-prod
// and acme-staging) and globex (free plan, namespace globex), each with a
// demo-app pod Prometheus scrapes.
const (
	acmeAdmin      = "alice@acme.com"
	acmeNS         = "acme-prod"
	plpImageTag    = "prom-label-proxy:v0.11.1"
	gatewayService = "tenantry-metrics-gateway"
)

// TestTenantMetricsAccess proves, as tenants' users, that a tenant's own
// credential reads its own series and none of another tenant's: the
// platform chart runs the metrics gateway (the operator image's
// metrics-gateway command and prom-label-proxy, built from tools/ and
// pushed) in front of a real Prometheus scraping both tenants' real pods.
// acme's admin reads the credential from acme's Secret tenantry-analysis,
// cannot read globex's, and every query (including ones naming globex's
// namespace or all namespaces) answers with acme's namespaces only. Tokens
// for another audience, or of a ServiceAccount of no tenant, are refused;
// a credential the operator renews replaces the old one in the Secret and
// works at once.
func TestTenantMetricsAccess(t *testing.T) {
	binDir := testutil.NeedsRealNode(t)
	ctx := context.Background()
	start := time.Now()
	cluster := startRealNodeCluster(t, ctx)
	e := newEnv(t, ctx, cluster)

	// prom-label-proxy as the chart's sidecar: the binary make testbin
	// built from tools/prom-label-proxy, in place of the upstream image.
	if _, err := cluster.PushBinaryImage(ctx, plpImageTag, filepath.Join(binDir, "prom-label-proxy"),
		images.Options{Title: "prom-label-proxy", Version: "v0.11.1"}); err != nil {
		t.Fatal(err)
	}
	platform, err := cluster.InstallPlatform(ctx, localcluster.PlatformOptions{Values: []string{
		"metricsGateway.enabled=true",
		"metricsGateway.prometheusURL=http://prometheus.monitoring.svc:9090",
		"metricsGateway.promLabelProxy.image=" + localcluster.LocalRegistry + "/" + plpImageTag,
		"metricsGateway.promLabelProxy.pullPolicy=Always",
	}})
	if err != nil {
		t.Fatal(err)
	}
	e.platform = platform
	prom, err := cluster.StartPrometheus(ctx, localcluster.PrometheusOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"plans/*.yaml", "tenants/acme.yaml", "tenants/globex.yaml"} {
		if _, err := install.Apply(ctx, e.admin, examples.Examples, f); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"acme", "globex"} {
		e.waitTenantReady(t, name)
	}
	t.Logf("cluster, platform with the metrics gateway, Prometheus and two tenants ready in %.1fs", time.Since(start).Seconds())

	// Each tenant's admin runs a scraped demo-app pod.
	image := pushDemoApp(t, e, "1.0.0") + ":1.0.0"
	alice := testutil.UserClient(t, cluster, e.scheme, acmeAdmin)
	hank := testutil.UserClient(t, cluster, e.scheme, tenantAdmin)
	for ns, c := range map[string]client.Client{acmeNS: alice, tenantNS: hank} {
		if err := c.Create(ctx, scrapedPod(ns, image)); err != nil {
			t.Fatalf("creating the demo-app pod in %s as its admin: %v", ns, err)
		}
	}
	testutil.Eventually(t, 2*time.Minute, func() error {
		got, err := prom.Query(ctx, `count by (namespace) (demo_app_build_info)`)
		if err != nil {
			return err
		}
		var namespaces []string
		for _, s := range got {
			namespaces = append(namespaces, s.Labels["namespace"])
		}
		slices.Sort(namespaces)
		if !slices.Equal(namespaces, []string{acmeNS, tenantNS}) {
			return fmt.Errorf("Prometheus has demo-app series of %v so far", namespaces)
		}
		return nil
	})
	t.Logf("Prometheus, asked directly, has demo-app series of %s and %s", acmeNS, tenantNS)

	gateway := e.serviceURL(t, platform.Namespace, gatewayService, 9090)

	// acme's credential, read by acme's admin from acme's own namespace.
	secret := &corev1.Secret{}
	if err := alice.Get(ctx, client.ObjectKey{Namespace: acmeNS, Name: render.AnalysisSecretName}, secret); err != nil {
		t.Fatalf("as %s, reading %s/%s: %v", acmeAdmin, acmeNS, render.AnalysisSecretName, err)
	}
	wantAddress := fmt.Sprintf("http://%s.%s.svc:9090", gatewayService, platform.Namespace)
	if got := string(secret.Data[render.AnalysisKeyPrometheusAddress]); got != wantAddress {
		t.Errorf("%s prometheus-address = %q, want the gateway's %q", render.AnalysisSecretName, got, wantAddress)
	}
	authorization := string(secret.Data[render.AnalysisKeyAuthorization])
	if !strings.HasPrefix(authorization, "Bearer ") {
		t.Fatalf("%s authorization = %q, want a minted Bearer token", render.AnalysisSecretName, authorization)
	}
	t.Logf("acme's credential: a token issued %s, expiring %s", secret.Annotations[v1alpha1.AnnotationCredentialIssuedAt],
		secret.Annotations[v1alpha1.AnnotationCredentialExpiresAt])

	t.Run("another tenant's credential is not readable", func(t *testing.T) {
		err := alice.Get(ctx, client.ObjectKey{Namespace: tenantNS, Name: render.AnalysisSecretName}, &corev1.Secret{})
		testutil.WantRefusal(t, err, apierrors.IsForbidden,
			`secrets "tenantry-analysis" is forbidden: User "alice@acme.com" cannot get resource "secrets" in API group "" in the namespace "globex"`)
		t.Logf("as %s: %v", acmeAdmin, err)
	})

	t.Run("own series only", func(t *testing.T) {
		for _, q := range []struct{ path, query string }{
			{"/api/v1/query", "demo_app_build_info"},
			{"/api/v1/query", `demo_app_build_info{namespace="globex"}`},
			{"/api/v1/query", `demo_app_build_info{namespace=~".+"}`},
			{"/api/v1/query", `sum by (namespace) (demo_app_build_info)`},
			{"/api/v1/query", `{__name__=~".+"}`},
			{"/api/v1/series", `{__name__=~"demo_app_.+"}`},
		} {
			got, err := namespacesOf(ctx, gateway, authorization, q.path, q.query)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("as acme, %s %s: namespaces %v", q.path, q.query, got)
			if slices.Contains(got, tenantNS) || slices.ContainsFunc(got, func(ns string) bool { return !strings.HasPrefix(ns, "acme-") }) {
				t.Errorf("%s %s as acme answered series of %v: want acme's namespaces only", q.path, q.query, got)
			}
			if strings.Contains(q.query, "globex") {
				continue
			}
			if !slices.Contains(got, acmeNS) {
				t.Errorf("%s %s as acme: namespaces %v, want %s's series", q.path, q.query, got, acmeNS)
			}
		}
	})

	cs, err := kubernetes.NewForConfig(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("tokens that are not metrics credentials", func(t *testing.T) {
		for _, tc := range []struct {
			name, namespace, account string
			audiences                []string
			wantCode                 int
			wantMessage              string
		}{
			{"acme's ordinary ServiceAccount token (API server audience)", acmeNS, "default", nil,
				http.StatusUnauthorized, "is invalid for the target audiences"},
			{"a token for the gateway's audience of a ServiceAccount of no tenant", "kube-system", "default", []string{"tenantry-metrics"},
				http.StatusForbidden, "namespace kube-system belongs to no tenant"},
		} {
			tr, err := cs.CoreV1().ServiceAccounts(tc.namespace).CreateToken(ctx, tc.account, &authenticationv1.TokenRequest{
				Spec: authenticationv1.TokenRequestSpec{Audiences: tc.audiences, ExpirationSeconds: ptr.To[int64](600)},
			}, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			code, body := queryGateway(ctx, t, gateway, "Bearer "+tr.Status.Token, "/api/v1/query", "up")
			if code != tc.wantCode || !strings.Contains(body, tc.wantMessage) {
				t.Errorf("%s: %d %s; want %d mentioning %q", tc.name, code, body, tc.wantCode, tc.wantMessage)
			}
			t.Logf("%s: %d %s", tc.name, code, strings.TrimSpace(body))
		}
		if code, body := queryGateway(ctx, t, gateway, "", "/api/v1/query", "up"); code != http.StatusUnauthorized {
			t.Errorf("no credential: %d %s, want 401", code, body)
		}
	})

	t.Run("a renewed credential replaces the old one", func(t *testing.T) {
		// Make the token look two thirds through its life, as if a day had
		// passed, and wake the operator with a change to the Tenant (it
		// caches no Secret, so it is not told of this edit).
		patch := []byte(fmt.Sprintf(`{"metadata":{"annotations":{%q:"2000-01-01T00:00:00Z"}}}`, v1alpha1.AnnotationCredentialIssuedAt))
		if err := e.admin.Patch(ctx, secret, client.RawPatch(types.MergePatchType, patch)); err != nil {
			t.Fatal(err)
		}
		tenantPatch := []byte(`{"spec":{"displayName":"Acme Corp (renewal)"}}`)
		if err := e.admin.Patch(ctx, &v1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: "acme"}}, client.RawPatch(types.MergePatchType, tenantPatch)); err != nil {
			t.Fatal(err)
		}
		renewed := &corev1.Secret{}
		testutil.Eventually(t, time.Minute, func() error {
			if err := alice.Get(ctx, client.ObjectKeyFromObject(secret), renewed); err != nil {
				return err
			}
			if string(renewed.Data[render.AnalysisKeyAuthorization]) == authorization {
				return fmt.Errorf("the Secret still holds the old token (issued-at %s)", renewed.Annotations[v1alpha1.AnnotationCredentialIssuedAt])
			}
			return nil
		})
		t.Logf("renewed: issued %s, expires %s", renewed.Annotations[v1alpha1.AnnotationCredentialIssuedAt], renewed.Annotations[v1alpha1.AnnotationCredentialExpiresAt])
		got, err := namespacesOf(ctx, gateway, string(renewed.Data[render.AnalysisKeyAuthorization]), "/api/v1/query", "demo_app_build_info")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, []string{acmeNS}) {
			t.Errorf("with the renewed token: namespaces %v, want [%s]", got, acmeNS)
		}
	})

	t.Run("the gateway counts requests by tenant", func(t *testing.T) {
		metricsURL := e.serviceURL(t, platform.Namespace, gatewayService, 8081) + "/metrics"
		code, body := queryGateway(ctx, t, metricsURL, "", "", "")
		if code != http.StatusOK {
			t.Fatalf("%s: %d", metricsURL, code)
		}
		var lines []string
		for _, l := range strings.Split(body, "\n") {
			if strings.HasPrefix(l, "tenantry_metrics_gateway_requests_total{") {
				lines = append(lines, l)
			}
		}
		t.Logf("the gateway's own metrics:\n  %s", strings.Join(lines, "\n  "))
		if !slices.ContainsFunc(lines, func(l string) bool { return strings.Contains(l, `code="200",tenant="acme"`) }) {
			t.Errorf("no tenantry_metrics_gateway_requests_total{code=\"200\",tenant=\"acme\"} among %v", lines)
		}
	})
}

// waitTenantReady waits for the Tenant name to be Ready.
func (e *env) waitTenantReady(t *testing.T, name string) {
	t.Helper()
	testutil.Eventually(t, 2*time.Minute, func() error {
		tenant := &v1alpha1.Tenant{}
		if err := e.admin.Get(e.ctx, client.ObjectKey{Name: name}, tenant); err != nil {
			return err
		}
		if tenant.Status.Phase != v1alpha1.PhaseReady {
			return fmt.Errorf("tenant %s is %q: %+v", name, tenant.Status.Phase, tenant.Status.Conditions)
		}
		return nil
	})
}

// serviceURL reaches a Service's port from this host, at its cluster IP
// (kube-proxy routes it for the host too).
func (e *env) serviceURL(t *testing.T, namespace, name string, port int) string {
	t.Helper()
	svc := &corev1.Service{}
	if err := e.admin.Get(e.ctx, client.ObjectKey{Namespace: namespace, Name: name}, svc); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("http://%s:%d", svc.Spec.ClusterIP, port)
}

// scrapedPod is a demo-app pod Prometheus scrapes (prometheus.io/scrape).
func scrapedPod(namespace, image string) *corev1.Pod {
	spec := testutil.RestrictedPodSpec()
	c := &spec.Containers[0]
	c.Image = image
	c.Env = []corev1.EnvVar{{Name: "TENANT", Value: strings.TrimSuffix(namespace, "-prod")}, {Name: "SHUTDOWN_DELAY", Value: "0s"}}
	c.Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}
	c.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{
		HTTPGet: &corev1.HTTPGetAction{Path: "/readyz", Port: intstr.FromString("http")},
	}}
	c.Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m")}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "web", Labels: map[string]string{"app": "web"},
			Annotations: map[string]string{"prometheus.io/scrape": "true", "prometheus.io/port": "8080"}},
		Spec: spec,
	}
}

// queryGateway sends a GET with the Authorization header, if any, and
// returns the status code and body.
func queryGateway(ctx context.Context, t *testing.T, base, authorization, path, query string) (int, string) {
	t.Helper()
	u := base + path
	if query != "" {
		u += "?" + url.Values{"query": {query}}.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// namespacesOf asks the gateway with authorization and returns the
// distinct namespaces of the series answered, sorted. path is
// /api/v1/query (query) or /api/v1/series (match[]).
func namespacesOf(ctx context.Context, gateway, authorization, path, query string) ([]string, error) {
	param := "query"
	if strings.HasSuffix(path, "/series") {
		param = "match[]"
	}
	return testutil.PromNamespaces(ctx, gateway, authorization, http.MethodGet, path, url.Values{param: {query}})
}

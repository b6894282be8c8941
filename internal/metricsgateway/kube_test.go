package metricsgateway

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tenantry/tenantry/api/v1alpha1"
	"github.com/tenantry/tenantry/gitops"
	"github.com/tenantry/tenantry/internal/install"
	"github.com/tenantry/tenantry/internal/render"
	"github.com/tenantry/tenantry/internal/testutil"
)

// The credential on a real API server, with the operator holding only the
// chart's rights: it mints a token per tenant namespace into
// tenantry-analysis; the gateway's real TokenReview and namespace index
// accept it for the tenant's namespaces, and refuse the tenant's ordinary
// ServiceAccount token and a token of a ServiceAccount of no tenant; a
// renewal puts a new token in the Secret, which works at once.
func TestCredentialOnTheAPIServer(t *testing.T) {
	testutil.NeedsCluster(t)
	ctx := t.Context()
	admin := platform.Admin
	for _, f := range []string{"plans/*.yaml", "tenants/acme.yaml", "tenants/globex.yaml"} {
		if _, err := install.Apply(ctx, admin, examples.Examples, f); err != nil {
			t.Fatal(err)
		}
	}
	key := client.ObjectKey{Namespace: "acme-prod", Name: render.AnalysisSecretName}
	secret := &corev1.Secret{}
	testutil.Eventually(t, time.Minute, func() error {
		if err := admin.Get(ctx, key, secret); err != nil {
			return err
		}
		if !strings.HasPrefix(string(secret.Data[render.AnalysisKeyAuthorization]), "Bearer ") {
			return fmt.Errorf("authorization %q, want a minted token", secret.Data[render.AnalysisKeyAuthorization])
		}
		return nil
	})
	if got := string(secret.Data[render.AnalysisKeyPrometheusAddress]); got != gatewayURL {
		t.Errorf("prometheus-address = %q, want the gateway's %q", got, gatewayURL)
	}
	issued, _ := time.Parse(time.RFC3339, secret.Annotations[v1alpha1.AnnotationCredentialIssuedAt])
	expires, _ := time.Parse(time.RFC3339, secret.Annotations[v1alpha1.AnnotationCredentialExpiresAt])
	if d := expires.Sub(issued); d < 9*time.Minute || d > 11*time.Minute {
		t.Errorf("token lives %s (issued %s, expires %s), want the 10m asked for", d, issued, expires)
	}
	sa := &corev1.ServiceAccount{}
	if err := admin.Get(ctx, client.ObjectKey{Namespace: "acme-prod", Name: render.MetricsServiceAccountName}, sa); err != nil {
		t.Fatal(err)
	}
	if sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken {
		t.Errorf("ServiceAccount %s mounts its token, want automountServiceAccountToken false", sa.Name)
	}

	cs, err := kubernetes.NewForConfig(platform.Cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	index, err := NewNamespaceIndex(cs)
	if err != nil {
		t.Fatal(err)
	}
	if err := index.Start(ctx); err != nil {
		t.Fatal(err)
	}
	var seen []string
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = r.Header.Values(NamespacesHeader)
		_, _ = w.Write([]byte(`{"status":"success"}`))
	}))
	defer upstream.Close()
	u, _ := url.Parse(upstream.URL)
	g, err := New(Config{Upstream: u, Reviewer: TokenReviewer{Client: cs}, Tenants: index})
	if err != nil {
		t.Fatal(err)
	}
	ask := func(authorization string) (int, string) {
		seen = nil
		req := httptest.NewRequest(http.MethodGet, "/api/v1/query?query=up", nil)
		req.Header.Set("Authorization", authorization)
		rec := httptest.NewRecorder()
		g.ServeHTTP(rec, req)
		return rec.Code, rec.Body.String()
	}
	authorization := string(secret.Data[render.AnalysisKeyAuthorization])
	testutil.Eventually(t, 30*time.Second, func() error {
		if code, body := ask(authorization); code != http.StatusOK {
			return fmt.Errorf("acme's credential: %d %s", code, body)
		}
		if want := []string{"acme-prod", "acme-staging"}; !slices.Equal(seen, want) {
			return fmt.Errorf("acme's credential scoped to %v, want %v", seen, want)
		}
		return nil
	})
	t.Logf("acme's credential: accepted, scoped to %v", seen)

	for _, tc := range []struct {
		name, namespace string
		audiences       []string
		wantCode        int
		wantMessage     string
	}{
		{"acme's ordinary ServiceAccount token", "acme-prod", nil, http.StatusUnauthorized, "is invalid for the target audiences"},
		{"a gateway-audience token of a ServiceAccount of no tenant", "kube-system", []string{DefaultAudience}, http.StatusForbidden, "namespace kube-system belongs to no tenant"},
	} {
		tr, err := cs.CoreV1().ServiceAccounts(tc.namespace).CreateToken(ctx, "default", &authenticationv1.TokenRequest{
			Spec: authenticationv1.TokenRequestSpec{Audiences: tc.audiences, ExpirationSeconds: ptr.To[int64](600)},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		code, body := ask("Bearer " + tr.Status.Token)
		if code != tc.wantCode || !strings.Contains(body, tc.wantMessage) || seen != nil {
			t.Errorf("%s: %d %s (upstream saw %v); want %d mentioning %q, nothing forwarded", tc.name, code, body, seen, tc.wantCode, tc.wantMessage)
		}
		t.Logf("%s: %d %s", tc.name, code, strings.TrimSpace(body))
	}

	// A renewal, forced: the token made to look two thirds through its
	// life, and the operator woken by a change to the Tenant (it caches no
	// Secret, so it is not told of this edit). A reconcile already under way
	// (the first status's hold ends ~10 s after onboarding) may have read
	// the Secret before the edit and repair it as drift; the edit is then
	// made again, so the test waits for a renewal, not for the race.
	const longAgo = "2000-01-01T00:00:00Z"
	pokes := 0
	force := func() {
		pokes++
		patch := fmt.Appendf(nil, `{"metadata":{"annotations":{%q:%q}}}`, v1alpha1.AnnotationCredentialIssuedAt, longAgo)
		if err := admin.Patch(ctx, secret, client.RawPatch(types.MergePatchType, patch)); err != nil {
			t.Fatal(err)
		}
		poke := fmt.Appendf(nil, `{"spec":{"displayName":"Acme Corp (renewal %d)"}}`, pokes)
		if err := admin.Patch(ctx, &v1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: "acme"}}, client.RawPatch(types.MergePatchType, poke)); err != nil {
			t.Fatal(err)
		}
	}
	force()
	renewed := &corev1.Secret{}
	testutil.Eventually(t, 30*time.Second, func() error {
		if err := admin.Get(ctx, key, renewed); err != nil {
			return err
		}
		if string(renewed.Data[render.AnalysisKeyAuthorization]) != authorization {
			return nil
		}
		if renewed.Annotations[v1alpha1.AnnotationCredentialIssuedAt] != longAgo {
			force()
		}
		return fmt.Errorf("still the old token (issued-at %s, forced %d times)", renewed.Annotations[v1alpha1.AnnotationCredentialIssuedAt], pokes)
	})
	if code, body := ask(string(renewed.Data[render.AnalysisKeyAuthorization])); code != http.StatusOK {
		t.Errorf("the renewed token: %d %s", code, body)
	}
	t.Logf("renewed (forced %d times): issued %s, expires %s; the new token is accepted", pokes,
		renewed.Annotations[v1alpha1.AnnotationCredentialIssuedAt], renewed.Annotations[v1alpha1.AnnotationCredentialExpiresAt])

	// Offboarding deletes the ServiceAccount: its tokens stop working.
	globex := &corev1.Secret{}
	testutil.Eventually(t, time.Minute, func() error {
		if err := admin.Get(ctx, client.ObjectKey{Namespace: "globex", Name: render.AnalysisSecretName}, globex); err != nil {
			return err
		}
		if code, body := ask(string(globex.Data[render.AnalysisKeyAuthorization])); code != http.StatusOK {
			return fmt.Errorf("globex's credential: %d %s", code, body)
		}
		return nil
	})
	if err := admin.Delete(ctx, &v1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: "globex"}}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, time.Minute, func() error {
		if code, body := ask(string(globex.Data[render.AnalysisKeyAuthorization])); code != http.StatusUnauthorized {
			return fmt.Errorf("globex's token after offboarding: %d %s, want 401", code, body)
		}
		return nil
	})
}

package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tenantry/tenantry/api/v1alpha1"

	"github.com/tenantry/tenantry/internal/testutil"
)

// TestOperatorServesProbesAndMetrics checks the operator binary that
// onboarded the examples in TestMain: it runs as the chart's ServiceAccount,
// under the guardrails, with leader election.
func TestOperatorServesProbesAndMetrics(t *testing.T) {
	testutil.NeedsCluster(t)
	ctx := t.Context()
	for _, path := range []string{"http://" + probeAddr + "/healthz", "http://" + probeAddr + "/readyz"} {
		if body := get(ctx, t, path); !strings.Contains(body, "ok") {
			t.Errorf("%s answered %q", path, body)
		}
	}
	// The examples, and any tenant an earlier test onboarded.
	var tenants v1alpha1.TenantList
	if err := admin.List(ctx, &tenants); err != nil {
		t.Fatal(err)
	}
	metrics := get(ctx, t, "http://"+metricsAddr+"/metrics")
	for _, want := range []string{
		fmt.Sprintf(`tenantry_tenants{phase="Ready"} %d`, len(tenants.Items)),
		fmt.Sprintf("tenantry_tenant_onboarding_duration_seconds_count %d", len(tenants.Items)),
		`tenantry_tenant_info{phase="Ready",plan="pro",tenant="acme"} 1`,
		`tenantry_tenant_condition{condition="Ready",tenant="globex"} 1`,
		`tenantry_tenant_suspended{tenant="initech"} 0`,
		// acme overrides the pro plan's 4 CPUs per namespace with 6.
		`tenantry_namespace_quota_hard{namespace="acme-prod",resource="requests.cpu",tenant="acme"} 6`,
		`tenantry_tenant_quota_hard{resource="requests.cpu",tenant="acme"} 12`,
		`tenantry_namespace_quota_hard{namespace="globex",resource="pods",tenant="globex"} 10`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q:\n%s", want, grepLines(metrics, "tenantry_"))
		}
	}

	// The example owner of globex is confined to it.
	hank := userClient(t, "hank@globex.com")
	if err := hank.List(ctx, &corev1.SecretList{}, client.InNamespace("globex")); err != nil {
		t.Errorf("hank cannot list secrets in his own namespace: %v", err)
	}
	if err := hank.List(ctx, &corev1.SecretList{}, client.InNamespace("acme-prod")); !apierrors.IsForbidden(err) {
		t.Errorf("hank listing acme-prod's secrets: err = %v, want Forbidden", err)
	}
}

// get polls url until it answers 200 and returns the body.
func get(ctx context.Context, t *testing.T, url string) string {
	t.Helper()
	var body string
	testutil.Eventually(t, 30*time.Second, func() error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s", url, resp.Status)
		}
		body = string(b)
		return nil
	})
	return body
}

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		if strings.Contains(line, sub) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

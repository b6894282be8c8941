// Package e2e runs the built tenantry-operator binary, as a process with its
// production flags (leader election, metrics, probes), against the local
// control plane, and onboards the example tenants in gitops/.
package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tenantry/tenantry/api/v1alpha1"
	"github.com/tenantry/tenantry/gitops"
	"github.com/tenantry/tenantry/internal/install"
	"github.com/tenantry/tenantry/internal/localcluster"
	"github.com/tenantry/tenantry/internal/testutil"
)

const operatorUser = "tenantry-operator"

func TestOperatorBinaryOnboardsTheExampleTenants(t *testing.T) {
	ctx := t.Context()
	operator := filepath.Join(t.TempDir(), "tenantry-operator")
	build := exec.CommandContext(ctx, "go", "build", "-o", operator, "github.com/tenantry/tenantry/cmd/tenantry-operator")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the operator: %v\n%s", err, out)
	}

	cluster, err := localcluster.Start(ctx, localcluster.Options{Progress: os.Stderr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			cluster.DumpLogs(os.Stderr, 40)
		}
		_ = cluster.Stop()
	})
	scheme, err := install.NewScheme()
	if err != nil {
		t.Fatal(err)
	}
	admin, err := client.New(cluster.Config, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	if err := install.CRDs(ctx, admin); err != nil {
		t.Fatal(err)
	}
	if err := install.OperatorRBAC(ctx, admin, operatorUser); err != nil {
		t.Fatal(err)
	}

	metricsAddr, probeAddr := freeAddr(t), freeAddr(t)
	if err := cluster.StartAddon("tenantry-operator", operator, operatorUser,
		"--leader-elect", "--leader-election-namespace=kube-system",
		"--metrics-bind-address="+metricsAddr, "--health-probe-bind-address="+probeAddr); err != nil {
		t.Fatal(err)
	}

	if _, err := install.Apply(ctx, admin, gitops.Examples, "plans/*.yaml"); err != nil {
		t.Fatal(err)
	}
	tenants, err := install.Apply(ctx, admin, gitops.Examples, "tenants/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range tenants {
		testutil.Eventually(t, time.Minute, func() error {
			tenant := &v1alpha1.Tenant{}
			if err := admin.Get(ctx, client.ObjectKey{Name: u.GetName()}, tenant); err != nil {
				return err
			}
			if tenant.Status.Phase != v1alpha1.PhaseReady {
				return fmt.Errorf("tenant %s is %q: %+v", tenant.Name, tenant.Status.Phase, tenant.Status.Conditions)
			}
			t.Logf("tenant %s Ready after %s in %v", tenant.Name, tenant.Status.OnboardingDuration.Duration, tenant.Status.Namespaces)
			return nil
		})
	}

	for _, path := range []string{"http://" + probeAddr + "/healthz", "http://" + probeAddr + "/readyz"} {
		if body := get(ctx, t, path); !strings.Contains(body, "ok") {
			t.Errorf("%s answered %q", path, body)
		}
	}
	metrics := get(ctx, t, "http://"+metricsAddr+"/metrics")
	for _, want := range []string{`tenantry_tenants{phase="Ready"} 3`, "tenantry_tenant_onboarding_duration_seconds_count 3"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q:\n%s", want, grepLines(metrics, "tenantry_"))
		}
	}

	// The example owner of globex is confined to it.
	cfg, err := cluster.UserConfig("hank@globex.com")
	if err != nil {
		t.Fatal(err)
	}
	hank, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	if err := hank.List(ctx, &corev1.SecretList{}, client.InNamespace("globex")); err != nil {
		t.Errorf("hank cannot list secrets in his own namespace: %v", err)
	}
	if err := hank.List(ctx, &corev1.SecretList{}, client.InNamespace("acme-prod")); !apierrors.IsForbidden(err) {
		t.Errorf("hank listing acme-prod's secrets: err = %v, want Forbidden", err)
	}
}

// freeAddr returns a loopback address nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
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

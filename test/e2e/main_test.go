// Package e2e runs the built tenantry-operator binary, as a process with its
// production flags (leader election, metrics, probes) and as the chart's
// ServiceAccount, against the local control plane with the guardrails
// installed; onboards the example tenants in gitops/; and attacks them from
// the inside with the tenant escape suite.
package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tenantry/tenantry/api/v1alpha1"
	"github.com/tenantry/tenantry/gitops"
	"github.com/tenantry/tenantry/internal/install"
	"github.com/tenantry/tenantry/internal/localcluster"
	"github.com/tenantry/tenantry/internal/testutil"
)

// The package shares one control plane, one operator and the example
// tenants (acme on pro, globex on free, initech on enterprise).
var (
	cluster                *localcluster.Cluster
	admin                  client.Client
	scheme                 *runtime.Scheme
	metricsAddr, probeAddr string
)

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	if testutil.ShortMode() {
		return m.Run()
	}
	operator, err := buildOperator(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(filepath.Dir(operator))
	return testutil.RunWithCluster(m, func(ctx context.Context, c *localcluster.Cluster) (func(), error) {
		cluster = c
		return nil, setUp(ctx, operator)
	})
}

func buildOperator(ctx context.Context) (string, error) {
	dir, err := os.MkdirTemp("", "tenantry-e2e-")
	if err != nil {
		return "", err
	}
	return testutil.BuildOperator(ctx, dir)
}

// setUp installs the platform, starts the operator binary as its
// ServiceAccount and onboards the example tenants.
func setUp(ctx context.Context, operator string) error {
	var err error
	if scheme, err = install.NewScheme(); err != nil {
		return err
	}
	if admin, err = client.New(cluster.Config, client.Options{Scheme: scheme}); err != nil {
		return err
	}
	operatorConfig, err := install.Platform(ctx, admin, cluster.Config)
	if err != nil {
		return err
	}
	if metricsAddr, err = freeAddr(); err != nil {
		return err
	}
	if probeAddr, err = freeAddr(); err != nil {
		return err
	}
	if err := cluster.StartAddon("tenantry-operator", operator, operatorConfig,
		"--leader-elect", "--leader-election-namespace="+install.OperatorNamespace,
		"--metrics-bind-address="+metricsAddr, "--health-probe-bind-address="+probeAddr); err != nil {
		return err
	}
	if _, err := install.Apply(ctx, admin, examples.Examples, "plans/*.yaml"); err != nil {
		return err
	}
	tenants, err := install.Apply(ctx, admin, examples.Examples, "tenants/*.yaml")
	if err != nil {
		return err
	}
	for _, u := range tenants {
		tenant := &v1alpha1.Tenant{}
		err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
			if err := admin.Get(ctx, client.ObjectKey{Name: u.GetName()}, tenant); err != nil {
				return false, err
			}
			return tenant.Status.Phase == v1alpha1.PhaseReady, nil
		})
		if err != nil {
			return fmt.Errorf("tenant %s not Ready (%+v): %w", u.GetName(), tenant.Status.Conditions, err)
		}
		fmt.Fprintf(os.Stderr, "e2e: tenant %s Ready after %s in %v\n", tenant.Name, tenant.Status.OnboardingDuration.Duration, tenant.Status.Namespaces)
	}
	return nil
}

// freeAddr returns a loopback address nothing listens on.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// userClient is a client authenticated with a client certificate, as a
// real tenant user is.
func userClient(t *testing.T, user string, groups ...string) client.Client {
	return testutil.UserClient(t, cluster, scheme, user, groups...)
}

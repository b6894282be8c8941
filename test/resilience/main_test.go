// Package resilience puts the built tenantry-operator binary, run as a
// process of its own with the chart's ServiceAccount, through the failures
// a production control plane sees, on the local control plane: SIGKILL in
// the middle of onboarding, the loss of the leader of two replicas, a
// kube-apiserver and an etcd crash while tenants are onboarded, and the
// deletion of a hundred tenants at once. Each test then checks the exact
// outcome: every tenant Ready with exactly what internal/render says it
// should have, nothing duplicated, nothing orphaned, nothing else touched.
//
// The tests run one after the other (they kill operators and restart the
// control plane) on one cluster for the package, each with its own tenant
// name prefix, and log the figures they measure.
package resilience

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tenantry/tenantry/api/v1alpha1"
	"github.com/tenantry/tenantry/gitops"
	"github.com/tenantry/tenantry/internal/install"
	"github.com/tenantry/tenantry/internal/localcluster"
	"github.com/tenantry/tenantry/internal/testutil"
)

// How many tenants each test works with. They keep the package within
// about three minutes on a 2-core machine (the cluster's components and
// the operator share the cores); raise them for a longer soak.
const (
	// killTenants are created at once; the operator is killed once
	// killAfterReady of them are Ready.
	killTenants    = 200
	killAfterReady = killTenants / 5
	// failoverTenants: the first half is created before the leader is
	// killed, the second half while it dies and no one leads.
	failoverTenants        = 60
	failoverKillAfterReady = 10
	// restartTenants are created while kube-apiserver, then etcd, crash:
	// enough that onboarding is still under way at the second crash, as
	// tenants become Ready in waves behind the quota controller.
	restartTenants = 200
	// offboardTenants are deleted at once, next to offboardControls
	// tenants that must stay as they are.
	offboardTenants  = 100
	offboardControls = 3
	// offboardWorkloadEvery: every n-th offboarded tenant runs a Deployment.
	offboardWorkloadEvery = 10
	// createWorkers is how many goroutines create tenants, as a GitOps
	// sync or a provisioning script would in parallel.
	createWorkers = 12
	// twoEnvironmentsEvery: every n-th tenant has two environments, the
	// others one, so both shapes are checked.
	twoEnvironmentsEvery = 4
)

// plan is the example plan the tenants are on ("pro": up to 3 environments).
const plan = "pro"

var (
	cluster *localcluster.Cluster
	admin   client.WithWatch
	// operatorBinary is the tenantry-operator built for this run, and
	// operatorKubeconfig authenticates as the chart's ServiceAccount.
	operatorBinary     string
	operatorKubeconfig string
	// tenants follows every Tenant of the package from one watch.
	tenants *tracker
)

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	if testutil.ShortMode() {
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "tenantry-resilience-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	operatorBinary = filepath.Join(dir, "tenantry-operator")
	// Built without -race: the operator is under test as users run it; the
	// race detector covers the test process.
	build := exec.Command("go", "build", "-o", operatorBinary, "github.com/tenantry/tenantry/cmd/tenantry-operator")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building the operator: %v\n%s", err, out)
		return 1
	}
	return testutil.RunWithCluster(m, func(ctx context.Context, c *localcluster.Cluster) (func(), error) {
		cluster = c
		return setUp(ctx, dir)
	})
}

// setUp installs the platform and the example plans, writes the operator's
// kubeconfig and starts following Tenants.
func setUp(ctx context.Context, dir string) (func(), error) {
	scheme, err := install.NewScheme()
	if err != nil {
		return nil, err
	}
	if admin, err = client.NewWithWatch(cluster.Config, client.Options{Scheme: scheme}); err != nil {
		return nil, err
	}
	operatorConfig, err := install.Platform(ctx, admin, cluster.Config)
	if err != nil {
		return nil, err
	}
	operatorKubeconfig = filepath.Join(dir, "operator.kubeconfig")
	if err := localcluster.WriteKubeconfig(operatorConfig, "tenantry-operator", operatorKubeconfig); err != nil {
		return nil, err
	}
	if _, err := install.Apply(ctx, admin, examples.Examples, "plans/*.yaml"); err != nil {
		return nil, err
	}
	if err := admin.Get(ctx, client.ObjectKey{Name: plan}, &v1alpha1.TenantPlan{}); err != nil {
		return nil, err
	}
	trackCtx, stop := context.WithCancel(ctx)
	tenants = track(trackCtx, admin)
	return stop, nil
}

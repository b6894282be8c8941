package controller_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tenantry/tenantry/internal/controller"
	"github.com/tenantry/tenantry/internal/install"
	"github.com/tenantry/tenantry/internal/localcluster"
	"github.com/tenantry/tenantry/internal/render"
	"github.com/tenantry/tenantry/internal/testutil"
)

// stuckAfter is short here so a test can see a stuck offboarding reported.
const stuckAfter = 2 * time.Second

// The package shares one control plane and one operator; each test works
// with Tenants of its own, so tests run in parallel.
var (
	cluster *localcluster.Cluster
	admin   client.Client
	scheme  *runtime.Scheme
)

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	var err error
	if scheme, err = install.NewScheme(); err != nil {
		panic(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cluster, err = localcluster.Start(ctx, localcluster.Options{Progress: os.Stderr})
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting the local control plane:", err)
		return 1
	}
	defer func() {
		if err := cluster.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping the local control plane:", err)
		}
	}()
	stopOperator, err := startOperator(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting the operator:", err)
		cluster.DumpLogs(os.Stderr, 40)
		return 1
	}
	code := m.Run()
	stopOperator()
	if code != 0 {
		cluster.DumpLogs(os.Stderr, 40)
	}
	return code
}

// startOperator installs the platform and runs the operator in this
// process as the chart's ServiceAccount (testutil.StartPlatform).
func startOperator(ctx context.Context) (stop func(), err error) {
	admin, stop, err = testutil.StartPlatform(ctx, cluster, scheme, controller.Config{
		Render: render.DefaultOptions(), MaxConcurrentReconciles: 4, StuckAfter: stuckAfter,
	})
	return stop, err
}

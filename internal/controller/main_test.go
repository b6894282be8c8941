package controller_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/tenantry/tenantry/internal/controller"
	"github.com/tenantry/tenantry/internal/install"
	"github.com/tenantry/tenantry/internal/localcluster"
	"github.com/tenantry/tenantry/internal/render"
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

// startOperator installs the platform (CRDs, guardrails, the operator's
// ServiceAccount), then runs the operator's manager in this process as that
// ServiceAccount. It holds only the ClusterRole generated from the
// controller's RBAC markers, so a missing marker fails the tests as it would
// fail a real install, and the guardrails apply to it as they would in one.
func startOperator(ctx context.Context) (stop func(), err error) {
	admin, err = client.New(cluster.Config, client.Options{Scheme: scheme})
	if err != nil {
		return nil, err
	}
	cfg, err := install.Platform(ctx, admin, cluster.Config)
	if err != nil {
		return nil, err
	}
	if os.Getenv("TENANTRY_TEST_OPERATOR_LOGS") != "" {
		ctrl.SetLogger(zap.New(zap.UseDevMode(true)))
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Cache:                  controller.CacheOptions(),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
	})
	if err != nil {
		return nil, err
	}
	if err := controller.Setup(mgr, controller.Config{Render: render.DefaultOptions(), MaxConcurrentReconciles: 4, StuckAfter: stuckAfter}); err != nil {
		return nil, err
	}
	mgrCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- mgr.Start(mgrCtx) }()
	return func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				fmt.Fprintln(os.Stderr, "operator stopped with:", err)
			}
		case <-time.After(30 * time.Second):
			fmt.Fprintln(os.Stderr, "operator did not stop within 30s")
		}
	}, nil
}

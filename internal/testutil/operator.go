package testutil

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/runtime"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/tenantry/tenantry/internal/controller"
	"github.com/tenantry/tenantry/internal/install"
	"github.com/tenantry/tenantry/internal/localcluster"
)

// Platform is what a test package shares: a local control plane with the
// platform installed and the operator running, an admin client and the
// scheme.
type Platform struct {
	Cluster *localcluster.Cluster
	Admin   client.Client
	Scheme  *runtime.Scheme
}

// RunWithPlatform is a TestMain body: on a local control plane
// (RunWithCluster) it installs the platform and runs the operator in this
// process (StartPlatform), calls setup to keep the Platform and add what
// the package needs, and runs the tests. It returns the exit code.
func RunWithPlatform(m *testing.M, cfg controller.Config, setup func(context.Context, Platform) error) int {
	scheme, err := install.NewScheme()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return RunWithCluster(m, func(ctx context.Context, cluster *localcluster.Cluster) (func(), error) {
		admin, stop, err := StartPlatform(ctx, cluster, scheme, cfg)
		if err != nil {
			return nil, err
		}
		return stop, setup(ctx, Platform{Cluster: cluster, Admin: admin, Scheme: scheme})
	})
}

// RunWithCluster is a TestMain body: it starts a local control plane (not
// under -short, where only the tests that need none run), calls
// setup (whose stop function, if any, runs after the tests), runs the
// tests, dumps the components' logs if setup or a test failed, and stops
// everything. It returns the exit code.
func RunWithCluster(m *testing.M, setup func(context.Context, *localcluster.Cluster) (func(), error)) int {
	if ShortMode() {
		return m.Run()
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cluster, err := localcluster.Start(ctx, localcluster.Options{Progress: os.Stderr})
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting the local control plane:", err)
		return 1
	}
	defer func() {
		if err := cluster.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping the local control plane:", err)
		}
	}()
	stop, err := setup(ctx, cluster)
	if stop != nil {
		defer stop()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "setting up the platform:", err)
		cluster.DumpLogs(os.Stderr, 40)
		return 1
	}
	code := m.Run()
	if code != 0 {
		cluster.DumpLogs(os.Stderr, 40)
	}
	return code
}

// StartPlatform installs the chart's rendering (deploy/tenantry.yaml) on
// cluster, then runs the operator's manager in this process as the chart's
// ServiceAccount. It holds only the chart's RBAC, so a missing marker fails
// the tests as it would fail a real install, and the guardrails apply to it
// as they would in one. It returns an admin client and a stop function.
func StartPlatform(ctx context.Context, cluster *localcluster.Cluster, scheme *runtime.Scheme, cfg controller.Config) (client.Client, func(), error) {
	// Before the first client: controller-runtime complains, with a stack
	// trace, about any logger used before one is set.
	if os.Getenv("TENANTRY_TEST_OPERATOR_LOGS") != "" {
		ctrl.SetLogger(zap.New(zap.UseDevMode(true)))
	} else {
		ctrl.SetLogger(logr.Discard())
	}
	admin, err := client.New(cluster.Config, client.Options{Scheme: scheme})
	if err != nil {
		return nil, nil, err
	}
	operatorConfig, err := install.Platform(ctx, admin, cluster.Config)
	if err != nil {
		return nil, nil, err
	}
	if cfg, err = controller.WithArgoCD(operatorConfig, cfg, cfg.Render.ArgoCDNamespace); err != nil {
		return nil, nil, err
	}
	mgr, err := ctrl.NewManager(operatorConfig, ctrl.Options{
		Scheme:                 scheme,
		Cache:                  controller.CacheOptions(cfg),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
	})
	if err != nil {
		return nil, nil, err
	}
	if err := controller.Setup(mgr, cfg); err != nil {
		return nil, nil, err
	}
	mgrCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- mgr.Start(mgrCtx) }()
	stop := func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				fmt.Fprintln(os.Stderr, "operator stopped with:", err)
			}
		case <-time.After(30 * time.Second):
			fmt.Fprintln(os.Stderr, "operator did not stop within 30s")
		}
	}
	return admin, stop, nil
}

// BuildOperator builds cmd/tenantry-operator into dir and returns the
// binary's path, for tests that run the operator as its own process.
func BuildOperator(ctx context.Context, dir string) (string, error) {
	operator := filepath.Join(dir, "tenantry-operator")
	build := exec.CommandContext(ctx, "go", "build", "-o", operator, "github.com/tenantry/tenantry/cmd/tenantry-operator")
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building the operator: %v\n%s", err, out)
	}
	return operator, nil
}

package testutil

import (
	"context"
	"fmt"
	"os"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/tenantry/tenantry/internal/controller"
	"github.com/tenantry/tenantry/internal/install"
	"github.com/tenantry/tenantry/internal/localcluster"
)

// StartPlatform installs the chart's rendering (deploy/tenantry.yaml) on
// cluster, then runs the operator's manager in this process as the chart's
// ServiceAccount. It holds only the chart's RBAC, so a missing marker fails
// the tests as it would fail a real install, and the guardrails apply to it
// as they would in one. It returns an admin client and a stop function.
func StartPlatform(ctx context.Context, cluster *localcluster.Cluster, scheme *runtime.Scheme, cfg controller.Config) (client.Client, func(), error) {
	admin, err := client.New(cluster.Config, client.Options{Scheme: scheme})
	if err != nil {
		return nil, nil, err
	}
	operatorConfig, err := install.Platform(ctx, admin, cluster.Config)
	if err != nil {
		return nil, nil, err
	}
	if os.Getenv("TENANTRY_TEST_OPERATOR_LOGS") != "" {
		ctrl.SetLogger(zap.New(zap.UseDevMode(true)))
	}
	mgr, err := ctrl.NewManager(operatorConfig, ctrl.Options{
		Scheme:                 scheme,
		Cache:                  controller.CacheOptions(),
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

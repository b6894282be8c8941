package controller_test

import (
	"context"
	"os"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tenantry/tenantry/internal/controller"
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
	cfg := controller.Config{Render: render.DefaultOptions(), MaxConcurrentReconciles: 4, StuckAfter: stuckAfter}
	os.Exit(testutil.RunWithPlatform(m, cfg, func(_ context.Context, p testutil.Platform) error {
		cluster, admin, scheme = p.Cluster, p.Admin, p.Scheme
		return nil
	}))
}

package metricsgateway

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/tenantry/tenantry/internal/controller"
	"github.com/tenantry/tenantry/internal/render"
	"github.com/tenantry/tenantry/internal/testutil"
)

// gatewayURL is the gateway address the operator of these tests is
// configured with: it mints credentials, and nothing listens there.
const gatewayURL = "http://tenantry-metrics-gateway.tenantry-system.svc:9090"

// platform is the local control plane with the operator running in this
// process as the chart's ServiceAccount, configured for the metrics
// gateway; nil under -short.
var platform *testutil.Platform

func TestMain(m *testing.M) {
	opts := render.DefaultOptions()
	opts.MetricsGatewayURL = gatewayURL
	// The API server's shortest lifetime, so a renewal is 6m40s away.
	cfg := controller.Config{Render: opts, MaxConcurrentReconciles: 2, MetricsTokenTTL: 10 * time.Minute}
	os.Exit(testutil.RunWithPlatform(m, cfg, func(_ context.Context, p testutil.Platform) error {
		platform = &p
		return nil
	}))
}

// Package fleet proves a fleet's hub on a real control plane with the real
// Argo CD: Tenants on the hub are placed on member clusters by their
// selectors and the members' capacity, placements stay put, the decisions
// land in PlacementDecisions, and Argo CD's ApplicationSet turns each into
// an Application that targets the tenant's cluster.
package fleet

import (
	"context"
	"os"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tenantry/tenantry/internal/controller"
	"github.com/tenantry/tenantry/internal/install"
	"github.com/tenantry/tenantry/internal/localcluster"
	"github.com/tenantry/tenantry/internal/render"
	"github.com/tenantry/tenantry/internal/testutil"
)

var (
	admin client.Client
	argo  *localcluster.ArgoCD
)

func TestMain(m *testing.M) {
	os.Exit(testutil.RunWithCluster(m, setUp))
}

// setUp runs Argo CD and the operator as a fleet's hub, with the chart's
// hub rights.
func setUp(ctx context.Context, c *localcluster.Cluster) (func(), error) {
	var err error
	if argo, err = c.StartArgoCD(ctx, localcluster.ArgoCDOptions{}); err != nil {
		return nil, err
	}
	scheme, err := install.NewScheme()
	if err != nil {
		return nil, err
	}
	setup, err := client.New(c.Config, client.Options{Scheme: scheme})
	if err != nil {
		return nil, err
	}
	if err := install.FleetHub(ctx, setup, argo.Namespace); err != nil {
		return nil, err
	}
	cfg := controller.Config{Render: render.DefaultOptions(), FleetHub: true}
	cfg.Render.ArgoCDNamespace = argo.Namespace
	var stop func()
	admin, stop, err = testutil.StartPlatform(ctx, c, scheme, cfg)
	return stop, err
}

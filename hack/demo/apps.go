package main

import (
	"context"
	"path/filepath"
	"strings"

	"k8s.io/client-go/kubernetes"

	"github.com/tenantry/tenantry/internal/images"
	"github.com/tenantry/tenantry/internal/localcluster"
)

// demoAppTags are the demo app's versions the example apps and the shop's
// releases name (4.0.0 for the release docs/progressive-delivery.md lets
// the reader commit): one binary, pushed under each tag, so each release
// pulls its own image name as it would in production.
var demoAppTags = []string{"0.1.0", "1.0.0", "2.0.0", "3.0.0", "4.0.0"}

const demoApp = localcluster.LocalRegistry + "/demo-app"

// pushDemoApp builds the demo app's image without Docker and pushes it to
// the cluster's registry under demoAppTags; root is the checkout.
func pushDemoApp(ctx context.Context, cluster *localcluster.Cluster, root string) error {
	binary := filepath.Join(cluster.DataDir, "images", "demo-app")
	if err := images.BuildGo(ctx, images.GoBuild{Dir: root, Package: "./cmd/demo-app", Out: binary}); err != nil {
		return err
	}
	for _, tag := range demoAppTags {
		digest, err := cluster.PushBinaryImage(ctx, "demo-app:"+tag, binary, images.Options{Title: "demo-app", Version: tag})
		if err != nil {
			return err
		}
		step(">> pushed %s:%s@%s (built from cmd/demo-app, no Docker)", demoApp, tag, digest)
	}
	return nil
}

// askTheApp sends real HTTP requests to umbrella's apps from a pod of
// umbrella, created by its admin: cluster DNS resolves the Service,
// kube-proxy picks a pod, the app answers.
func askTheApp(ctx context.Context, cluster *localcluster.Cluster) error {
	cfg, err := cluster.UserConfig("ada@umbrella.example")
	if err != nil {
		return err
	}
	ada, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	for _, svc := range []string{"hello", "umbrella-shop"} {
		url := "http://" + svc + "/"
		body, err := localcluster.ProbeHTTP(ctx, ada, "umbrella-prod", "probe-"+svc, demoApp+":"+demoAppTags[0], url)
		if err != nil {
			return err
		}
		step(">> GET %s from a pod of umbrella (as ada@umbrella.example): %s", url, body)
	}
	return nil
}

// promLabelProxy is the prom-label-proxy `make testbin` builds from
// tools/prom-label-proxy: the metrics gateway's sidecar, pushed in place of
// the upstream image, which this host cannot pull.
const promLabelProxy = "prom-label-proxy:v0.11.1"

// metricsGatewayValues pushes prom-label-proxy's image and returns the
// platform chart's values that run the metrics gateway in front of
// prometheusURL: every tenant's analysis then queries Prometheus through
// it, with the credential the operator mints into the tenant's namespaces,
// and sees the series of its own namespaces only.
func metricsGatewayValues(ctx context.Context, cluster *localcluster.Cluster, binDir, prometheusURL string) ([]string, error) {
	digest, err := cluster.PushBinaryImage(ctx, promLabelProxy, filepath.Join(binDir, "prom-label-proxy"),
		images.Options{Title: "prom-label-proxy", Version: strings.TrimPrefix(promLabelProxy, "prom-label-proxy:")})
	if err != nil {
		return nil, err
	}
	step(">> pushed %s/%s@%s (built from tools/prom-label-proxy), the metrics gateway's label enforcer", localcluster.LocalRegistry, promLabelProxy, digest)
	return []string{
		"metricsGateway.enabled=true",
		"metricsGateway.prometheusURL=" + prometheusURL,
		"metricsGateway.promLabelProxy.image=" + localcluster.LocalRegistry + "/" + promLabelProxy,
		"metricsGateway.promLabelProxy.pullPolicy=Always",
	}, nil
}

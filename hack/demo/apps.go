package main

import (
	"context"
	"path/filepath"

	"k8s.io/client-go/kubernetes"

	"github.com/tenantry/tenantry/internal/images"
	"github.com/tenantry/tenantry/internal/localcluster"
)

// demoAppTags are the demo app's versions the example apps and the shop's
// releases name: one binary, pushed under each tag, so each release pulls
// its own image name as it would in production.
var demoAppTags = []string{"0.1.0", "1.0.0", "2.0.0", "3.0.0"}

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

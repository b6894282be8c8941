package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tenantry/tenantry/api/v1alpha1"
	"github.com/tenantry/tenantry/charts"
	"github.com/tenantry/tenantry/internal/analysisstub"
	"github.com/tenantry/tenantry/internal/gitops"
	"github.com/tenantry/tenantry/internal/localcluster"
)

// shopPath is where the demo vendors charts/tenant-app in its repository:
// umbrella's app shop, released by Argo Rollouts.
const shopPath = "gitops/apps/shop"

// startAnalysisStub stands in for Prometheus and for the app's health
// endpoint: kwok runs no containers, so nothing serves or scrapes the demo
// app. It answers as the real ones would for the release under analysis:
// from the FAILURE_RATE and LATENCY of the pods with the queried template
// hash (a success rate of 1 - FAILURE_RATE; /healthz failing at 1).
func startAnalysisStub(ctx context.Context, admin client.Client) (*analysisstub.Server, error) {
	faults := func(selector client.MatchingLabels, namespace string) (failureRate float64, latency time.Duration, ok bool) {
		var sets appsv1.ReplicaSetList
		opts := []client.ListOption{selector}
		if namespace != "" {
			opts = append(opts, client.InNamespace(namespace))
		}
		if err := admin.List(ctx, &sets, opts...); err != nil || len(sets.Items) == 0 {
			return 0, 0, false
		}
		for _, env := range sets.Items[0].Spec.Template.Spec.Containers[0].Env {
			switch env.Name {
			case "FAILURE_RATE":
				failureRate, _ = strconv.ParseFloat(env.Value, 64)
			case "LATENCY":
				latency, _ = time.ParseDuration(env.Value)
			}
		}
		return failureRate, latency, true
	}
	return analysisstub.Start(analysisstub.Answers{
		Prometheus: func(q analysisstub.Query) (float64, bool) {
			rate, latency, ok := faults(client.MatchingLabels{"rollouts-pod-template-hash": q.Hash}, "")
			switch {
			case !ok || q.Hash == "":
				return 0, false
			case strings.Contains(q.Query, "histogram_quantile"):
				return latency.Seconds() + 0.02, true
			default:
				return 1 - rate, true
			}
		},
		// The web check asks /<namespace>/<service>/healthz: the version
		// under analysis is the one the Service selects.
		Healthy: func(q analysisstub.Query) bool {
			parts := strings.Split(strings.Trim(q.Path, "/"), "/")
			if len(parts) != 3 {
				return true
			}
			svc := &corev1.Service{}
			if err := admin.Get(ctx, client.ObjectKey{Namespace: parts[0], Name: parts[1]}, svc); err != nil {
				return false
			}
			rate, _, ok := faults(client.MatchingLabels(svc.Spec.Selector), parts[0])
			return !ok || rate < 1
		},
	})
}

// shopFiles are the app shop in the demo's repository: charts/tenant-app,
// vendored, releasing version 1.0.0.
func shopFiles() (map[string][]byte, error) {
	chart, err := charts.TenantAppFiles()
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{}
	for rel, data := range chart {
		files[shopPath+"/"+rel] = data
	}
	values, err := gitops.SetValues(files[shopPath+"/values.yaml"], map[string]string{"image.tag": "1.0.0"})
	files[shopPath+"/values.yaml"] = values
	return files, err
}

// shopValues are umbrella's own values for shop (tenantry add-app
// --values): quick pauses and analyses, so the demo's releases take
// seconds, and the web check aimed at the stub.
func shopValues(dir, stubURL string) (string, error) {
	path := filepath.Join(dir, "shop-values.yaml")
	return path, os.WriteFile(path, fmt.Appendf(nil, `replicas: 5
canary:
  pauseDuration: 3s
resources:
  requests: {cpu: 10m, memory: 16Mi}
  limits: {cpu: 50m, memory: 32Mi}
analysis:
  interval: 2s
  count: 2
  failureLimit: 0
  consecutiveErrorLimit: 0
  inconclusiveLimit: 0
  web:
    url: "%s/{{args.namespace}}/{{args.service}}/healthz"
`, stubURL), 0o644)
}

// releaseShop runs umbrella's progressive delivery: the app shop added by a
// commit and released as 1.0.0, then a good version (2.0.0) that Argo
// Rollouts promotes step by step, then a bad one (3.0.0, half its requests
// failing) whose analysis fails and which is rolled back by itself, the
// stable version serving throughout. Each release is a commit.
func releaseShop(ctx context.Context, cluster *localcluster.Cluster, admin client.Client, argo *localcluster.ArgoCD, repo platformRepo, binDir, stubURL string) error {
	values, err := shopValues(cluster.DataDir, stubURL)
	if err != nil {
		return err
	}
	if err := runTenantry(ctx, cluster, binDir, "add-app", "umbrella", "shop", "--repo", repo.url, "--path", shopPath, "--env", "prod",
		"--values", values, "--reason", "the shop, released with Argo Rollouts", "--gitops", filepath.Join(repo.dir, "gitops"), "--push"); err != nil {
		return err
	}
	if err := argo.Refresh(ctx, "tenants"); err != nil {
		return err
	}
	if err := followRelease(ctx, admin, "1.0.0", v1alpha1.RolloutHealthy); err != nil {
		return err
	}
	for _, r := range []struct {
		version, failureRate, what string
		ends                       v1alpha1.RolloutPhase
	}{
		{"2.0.0", "0", "a good version: its canary passes the analysis at each step", v1alpha1.RolloutHealthy},
		{"3.0.0", "0.5", "a bad version (FAILURE_RATE 0.5, one value): its analysis fails and the release aborts", v1alpha1.RolloutAborted},
	} {
		step(">> commit: shop %s, %s", r.version, r.what)
		if err := commitShop(ctx, repo, r.version, r.failureRate); err != nil {
			return err
		}
		if err := argo.Refresh(ctx, "umbrella-shop"); err != nil {
			return err
		}
		if err := followRelease(ctx, admin, r.version, r.ends); err != nil {
			return err
		}
	}
	var sets appsv1.ReplicaSetList
	if err := admin.List(ctx, &sets, client.InNamespace("umbrella-prod")); err != nil {
		return err
	}
	for _, rs := range sets.Items {
		if strings.HasSuffix(rs.Spec.Template.Spec.Containers[0].Image, ":2.0.0") {
			step("   the stable version 2.0.0 kept serving: %d of %d pods available; `tenantry status umbrella` shows the releases",
				rs.Status.AvailableReplicas, *rs.Spec.Replicas)
		}
	}
	return nil
}

// commitShop commits a release of shop: its image tag and failure rate.
func commitShop(ctx context.Context, repo platformRepo, version, failureRate string) error {
	path := filepath.Join(repo.dir, shopPath, "values.yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if data, err = gitops.SetValues(data, map[string]string{"image.tag": version, "faults.failureRate": failureRate}); err != nil {
		return err
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return err
	}
	for _, args := range [][]string{{"commit", "-q", "-am", "shop " + version}, {"push", "-q", "origin", "main"}} {
		if out, err := exec.CommandContext(ctx, "git", append([]string{"-C", repo.dir}, args...)...).CombinedOutput(); err != nil {
			return fmt.Errorf("git %s: %w\n%s", args[0], err, out)
		}
	}
	return nil
}

// followRelease prints each change of shop's release, as the Tenant's
// status reports it, until it ends in phase ends on version.
func followRelease(ctx context.Context, admin client.Client, version string, ends v1alpha1.RolloutPhase) error {
	start, last := time.Now(), ""
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 4*time.Minute, true, func(ctx context.Context) (bool, error) {
		t := &v1alpha1.Tenant{}
		if err := admin.Get(ctx, client.ObjectKey{Name: "umbrella"}, t); err != nil {
			return false, nil
		}
		i := slices.IndexFunc(t.Status.Apps, func(a v1alpha1.AppStatus) bool { return a.Name == "shop" })
		if i < 0 || t.Status.Apps[i].Rollout == nil {
			return false, nil
		}
		ro := t.Status.Apps[i].Rollout
		if !strings.HasSuffix(ro.Image, ":"+version) {
			return false, nil
		}
		state := fmt.Sprintf("%s, step %s, %d%% of pods on %s", ro.Phase, or(ro.Step, "-"), ro.Weight, version)
		if ro.Analysis != "" {
			state += "; analysis " + ro.Analysis
			if ro.AnalysisRun != "" {
				state += " (AnalysisRun " + ro.AnalysisRun + ")"
			}
		}
		if state != last {
			step("   %5.1fs  %s", time.Since(start).Seconds(), state)
			last = state
		}
		// An abort is reported once its analysis's outcome is known.
		done := ends == v1alpha1.RolloutHealthy && ro.Weight == 100 ||
			ends == v1alpha1.RolloutAborted && ro.Analysis != "" && !strings.HasPrefix(ro.Analysis, "Running")
		return ro.Phase == ends && done, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for shop %s to end %s (last: %s): %w", version, ends, last, err)
	}
	return nil
}

func or(s, fallback string) string {
	if s == "" {
		return fallback
	}
	return s
}

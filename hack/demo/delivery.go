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

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tenantry/tenantry/api/v1alpha1"
	"github.com/tenantry/tenantry/charts"
	"github.com/tenantry/tenantry/internal/gitops"
	"github.com/tenantry/tenantry/internal/localcluster"
)

// shopPath is where the demo vendors charts/tenant-app in its repository:
// umbrella's app shop, released by Argo Rollouts.
const shopPath = "gitops/apps/shop"

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

// The shop's releases run at demo speed against the real Prometheus:
// scrapes and measurements every 2 s, three measurements with one failure
// tolerated, rate() over 10 s (five scrapes). Each canary step pauses 12 s
// before its analysis: a new pod's first series reach Prometheus up to about
// 11 s after it is ready (the harness's service discovery, Prometheus's
// discovery manager, which passes new targets on every 5 s, and the two
// scrapes rate() needs); sooner, the first measurements find no data.
const (
	scrapeInterval   = 2 * time.Second
	analysisInterval = 2 * time.Second
	analysisWindow   = 10 * time.Second
	canaryPause      = 12 * time.Second
	// loadRate is the requests per second the shop's clients send through
	// its Service: with 5 replicas, the first canary pod gets a fifth.
	loadRate = 50
)

// shopValues are umbrella's own values for shop (tenantry add-app
// --values): quick pauses and analyses, so a release takes under a minute.
// They name no Prometheus: the chart reads the address and umbrella's
// credential (the metrics gateway's) from the Secret tenantry-analysis the
// operator writes. The gateway is no multi-tenant backend: no tenant header.
func shopValues(dir string) (string, error) {
	path := filepath.Join(dir, "shop-values.yaml")
	return path, os.WriteFile(path, fmt.Appendf(nil, `replicas: 5
canary:
  pauseDuration: %s
shutdownDelay: 2s
# One replica goes at a time anyway; the budget would only slow an abort's
# scale-down.
podDisruptionBudget: {enabled: false}
resources:
  requests: {cpu: 20m, memory: 32Mi}
  limits: {cpu: 150m, memory: 64Mi}
analysis:
  interval: %s
  count: 3
  failureLimit: 1
  prometheus:
    window: %s
    tenantHeader: ""
`, canaryPause, analysisInterval, analysisWindow), 0o644)
}

// releaseShop runs umbrella's progressive delivery: the app shop added by a
// commit and released as 1.0.0, then, under a steady load from a client pod
// of umbrella, a good version (2.0.0) that Argo Rollouts promotes step by
// step, and a bad one (3.0.0, half its requests failing) whose success-rate
// analysis, measured by Prometheus on the canary's real requests, fails, so
// the release aborts and traffic returns to the stable version. Each
// release is a commit. It ends with what the clients saw per release.
func releaseShop(ctx context.Context, cluster *localcluster.Cluster, admin client.Client, argo *localcluster.ArgoCD, repo platformRepo, binDir string) error {
	values, err := shopValues(cluster.DataDir)
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
	if _, err := followRelease(ctx, admin, "1.0.0", v1alpha1.RolloutHealthy); err != nil {
		return err
	}
	load, err := startShopLoad(ctx, cluster)
	if err != nil {
		return err
	}
	// The load client keeps sending until Ctrl-C, which stops it with the
	// cluster: releases the reader commits are measured on real traffic too.
	type release struct {
		version, failureRate, what string
		ends                       v1alpha1.RolloutPhase
		outcome                    string
	}
	releases := []*release{
		{version: "2.0.0", failureRate: "0", what: "a good version: its canary passes the analysis at each step", ends: v1alpha1.RolloutHealthy},
		{version: "3.0.0", failureRate: "0.5", what: "a bad version (FAILURE_RATE 0.5, one value): its success rate, measured by Prometheus, falls below the minimum 0.95, and the release aborts", ends: v1alpha1.RolloutAborted},
	}
	for _, r := range releases {
		step(">> commit: shop %s, %s", r.version, r.what)
		load.Mark(r.version)
		if err := commitShop(ctx, repo, r.version, r.failureRate); err != nil {
			return err
		}
		if err := argo.Refresh(ctx, "umbrella-shop"); err != nil {
			return err
		}
		ro, err := followRelease(ctx, admin, r.version, r.ends)
		if err != nil {
			return err
		}
		if r.outcome, err = analysisOutcome(ctx, admin, "umbrella-prod", ro.AnalysisRun); err != nil {
			return err
		}
	}
	// The abort scales the canary down: wait until only 2.0.0 serves, so
	// the last phase shows traffic back on the stable version.
	if err := waitStableOnly(ctx, admin, "2.0.0"); err != nil {
		return err
	}
	load.Mark("after the abort")
	if err := waitLoadPhase(ctx, load, "after the abort", 2*loadRate); err != nil {
		return err
	}
	phases := load.Phases()
	step(">> what shop's clients saw (a pod of umbrella sending %d requests/s to http://umbrella-shop/ throughout):", loadRate)
	os.Stderr.Write(indent([]byte(localcluster.FormatLoadPhases(phases))))
	for _, r := range releases {
		p := phaseNamed(phases, r.version)
		step("   %s: %s by the analysis (%s); clients saw %d failed of %d, %d answered by %s",
			r.version, map[v1alpha1.RolloutPhase]string{v1alpha1.RolloutHealthy: "promoted", v1alpha1.RolloutAborted: "aborted"}[r.ends],
			r.outcome, p.Failed, p.Sent, p.Versions[r.version], r.version)
	}
	after := phaseNamed(phases, "after the abort")
	step("   after the abort: %d of %d answered by the stable 2.0.0, %d failed; `tenantry status umbrella` shows the releases",
		after.Versions["2.0.0"], after.Sent, after.Failed)
	return nil
}

// startShopLoad runs a load client in umbrella-prod, created by umbrella's
// admin: the tenant's NetworkPolicies let its own pods reach shop, and the
// requests are the real traffic Prometheus measures the canary by.
func startShopLoad(ctx context.Context, cluster *localcluster.Cluster) (*localcluster.Load, error) {
	cfg, err := cluster.UserConfig("ada@umbrella.example")
	if err != nil {
		return nil, err
	}
	ada, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	step(">> starting a load client in umbrella-prod (as ada@umbrella.example): %d requests/s to http://umbrella-shop/", loadRate)
	return localcluster.StartLoad(ctx, ada, localcluster.LoadOptions{
		Namespace: "umbrella-prod", Name: "shop-load", Image: demoApp + ":" + demoAppTags[0],
		URLs: []string{"http://umbrella-shop/"}, Rate: loadRate,
	})
}

// analysisOutcome says how an AnalysisRun's metrics ended and what they
// measured: "success-rate Failed: 0.492, 0.481; latency Successful: ...".
func analysisOutcome(ctx context.Context, admin client.Client, namespace, name string) (string, error) {
	if name == "" {
		return "no AnalysisRun", nil
	}
	run := &unstructured.Unstructured{}
	run.SetGroupVersionKind(schema.GroupVersionKind{Group: "argoproj.io", Version: "v1alpha1", Kind: "AnalysisRun"})
	if err := admin.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, run); err != nil {
		return "", fmt.Errorf("reading AnalysisRun %s/%s: %w", namespace, name, err)
	}
	var out []string
	for _, m := range localcluster.AnalysisMetrics(run) {
		var values []string
		for _, ms := range m.Measurements {
			if ms.Value != "" {
				values = append(values, shortValue(ms.Value))
			}
		}
		out = append(out, fmt.Sprintf("%s %s: %s", m.Name, m.Phase, strings.Join(values, ", ")))
	}
	return strings.Join(out, "; "), nil
}

// shortValue shows a measurement as Argo Rollouts stores it, shorter: a
// Prometheus vector's text such as "[0.4918032786885246]" becomes 0.492,
// and the web check's JSON string "\"ok\"" becomes ok.
func shortValue(v string) string {
	inner := strings.Trim(v, `[]"`)
	parts := strings.Split(inner, ",")
	for i, part := range parts {
		f, err := strconv.ParseFloat(strings.TrimSpace(part), 64)
		if err != nil {
			return inner
		}
		parts[i] = strconv.FormatFloat(f, 'g', 3, 64)
	}
	return strings.Join(parts, " ")
}

// waitStableOnly waits until every pod of umbrella-prod's shop runs version.
func waitStableOnly(ctx context.Context, admin client.Client, version string) error {
	var last string
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		var pods corev1.PodList
		if err := admin.List(ctx, &pods, client.InNamespace("umbrella-prod")); err != nil {
			return false, err
		}
		others := 0
		for _, p := range pods.Items {
			image := p.Spec.Containers[0].Image
			if p.Labels["rollouts-pod-template-hash"] != "" && !strings.HasSuffix(image, ":"+version) {
				others++
			}
		}
		last = fmt.Sprintf("%d pods of shop not on %s", others, version)
		return others == 0, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for the canary's pods to go (last: %s): %w", last, err)
	}
	return nil
}

// waitLoadPhase waits until phase has at least n requests sent.
func waitLoadPhase(ctx context.Context, load *localcluster.Load, phase string, n int) error {
	return wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		return phaseNamed(load.Phases(), phase).Sent >= n, nil
	})
}

// phaseNamed sums what the clients saw in phase over its URLs.
func phaseNamed(phases []localcluster.LoadPhase, phase string) localcluster.LoadPhase {
	sum := localcluster.LoadPhase{Phase: phase, Versions: map[string]int{}}
	for _, p := range phases {
		if p.Phase != phase {
			continue
		}
		sum.Sent, sum.OK, sum.Failed = sum.Sent+p.Sent, sum.OK+p.OK, sum.Failed+p.Failed
		for v, n := range p.Versions {
			sum.Versions[v] += n
		}
	}
	return sum
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
func followRelease(ctx context.Context, admin client.Client, version string, ends v1alpha1.RolloutPhase) (v1alpha1.AppRollout, error) {
	start, last := time.Now(), ""
	var final v1alpha1.AppRollout
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
		final = *ro
		return ro.Phase == ends && done, nil
	})
	if err != nil {
		return final, fmt.Errorf("waiting for shop %s to end %s (last: %s): %w", version, ends, last, err)
	}
	return final, nil
}

func or(s, fallback string) string {
	if s == "" {
		return fallback
	}
	return s
}

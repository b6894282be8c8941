package realnode

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/tenantry/tenantry/internal/install"
	"github.com/tenantry/tenantry/internal/localcluster"
	"github.com/tenantry/tenantry/internal/testutil"
)

// The release under analysis: charts/tenant-app as tenant globex's admin
// deploys it, five replicas, so the first canary step (20 %) is one pod.
const (
	appName     = "shop"
	appReplicas = 5
	loadRate    = 100 // requests per second through the app's Service
)

// Analysis settings of the test (charts/tenant-app values): measurements
// every 2 s, 3 of them, one failure tolerated; rate() over 10 s (five
// scrapes); a 12 s pause at 20 % before the analysis. A new pod's first
// series reach Prometheus up to about 11 s after it is ready: the service
// discovery's refresh (2 s), Prometheus's discovery manager, which passes
// new targets on at most every 5 s, and the two scrapes rate() needs. With
// a shorter pause the first measurements find no data (inconclusive), and
// past inconclusiveLimit the release pauses for a person.
const (
	scrapeInterval    = 2 * time.Second
	analysisInterval  = 2 * time.Second
	analysisFailLimit = 1
	analysisWindow    = 10 * time.Second
	canaryPause       = 12 * time.Second
	// shutdownDelay is how long a stopping pod keeps answering, unready.
	shutdownDelay = 2 * time.Second
)

// The free plan's quota allows 2 CPUs of limits in the namespace: the app
// at its most (5 stable pods and 2 surge pods during a step) and the load
// client must fit.
var (
	appResources = map[string]any{
		"requests": map[string]any{"cpu": "50m", "memory": "64Mi"},
		"limits":   map[string]any{"cpu": "150m", "memory": "128Mi"},
	}
	loadResources = corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("32Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
	}
)

// TestCanaryAnalysisRealPrometheus releases charts/tenant-app versions
// under continuous load, judged by the chart's AnalysisTemplates against a
// real Prometheus scraping the real pods: a version failing half its
// requests is aborted by the success-rate metric, a slow one by the latency
// metric, each time traffic returns to the stable version; a good version
// is promoted. Argo Rollouts' controller and Prometheus run as pods, and
// the platform's alert rules and dashboard queries are checked against the
// same Prometheus, scraping the operator's pods; so is cost showback
// (costShowback), on the kubelet's usage of two more tenants' pods.
func TestCanaryAnalysisRealPrometheus(t *testing.T) {
	binDir := testutil.NeedsRealNode(t)
	ctx := context.Background()
	start := time.Now()
	cluster := startRealNodeCluster(t, ctx)
	e := newEnv(t, ctx, cluster)
	e.installPlatform(t)
	rollouts, err := cluster.StartRollouts(ctx, localcluster.RolloutsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !rollouts.InCluster {
		t.Fatal("Argo Rollouts runs on the host, want a pod on the real node")
	}
	prom, err := cluster.StartPrometheus(ctx, localcluster.PrometheusOptions{
		ScrapeInterval: scrapeInterval,
		Rules:          map[string]string{"tenantry.yaml": platformRuleFile(t)},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("cluster, platform, Argo Rollouts and Prometheus (%s) ready in %.1fs", prom.URL, time.Since(start).Seconds())

	image := pushDemoApp(t, e, "1.0.0", "1.1.0", "1.2.0", "2.0.0")
	// Cost showback's tenants start now, so that their use has run steady
	// by the time the releases are done.
	costs := startCostShowback(t, e, prom, image+":1.0.0")
	hank := e.userConfig(t, tenantAdmin)
	app := newTenantApps(t, hank, filepath.Join(binDir, "helm"))
	release := func(t *testing.T, version string, faults map[string]any) {
		app.release(t, appName, analysisValues(prom.URL, version, faults))
	}
	release(t, "1.0.0", nil)
	status := waitRolloutOf(t, rollouts, appName, "1.0.0 Healthy", func(s localcluster.RolloutStatus) bool {
		return s.Current && s.Phase == "Healthy" && s.AvailableReplicas == appReplicas
	})
	stable := status.StableHash
	t.Logf("release 1.0.0: %s", status)

	cs, err := kubernetes.NewForConfig(hank)
	if err != nil {
		t.Fatal(err)
	}
	load, err := localcluster.StartLoad(ctx, cs, localcluster.LoadOptions{
		Namespace: tenantNS, Name: "load", Image: image + ":1.0.0", URLs: []string{"http://" + appName + "/"}, Rate: loadRate,
		Resources: &loadResources,
	})
	if err != nil {
		t.Fatal(err)
	}
	load.Mark("1.0.0 steady")
	waitLoad(t, load, "1.0.0 steady", 300)

	var bounds []string
	bad := []struct {
		version, metric string
		faults          map[string]any
		// failureRate is the share of the canary's requests that fail.
		failureRate float64
	}{
		{"1.1.0", "success-rate", map[string]any{"failureRate": 0.5}, 0.5},
		{"1.2.0", "latency", map[string]any{"latency": "800ms"}, 0},
	}
	for _, b := range bad {
		// Each release starts from where the one before left the app.
		ok := t.Run(fmt.Sprintf("%s aborted by its %s", b.version, b.metric), func(t *testing.T) {
			phase := b.version + " canary (" + b.metric + ")"
			load.Mark(phase)
			started := time.Now()
			release(t, b.version, b.faults)
			s := waitRolloutOf(t, rollouts, appName, b.version+" aborted", func(s localcluster.RolloutStatus) bool {
				return s.Current && s.Aborted && s.CurrentHash != stable
			})
			abortedAfter := time.Since(started)
			run := app.endedAnalysisRun(t, s.CurrentHash, "Failed")
			t.Logf("%s: %s after %.1fs; AnalysisRun %s", b.version, s, abortedAfter.Seconds(), run)
			if !strings.Contains(run, "metric "+b.metric+" Failed") {
				t.Errorf("AnalysisRun %s, want metric %s Failed", run, b.metric)
			}
			t.Logf("the canary's series in Prometheus: %s", canarySeries(t, prom, s.CurrentHash))

			// Traffic back on stable: the canary's pods gone (until then
			// a stopping pod still answers, for shutdownDelay, on the
			// connections the clients keep open), every answer from 1.0.0
			// again and none failing.
			waitRolloutOf(t, rollouts, appName, "stable back at full size", func(s localcluster.RolloutStatus) bool {
				return s.StableHash == stable && s.AvailableReplicas == appReplicas && s.UpdatedReplicas == 0
			})
			canaryGone := time.Now()
			waitPodsGone(t, cs, s.CurrentHash)
			t.Logf("the canary's pods gone %.1fs after the abort was seen, %.1fs after the release", time.Since(canaryGone).Seconds(), time.Since(started).Seconds())
			back := "back on 1.0.0 after " + b.version
			load.Mark(back)
			after := waitLoad(t, load, back, 300)
			if after.Failed != 0 || len(after.Versions) != 1 || after.Versions["1.0.0"] == 0 {
				t.Errorf("after the abort: %d failed, versions %v; want all answers from 1.0.0, none failed", after.Failed, after.Versions)
			}
			during := phaseOf(load, phase)
			bound := failureBound(b.failureRate)
			// Every answer of the bad version is a failed or a slow one:
			// bounded like the failures, with a failure rate of 1.
			answered, answerBound := during.Versions[b.version], failureBound(1)
			bounds = append(bounds, fmt.Sprintf("%s: %d failed of %d sent (bound %d); %d answered by %s (bound %d)",
				b.version, during.Failed, during.Sent, bound, answered, b.version, answerBound))
			if during.Failed > bound {
				t.Errorf("%d requests failed during the release of %s, bound %d", during.Failed, b.version, bound)
			}
			if answered > answerBound {
				t.Errorf("%d requests answered by %s, bound %d", answered, b.version, answerBound)
			}
		})
		if !ok {
			t.FailNow()
		}
	}

	t.Run("2.0.0 promoted", func(t *testing.T) {
		load.Mark("2.0.0 canary")
		started := time.Now()
		release(t, "2.0.0", nil)
		s := waitRolloutOf(t, rollouts, appName, "2.0.0 promoted", func(s localcluster.RolloutStatus) bool {
			return s.Current && s.Phase == "Healthy" && s.StableHash == s.CurrentHash && s.StableHash != stable &&
				s.UpdatedReplicas == appReplicas && s.AvailableReplicas == appReplicas
		})
		t.Logf("2.0.0 promoted in %.1fs: %s; AnalysisRun %s", time.Since(started).Seconds(), s, app.analysisRun(t, s.CurrentHash))
		// 1.0.0's last pods answer, unready, for shutdownDelay on the
		// connections the client keeps open: wait until they are gone.
		waitPodsGone(t, cs, stable)
		load.Mark("2.0.0 stable")
		after := waitLoad(t, load, "2.0.0 stable", 300)
		// Answers, not requests sent: a report counts a request when it
		// goes and its answer when it comes, maybe in the next report.
		if after.Failed != 0 || len(after.Versions) != 1 || after.Versions["2.0.0"] != after.OK {
			t.Errorf("after promotion: versions %v, %d failed; want every answer from 2.0.0", after.Versions, after.Failed)
		}
		if during := phaseOf(load, "2.0.0 canary"); releaseFailures(t, during) != 0 {
			t.Errorf("%d requests failed during the good release, want 0 (failures %v)", during.Failed, during.Failures)
		}
	})

	stopCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	phases, err := load.Stop(stopCtx)
	if err != nil {
		t.Error(err)
	}
	t.Logf("load, %d requests/s through Service %s:\n%s", loadRate, appName, localcluster.FormatLoadPhases(phases))
	t.Logf("failed requests during the aborted releases:\n  %s", strings.Join(bounds, "\n  "))

	// Cost before the rules and dashboard check: its PriceList gives the
	// cost series that check looks for.
	t.Run("cost showback", costs.test)
	t.Run("platform rules and dashboard", func(t *testing.T) { checkPlatformQueries(t, prom) })
}

// analysisValues are the chart values of a release here: analysis against
// the real Prometheus at test speed, with the settings the constants say,
// and the faults of a bad version (none: nil).
func analysisValues(prometheus, version string, faults map[string]any) map[string]any {
	if faults == nil {
		faults = map[string]any{}
	}
	return map[string]any{
		"tenant":        tenantNS,
		"image":         map[string]any{"tag": version},
		"replicas":      appReplicas,
		"resources":     appResources,
		"shutdownDelay": shutdownDelay.String(),
		"canary":        map[string]any{"pauseDuration": canaryPause.String()},
		// One replica may go at a time anyway; the budget would only slow
		// the scale-downs of an abort.
		"podDisruptionBudget": map[string]any{"enabled": false},
		"faults":              faults,
		"analysis": map[string]any{
			"defaultsSecret": "",
			"interval":       analysisInterval.String(),
			"count":          3,
			"failureLimit":   analysisFailLimit,
			"prometheus": map[string]any{
				"address": prometheus,
				"window":  analysisWindow.String(),
				// Prometheus itself is not multi-tenant: no X-Scope-OrgID.
				"tenantHeader": "",
			},
		},
	}
}

// canarySeries is the error rate and p95 latency Prometheus has for the
// canary's pods: what the analysis judged.
func canarySeries(t *testing.T, prom *localcluster.Prometheus, hash string) string {
	t.Helper()
	sel := fmt.Sprintf(`tenant=%q,namespace=%q,rollouts_pod_template_hash=%q,route!~"/healthz|/readyz|/metrics"`, tenantNS, tenantNS, hash)
	queries := map[string]string{
		"requests":  fmt.Sprintf(`sum(increase(demo_app_requests_total{%s}[5m]))`, sel),
		"5xx share": fmt.Sprintf(`sum(increase(demo_app_requests_total{%s,code=~"5.."}[5m])) / sum(increase(demo_app_requests_total{%s}[5m]))`, sel, sel),
		"p95":       fmt.Sprintf(`histogram_quantile(0.95, sum by (le) (increase(demo_app_request_duration_seconds_bucket{%s}[5m])))`, sel),
	}
	var out []string
	for _, name := range []string{"requests", "5xx share", "p95"} {
		samples, err := prom.Query(context.Background(), queries[name])
		if err != nil {
			t.Error(err)
			continue
		}
		if len(samples) == 0 {
			out = append(out, name+" none")
			continue
		}
		out = append(out, fmt.Sprintf("%s %.3g", name, samples[0].Value))
	}
	return strings.Join(out, ", ")
}

// failureBound is the most requests a bad canary may fail before the
// abort takes it out of service: the canary's share of the load times its
// failure rate, for as long as it serves. It serves through the pause
// before the analysis, the failureLimit+1 measurements the analysis needs
// to fail (interval apart, the first at once), one scrape interval for the
// last bad requests to reach Prometheus, and until its pod is gone: the
// shutdown delay, during which it still answers on the connections clients
// keep open, and a 5 s allowance for the abort's scale-down on this busy
// machine. The window does not add: a canary that fails from its first
// request shows its full error rate in any window.
func failureBound(failureRate float64) int {
	canaryShare := 1.0 / appReplicas // one pod of five at 20 %
	serving := canaryPause + time.Duration(analysisFailLimit)*analysisInterval + scrapeInterval + shutdownDelay + 5*time.Second
	return int(math.Ceil(loadRate * canaryShare * failureRate * serving.Seconds()))
}

// waitPodsGone waits until no pod of the revision hash is left.
func waitPodsGone(t *testing.T, cs kubernetes.Interface, hash string) {
	t.Helper()
	testutil.Eventually(t, time.Minute, func() error {
		pods, err := cs.CoreV1().Pods(tenantNS).List(context.Background(), metav1.ListOptions{LabelSelector: "rollouts-pod-template-hash=" + hash})
		if err != nil {
			return err
		}
		if len(pods.Items) > 0 {
			return fmt.Errorf("%d pods of revision %s left", len(pods.Items), hash)
		}
		return nil
	})
}

// waitLoad waits until phase has at least n requests sent, and returns it.
func waitLoad(t *testing.T, load *localcluster.Load, phase string, n int) localcluster.LoadPhase {
	t.Helper()
	var p localcluster.LoadPhase
	testutil.Eventually(t, time.Minute, func() error {
		if p = phaseOf(load, phase); p.Sent < n {
			return fmt.Errorf("phase %s: %d requests sent, want %d", phase, p.Sent, n)
		}
		return nil
	})
	return p
}

func phaseOf(load *localcluster.Load, phase string) localcluster.LoadPhase {
	for _, p := range load.Phases() {
		if p.Phase == phase {
			return p
		}
	}
	return localcluster.LoadPhase{Phase: phase}
}

// platformRuleFile is the platform chart's PrometheusRule as a Prometheus
// rule file: its spec, which is the rule file format.
func platformRuleFile(t *testing.T) string {
	t.Helper()
	rules, err := install.PrometheusRules()
	if err != nil {
		t.Fatal(err)
	}
	return rules
}

// platformQuery is a PromQL expression the platform chart ships: an alert's
// or a dashboard panel's.
type platformQuery struct{ where, expr string }

// platformQueries reads every alert expression of the chart's
// PrometheusRule and every target of its dashboard, with the dashboard's
// variables as Grafana fills them for "All" tenants over a 1m rate interval.
func platformQueries(t *testing.T) []platformQuery {
	t.Helper()
	var rules struct {
		Groups []struct {
			Rules []struct{ Alert, Record, Expr string }
		}
	}
	if err := yaml.Unmarshal([]byte(platformRuleFile(t)), &rules); err != nil {
		t.Fatal(err)
	}
	var out []platformQuery
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			out = append(out, platformQuery{"alert " + r.Alert + r.Record, strings.TrimSpace(r.Expr)})
		}
	}
	data, err := os.ReadFile("../../charts/tenantry/dashboards/tenantry-tenants.json")
	if err != nil {
		t.Fatal(err)
	}
	var dashboard struct {
		Panels []dashboardPanel `json:"panels"`
	}
	if err := json.Unmarshal(data, &dashboard); err != nil {
		t.Fatal(err)
	}
	grafana := strings.NewReplacer("$__rate_interval", "1m", "$tenant", ".*")
	var walk func([]dashboardPanel)
	walk = func(panels []dashboardPanel) {
		for _, p := range panels {
			for _, target := range p.Targets {
				if target.Expr != "" {
					out = append(out, platformQuery{"panel " + p.Title, grafana.Replace(target.Expr)})
				}
			}
			walk(p.Panels)
		}
	}
	walk(dashboard.Panels)
	return out
}

type dashboardPanel struct {
	Title   string `json:"title"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
	Panels []dashboardPanel `json:"panels"`
}

// eventMetrics are the operator's series that exist only once something
// happened (a reconcile error, an aborted release): nothing on a healthy
// cluster produces them, so the queries that read them are proven by the
// promtool unit tests of the chart's rules and dashboard
// (charts/tenantry/dashboards/prometheusrules_test.yaml) instead.
var eventMetrics = map[string]bool{
	"tenantry_tenant_reconcile_errors_total": true,
	"tenantry_app_rollout_aborts_total":      true,
}

// checkPlatformQueries runs every alert and panel query against the real
// Prometheus, which scrapes the operator's pods: each must be valid PromQL
// to Prometheus itself and read series the operator exports, unless they
// are event series (above). The alert rules must be loaded and healthy.
func checkPlatformQueries(t *testing.T, prom *localcluster.Prometheus) {
	ctx := context.Background()
	metricName := regexp.MustCompile(`\btenantry_[a-z_]+`)
	queries := platformQueries(t)
	// The operator's gauges are scraped every 2 s; wait for the tenant's.
	testutil.Eventually(t, time.Minute, func() error {
		samples, err := prom.Query(ctx, `tenantry_tenant_info{tenant="globex"}`)
		if err != nil || len(samples) == 0 {
			return fmt.Errorf("no tenantry_tenant_info of globex yet (%v)", err)
		}
		return nil
	})
	for _, q := range queries {
		samples, err := prom.Query(ctx, q.expr)
		if err != nil {
			t.Errorf("%s: %v", q.where, err)
			continue
		}
		var missing []string
		for _, name := range metricName.FindAllString(q.expr, -1) {
			name = strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_count")
			series, err := prom.Query(ctx, fmt.Sprintf(`count({__name__=~"%s(_bucket)?"})`, name))
			if err != nil {
				t.Fatal(err)
			}
			if len(series) == 0 {
				missing = append(missing, name)
			}
		}
		switch {
		case len(missing) == 0:
			t.Logf("%s: %d series from the operator's pods: %s", q.where, len(samples), q.expr)
			if strings.HasPrefix(q.where, "alert ") && len(samples) > 0 {
				t.Logf("  %s's condition holds for %v", q.where, samples)
			}
		case allEventMetrics(missing):
			t.Logf("%s: no %s yet (only after such an event; promtool-tested): %s", q.where, strings.Join(missing, ", "), q.expr)
		default:
			t.Errorf("%s reads %s, which nothing scraped exports: %s", q.where, strings.Join(missing, ", "), q.expr)
		}
	}
	body, err := prom.Get(ctx, "/api/v1/rules", nil)
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Data struct {
			Groups []struct {
				Name  string
				Rules []struct{ Name, Health, LastError, State string }
			}
		}
	}
	if err := json.Unmarshal(body, &rules); err != nil {
		t.Fatal(err)
	}
	loaded := 0
	for _, g := range rules.Data.Groups {
		for _, r := range g.Rules {
			loaded++
			if r.Health != "ok" {
				t.Errorf("rule %s/%s: health %s: %s", g.Name, r.Name, r.Health, r.LastError)
			}
			t.Logf("rule %s/%s loaded, health %s, state %s", g.Name, r.Name, r.Health, r.State)
		}
	}
	if loaded == 0 {
		t.Error("Prometheus loaded none of the platform's rules")
	}
	// Both operator pods are scraped, but only the leader reports the
	// tenants: the dashboard's sums count each tenant once.
	up, err := prom.Query(ctx, `sum(up{job="tenantry-operator"})`)
	if err != nil || len(up) != 1 || up[0].Value != 2 {
		t.Errorf("operator pods scraped: %v (%v), want 2", up, err)
	}
	samples, err := prom.Query(ctx, `count by (tenant) (tenantry_tenant_info)`)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range samples {
		if s.Value != 1 {
			t.Errorf("%v copies of a tenant's tenantry_tenant_info (%v), want 1: only the leader reports", s.Value, s.Labels)
		}
	}
}

func allEventMetrics(names []string) bool {
	for _, n := range names {
		if !eventMetrics[n] {
			return false
		}
	}
	return true
}

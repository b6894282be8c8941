package realnode

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"

	"github.com/tenantry/tenantry/internal/localcluster"
	"github.com/tenantry/tenantry/internal/testutil"
)

// The traffic tests' releases: charts/tenant-app with trafficRouting.traefik,
// served at hosts of globex's domain (globex.example.com). Three replicas:
// with a canary's pods, a blue-green preview and the tenant's load client,
// that is what the free plan's quota (10 pods, 2 CPUs of limits) holds;
// Traefik's weights do not depend on the number of pods.
const (
	trafficReplicas = 3
	// ingressRate and serviceRate are requests per second through Traefik
	// and through the app's Service, each from its own load pod.
	ingressRate = 100
	serviceRate = 50
	// trafficPause is each canary step's pause: at ingressRate, some 2,500
	// requests per weight once Traefik applies it.
	trafficPause = 30 * time.Second
	// shareTolerance is how far the canary's measured share of the
	// requests may be from its weight.
	shareTolerance = 0.05
	// clientsNS holds the load client that plays the app's users on the
	// internet: it reaches the app only through the ingress controller.
	clientsNS = "clients"
)

// TestTrafficShifting releases versions of charts/tenant-app through
// Traefik under continuous load, from two clients in the cluster: one in
// the tenant's namespace through the app's Service, one outside the tenant
// (as the app's users) through Traefik with the app's Host header.
//
//   - A canary 1.0.0 → 2.0.0: at each setWeight step, once Traefik applies
//     the weight Argo Rollouts set on the TraefikService, the share of the
//     ingress requests 2.0.0 answers is within 5 points of it, over
//     thousands of requests; 2.0.0 is promoted; no request fails.
//   - Blue-green 1.0.0 → 2.0.0 (promoted after its web analysis passed),
//     then a bad 3.0.0 (every request fails, /healthz too): its preview
//     analysis fails and it is never promoted; no request fails through
//     the active Service or the ingress.
//   - The guardrail keeps a tenant's IngressRoutes on its own hosts.
//
// p50/p99 latency per phase are printed.
func TestTrafficShifting(t *testing.T) {
	binDir := testutil.NeedsRealNode(t)
	ctx := context.Background()
	start := time.Now()
	cluster := startRealNodeCluster(t, ctx)
	e := newEnv(t, ctx, cluster)
	traefik, err := cluster.StartTraefik(ctx, localcluster.TraefikOptions{})
	if err != nil {
		t.Fatal(err)
	}
	e.installPlatform(t, localcluster.TraefikPlatformValue)
	rollouts, err := cluster.StartRollouts(ctx, localcluster.RolloutsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("cluster, Traefik %s, platform and Argo Rollouts ready in %.1fs", traefik.Version, time.Since(start).Seconds())

	image := pushDemoApp(t, e, "1.0.0", "2.0.0", "3.0.0")
	hank := e.userConfig(t, tenantAdmin)
	hankCS, err := kubernetes.NewForConfig(hank)
	if err != nil {
		t.Fatal(err)
	}
	apps := newTenantApps(t, hank, filepath.Join(binDir, "helm"))
	if err := e.admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: clientsNS, Labels: map[string]string{"pod-security.kubernetes.io/enforce": "restricted"},
	}}); err != nil {
		t.Fatal(err)
	}
	adminCS, err := kubernetes.NewForConfig(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	// startLoads starts both clients of an app: hank's through its Service,
	// the users' through Traefik.
	startLoads := func(t *testing.T, app string) (viaService, viaIngress *localcluster.Load) {
		viaService, err := localcluster.StartLoad(ctx, hankCS, localcluster.LoadOptions{
			Namespace: tenantNS, Name: app + "-load", Image: image + ":1.0.0",
			URLs: []string{"http://" + app + "/"}, Rate: serviceRate,
			Resources: &corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m"), corev1.ResourceMemory: resource.MustParse("32Mi")},
				Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		viaIngress, err = localcluster.StartLoad(ctx, adminCS, localcluster.LoadOptions{
			Namespace: clientsNS, Name: app + "-users", Image: image + ":1.0.0",
			URLs: []string{traefik.URL + "/"}, Host: appHost(app), Rate: ingressRate,
		})
		if err != nil {
			t.Fatal(err)
		}
		return viaService, viaIngress
	}

	var summaries []string
	t.Run("canary weights through Traefik", func(t *testing.T) {
		const app = "shop"
		values := func(version string) map[string]any {
			return trafficValues(app, version, map[string]any{
				"strategy": "canary",
				"canary":   map[string]any{"pauseDuration": trafficPause.String()},
				// The weights under test, without analysis between them.
				"analysis": map[string]any{"enabled": false},
			})
		}
		apps.release(t, app, values("1.0.0"))
		// Its pods make room in the quota for the blue-green app's, pass or fail.
		defer apps.delete(t, "argoproj.io", "v1alpha1", "rollouts", app)
		status := waitRolloutOf(t, rollouts, app, "1.0.0 Healthy", func(s localcluster.RolloutStatus) bool {
			return s.Current && s.Phase == "Healthy" && s.AvailableReplicas == trafficReplicas
		})
		stable := status.StableHash
		waitRoute(t, traefik, app)
		viaService, viaIngress := startLoads(t, app)
		// What the clients saw is printed, and any failed request fails the
		// test, however the release went.
		defer func() { summaries = append(summaries, stopLoads(t, "canary", viaService, viaIngress)...) }()
		mark := func(phase string) { viaService.Mark(phase); viaIngress.Mark(phase) }
		mark("1.0.0 steady")
		waitLoad(t, viaIngress, "1.0.0 steady", 300)

		released := time.Now()
		mark("2.0.0 released")
		apps.release(t, app, values("2.0.0"))
		// Each weight Traefik applies starts a phase, until 2.0.0 is the
		// stable version and the canary's weight is back to 0.
		// Traefik names the canary Service's port, as a child of the
		// TraefikService, <namespace>_<parent>_wrr_<index>_<namespace>_<service>_<port>.
		canarySuffix := "_" + tenantNS + "_" + app + "-canary_http"
		var weights []int
		last := 0
		testutil.Eventually(t, 5*time.Minute, func() error {
			w, err := traefik.ServiceWeights(ctx, tenantNS, app)
			if err != nil {
				return err
			}
			canaryWeight := 0
			for name, weight := range w {
				if strings.HasSuffix(name, canarySuffix) {
					canaryWeight = weight
				}
			}
			if canaryWeight != last {
				last = canaryWeight
				weights = append(weights, last)
				mark(fmt.Sprintf("canary at %d%%", last))
				t.Logf("%.1fs after the release: Traefik sends %d%% to the canary (%v)", time.Since(released).Seconds(), last, w)
			}
			s, err := rollouts.Status(ctx, tenantNS, app)
			if err != nil {
				return err
			}
			if !(s.Current && s.Phase == "Healthy" && s.StableHash == s.CurrentHash && s.StableHash != stable && last == 0) {
				return fmt.Errorf("2.0.0 not promoted yet: %s; canary weight %d", s, last)
			}
			return nil
		})
		t.Logf("2.0.0 promoted %.1fs after its release; weights Traefik applied: %v", time.Since(released).Seconds(), weights)
		// The stable Service now selects 2.0.0's pods; Traefik follows its
		// EndpointSlice within its throttle, and 1.0.0 answers meanwhile.
		mark("promotion")
		waitOnly(t, viaIngress, "2.0.0")
		mark("2.0.0 stable")
		after := waitLoad(t, viaIngress, "2.0.0 stable", 300)
		if after.Versions["2.0.0"] != after.OK || after.Failed != 0 {
			t.Errorf("after promotion, through Traefik: versions %v, %d failed; want every answer from 2.0.0", after.Versions, after.Failed)
		}

		var shares []string
		for _, w := range weights {
			if w == 0 || w == 100 {
				continue
			}
			p := phaseOf(viaIngress, fmt.Sprintf("canary at %d%%", w))
			got := p.Share("2.0.0")
			shares = append(shares, fmt.Sprintf("weight %d%%: 2.0.0 answered %.1f%% of %d requests", w, 100*got, p.OK))
			if p.OK < 1000 {
				t.Errorf("weight %d%%: only %d requests answered, want thousands", w, p.OK)
			}
			if math.Abs(got-float64(w)/100) > shareTolerance {
				t.Errorf("weight %d%%: 2.0.0 answered %.1f%% of %d requests through Traefik, want %d%% ± %.0f", w, 100*got, p.OK, w, 100*shareTolerance)
			}
		}
		if len(shares) < 2 {
			t.Errorf("Traefik applied weights %v, want the chart's 20%% and 50%% steps", weights)
		}
		summaries = append(summaries, "canary shares through Traefik:\n  "+strings.Join(shares, "\n  "))
	})

	t.Run("blue-green through Traefik", func(t *testing.T) {
		const app = "web"
		values := func(version string, faults map[string]any) map[string]any {
			return trafficValues(app, version, map[string]any{
				"strategy":  "blueGreen",
				"blueGreen": map[string]any{"scaleDownDelaySeconds": 10},
				"faults":    faults,
				// The preview's /healthz decides: a version failing every
				// request answers 503 there, an error to Argo Rollouts. The
				// analysis starts as the preview's pods turn ready, and its
				// first check may come before kube-proxy routes the preview
				// Service to them: the chart's consecutiveErrorLimit (2)
				// allows for that, and three 503s abort.
				"analysis": map[string]any{
					"defaultsSecret": "", "interval": "2s", "count": 2, "failureLimit": 0, "consecutiveErrorLimit": 2,
					"successRate": map[string]any{"enabled": false}, "latency": map[string]any{"enabled": false},
				},
			})
		}
		apps.release(t, app, values("1.0.0", nil))
		first := waitRolloutOf(t, rollouts, app, "1.0.0 Healthy", func(s localcluster.RolloutStatus) bool {
			return s.Current && s.Phase == "Healthy" && s.StableHash == s.CurrentHash && s.AvailableReplicas == trafficReplicas
		})
		apps.waitActive(t, app, first.CurrentHash)
		waitServed(t, traefik, appHost(app))
		viaService, viaIngress := startLoads(t, app)
		defer func() { summaries = append(summaries, stopLoads(t, "blue-green", viaService, viaIngress)...) }()
		mark := func(phase string) { viaService.Mark(phase); viaIngress.Mark(phase) }
		mark("1.0.0 steady")
		waitLoad(t, viaIngress, "1.0.0 steady", 300)

		mark("2.0.0 preview, analysis, switch")
		started := time.Now()
		apps.release(t, app, values("2.0.0", nil))
		s := waitRolloutOf(t, rollouts, app, "2.0.0 promoted", func(s localcluster.RolloutStatus) bool {
			return s.Current && s.Phase == "Healthy" && s.StableHash == s.CurrentHash && s.CurrentHash != first.CurrentHash && s.UpdatedReplicas == trafficReplicas
		})
		good := s.StableHash
		apps.waitActive(t, app, good)
		// Promoted after its preview analysis passed, not as an initial
		// deploy (which skips the analysis).
		run := apps.endedAnalysisRun(t, good, "Successful")
		t.Logf("2.0.0 promoted in %.1fs: %s; preview AnalysisRun %s", time.Since(started).Seconds(), s, run)
		// The active Service now selects 2.0.0's pods; Traefik follows its
		// EndpointSlice within its throttle, and 1.0.0 answers meanwhile.
		mark("switch")
		waitOnly(t, viaIngress, "2.0.0")
		mark("2.0.0 active")
		after := waitLoad(t, viaIngress, "2.0.0 active", 300)
		// 1.0.0's pods go after scaleDownDelaySeconds; the quota has no
		// room for them beside 3.0.0's preview.
		waitRolloutOf(t, rollouts, app, "1.0.0 scaled down", func(s localcluster.RolloutStatus) bool {
			return s.Replicas == trafficReplicas && s.AvailableReplicas == trafficReplicas
		})
		if after.Versions["2.0.0"] != after.OK || after.Failed != 0 {
			t.Errorf("after the switch, through Traefik: versions %v, %d failed; want every answer from 2.0.0", after.Versions, after.Failed)
		}

		mark("3.0.0 (bad) in preview")
		started = time.Now()
		apps.release(t, app, values("3.0.0", map[string]any{"failureRate": 1}))
		s = waitRolloutOf(t, rollouts, app, "3.0.0 aborted", func(s localcluster.RolloutStatus) bool {
			return s.Current && s.Aborted && s.StableHash == good
		})
		// A 503 from /healthz is an error to Argo Rollouts, past
		// consecutiveErrorLimit the run's phase is Error.
		run = apps.endedAnalysisRun(t, s.CurrentHash, "Error", "Failed")
		apps.waitActive(t, app, good)
		t.Logf("3.0.0 aborted in %.1fs, never promoted, the active Service still on 2.0.0: %s; preview AnalysisRun %s", time.Since(started).Seconds(), s, run)
		mark("after the abort")
		waitLoad(t, viaIngress, "after the abort", 300)
		for _, l := range []*localcluster.Load{viaService, viaIngress} {
			for _, p := range l.Phases() {
				if p.Versions["3.0.0"] > 0 {
					t.Errorf("phase %s, %s: 3.0.0 answered %d requests; a version in preview serves none", p.Phase, p.URL, p.Versions["3.0.0"])
				}
			}
		}
	})

	t.Run("IngressRoutes only on the tenant's hosts", func(t *testing.T) { e.testIngressRouteGuardrail(t) })

	t.Logf("%s", strings.Join(summaries, "\n\n"))
}

// waitOnly waits until, over the last 2 s of reports, the load's requests
// were all answered, by version only.
func waitOnly(t *testing.T, load *localcluster.Load, version string) {
	t.Helper()
	testutil.Eventually(t, time.Minute, func() error {
		for _, p := range load.Since(time.Now().Add(-2 * time.Second)) {
			if p.OK == 0 || p.Failed > 0 || p.Versions[version] != p.OK {
				return fmt.Errorf("%s: %d answered (%v), %d failed; want all from %s", p.URL, p.OK, p.Versions, p.Failed, version)
			}
		}
		return nil
	})
}

// waitRoute waits until Traefik serves the canary app's weighted
// TraefikService, all of it to the stable version.
func waitRoute(t *testing.T, traefik *localcluster.Traefik, app string) {
	t.Helper()
	testutil.Eventually(t, 2*time.Minute, func() error {
		w, err := traefik.ServiceWeights(context.Background(), tenantNS, app)
		if err != nil {
			return err
		}
		for name, weight := range w {
			if strings.HasSuffix(name, "_"+tenantNS+"_"+app+"-stable_http") && weight == 100 {
				return nil
			}
		}
		return fmt.Errorf("Traefik's weights of %s: %v, want the stable Service's at 100", app, w)
	})
}

// waitServed waits until Traefik answers for host (its IngressRoute is
// served), asking from this host.
func waitServed(t *testing.T, traefik *localcluster.Traefik, host string) {
	t.Helper()
	testutil.Eventually(t, 2*time.Minute, func() error {
		req, err := http.NewRequest(http.MethodGet, traefik.HostURL+"/", nil)
		if err != nil {
			return err
		}
		req.Host = host
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
		if err != nil {
			return err
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("Traefik answers %s for host %s", resp.Status, host)
		}
		return nil
	})
}

// appHost is the host an app is served at: within globex's domain.
func appHost(app string) string { return app + "." + tenantNS + ".example.com" }

// trafficValues are the chart values of the traffic tests' releases: served
// through Traefik at appHost, at test speed, with the chart's default
// shutdown delay (5 s: longer than Traefik takes to drop a stopping pod).
func trafficValues(app, version string, more map[string]any) map[string]any {
	v := map[string]any{
		"tenant":   tenantNS,
		"image":    map[string]any{"tag": version},
		"replicas": trafficReplicas,
		// Requests only: five pods, a canary's and two load clients fit the
		// free plan's quota.
		"resources":           map[string]any{"requests": map[string]any{"cpu": "20m", "memory": "32Mi"}, "limits": map[string]any{"cpu": "100m", "memory": "64Mi"}},
		"podDisruptionBudget": map[string]any{"enabled": false},
		"ingress":             map[string]any{"enabled": true, "hosts": []string{appHost(app)}},
		"trafficRouting":      map[string]any{"traefik": map[string]any{"enabled": true}},
	}
	for k, val := range more {
		v[k] = val
	}
	return v
}

// stopLoads stops an app's two load clients, fails the test on any failed
// request and returns the phases as tables.
func stopLoads(t *testing.T, what string, loads ...*localcluster.Load) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out []string
	for _, l := range loads {
		phases, err := l.Stop(ctx)
		if err != nil {
			t.Error(err)
		}
		for _, p := range phases {
			if p.Phase == "start" {
				// Before the first mark: a new client pod's first requests,
				// which may meet the tenant's NetworkPolicies before the
				// node has let the new pod through. Not a release's doing.
				if p.Failed != 0 {
					t.Logf("%s, %s: %d of %d requests failed as the client started (%v)", what, p.URL, p.Failed, p.Sent, p.Failures)
				}
				continue
			}
			if releaseFailures(t, p) != 0 {
				t.Errorf("%s, phase %s, %s: %d of %d requests failed (%v), want none", what, p.Phase, p.URL, p.Failed, p.Sent, p.Failures)
			}
		}
		out = append(out, what+":\n"+localcluster.FormatLoadPhases(phases))
	}
	return out
}

// testIngressRouteGuardrail: as globex's admin, IngressRoutes on another
// tenant's host, on every host, or to Traefik's own API are refused, each
// with its exact message; one on globex's host is admitted.
func (e *env) testIngressRouteGuardrail(t *testing.T) {
	r := newTenantApps(t, e.userConfig(t, tenantAdmin), "")
	route := func(name, match, service string) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "traefik.io/v1alpha1", "kind": "IngressRoute",
			"metadata": map[string]any{"name": name, "namespace": tenantNS},
			"spec": map[string]any{"routes": []any{map[string]any{
				"kind": "Rule", "match": match,
				"services": []any{map[string]any{"name": service, "kind": "TraefikService"}},
			}}},
		}}
	}
	const prefix = `ingressroutes.traefik.io "%s" is forbidden: ValidatingAdmissionPolicy 'tenantry-ingress-domains' with binding 'tenantry-ingress-domains' denied request: `
	tests := []struct {
		route *unstructured.Unstructured
		want  string // empty: admitted
	}{
		{route("own-host", "Host(`api.globex.example.com`) && PathPrefix(`/v1`)", "shop"), ""},
		{route("own-hosts", "(Host(`a.globex.example.com`) || Host(`b.globex.example.com`)) && Method(`GET`)", "shop"), ""},
		{route("steal-host", "Host(`shop.acme.example.com`)", "shop"),
			"tenantry rule 6 (domains): shop.acme.example.com is outside your tenant's domains (globex.example.com); use a host under one of them"},
		{route("every-host", "PathPrefix(`/`)", "shop"),
			"tenantry rule 6 (domains): the IngressRoute match PathPrefix(`/`) is not scoped to hosts; start it with Host(`<host>`) or (Host(`<a>`) || Host(`<b>`)), hosts under your domains (globex.example.com), and narrow it only with && (no || outside the hosts)"},
		{route("host-or-anything", "Host(`shop.globex.example.com`) || PathPrefix(`/`)", "shop"),
			"tenantry rule 6 (domains): the IngressRoute match Host(`shop.globex.example.com`) || PathPrefix(`/`) is not scoped to hosts; start it with Host(`<host>`) or (Host(`<a>`) || Host(`<b>`)), hosts under your domains (globex.example.com), and narrow it only with && (no || outside the hosts)"},
		{route("traefik-api", "Host(`admin.globex.example.com`)", "api@internal"),
			"tenantry rule 6 (domains): api@internal names a service of another Traefik provider (name@provider, such as Traefik's own api@internal); name a Service or TraefikService of this namespace"},
	}
	for _, tt := range tests {
		t.Run(tt.route.GetName(), func(t *testing.T) {
			err := r.apply(tt.route)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tt.want == "" && err == nil:
				t.Logf("admitted: %s", tt.route.Object["spec"])
			case err == nil:
				t.Errorf("admitted; want %s", tt.want)
			case !apierrors.IsForbidden(err) || err.Error() != fmt.Sprintf(prefix, tt.route.GetName())+tt.want:
				t.Errorf("refused with\n  %v\nwant\n  %s", err, fmt.Sprintf(prefix, tt.route.GetName())+tt.want)
			}
		})
	}
}

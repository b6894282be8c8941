package delivery

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tenantry/tenantry/api/v1alpha1"
	"github.com/tenantry/tenantry/internal/analysisstub"
	"github.com/tenantry/tenantry/internal/gitops"
	"github.com/tenantry/tenantry/internal/testutil"
)

// wait bounds each step: a sync, a release of five pods with two pauses and
// an analysis, on a busy two-core machine.
const wait = 3 * time.Minute

const namespace = "acme-prod"

// replicas and maxUnavailable are the shop's: the release must keep
// replicas - maxUnavailable pods available throughout.
const (
	replicas       = 5
	maxUnavailable = 0
)

func TestProgressiveDelivery(t *testing.T) {
	testutil.NeedsCluster(t)
	steps := []struct {
		name string
		run  func(*testing.T)
	}{
		{"0 first release through Argo CD", testFirstRelease},
		{"1 canary with good metrics is promoted with zero downtime", testCanaryPromoted},
		{"2 canary with bad metrics aborts, the stable version keeps serving", testCanaryAborted},
		{"3 blue-green: a good preview is promoted, a bad one never", testBlueGreen},
		{"4 the Tenant's status, events and metrics showed each release", testObservability},
		{"5 Git revert on abort", testRevertOnAbort},
		{"6 every release went commit, Argo CD sync, Rollout", testGitOpsFlow},
		{"7 suspension scales the Rollouts to zero, resumption exactly back", testSuspendRollouts},
	}
	for _, step := range steps {
		if !t.Run(step.name, step.run) {
			t.Fatalf("step %q failed; the later steps build on it", step.name)
		}
	}
	summary.Write(t)
}

// seen collects, across the steps, what the Tenant's status reported and
// what the figures were.
var (
	statusSeen []v1alpha1.AppRollout
	summary    = testutil.Summary{Title: "Progressive delivery with Argo Rollouts (test/delivery)", Env: "TENANTRY_DELIVERY_SUMMARY"}
)

func measure(t *testing.T, what string, d time.Duration) {
	t.Helper()
	summary.Measure(t, what, d)
}

func testFirstRelease(t *testing.T) {
	start := time.Now()
	if err := admin.Create(t.Context(), tenantObject()); err != nil {
		t.Fatal(err)
	}
	for _, app := range []string{"shop", "shop-bg"} {
		testutil.Eventually(t, wait, func() error {
			st := appStatus(t, app)
			if st == nil || st.Rollout == nil || st.Rollout.Phase != v1alpha1.RolloutHealthy || st.Health != "Healthy" {
				return fmt.Errorf("app %s not released yet: %+v", app, st)
			}
			return nil
		})
	}
	measure(t, "Tenant created -> both apps released (1.0.0)", time.Since(start))

	// The operator's analysis Secret carries the plan's address and the
	// tenant's credentials; the tenant cannot change it.
	secret := &corev1.Secret{}
	if err := admin.Get(t.Context(), client.ObjectKey{Namespace: namespace, Name: "tenantry-analysis"}, secret); err != nil {
		t.Fatal(err)
	}
	if got := string(secret.Data["prometheus-address"]); got != stub.URL {
		t.Errorf("tenantry-analysis prometheus-address = %q, want the plan's %q", got, stub.URL)
	}
	if got := string(secret.Data["authorization"]); got != token {
		t.Errorf("tenantry-analysis authorization = %q, want the tenant's credentials", got)
	}
}

func testCanaryPromoted(t *testing.T) {
	verdict.set(true)
	rec := record(t, rolloutName(t, "shop"), "shop")
	pushed := commitRelease(t, "shop", "2.0.0", "0", "Release shop 2.0.0")
	waitReleased(t, "shop", "2.0.0")
	measure(t, "canary 2.0.0 (good): commit -> promoted to all pods", time.Since(pushed))
	samples := rec.stop()

	// The steps advanced in order, the weights as the chart's plan says:
	// 20 %, then 50 %, then all.
	var weights []int32
	for _, s := range samples {
		if s.rollout.Image != image("2.0.0") || (len(weights) > 0 && weights[len(weights)-1] == s.rollout.Weight) {
			continue
		}
		weights = append(weights, s.rollout.Weight)
	}
	if !isSubsequence([]int32{20, 50, 100}, weights) {
		t.Errorf("weights reported during the release %v, want 20 then 50 then 100", weights)
	}
	// Zero downtime: never fewer than replicas - maxUnavailable available.
	low := minAvailable(samples)
	if low < replicas-maxUnavailable {
		t.Errorf("available replicas fell to %d during the release, want at least %d", low, replicas-maxUnavailable)
	}
	t.Logf("%d samples; available replicas never below %d; weights %v", len(samples), low, weights)

	// The analysis asked for this tenant's series only, with its credentials.
	q := lastPrometheusQuery(t)
	if q.Header.Get("X-Scope-OrgID") != "acme" || q.Header.Get("Authorization") != token || !strings.Contains(q.Query, `tenant="acme"`) {
		t.Errorf("analysis query %q with X-Scope-OrgID %q and Authorization %q: want scoped to tenant acme with its credentials",
			q.Query, q.Header.Get("X-Scope-OrgID"), q.Header.Get("Authorization"))
	}
}

func testCanaryAborted(t *testing.T) {
	name := rolloutName(t, "shop")
	before, err := rollouts.Status(t.Context(), namespace, name)
	if err != nil {
		t.Fatal(err)
	}
	stableHash := before.StableHash
	verdict.set(false)
	rec := record(t, name, "shop")
	commitRelease(t, "shop", "3.0.0", "0.5", "Release shop 3.0.0")

	abortedAt := waitAborted(t, name)
	if first := verdict.firstBadAt(); !first.IsZero() {
		measure(t, "canary 3.0.0 (bad): first failed measurement -> abort", abortedAt.Sub(first.Time))
	}
	// The stable version (2.0.0) keeps serving at full scale; the canary is
	// scaled to zero.
	testutil.Eventually(t, wait, func() error {
		sets := replicaSets(t, name)
		stable, canary := sets[stableHash], (*appsv1.ReplicaSet)(nil)
		for hash, rs := range sets {
			if hash != stableHash && strings.HasSuffix(rs.Spec.Template.Spec.Containers[0].Image, ":3.0.0") {
				canary = rs
			}
		}
		if stable == nil || stable.Status.AvailableReplicas != replicas || canary == nil || *canary.Spec.Replicas != 0 {
			return fmt.Errorf("stable %v, canary %v: want the stable at %d available and the canary at 0", describe(stable), describe(canary), replicas)
		}
		return nil
	})
	testutil.Eventually(t, wait, func() error {
		st := appStatus(t, "shop")
		if st == nil || st.Rollout == nil || st.Rollout.Phase != v1alpha1.RolloutAborted || !strings.Contains(st.Rollout.Analysis, "Failed") {
			return fmt.Errorf("the Tenant status does not report the abort with its analysis yet: %+v", rolloutOf(st))
		}
		return nil
	})
	samples := rec.stop()
	if low := minAvailable(samples); low < replicas-maxUnavailable {
		t.Errorf("available replicas fell to %d during the failed release, want at least %d", low, replicas-maxUnavailable)
	}
	t.Logf("Tenant status: %+v", *appStatus(t, "shop").Rollout)
	if st := appStatus(t, "shop"); st.Rollout.Revert != nil {
		t.Errorf("reverted %+v without spec.revertOnAbort", st.Rollout.Revert)
	}
}

func testBlueGreen(t *testing.T) {
	name := rolloutName(t, "shop-bg")
	// Good: the preview passes its pre-promotion analysis and becomes active.
	verdict.set(true)
	pushed := commitRelease(t, "shop-bg", "2.0.0", "0", "Release shop-bg 2.0.0")
	waitReleased(t, "shop-bg", "2.0.0")
	measure(t, "blue-green 2.0.0 (good): commit -> preview promoted", time.Since(pushed))
	good, err := rollouts.Status(t.Context(), namespace, name)
	if err != nil {
		t.Fatal(err)
	}
	if analysis := appStatus(t, "shop-bg").Rollout.Analysis; !strings.HasPrefix(analysis, "Successful") {
		t.Errorf("shop-bg 2.0.0 was promoted, but its pre-promotion analysis reads %q, want Successful", analysis)
	}

	// Bad: the preview fails its analysis and is never made active.
	verdict.set(false)
	rec := record(t, name, "shop-bg")
	commitRelease(t, "shop-bg", "3.0.0", "1", "Release shop-bg 3.0.0")
	waitAborted(t, name)
	samples := rec.stop()
	if len(samples) == 0 || samples[0].activeHash == "" {
		t.Fatalf("the active Service's selector was not sampled (%d samples)", len(samples))
	}
	for _, s := range samples {
		if s.activeHash != good.StableHash {
			t.Fatalf("the active Service selected %s, not the promoted 2.0.0 (%s), during the bad release", s.activeHash, good.StableHash)
		}
	}
	if low := minAvailable(samples); low < replicas {
		t.Errorf("available replicas fell to %d during the failed blue-green release", low)
	}
	t.Logf("the active Service stayed on %s in all %d samples", good.StableHash, len(samples))
}

func testObservability(t *testing.T) {
	// Status: what the Tenant reported while steps 1 to 3 ran.
	var shopPhases []v1alpha1.RolloutPhase
	for _, s := range statusSeen {
		if s.Name == rolloutName(t, "shop") && (len(shopPhases) == 0 || shopPhases[len(shopPhases)-1] != s.Phase) {
			shopPhases = append(shopPhases, s.Phase)
		}
	}
	t.Logf("shop's phases in the Tenant status: %v", shopPhases)
	for _, want := range []v1alpha1.RolloutPhase{v1alpha1.RolloutPaused, v1alpha1.RolloutHealthy, v1alpha1.RolloutAborted} {
		if !slices.Contains(shopPhases, want) {
			t.Errorf("the Tenant status never reported shop %s; saw %v", want, shopPhases)
		}
	}
	// Events, one per step of each release.
	for _, reason := range []string{"RolloutStarted", "RolloutStepAdvanced", "RolloutPromoted", "RolloutAborted"} {
		assertEvent(t, reason)
	}
	// Metrics.
	for _, tc := range []struct {
		metric string
		labels map[string]string
		want   float64
	}{
		{"tenantry_app_rollout_phase", map[string]string{"tenant": "acme", "app": "shop", "phase": "Aborted"}, 1},
		{"tenantry_app_rollout_phase", map[string]string{"tenant": "acme", "app": "shop", "phase": "Healthy"}, 0},
		{"tenantry_app_rollout_phase", map[string]string{"tenant": "acme", "app": "shop-bg", "phase": "Aborted"}, 1},
		{"tenantry_app_rollout_weight", map[string]string{"tenant": "acme", "app": "shop"}, 0},
		{"tenantry_app_rollout_aborts_total", map[string]string{"tenant": "acme", "app": "shop"}, 1},
		{"tenantry_app_rollout_aborts_total", map[string]string{"tenant": "acme", "app": "shop-bg"}, 1},
	} {
		if got, ok := testutil.MetricValue(t, tc.metric, tc.labels); !ok || got != tc.want {
			t.Errorf("%s%v = %v (found %v), want %v", tc.metric, tc.labels, got, ok, tc.want)
		}
	}
}

func testRevertOnAbort(t *testing.T) {
	tenant := &v1alpha1.Tenant{}
	if err := admin.Get(t.Context(), client.ObjectKey{Name: "acme"}, tenant); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(tenant.DeepCopy())
	tenant.Spec.RevertOnAbort = true
	start := time.Now()
	if err := admin.Patch(t.Context(), tenant, patch); err != nil {
		t.Fatal(err)
	}
	// The operator reverts the commit that released 3.0.0 of each app, and
	// Argo CD syncs the Rollouts back to 2.0.0.
	for _, app := range []string{"shop", "shop-bg"} {
		testutil.Eventually(t, wait, func() error {
			st := appStatus(t, app)
			if st == nil || st.Rollout == nil || st.Rollout.Revert == nil || st.Rollout.Revert.Commit == "" {
				return fmt.Errorf("app %s not reverted yet: %+v", app, rolloutOf(st))
			}
			return nil
		})
		refresh(t, "acme-"+app)
		waitReleased(t, app, "2.0.0")
		// The record of the revert stays, and says what was reverted.
		revert := appStatus(t, app).Rollout.Revert
		if revert == nil || revert.Commit == "" || !strings.HasPrefix(revert.Message, "reverted ") {
			t.Errorf("app %s released 2.0.0 again, but its status records the revert as %+v", app, revert)
		} else {
			t.Logf("%s: %s", app, revert.Message)
		}
	}
	measure(t, "revertOnAbort set -> both apps back on 2.0.0 from Git", time.Since(start))
	log := gitLog(t)
	if !strings.Contains(log[0], `Revert "Release shop`) && !strings.Contains(log[1], `Revert "Release shop`) {
		t.Errorf("the newest commits are %q, want the two reverts", log[:2])
	}
	assertEvent(t, "AppReverted")
	// Git describes what runs: values.yaml is 2.0.0's again.
	pull(t)
	for _, app := range []string{"shop", "shop-bg"} {
		data, err := os.ReadFile(filepath.Join(shopDir, app, "values.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(data), `tag: "2.0.0"`) {
			t.Errorf("%s/values.yaml after the revert does not say 2.0.0:\n%s", app, data)
		}
	}
}

func testGitOpsFlow(t *testing.T) {
	log := gitLog(t)
	t.Logf("shop.git:\n  %s", strings.Join(log, "\n  "))
	want := []string{"Release 1.0.0", "Release shop 2.0.0", "Release shop 3.0.0", "Release shop-bg 2.0.0", "Release shop-bg 3.0.0", `Revert "Release shop 3.0.0"`, `Revert "Release shop-bg 3.0.0"`}
	for _, w := range want {
		if !slices.ContainsFunc(log, func(l string) bool { return strings.Contains(l, w) }) {
			t.Errorf("no commit %q in shop.git: every release and revert must be a commit", w)
		}
	}
	// Argo CD synced the newest commit: Git and the cluster agree.
	head := strings.Fields(log[0])[0]
	for _, app := range []string{"shop", "shop-bg"} {
		testutil.Eventually(t, wait, func() error {
			st := appStatus(t, app)
			if st == nil || !strings.HasPrefix(st.Revision, head) || st.Sync != "Synced" {
				return fmt.Errorf("app %s synced %+v, want revision %s", app, st, head)
			}
			return nil
		})
	}
}

// sample is one observation of a release in progress.
type sample struct {
	available  int64
	activeHash string
	rollout    v1alpha1.AppRollout
}

type recorder struct {
	mu      sync.Mutex
	samples []sample
	done    chan struct{}
	stopped chan struct{}
}

// record samples, every 50 ms until stop, the Rollout's available pods,
// the selector of its active Service, and what the Tenant's status says.
func record(t *testing.T, name, app string) *recorder {
	r := &recorder{done: make(chan struct{}), stopped: make(chan struct{})}
	// The Service a blue-green release switches, as the Rollout names it.
	ro := &unstructured.Unstructured{}
	ro.SetGroupVersionKind(schema.GroupVersionKind{Group: "argoproj.io", Version: "v1alpha1", Kind: "Rollout"})
	if err := admin.Get(t.Context(), client.ObjectKey{Namespace: namespace, Name: name}, ro); err != nil {
		t.Fatal(err)
	}
	activeService, _, _ := unstructured.NestedString(ro.Object, "spec", "strategy", "blueGreen", "activeService")
	go func() {
		defer close(r.stopped)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-r.done:
				return
			case <-tick.C:
			}
			var s sample
			if st, err := rollouts.Status(t.Context(), namespace, name); err == nil {
				s.available = st.AvailableReplicas
			} else {
				s.available = -1
			}
			svc := &corev1.Service{}
			if err := admin.Get(t.Context(), client.ObjectKey{Namespace: namespace, Name: activeService}, svc); err == nil {
				s.activeHash = svc.Spec.Selector["rollouts-pod-template-hash"]
			}
			if st := appStatus(t, app); st != nil && st.Rollout != nil {
				s.rollout = *st.Rollout
			}
			r.mu.Lock()
			r.samples = append(r.samples, s)
			r.mu.Unlock()
		}
	}()
	return r
}

func (r *recorder) stop() []sample {
	close(r.done)
	<-r.stopped
	for _, s := range r.samples {
		if s.rollout.Name != "" {
			statusSeen = append(statusSeen, s.rollout)
		}
	}
	return r.samples
}

func minAvailable(samples []sample) int64 {
	low := int64(replicas)
	for _, s := range samples {
		if s.available >= 0 && s.available < low {
			low = s.available
		}
	}
	return low
}

// isSubsequence reports whether want appears in got in order.
func isSubsequence(want, got []int32) bool {
	i := 0
	for _, g := range got {
		if i < len(want) && g == want[i] {
			i++
		}
	}
	return i == len(want)
}

// waitAborted waits until the Rollout's release aborts, and says when it
// saw it.
func waitAborted(t *testing.T, name string) time.Time {
	t.Helper()
	var at time.Time
	testutil.Eventually(t, wait, func() error {
		st, err := rollouts.Status(t.Context(), namespace, name)
		if err != nil {
			return err
		}
		if !st.Aborted {
			return fmt.Errorf("not aborted yet: %s", st)
		}
		at = time.Now()
		return nil
	})
	return at
}

// waitReleased waits until the app's Rollout runs version on every pod.
func waitReleased(t *testing.T, app, version string) {
	t.Helper()
	testutil.Eventually(t, wait, func() error {
		st := appStatus(t, app)
		if st == nil || st.Rollout == nil {
			return fmt.Errorf("app %s: no rollout status", app)
		}
		ro := st.Rollout
		if ro.Image != image(version) || ro.Phase != v1alpha1.RolloutHealthy || ro.Weight != 100 {
			return fmt.Errorf("app %s not released on %s yet: %+v", app, version, *ro)
		}
		rs, err := rollouts.Status(t.Context(), namespace, ro.Name)
		if err != nil {
			return err
		}
		if rs.StableHash != rs.CurrentHash || rs.AvailableReplicas < replicas {
			return fmt.Errorf("Rollout %s: %s", ro.Name, rs)
		}
		return nil
	})
}

func image(version string) string { return "registry.tenantry.dev/demo-app:" + version }

func appStatus(t *testing.T, app string) *v1alpha1.AppStatus {
	t.Helper()
	tenant := &v1alpha1.Tenant{}
	if err := admin.Get(t.Context(), client.ObjectKey{Name: "acme"}, tenant); err != nil {
		return nil
	}
	i := slices.IndexFunc(tenant.Status.Apps, func(a v1alpha1.AppStatus) bool { return a.Name == app })
	if i < 0 {
		return nil
	}
	return &tenant.Status.Apps[i]
}

func rolloutOf(st *v1alpha1.AppStatus) any {
	if st == nil || st.Rollout == nil {
		return "no rollout status"
	}
	return *st.Rollout
}

func rolloutName(t *testing.T, app string) string {
	t.Helper()
	st := appStatus(t, app)
	if st == nil || st.Rollout == nil {
		t.Fatalf("app %s has no rollout status", app)
	}
	return st.Rollout.Name
}

// replicaSets are the Rollout's ReplicaSets by pod template hash.
func replicaSets(t *testing.T, rollout string) map[string]*appsv1.ReplicaSet {
	t.Helper()
	var list appsv1.ReplicaSetList
	if err := admin.List(t.Context(), &list, client.InNamespace(namespace)); err != nil {
		t.Fatal(err)
	}
	sets := map[string]*appsv1.ReplicaSet{}
	for i := range list.Items {
		rs := &list.Items[i]
		if slices.ContainsFunc(rs.OwnerReferences, func(o metav1.OwnerReference) bool { return o.Kind == "Rollout" && o.Name == rollout }) {
			sets[rs.Labels["rollouts-pod-template-hash"]] = rs
		}
	}
	return sets
}

func describe(rs *appsv1.ReplicaSet) string {
	if rs == nil {
		return "absent"
	}
	return fmt.Sprintf("%s (%d wanted, %d available)", rs.Name, *rs.Spec.Replicas, rs.Status.AvailableReplicas)
}

func lastPrometheusQuery(t *testing.T) analysisstub.Query {
	t.Helper()
	qs := stub.Queries()
	for i := len(qs) - 1; i >= 0; i-- {
		if qs[i].Query != "" {
			return qs[i]
		}
	}
	t.Fatal("the analysis never queried the stub's Prometheus API")
	return analysisstub.Query{}
}

func assertEvent(t *testing.T, reason string) {
	t.Helper()
	testutil.Eventually(t, wait, func() error {
		var events corev1.EventList
		if err := admin.List(t.Context(), &events, client.MatchingFields{"involvedObject.name": "acme"}); err != nil {
			return err
		}
		for _, e := range events.Items {
			if e.Reason == reason {
				t.Logf("event %s: %s", reason, e.Message)
				return nil
			}
		}
		return fmt.Errorf("no %s event on tenant acme", reason)
	})
}

func refresh(t *testing.T, app string) {
	t.Helper()
	if err := argo.Refresh(t.Context(), app); err != nil {
		t.Fatal(err)
	}
}

// commitRelease commits a new version of an app (its image tag, and the
// demo app's failure rate: a bad release is one value change) to shop.git,
// as the tenant's developers would, and tells Argo CD as a webhook would.
func commitRelease(t *testing.T, app, version, failureRate, message string) time.Time {
	t.Helper()
	pull(t)
	path := filepath.Join(shopDir, app, "values.yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if data, err = release(data, version, failureRate); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	git(t, "commit", "-q", "-am", message)
	git(t, "push", "-q", "origin", "main")
	pushed := time.Now()
	refresh(t, "acme-"+app)
	return pushed
}

func pull(t *testing.T) { t.Helper(); git(t, "pull", "-q", "--ff-only", "origin", "main") }

func gitLog(t *testing.T) []string {
	t.Helper()
	pull(t)
	return strings.Split(strings.TrimSpace(git(t, "log", "--format=%H %an: %s")), "\n")
}

func git(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), "git", append([]string{"-C", shopDir}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

// release is a new version of an app's values: its image tag, and the
// demo app's failure rate (a bad release is one value change).
func release(values []byte, version, failureRate string) ([]byte, error) {
	return gitops.SetValues(values, map[string]string{"image.tag": version, "faults.failureRate": failureRate})
}

func setNested(obj map[string]any, value any, fields ...string) error {
	return unstructured.SetNestedField(obj, value, fields...)
}

func rawJSON(s string) *apiextensionsv1.JSON {
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		panic(err)
	}
	raw, _ := json.Marshal(v)
	return &apiextensionsv1.JSON{Raw: raw}
}

// testSuspendRollouts suspends the tenant: the operator scales both
// Rollouts to zero (the real Argo Rollouts controller then stops every pod)
// and Argo CD, whose automated sync is off meanwhile, leaves them there
// although Git says 5. Resuming puts back exactly the recorded count.
func testSuspendRollouts(t *testing.T) {
	names := map[string]string{}
	for _, app := range []string{"shop", "shop-bg"} {
		names[app] = rolloutName(t, app)
	}
	setSuspended := func(suspended bool) {
		t.Helper()
		tenant := &v1alpha1.Tenant{}
		if err := admin.Get(t.Context(), client.ObjectKey{Name: "acme"}, tenant); err != nil {
			t.Fatal(err)
		}
		patch := client.MergeFrom(tenant.DeepCopy())
		tenant.Spec.Suspended = suspended
		if err := admin.Patch(t.Context(), tenant, patch); err != nil {
			t.Fatal(err)
		}
	}
	// scaledTo waits until a Rollout wants n replicas, runs n available
	// pods, and carries the suspension record (or not).
	scaledTo := func(app string, n int64, recorded bool) {
		t.Helper()
		testutil.Eventually(t, wait, func() error {
			ro := &unstructured.Unstructured{}
			ro.SetGroupVersionKind(schema.GroupVersionKind{Group: "argoproj.io", Version: "v1alpha1", Kind: "Rollout"})
			if err := admin.Get(t.Context(), client.ObjectKey{Namespace: namespace, Name: names[app]}, ro); err != nil {
				return err
			}
			want, _, _ := unstructured.NestedInt64(ro.Object, "spec", "replicas")
			_, hasRecord := ro.GetAnnotations()[v1alpha1.AnnotationSuspendedReplicas]
			st, err := rollouts.Status(t.Context(), namespace, names[app])
			if err != nil {
				return err
			}
			if want != n || hasRecord != recorded || st.AvailableReplicas != n || st.Replicas != n {
				return fmt.Errorf("Rollout %s: spec.replicas %d, suspension recorded %v, status %s; want %d replicas, recorded %v",
					names[app], want, hasRecord, st, n, recorded)
			}
			return nil
		})
	}

	start := time.Now()
	setSuspended(true)
	for _, app := range []string{"shop", "shop-bg"} {
		scaledTo(app, 0, true)
	}
	measure(t, "suspended -> both Rollouts at zero pods", time.Since(start))
	// Argo CD compares Git (5 replicas) with the cluster and reports the
	// difference, but no longer heals it.
	for _, app := range []string{"shop", "shop-bg"} {
		refresh(t, "acme-"+app)
		testutil.Eventually(t, wait, func() error {
			st := appStatus(t, app)
			if st == nil || st.Sync != "OutOfSync" {
				return fmt.Errorf("app %s: %+v, want OutOfSync while suspended", app, st)
			}
			return nil
		})
		scaledTo(app, 0, true)
	}

	start = time.Now()
	setSuspended(false)
	for _, app := range []string{"shop", "shop-bg"} {
		scaledTo(app, replicas, false)
	}
	measure(t, "resumed -> both Rollouts back at 5 available pods", time.Since(start))
}

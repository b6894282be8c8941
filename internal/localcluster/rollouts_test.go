package localcluster_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"github.com/tenantry/tenantry/internal/localcluster"
	"github.com/tenantry/tenantry/internal/testutil"
)

// TestRolloutsCanaryAnalysis runs the real Argo Rollouts controller on the
// local control plane, with kwok's pods: a canary Rollout of 5 replicas
// whose analysis asks a web endpoint (its URL an argument, its bearer token
// an argument read from a Secret) and Prometheus (its address an argument,
// a tenant header templated). Good answers take an update to 100%; bad
// answers fail the analysis and abort the next one, back to the stable
// ReplicaSet at full scale.
func TestRolloutsCanaryAnalysis(t *testing.T) {
	testutil.NeedsCluster(t)
	t.Parallel()
	ctx := t.Context()
	rollouts := startRollouts(t)
	ns := newNamespace(t, "rollouts", nil)
	const token = "s3cret-token"
	if _, err := admin.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "analysis"},
		StringData: map[string]string{"token": token},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	web := newWebMetric(t, "Bearer "+token)
	prom := newPrometheusStub(t, "X-Scope-OrgID")

	applyUnstructured(t, ns, localcluster.AnalysisTemplateGVR, map[string]any{
		"apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisTemplate",
		"metadata": map[string]any{"name": "web-check"},
		"spec": map[string]any{
			"args": []any{
				map[string]any{"name": "url"},
				map[string]any{"name": "token", "valueFrom": map[string]any{
					"secretKeyRef": map[string]any{"name": "analysis", "key": "token"},
				}},
			},
			"metrics": []any{map[string]any{
				"name": "score", "count": 2, "interval": "1s", "failureLimit": 0,
				"successCondition": "result >= 0.9",
				"provider": map[string]any{"web": map[string]any{
					"url":      "{{args.url}}/score",
					"headers":  []any{map[string]any{"key": "Authorization", "value": "Bearer {{args.token}}"}},
					"jsonPath": "{$.score}",
				}},
			}},
		},
	})
	applyUnstructured(t, ns, localcluster.AnalysisTemplateGVR, map[string]any{
		"apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisTemplate",
		"metadata": map[string]any{"name": "success-rate"},
		"spec": map[string]any{
			"args": []any{map[string]any{"name": "address"}, map[string]any{"name": "tenant"}},
			"metrics": []any{map[string]any{
				"name": "success-rate", "count": 1,
				"successCondition": "result[0] >= 0.95",
				"provider": map[string]any{"prometheus": map[string]any{
					"address": "{{args.address}}",
					"query":   `sum(rate(http_requests_total{code!~"5.."}[1m])) / sum(rate(http_requests_total[1m]))`,
					"headers": []any{map[string]any{"key": "X-Scope-OrgID", "value": "{{args.tenant}}"}},
				}},
			}},
		},
	})

	// The first revision goes straight to 100%: there is nothing to compare
	// it with.
	start := time.Now()
	applyUnstructured(t, ns, localcluster.RolloutGVR, rolloutObject(web.URL, prom.URL, ns, "1.0"))
	first := waitRolloutComplete(t, rollouts, ns, "web", "")
	t.Logf("first revision -> Healthy: %.1fs", time.Since(start).Seconds())

	// Good answers: 20%, analysis, 100%.
	start = time.Now()
	setRolloutImage(t, ns, "web", "2.0")
	second := waitRolloutComplete(t, rollouts, ns, "web", first.StableHash)
	t.Logf("second revision (good answers) -> Healthy: %.2fs", time.Since(start).Seconds())
	if run := analysisRunFor(t, ns, second.CurrentHash); run.phase != "Successful" {
		t.Errorf("AnalysisRun %s of the second revision: %s, want Successful", run.name, run.phase)
	}
	if got := prom.header.Load(); got == nil || *got != ns {
		t.Errorf("Prometheus stub got X-Scope-OrgID %q (or no query), want %q, the templated {{args.tenant}}", deref(got), ns)
	}
	if web.unauthorized.Load() > 0 {
		t.Errorf("web metric sent a wrong Authorization header %d times; want the token from the Secret", web.unauthorized.Load())
	}

	// Bad answers: the analysis fails and the update is aborted.
	web.score.Store(scoreOf(0.1))
	setRolloutImage(t, ns, "web", "3.0")
	var aborted localcluster.RolloutStatus
	testutil.Eventually(t, time.Minute, func() error {
		s, err := rollouts.Status(ctx, ns, "web")
		if err != nil {
			return err
		}
		if !s.Current || !s.Aborted || s.Phase != "Degraded" {
			return fmt.Errorf("Rollout %s/web: %s; want aborted and Degraded", ns, s)
		}
		aborted = s
		return nil
	})
	if firstBad := web.firstBad.Load(); firstBad != nil {
		t.Logf("first bad answer -> Rollout aborted: %.2fs", time.Since(*firstBad).Seconds())
	} else {
		t.Error("the Rollout was aborted without a bad answer")
	}
	t.Logf("aborted: %s", aborted)
	if aborted.StableHash != second.StableHash {
		t.Errorf("stable ReplicaSet after the abort is %s, want the second revision's %s", aborted.StableHash, second.StableHash)
	}
	if run := analysisRunFor(t, ns, aborted.CurrentHash); run.phase != "Failed" {
		t.Errorf("AnalysisRun %s of the third revision: %s, want Failed", run.name, run.phase)
	}
	testutil.Eventually(t, 30*time.Second, func() error {
		stable, err := replicaSetFor(ctx, ns, second.StableHash)
		if err != nil {
			return err
		}
		canary, err := replicaSetFor(ctx, ns, aborted.CurrentHash)
		if err != nil {
			return err
		}
		if stable.spec != 5 || stable.available != 5 || canary.spec != 0 || canary.replicas != 0 {
			return fmt.Errorf("stable ReplicaSet %s, canary %s; want 5 of 5 available and none", stable, canary)
		}
		return nil
	})
}

// rolloutsOnce starts the package's one Argo Rollouts controller: it acts on
// Rollouts in every namespace, so tests share it. Cluster.Stop ends it.
var rolloutsOnce = sync.OnceValues(func() (*localcluster.Rollouts, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return cluster.StartRollouts(ctx, localcluster.RolloutsOptions{})
})

func startRollouts(t *testing.T) *localcluster.Rollouts {
	t.Helper()
	start := time.Now()
	r, err := rolloutsOnce()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Argo Rollouts ready after %.1fs", time.Since(start).Seconds())
	return r
}

// rolloutObject is a canary Rollout of 5 replicas of image tag: 20%, then
// the analysis of both templates, then 100%.
func rolloutObject(webURL, promURL, tenant, tag string) map[string]any {
	labels := map[string]any{"app": "web"}
	return map[string]any{
		"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
		"metadata": map[string]any{"name": "web"},
		"spec": map[string]any{
			"replicas": 5,
			"selector": map[string]any{"matchLabels": labels},
			"template": map[string]any{
				"metadata": map[string]any{"labels": labels},
				"spec": map[string]any{"containers": []any{
					map[string]any{"name": "app", "image": "registry.example/web:" + tag},
				}},
			},
			"strategy": map[string]any{"canary": map[string]any{"steps": []any{
				map[string]any{"setWeight": 20},
				map[string]any{"analysis": map[string]any{
					"templates": []any{map[string]any{"templateName": "web-check"}, map[string]any{"templateName": "success-rate"}},
					"args": []any{
						map[string]any{"name": "url", "value": webURL},
						map[string]any{"name": "address", "value": promURL},
						map[string]any{"name": "tenant", "value": tenant},
					},
				}},
				map[string]any{"setWeight": 100},
			}}},
		},
	}
}

func setRolloutImage(t *testing.T, ns, name, tag string) {
	t.Helper()
	patch := fmt.Sprintf(`{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"registry.example/web:%s"}]}}}}`, tag)
	_, err := dynamic.NewForConfigOrDie(cluster.Config).Resource(localcluster.RolloutGVR).Namespace(ns).
		Patch(t.Context(), name, types.MergePatchType, []byte(patch), metav1.PatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
}

// waitRolloutComplete waits until the Rollout's latest spec is its stable
// one, Healthy and fully available, and, unless previous is "", a new
// revision rather than previous.
func waitRolloutComplete(t *testing.T, rollouts *localcluster.Rollouts, ns, name, previous string) localcluster.RolloutStatus {
	t.Helper()
	var done localcluster.RolloutStatus
	testutil.Eventually(t, time.Minute, func() error {
		s, err := rollouts.Status(t.Context(), ns, name)
		if err != nil {
			return err
		}
		if !s.Current || s.Phase != "Healthy" || s.StableHash == "" || s.StableHash != s.CurrentHash ||
			s.StableHash == previous || s.AvailableReplicas != 5 || s.Replicas != 5 {
			return fmt.Errorf("Rollout %s/%s: %s; want a new revision Healthy, stable and 5 available", ns, name, s)
		}
		done = s
		return nil
	})
	return done
}

type analysisRun struct{ name, phase string }

// analysisRunFor is the AnalysisRun of the Rollout's revision hash.
func analysisRunFor(t *testing.T, ns, hash string) analysisRun {
	t.Helper()
	list, err := dynamic.NewForConfigOrDie(cluster.Config).Resource(localcluster.AnalysisRunGVR).Namespace(ns).
		List(t.Context(), metav1.ListOptions{LabelSelector: "rollouts-pod-template-hash=" + hash})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 {
		t.Fatalf("%d AnalysisRuns for revision %s, want 1", len(list.Items), hash)
	}
	phase, _, _ := unstructured.NestedString(list.Items[0].Object, "status", "phase")
	return analysisRun{name: list.Items[0].GetName(), phase: phase}
}

type replicaSetScale struct{ spec, replicas, available int32 }

func (r replicaSetScale) String() string {
	return fmt.Sprintf("wants %d, has %d, %d available", r.spec, r.replicas, r.available)
}

// replicaSetFor is the scale of the ReplicaSet of a Rollout's revision hash.
func replicaSetFor(ctx context.Context, ns, hash string) (replicaSetScale, error) {
	list, err := admin.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{LabelSelector: "rollouts-pod-template-hash=" + hash})
	if err != nil {
		return replicaSetScale{}, err
	}
	if len(list.Items) != 1 {
		return replicaSetScale{}, fmt.Errorf("%d ReplicaSets for revision %s, want 1", len(list.Items), hash)
	}
	rs := list.Items[0]
	return replicaSetScale{spec: *rs.Spec.Replicas, replicas: rs.Status.Replicas, available: rs.Status.AvailableReplicas}, nil
}

// webMetric is the endpoint a web metric asks: {"score": score}, to requests
// with the expected Authorization header.
type webMetric struct {
	*httptest.Server
	score        atomic.Pointer[float64]
	firstBad     atomic.Pointer[time.Time]
	unauthorized atomic.Int32
}

func scoreOf(v float64) *float64 { return &v }

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func newWebMetric(t *testing.T, authorization string) *webMetric {
	m := &webMetric{}
	m.score.Store(scoreOf(0.99))
	m.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != authorization {
			m.unauthorized.Add(1)
			http.Error(w, "wrong token", http.StatusUnauthorized)
			return
		}
		score := *m.score.Load()
		if score < 0.9 {
			now := time.Now()
			m.firstBad.CompareAndSwap(nil, &now)
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]float64{"score": score})
	}))
	t.Cleanup(m.Close)
	return m
}

// prometheusStub answers Prometheus instant queries with one sample, 0.99,
// and keeps the last value of a request header.
type prometheusStub struct {
	*httptest.Server
	header atomic.Pointer[string]
}

func newPrometheusStub(t *testing.T, header string) *prometheusStub {
	p := &prometheusStub{}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/query" {
			http.NotFound(w, r)
			return
		}
		value := r.Header.Get(header)
		p.header.Store(&value)
		if err := r.ParseForm(); err != nil || !strings.Contains(r.Form.Get("query"), "http_requests_total") {
			http.Error(w, "no query", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[%d,"0.99"]}]}}`, time.Now().Unix())
	}))
	t.Cleanup(p.Close)
	return p
}

package realnode

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tenantry/tenantry/api/v1alpha1"
	"github.com/tenantry/tenantry/gitops"
	"github.com/tenantry/tenantry/internal/images"
	"github.com/tenantry/tenantry/internal/install"
	"github.com/tenantry/tenantry/internal/localcluster"
	"github.com/tenantry/tenantry/internal/testutil"
)

// tenantApps releases charts/tenant-app in globex's namespace as whoever
// its config authenticates (the tenant's admin): rendered with helm
// template, applied object by object as the tenant's Argo CD would.
type tenantApps struct {
	helm   string
	dyn    dynamic.Interface
	mapper *restmapper.DeferredDiscoveryRESTMapper
}

func newTenantApps(t *testing.T, cfg *rest.Config, helm string) *tenantApps {
	t.Helper()
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	disc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &tenantApps{helm: helm, dyn: dyn, mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disc))}
}

// release renders the chart as release name with values and applies every
// object. Waiting for the release is the caller's (waitRolloutOf): what
// "done" means differs between a promotion and an abort.
func (a *tenantApps) release(t *testing.T, name string, values map[string]any) {
	t.Helper()
	data, err := yaml.Marshal(values)
	if err != nil {
		t.Fatal(err)
	}
	valuesFile := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(valuesFile, data, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(a.helm, "template", name, "../../charts/tenant-app", "--namespace", tenantNS, "-f", valuesFile)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helm template: %v\n%s", err, stderr.String())
	}
	objs, err := install.Decode(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, obj := range objs {
		if err := a.apply(obj); err != nil {
			t.Fatalf("as %s, applying %s %s: %v", tenantAdmin, obj.GetKind(), obj.GetName(), err)
		}
	}
}

// apply creates obj, or merges it into the live object as Argo CD's
// default (client-side) apply does: maps merged key by key, so the
// rollouts-pod-template-hash Argo Rollouts adds to the Services' selectors
// stays. A forced server-side apply would drop it: a Service's selector is
// an atomic map, owned whole by whoever applies it last, and a blue-green
// Rollout whose active Service has lost its hash takes the next release for
// an initial deploy and promotes it without analysis.
func (a *tenantApps) apply(obj *unstructured.Unstructured) error {
	mapping, err := a.mapper.RESTMapping(obj.GroupVersionKind().GroupKind(), obj.GroupVersionKind().Version)
	if err != nil {
		return err
	}
	res := a.dyn.Resource(mapping.Resource).Namespace(tenantNS)
	// Get first: a create refused as a duplicate still counts against the
	// namespace's quota until the next recount.
	if _, err := res.Get(context.Background(), obj.GetName(), metav1.GetOptions{}); apierrors.IsNotFound(err) {
		_, err = res.Create(context.Background(), obj, metav1.CreateOptions{FieldManager: "helm"})
		return err
	} else if err != nil {
		return err
	}
	data, err := obj.MarshalJSON()
	if err != nil {
		return err
	}
	_, err = res.Patch(context.Background(), obj.GetName(), types.MergePatchType, data, metav1.PatchOptions{FieldManager: "helm"})
	return err
}

// delete deletes one object of a release, in the foreground (its pods
// first), and waits until it is gone. It is called deferred, so it
// reports rather than stops.
func (a *tenantApps) delete(t *testing.T, group, version, resource, name string) {
	t.Helper()
	res := a.dyn.Resource(schema.GroupVersionResource{Group: group, Version: version, Resource: resource}).Namespace(tenantNS)
	err := res.Delete(context.Background(), name, metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationForeground)})
	if err != nil {
		t.Errorf("deleting %s %s: %v", resource, name, err)
		return
	}
	testutil.Eventually(t, 2*time.Minute, func() error {
		if _, err := res.Get(context.Background(), name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("%s %s still there (%v)", resource, name, err)
		}
		return nil
	})
}

// waitActive waits until the blue-green app's active Service selects the
// pods of hash, as Argo Rollouts records it.
func (a *tenantApps) waitActive(t *testing.T, app, hash string) {
	t.Helper()
	testutil.Eventually(t, 2*time.Minute, func() error {
		ro, err := a.dyn.Resource(localcluster.RolloutGVR).Namespace(tenantNS).Get(context.Background(), app, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if active, _, _ := unstructured.NestedString(ro.Object, "status", "blueGreen", "activeSelector"); active != hash {
			return fmt.Errorf("active Service of %s selects %q, want %s", app, active, hash)
		}
		return nil
	})
}

// analysisRun says how the newest AnalysisRun of the revision hash ended,
// metric by metric: "Failed: metric success-rate Failed (2 failed of 2) …".
func (a *tenantApps) analysisRun(t *testing.T, hash string) string {
	t.Helper()
	runs, err := a.dyn.Resource(localcluster.AnalysisRunGVR).Namespace(tenantNS).List(context.Background(), metav1.ListOptions{
		LabelSelector: "rollouts-pod-template-hash=" + hash,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(runs.Items) == 0 {
		return "none"
	}
	run := runs.Items[len(runs.Items)-1]
	phase, _, _ := unstructured.NestedString(run.Object, "status", "phase")
	out := phase + ":"
	for _, m := range localcluster.AnalysisMetrics(&run) {
		var values []string
		for _, ms := range m.Measurements {
			v := ms.Value
			if ms.Message != "" {
				v += fmt.Sprintf(" (%s: %s)", ms.Phase, ms.Message)
			}
			values = append(values, v)
		}
		out += fmt.Sprintf(" metric %s %s (%d failed, %d inconclusive, %d errors of %d; values %s);", m.Name, m.Phase,
			m.Failed, m.Inconclusive, m.Errors, m.Count, strings.Join(values, ", "))
	}
	return out
}

// endedAnalysisRun waits until the revision's AnalysisRun has ended in one
// of phases (Failed, Error…) and says how.
func (a *tenantApps) endedAnalysisRun(t *testing.T, hash string, phases ...string) string {
	t.Helper()
	var run string
	testutil.Eventually(t, time.Minute, func() error {
		run = a.analysisRun(t, hash)
		for _, p := range phases {
			if strings.HasPrefix(run, p+":") {
				return nil
			}
		}
		return fmt.Errorf("AnalysisRun of %s: %s; want it %s", hash, run, strings.Join(phases, " or "))
	})
	return run
}

// waitRolloutOf waits until the Rollout name's status is done, saying what
// it waits for.
func waitRolloutOf(t *testing.T, rollouts *localcluster.Rollouts, name, what string, done func(localcluster.RolloutStatus) bool) localcluster.RolloutStatus {
	t.Helper()
	var s localcluster.RolloutStatus
	testutil.Eventually(t, 4*time.Minute, func() error {
		var err error
		if s, err = rollouts.Status(context.Background(), tenantNS, name); err != nil {
			return err
		}
		if !done(s) {
			return fmt.Errorf("waiting for %s of %s: %s", what, name, s)
		}
		return nil
	})
	return s
}

// startRealNodeCluster starts a cluster with the real node and no kwok
// nodes, and stops it when the test ends (dumping the components' logs
// first if it failed). The start waits for the host's one real node, which
// another test or the demo may hold for a while.
func startRealNodeCluster(t *testing.T, ctx context.Context) *localcluster.Cluster {
	t.Helper()
	cluster, err := localcluster.Start(ctx, localcluster.Options{
		DataDir: t.TempDir(), Nodes: -1, RealNode: true, Progress: os.Stderr, StartTimeout: 40 * time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			cluster.DumpLogs(os.Stderr, 40)
		}
		if err := cluster.Stop(); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return cluster
}

// installPlatform installs the platform chart with helm, with extra values,
// and onboards globex on the free plan through the operator's pods.
func (e *env) installPlatform(t *testing.T, values ...string) {
	t.Helper()
	platform, err := e.cluster.InstallPlatform(e.ctx, localcluster.PlatformOptions{Values: values})
	if err != nil {
		t.Fatal(err)
	}
	e.platform = platform
	if _, err := install.Apply(e.ctx, e.admin, examples.Examples, "plans/*.yaml"); err != nil {
		t.Fatal(err)
	}
	if _, err := install.Apply(e.ctx, e.admin, examples.Examples, "tenants/globex.yaml"); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 2*time.Minute, func() error {
		tenant := &v1alpha1.Tenant{}
		if err := e.admin.Get(e.ctx, client.ObjectKey{Name: tenantNS}, tenant); err != nil {
			return err
		}
		if tenant.Status.Phase != v1alpha1.PhaseReady {
			return fmt.Errorf("tenant globex is %q: %+v", tenant.Status.Phase, tenant.Status.Conditions)
		}
		return nil
	})
}

// pushDemoApp builds demo-app once and pushes it under each version's tag;
// it returns the repository (registry.tenantry.dev/demo-app).
func pushDemoApp(t *testing.T, e *env, versions ...string) string {
	t.Helper()
	binary := filepath.Join(e.cluster.DataDir, "images", "demo-app")
	if err := images.BuildGo(e.ctx, images.GoBuild{Dir: "../..", Package: "./cmd/demo-app", Out: binary}); err != nil {
		t.Fatal(err)
	}
	for _, v := range versions {
		if _, err := e.cluster.PushBinaryImage(e.ctx, "demo-app:"+v, binary, images.Options{Title: "demo-app", Version: v}); err != nil {
			t.Fatal(err)
		}
	}
	return localcluster.LocalRegistry + "/demo-app"
}

// releaseFailures are the failed requests of a phase that a release must
// not cause. Left out: connections refused while the NetworkPolicy engine
// reprograms the node, at most one in a thousand: most likely kube-router
// rewriting its chains and ipsets each time a pod comes or goes (a release
// adds and removes pods), which refuses a connection that meets the rules
// in that moment. Seen in about one run in six (1 of 3,285 requests), never
// through Traefik so far; docs/progressive-delivery.md has the figures.
// Every other failure (a status, a reset, a timeout) counts.
func releaseFailures(t *testing.T, p localcluster.LoadPhase) int {
	t.Helper()
	refused := p.Failures["connection refused"]
	if refused == 0 || refused > max(1, p.Sent/1000) {
		return p.Failed
	}
	t.Logf("phase %s, %s: %d of %d connections refused while the NetworkPolicy engine reprogrammed the node", p.Phase, p.URL, refused, p.Sent)
	return p.Failed - refused
}

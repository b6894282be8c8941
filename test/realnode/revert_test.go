package realnode

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tenantry/tenantry/api/v1alpha1"
	"github.com/tenantry/tenantry/charts"
	"github.com/tenantry/tenantry/gitops"
	"github.com/tenantry/tenantry/internal/controller"
	"github.com/tenantry/tenantry/internal/gitops"
	"github.com/tenantry/tenantry/internal/install"
	"github.com/tenantry/tenantry/internal/localcluster"
	"github.com/tenantry/tenantry/internal/render"
	"github.com/tenantry/tenantry/internal/testutil"
)

// revertApp is globex's app in this test: charts/tenant-app vendored under
// shop/ of the tenant's repository shop.git; Argo CD's Application, and so
// the Rollout and its Service, are named <tenant>-<app>.
const (
	revertApp     = "shop"
	revertRollout = tenantNS + "-" + revertApp
)

// TestGitRevertUnderLoad follows a bad release the whole GitOps way while a
// client of the tenant keeps sending requests: a commit releases it, Argo
// CD syncs it, Argo Rollouts' analysis against the real Prometheus aborts
// it, the operator (spec.revertOnAbort) commits the revert to the tenant's
// repository, and Argo CD syncs the revert with no hand from the test.
// From the abort on no request fails, the revert replaces no pod (the
// stable ones serve throughout), and Git ends where the cluster is.
// The operator runs in the test process, as in test/delivery: the Git
// server listens on the host's loopback, which pods cannot reach; what is
// proven here is what the tenant's clients see.
func TestGitRevertUnderLoad(t *testing.T) {
	testutil.NeedsRealNode(t)
	ctx := context.Background()
	start := time.Now()
	cluster := startRealNodeCluster(t, ctx)
	e := newEnv(t, ctx, cluster)
	// Argo CD before the operator, which turns GitOps on when it finds
	// Argo CD's kinds at start-up.
	argo, err := cluster.StartArgoCD(ctx, localcluster.ArgoCDOptions{
		Config: map[string]string{"application.sync.impersonation.enabled": "true"},
	})
	if err != nil {
		t.Fatal(err)
	}
	rollouts, err := cluster.StartRollouts(ctx, localcluster.RolloutsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	prom, err := cluster.StartPrometheus(ctx, localcluster.PrometheusOptions{ScrapeInterval: scrapeInterval})
	if err != nil {
		t.Fatal(err)
	}
	gitURL, err := cluster.ServeGit(ctx, "shop.git")
	if err != nil {
		t.Fatal(err)
	}
	cfg := controller.Config{Render: render.DefaultOptions(), RolloutsPoll: 500 * time.Millisecond}
	cfg.Render.ArgoCDNamespace = argo.Namespace
	_, stopOperator, err := testutil.StartPlatform(ctx, cluster, e.scheme, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stopOperator)
	for _, files := range []string{"plans/*.yaml", "tenants/globex.yaml"} {
		if _, err := install.Apply(ctx, e.admin, examples.Examples, files); err != nil {
			t.Fatal(err)
		}
	}
	image := pushDemoApp(t, e, "1.0.0", "1.1.0")
	shop := seedShopRepo(t, cluster.DataDir, gitURL+"/shop.git")
	t.Logf("cluster, Argo CD, Argo Rollouts, Prometheus (%s), the operator and shop.git ready in %.1fs", prom.URL, time.Since(start).Seconds())

	// globex adds the app, opting in to reverts: the operator creates its
	// Application, Argo CD deploys 1.0.0 from Git.
	addApp(t, e, gitURL+"/shop.git", prom.URL)
	status := waitRolloutOf(t, rollouts, revertRollout, "1.0.0 Healthy", func(s localcluster.RolloutStatus) bool {
		return s.Current && s.Phase == "Healthy" && s.AvailableReplicas == appReplicas
	})
	stable := status.StableHash
	t.Logf("1.0.0 deployed from Git in %.1fs: %s", time.Since(start).Seconds(), status)

	cs, err := kubernetes.NewForConfig(e.userConfig(t, tenantAdmin))
	if err != nil {
		t.Fatal(err)
	}
	load, err := localcluster.StartLoad(ctx, cs, localcluster.LoadOptions{
		Namespace: tenantNS, Name: "load", Image: image + ":1.0.0", URLs: []string{"http://" + revertRollout + "/"}, Rate: loadRate,
		Resources: &loadResources,
	})
	if err != nil {
		t.Fatal(err)
	}
	load.Mark("1.0.0 steady")
	waitLoad(t, load, "1.0.0 steady", 300)

	// The bad release: one commit, half of 1.1.0's requests fail.
	const bad = "1.1.0 canary, until its pods are gone"
	load.Mark(bad)
	released := time.Now()
	shop.commit(t, "Release shop 1.1.0", map[string]string{"image.tag": "1.1.0", "faults.failureRate": "0.5"})
	if err := argo.Refresh(ctx, revertRollout); err != nil {
		t.Fatal(err)
	}
	aborted := waitRolloutOf(t, rollouts, revertRollout, "1.1.0 aborted", func(s localcluster.RolloutStatus) bool {
		return s.Current && s.Aborted && s.CurrentHash != stable
	})
	abortedAfter := time.Since(released)
	// The abort scales the canary to zero and the stable version back to
	// its full size (a replica-weighted canary took one stable pod's
	// place), as in TestCanaryAnalysisRealPrometheus.
	waitPodsGone(t, cs, aborted.CurrentHash)
	waitRolloutOf(t, rollouts, revertRollout, "stable back at full size", func(s localcluster.RolloutStatus) bool {
		return s.StableHash == stable && s.AvailableReplicas == appReplicas
	})
	stablePods := podUIDs(t, cs, stable)

	// From here the operator reverts and Argo CD syncs the revert.
	const reverting = "Git revert and its sync"
	load.Mark(reverting)
	revert := waitReverted(t, e.admin)
	revertedAfter := time.Since(released)
	synced := waitSynced(t, e.admin, revert.Commit)
	syncedAfter := time.Since(released)
	back := waitRolloutOf(t, rollouts, revertRollout, "the revert synced", func(s localcluster.RolloutStatus) bool {
		return s.Current && !s.Aborted && s.Phase == "Healthy" && s.StableHash == stable && s.CurrentHash == stable &&
			s.AvailableReplicas == appReplicas
	})
	t.Logf("1.1.0 aborted %.1fs after its commit; the operator's revert %s pushed at %.1fs (%s); Argo CD synced it at %.1fs (revision %s); Rollout %s",
		abortedAfter.Seconds(), revert.Commit, revertedAfter.Seconds(), revert.Message, syncedAfter.Seconds(), synced.Revision, back)

	const after = "1.0.0 after the revert"
	load.Mark(after)
	waitLoad(t, load, after, 300)
	stopCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	phases, err := load.Stop(stopCtx)
	if err != nil {
		t.Error(err)
	}
	t.Logf("load, %d requests/s through Service %s:\n%s", loadRate, revertRollout, localcluster.FormatLoadPhases(phases))

	// What the clients saw: the bad canary's failures within its bound,
	// none from the abort on, every answer from 1.0.0 after the revert.
	if p, bound := phaseOf(load, bad), failureBound(0.5); p.Failed > bound {
		t.Errorf("%d requests failed during the bad release, bound %d (failures %v)", p.Failed, bound, p.Failures)
	}
	if p := phaseOf(load, reverting); releaseFailures(t, p) != 0 || len(p.Versions) != 1 || p.Versions["1.0.0"] == 0 {
		t.Errorf("while the revert was committed and synced: %d failed (%v), versions %v; want every answer from 1.0.0", p.Failed, p.Failures, p.Versions)
	}
	if p := phaseOf(load, after); p.Failed != 0 || len(p.Versions) != 1 || p.Versions["1.0.0"] == 0 {
		t.Errorf("after the revert: %d failed, versions %v; want every answer from 1.0.0", p.Failed, p.Versions)
	}
	// The revert replaced no pod: the stable ones served throughout.
	if now := podUIDs(t, cs, stable); !slices.Equal(now, stablePods) {
		t.Errorf("the stable pods changed across the revert: %v before, %v after", stablePods, now)
	}
	// Git is the record, and says what runs.
	log := shop.log(t)
	t.Logf("shop.git:\n  %s", strings.Join(log, "\n  "))
	if len(log) < 3 || !strings.Contains(log[0], `Revert "Release shop 1.1.0"`) || !strings.HasPrefix(log[0], revert.Commit) {
		t.Errorf("the newest commit of shop.git is %q, want the operator's revert %s of the 1.1.0 release", log[0], revert.Commit)
	}
	if values := shop.read(t, revertApp+"/values.yaml"); !strings.Contains(values, `tag: "1.0.0"`) {
		t.Errorf("shop/values.yaml after the revert does not release 1.0.0:\n%s", values)
	}
}

// addApp gives globex the app shop from shop.git, with spec.revertOnAbort:
// the analysis settings of analysisValues against the real Prometheus; the
// version and the faults are Git's (shop/values.yaml).
func addApp(t *testing.T, e *env, repoURL, prometheus string) {
	t.Helper()
	values := analysisValues(prometheus, "", nil)
	delete(values, "image")
	delete(values, "faults")
	raw, err := json.Marshal(values)
	if err != nil {
		t.Fatal(err)
	}
	tenant := &v1alpha1.Tenant{}
	if err := e.admin.Get(e.ctx, client.ObjectKey{Name: tenantNS}, tenant); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(tenant.DeepCopy())
	tenant.Spec.RevertOnAbort = true
	tenant.Spec.Apps = []v1alpha1.App{{Name: revertApp, RepoURL: repoURL, Path: revertApp, Values: &apiextensionsv1.JSON{Raw: raw}}}
	if err := e.admin.Patch(e.ctx, tenant, patch); err != nil {
		t.Fatal(err)
	}
}

// appStatusOf is what globex's status says of the app shop (nil: nothing).
func appStatusOf(ctx context.Context, c client.Client) (*v1alpha1.AppStatus, error) {
	tenant := &v1alpha1.Tenant{}
	if err := c.Get(ctx, client.ObjectKey{Name: tenantNS}, tenant); err != nil {
		return nil, err
	}
	i := slices.IndexFunc(tenant.Status.Apps, func(a v1alpha1.AppStatus) bool { return a.Name == revertApp })
	if i < 0 {
		return nil, nil
	}
	return &tenant.Status.Apps[i], nil
}

// waitReverted waits until the Tenant's status records the operator's
// revert commit of the aborted release.
func waitReverted(t *testing.T, c client.Client) v1alpha1.RolloutRevert {
	t.Helper()
	var revert v1alpha1.RolloutRevert
	testutil.Eventually(t, 2*time.Minute, func() error {
		st, err := appStatusOf(context.Background(), c)
		if err != nil {
			return err
		}
		if st == nil || st.Rollout == nil || st.Rollout.Revert == nil || st.Rollout.Revert.Commit == "" {
			return fmt.Errorf("no revert recorded yet: %+v", st)
		}
		revert = *st.Rollout.Revert
		return nil
	})
	return revert
}

// waitSynced waits until Argo CD reports the app synced at commit.
func waitSynced(t *testing.T, c client.Client, commit string) v1alpha1.AppStatus {
	t.Helper()
	var st *v1alpha1.AppStatus
	testutil.Eventually(t, 2*time.Minute, func() error {
		var err error
		if st, err = appStatusOf(context.Background(), c); err != nil {
			return err
		}
		if st == nil || st.Sync != "Synced" || !strings.HasPrefix(st.Revision, commit) {
			return fmt.Errorf("app %s not synced at %s yet: %+v", revertApp, commit, st)
		}
		return nil
	})
	return *st
}

// podUIDs are the UIDs of the pods of revision hash, sorted.
func podUIDs(t *testing.T, cs kubernetes.Interface, hash string) []types.UID {
	t.Helper()
	pods, err := cs.CoreV1().Pods(tenantNS).List(context.Background(), metav1.ListOptions{LabelSelector: "rollouts-pod-template-hash=" + hash})
	if err != nil {
		t.Fatal(err)
	}
	var uids []types.UID
	for _, p := range pods.Items {
		uids = append(uids, p.UID)
	}
	slices.Sort(uids)
	return uids
}

// shopRepo is a working copy of the tenant's repository, where the test
// commits as the tenant's developers would.
type shopRepo struct{ dir string }

// seedShopRepo pushes charts/tenant-app, vendored under shop/, releasing
// 1.0.0, as the first commit of the repository at url.
func seedShopRepo(t *testing.T, dataDir, url string) shopRepo {
	t.Helper()
	dir, err := os.MkdirTemp(dataDir, "shop-")
	if err != nil {
		t.Fatal(err)
	}
	chart, err := charts.TenantAppFiles()
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for rel, data := range chart {
		files[revertApp+"/"+rel] = data
	}
	key := revertApp + "/values.yaml"
	if files[key], err = gitops.SetValues(files[key], map[string]string{"image.tag": "1.0.0", "faults.failureRate": "0"}); err != nil {
		t.Fatal(err)
	}
	if err := gitops.Publish(dir, url, files, "Release shop 1.0.0", "Globex Dev", "dev@globex.example"); err != nil {
		t.Fatal(err)
	}
	return shopRepo{dir: dir}
}

// commit sets values in shop/values.yaml and pushes the change.
func (r shopRepo) commit(t *testing.T, message string, set map[string]string) {
	t.Helper()
	r.git(t, "pull", "-q", "--ff-only", "origin", "main")
	path := filepath.Join(r.dir, revertApp, "values.yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if data, err = gitops.SetValues(data, set); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	r.git(t, "commit", "-q", "-am", message)
	r.git(t, "push", "-q", "origin", "main")
}

// log is the repository's history, newest first, after a pull: "<hash>
// <author>: <subject>".
func (r shopRepo) log(t *testing.T) []string {
	t.Helper()
	r.git(t, "pull", "-q", "--ff-only", "origin", "main")
	return strings.Split(strings.TrimSpace(r.git(t, "log", "--format=%H %an: %s")), "\n")
}

func (r shopRepo) read(t *testing.T, rel string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(r.dir, rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func (r shopRepo) git(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-C", r.dir}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

// Package delivery proves progressive delivery end to end with the real
// Argo CD and the real Argo Rollouts controller: a tenant's app, deployed
// from its own Git repository with charts/tenant-app, is released as a
// canary or blue-green whose analysis asks a stand-in for Prometheus and for
// the app's health endpoint (internal/analysisstub) on loopback, so each
// test decides whether a release is good. Every release is a commit; Argo
// CD syncs it; Argo Rollouts promotes or aborts it; the operator reports it
// in the Tenant and, when the tenant opted in, reverts a failed release in
// Git.
package delivery

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tenantry/tenantry/api/v1alpha1"
	"github.com/tenantry/tenantry/charts"
	"github.com/tenantry/tenantry/gitops"
	"github.com/tenantry/tenantry/internal/analysisstub"
	"github.com/tenantry/tenantry/internal/controller"
	"github.com/tenantry/tenantry/internal/gitops"
	"github.com/tenantry/tenantry/internal/install"
	"github.com/tenantry/tenantry/internal/localcluster"
	"github.com/tenantry/tenantry/internal/render"
	"github.com/tenantry/tenantry/internal/testutil"
)

var (
	cluster  *localcluster.Cluster
	admin    client.Client
	argo     *localcluster.ArgoCD
	rollouts *localcluster.Rollouts
	stub     *analysisstub.Server
	// gitURL serves shop.git, acme's app repository.
	gitURL string
	// shopDir is a working copy of shop.git, where the test commits releases.
	shopDir string
	// verdict is what the stub answers: good or bad releases.
	verdict = newVerdict()
)

// token is the Authorization the tenant's analysis credentials hold; the
// stub sees it on every query.
const token = "Bearer acme-analysis-token"

func TestMain(m *testing.M) {
	os.Exit(testutil.RunWithCluster(m, setUp))
}

// setUp runs Argo CD (sync impersonation on) next to the control plane,
// the analysis stub and a Git server, installs the platform and starts the
// operator, and only then Argo Rollouts, as a GitOps bootstrap that syncs
// them together may: the operator finds Argo Rollouts while it runs.
func setUp(ctx context.Context, c *localcluster.Cluster) (func(), error) {
	cluster = c
	var err error
	if argo, err = c.StartArgoCD(ctx, localcluster.ArgoCDOptions{
		Config: map[string]string{"application.sync.impersonation.enabled": "true"},
	}); err != nil {
		return nil, err
	}
	if stub, err = analysisstub.Start(analysisstub.Answers{Prometheus: verdict.prometheus, Healthy: verdict.healthy}); err != nil {
		return nil, err
	}
	if gitURL, err = c.ServeGit(ctx, "shop.git"); err != nil {
		return nil, err
	}

	scheme, err := install.NewScheme()
	if err != nil {
		return nil, err
	}
	cfg := controller.Config{Render: render.DefaultOptions(), RolloutsPoll: 500 * time.Millisecond}
	cfg.Render.ArgoCDNamespace = argo.Namespace
	var stopPlatform func()
	if admin, stopPlatform, err = testutil.StartPlatform(ctx, c, scheme, cfg); err != nil {
		return nil, err
	}
	stop := func() {
		stopPlatform()
		_ = stub.Close()
	}
	if rollouts, err = c.StartRollouts(ctx, localcluster.RolloutsOptions{}); err != nil {
		return stop, err
	}
	if err := applyPlans(ctx); err != nil {
		return stop, err
	}
	return stop, seedShop()
}

// applyPlans creates the example plans, with the pro plan's analysis
// defaults pointing at the stub: every app of its tenants inherits them.
func applyPlans(ctx context.Context) error {
	plans, err := fs.Glob(examples.Examples, "plans/*.yaml")
	if err != nil {
		return err
	}
	for _, p := range plans {
		data, err := fs.ReadFile(examples.Examples, p)
		if err != nil {
			return err
		}
		objs, err := install.Decode(data)
		if err != nil {
			return err
		}
		for _, o := range objs {
			if o.GetName() == "pro" {
				if err := setNested(o.Object, stub.URL, "spec", "analysis", "prometheusAddress"); err != nil {
					return err
				}
			}
			if err := admin.Create(ctx, o); err != nil {
				return fmt.Errorf("creating plan %s: %w", o.GetName(), err)
			}
		}
	}
	// The credentials live in the platform's namespace, out of tenants' reach.
	return admin.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "tenantry-system", Name: "acme-analysis"},
		StringData: map[string]string{render.AnalysisKeyAuthorization: token},
	})
}

// seedShop pushes release 1.0.0 of two apps, each charts/tenant-app
// vendored into a folder of the tenant's repository: shop (canary) and
// shop-bg (blue-green).
func seedShop() error {
	var err error
	if shopDir, err = os.MkdirTemp(cluster.DataDir, "shop-"); err != nil {
		return err
	}
	chart, err := charts.TenantAppFiles()
	if err != nil {
		return err
	}
	files := map[string][]byte{}
	for _, app := range []string{"shop", "shop-bg"} {
		for rel, data := range chart {
			files[app+"/"+rel] = data
		}
		values, err := release(files[app+"/values.yaml"], "1.0.0", "0")
		if err != nil {
			return err
		}
		files[app+"/values.yaml"] = values
	}
	return gitops.Publish(shopDir, gitURL+"/shop.git", files, "Release 1.0.0 of shop and shop-bg", "Acme Dev", "dev@acme.example")
}

// verdictState is what the analysis stub answers, as the running test says.
type verdictState struct {
	mu sync.Mutex
	// good makes every measurement pass; otherwise every one fails.
	good bool
	// firstBad is when the stub first answered a failing measurement since
	// the verdict turned bad.
	firstBad metav1.Time
}

func newVerdict() *verdictState { return &verdictState{good: true} }

func (v *verdictState) set(good bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.good, v.firstBad = good, metav1.Time{}
}

func (v *verdictState) firstBadAt() metav1.Time {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.firstBad
}

// answer reports the verdict and notes the first bad answer.
func (v *verdictState) answer() bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.good && v.firstBad.IsZero() {
		v.firstBad = metav1.Now()
	}
	return v.good
}

// prometheus answers a success-rate query with 100 % or 50 % of requests
// succeeding, and a latency query with 40 ms or 2 s.
func (v *verdictState) prometheus(q analysisstub.Query) (float64, bool) {
	good := v.answer()
	if strings.Contains(q.Query, "histogram_quantile") {
		if good {
			return 0.04, true
		}
		return 2, true
	}
	if good {
		return 1, true
	}
	return 0.5, true
}

func (v *verdictState) healthy(analysisstub.Query) bool { return v.answer() }

// tenantObject is acme: one environment, the two apps from shop.git, with
// values that make the releases quick to watch (short pauses, analysis
// every second) and the web check aimed at the stub.
func tenantObject() *v1alpha1.Tenant {
	values := func(strategy string) string {
		return fmt.Sprintf(`{"strategy": %q, "replicas": 5,
			"canary": {"pauseDuration": "2s"},
			"blueGreen": {"scaleDownDelaySeconds": 5},
			"resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"cpu": "50m", "memory": "32Mi"}},
			"analysis": {"interval": "1s", "count": 2, "failureLimit": 0, "consecutiveErrorLimit": 0, "inconclusiveLimit": 0,
				"web": {"url": %q}}}`, strategy, stub.URL+"/{{args.namespace}}/{{args.service}}/healthz")
	}
	return &v1alpha1.Tenant{
		ObjectMeta: metav1.ObjectMeta{Name: "acme"},
		Spec: v1alpha1.TenantSpec{
			Plan:         "pro",
			Owners:       []v1alpha1.Owner{{Kind: v1alpha1.SubjectGroup, Name: "acme-admins", Role: v1alpha1.RoleAdmin}},
			Environments: []string{"prod"},
			Analysis:     &v1alpha1.AnalysisDefaults{CredentialsSecret: "acme-analysis"},
			Apps: []v1alpha1.App{
				{Name: "shop", Environment: "prod", RepoURL: gitURL + "/shop.git", Path: "shop", Values: rawJSON(values("canary"))},
				{Name: "shop-bg", Environment: "prod", RepoURL: gitURL + "/shop.git", Path: "shop-bg", Values: rawJSON(values("blueGreen"))},
			},
		},
	}
}

// Package fleet proves a fleet's hub on real control planes with the real
// Argo CD: Tenants on the hub are placed on member clusters by their
// selectors and the members' capacity, placements stay put, the decisions
// land in PlacementDecisions, and Argo CD's ApplicationSet turns each into
// an Application that syncs the tenant from Git to its cluster, where the
// member's own operator onboards it.
package fleet

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/tenantry/tenantry/api/v1alpha1"
	"github.com/tenantry/tenantry/internal/controller"
	"github.com/tenantry/tenantry/internal/gitops"
	"github.com/tenantry/tenantry/internal/install"
	"github.com/tenantry/tenantry/internal/localcluster"
	"github.com/tenantry/tenantry/internal/localfleet"
	"github.com/tenantry/tenantry/internal/render"
	"github.com/tenantry/tenantry/internal/testutil"
)

var (
	hub   *localcluster.Cluster
	admin client.Client
	argo  *localcluster.ArgoCD
	// gitURL serves platform.git, laid out as gitops/ in this repository:
	// gitops/plans and gitops/tenants, one Tenant per file.
	gitURL string
	// platformDir is a working copy of platform.git; gitopsDir its gitops/
	// folder, what tenantry --gitops takes.
	platformDir, gitopsDir string
	// members are real member clusters, each running the operator, by name.
	members = map[string]*localfleet.Member{}
)

// realMembers are the member clusters that run: their cluster Secrets
// carry fleet=real, which only the tenants of TestMembersOnboard and
// TestMemberOutage select.
var realMembers = []string{"member-a", "member-b"}

func TestMain(m *testing.M) {
	os.Exit(testutil.RunWithCluster(m, setUp))
}

// setUp runs Argo CD, a Git server and the operator as a fleet's hub, with
// the chart's hub rights, and two member clusters running the operator
// binary, registered with the hub's Argo CD, then bootstraps the hub from
// gitops/fleet as a platform team does: plans and tenants from Git into
// the hub, plans to every member, each placed tenant to its member.
func setUp(ctx context.Context, c *localcluster.Cluster) (func(), error) {
	hub = c
	var err error
	if argo, err = c.StartArgoCD(ctx, localcluster.ArgoCDOptions{Config: localfleet.ArgoCDConfig()}); err != nil {
		return nil, err
	}
	if gitURL, err = c.ServeGit(ctx, "platform.git", "apps.git"); err != nil {
		return nil, err
	}
	scheme, err := install.NewScheme()
	if err != nil {
		return nil, err
	}
	setup, err := client.New(c.Config, client.Options{Scheme: scheme})
	if err != nil {
		return nil, err
	}
	if err := install.FleetHub(ctx, setup, argo.Namespace); err != nil {
		return nil, err
	}
	// Probing members every second, the hub finds one unreachable in
	// about three.
	cfg := controller.Config{Render: render.DefaultOptions(), FleetHub: true, FleetProbeInterval: time.Second}
	cfg.Render.ArgoCDNamespace = argo.Namespace
	var stopHub func()
	if admin, stopHub, err = testutil.StartPlatform(ctx, c, scheme, cfg); err != nil {
		return nil, err
	}
	stop := func() {
		for _, m := range members {
			_ = m.Cluster.Stop()
		}
		stopHub()
	}
	if err := seedRepositories(); err != nil {
		return stop, err
	}
	operator, err := testutil.BuildOperator(ctx, c.DataDir)
	if err != nil {
		return stop, err
	}
	for i, name := range realMembers {
		m, err := localfleet.StartMember(ctx, name, operator, scheme, localcluster.Options{Nodes: 1, Progress: os.Stderr})
		if m != nil {
			members[name] = m
		}
		if err != nil {
			return stop, err
		}
		// The first takes one tenant, so the next goes to the second.
		bounds := map[string]string{}
		if i == 0 {
			bounds[v1alpha1.AnnotationMaxTenants] = "1"
		}
		if err := m.Register(ctx, admin, argo.Namespace, map[string]string{"fleet": "real"}, bounds); err != nil {
			return stop, err
		}
	}
	return stop, install.FleetBootstrap(ctx, admin, argo.Namespace, gitURL+"/platform.git")
}

// seedRepositories pushes the plan of the tenants on real members to
// platform.git, and the tenants' app to apps.git.
func seedRepositories() error {
	var err error
	if platformDir, err = os.MkdirTemp(hub.DataDir, "platform-"); err != nil {
		return err
	}
	gitopsDir = filepath.Join(platformDir, "gitops")
	plan, err := yaml.Marshal(fleetPlan())
	if err != nil {
		return err
	}
	files := map[string][]byte{
		"gitops/plans/fleet.yaml":  plan,
		"gitops/tenants/README.md": []byte("One Tenant per file; the hub places each.\n"),
	}
	if err := gitops.Publish(platformDir, gitURL+"/platform.git", files, "A fleet with one plan", "Platform Team", "platform@example.com"); err != nil {
		return err
	}
	appDir, err := os.MkdirTemp(hub.DataDir, "apps-")
	if err != nil {
		return err
	}
	return gitops.Publish(appDir, gitURL+"/apps.git", map[string][]byte{"web/configmap.yaml": []byte(webApp)},
		"The web app", "Tenant Developer", "dev@example.com")
}

// fleetPlan is the plan of the tenants that land on real members; the hub
// and every member get it from Git.
func fleetPlan() *v1alpha1.TenantPlan {
	p := planOf("fleet", nil)
	p.TypeMeta = metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: "TenantPlan"}
	p.Spec.Limits.Default = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi")}
	return p
}

// planOf is a plan with a small quota and a cluster selector.
func planOf(name string, selector *metav1.LabelSelector) *v1alpha1.TenantPlan {
	return &v1alpha1.TenantPlan{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v1alpha1.TenantPlanSpec{
		Quota: corev1.ResourceList{corev1.ResourceRequestsCPU: resource.MustParse("1"), corev1.ResourceRequestsMemory: resource.MustParse("1Gi"),
			corev1.ResourceLimitsCPU: resource.MustParse("2"), corev1.ResourceLimitsMemory: resource.MustParse("2Gi"), corev1.ResourcePods: resource.MustParse("10")},
		ClusterSelector: selector,
	}}
}

// webApp is the tenants' app in apps.git: what Argo CD syncs into a
// tenant's namespace on its member, as the tenant's deployer.
const webApp = `apiVersion: v1
kind: ConfigMap
metadata:
  name: web
data:
  greeting: hello from the hub
`

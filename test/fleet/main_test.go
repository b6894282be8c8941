// Package fleet proves a fleet's hub on real control planes with the real
// Argo CD: Tenants on the hub are placed on member clusters by their
// selectors and the members' capacity, placements stay put, the decisions
// land in PlacementDecisions, and Argo CD's ApplicationSet turns each into
// an Application that syncs the tenant from Git to its cluster, where the
// member's own operator onboards it.
package fleet

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tenantry/tenantry/api/v1alpha1"
	"github.com/tenantry/tenantry/internal/controller"
	"github.com/tenantry/tenantry/internal/gitops"
	"github.com/tenantry/tenantry/internal/install"
	"github.com/tenantry/tenantry/internal/localcluster"
	"github.com/tenantry/tenantry/internal/render"
	"github.com/tenantry/tenantry/internal/testutil"
)

var (
	hub   *localcluster.Cluster
	admin client.Client
	argo  *localcluster.ArgoCD
	// gitURL serves platform.git: tenants/ holds one Tenant per file, as
	// the platform repository does.
	gitURL string
	// platformDir is a working copy of platform.git.
	platformDir string
	// members are real member clusters, each running the operator, by name.
	members = map[string]*memberCluster{}
)

// memberCluster is a real member cluster and an admin client to it.
type memberCluster struct {
	cluster *localcluster.Cluster
	admin   client.Client
}

// realMembers are the member clusters that run: their cluster Secrets
// carry fleet=real, which only TestMembersOnboard's tenants select.
var realMembers = []string{"member-a", "member-b"}

func TestMain(m *testing.M) {
	os.Exit(testutil.RunWithCluster(m, setUp))
}

// setUp runs Argo CD, a Git server and the operator as a fleet's hub, with
// the chart's hub rights, and two member clusters running the operator
// binary, registered with the hub's Argo CD. The platform repository's
// ApplicationSet syncs each placed tenant's file to its cluster.
func setUp(ctx context.Context, c *localcluster.Cluster) (func(), error) {
	hub = c
	var err error
	if argo, err = c.StartArgoCD(ctx, localcluster.ArgoCDOptions{Config: map[string]string{
		install.TenantHealthCheckKey:             install.TenantHealthCheck,
		"application.sync.impersonation.enabled": "true",
	}}); err != nil {
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
			_ = m.cluster.Stop()
		}
		stopHub()
	}
	if platformDir, err = os.MkdirTemp(c.DataDir, "platform-"); err != nil {
		return stop, err
	}
	readme := map[string][]byte{"tenants/README.md": []byte("One Tenant per file; the hub places each.\n")}
	if err := gitops.Publish(platformDir, gitURL+"/platform.git", readme, "An empty fleet", "Platform Team", "platform@example.com"); err != nil {
		return stop, err
	}
	appDir, err := os.MkdirTemp(c.DataDir, "apps-")
	if err != nil {
		return stop, err
	}
	if err := gitops.Publish(appDir, gitURL+"/apps.git", map[string][]byte{"web/configmap.yaml": []byte(webApp)},
		"The web app", "Tenant Developer", "dev@example.com"); err != nil {
		return stop, err
	}
	operator, err := testutil.BuildOperator(ctx, c.DataDir)
	if err != nil {
		return stop, err
	}
	if err := admin.Create(ctx, fleetPlan()); err != nil {
		return stop, err
	}
	for i, name := range realMembers {
		m, err := startMember(ctx, name, operator, scheme)
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
		if err := register(ctx, admin, name, m.cluster, bounds); err != nil {
			return stop, err
		}
	}
	for _, obj := range []client.Object{platformProject(), hubTenantsApplication(), tenantsApplicationSet()} {
		if err := admin.Create(ctx, obj); err != nil {
			return stop, err
		}
	}
	return stop, nil
}

// startMember starts a member cluster with the platform installed, the
// operator binary running as the chart's ServiceAccount, and the plan the
// fleet's tenants use (a member gets its plans from the platform
// repository; here the test applies it).
func startMember(ctx context.Context, name, operator string, scheme *runtime.Scheme) (*memberCluster, error) {
	c, err := localcluster.Start(ctx, localcluster.Options{Nodes: 1, Progress: os.Stderr})
	if err != nil {
		return nil, fmt.Errorf("member %s: %w", name, err)
	}
	m := &memberCluster{cluster: c}
	if m.admin, err = client.New(c.Config, client.Options{Scheme: scheme}); err != nil {
		return m, err
	}
	operatorConfig, err := install.Platform(ctx, m.admin, c.Config)
	if err != nil {
		return m, fmt.Errorf("member %s: %w", name, err)
	}
	if err := install.FleetMember(ctx, m.admin); err != nil {
		return m, fmt.Errorf("member %s: %w", name, err)
	}
	if err := c.StartAddon("tenantry-operator", operator, operatorConfig,
		"--metrics-bind-address=0", "--health-probe-bind-address=0", "--argocd-namespace=", "--fleet-member"); err != nil {
		return m, fmt.Errorf("member %s: %w", name, err)
	}
	return m, m.admin.Create(ctx, fleetPlan())
}

// register adds a member cluster to the hub's Argo CD with its admin
// credentials, labelled as a fleet member.
func register(ctx context.Context, hubAdmin client.Client, name string, c *localcluster.Cluster, annotations map[string]string) error {
	b64 := base64.StdEncoding.EncodeToString
	config, err := json.Marshal(map[string]any{"tlsClientConfig": map[string]any{
		"caData": b64(c.Config.CAData), "certData": b64(c.Config.CertData), "keyData": b64(c.Config.KeyData),
	}})
	if err != nil {
		return err
	}
	labels := map[string]string{"fleet": "real"}
	return hubAdmin.Create(ctx, clusterSecret(name, c.Config.Host, string(config), labels, annotations))
}

// clusterSecret registers a cluster with Argo CD, as a platform team does,
// and makes it a member of the fleet, with labels and annotations of its
// own.
func clusterSecret(name, server, config string, labels, annotations map[string]string) *corev1.Secret {
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "cluster-" + name, Namespace: argo.Namespace, Annotations: annotations,
			Labels: map[string]string{"argocd.argoproj.io/secret-type": "cluster", v1alpha1.LabelMember: name}},
		StringData: map[string]string{"name": name, "server": server, "config": config},
	}
	maps.Copy(s.Labels, labels)
	return s
}

// fleetPlan is the plan of the tenants that land on real members; the hub
// and every member hold it.
func fleetPlan() *v1alpha1.TenantPlan {
	p := planOf("fleet", nil)
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

// platformProject is the platform's AppProject on a fleet's hub: the
// platform team may deploy anything, here and on every member. With sync
// impersonation on, syncs here run as Argo CD's application controller,
// and on members as the member's fleet-sync ServiceAccount, which may
// write Tenants and plans only.
func platformProject() *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject",
		"metadata": map[string]any{"name": "platform", "namespace": argo.Namespace},
		"spec": map[string]any{
			"sourceRepos":              []any{gitURL + "/platform.git"},
			"destinations":             []any{map[string]any{"server": "*", "namespace": "*"}},
			"clusterResourceWhitelist": []any{map[string]any{"group": "*", "kind": "*"}},
			"destinationServiceAccounts": []any{
				map[string]any{"server": localcluster.InClusterServer, "namespace": "*", "defaultServiceAccount": argo.Namespace + ":" + localcluster.ControllerServiceAccount},
				map[string]any{"server": "*", "namespace": "*", "defaultServiceAccount": install.OperatorNamespace + ":" + install.FleetSyncServiceAccount},
			},
		},
	}}
}

// hubTenantsApplication syncs the platform repository's tenants/ into the
// hub, where the operator places them: Git is where tenants are declared.
func hubTenantsApplication() *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
		"metadata": map[string]any{"name": "hub-tenants", "namespace": argo.Namespace},
		"spec": map[string]any{
			"project":     "platform",
			"source":      map[string]any{"repoURL": gitURL + "/platform.git", "path": "tenants", "directory": map[string]any{"include": "*.yaml"}},
			"destination": map[string]any{"server": localcluster.InClusterServer},
			"syncPolicy":  map[string]any{"automated": map[string]any{"prune": true}},
		},
	}}
}

// tenantsApplicationSet is the ApplicationSet a fleet's platform
// repository holds: Argo CD's clusterDecisionResource generator reads the
// hub's PlacementDecisions through the chart's ConfigMap and makes one
// Application per placed tenant, syncing the tenant's file to its cluster.
func tenantsApplicationSet() *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
		"metadata": map[string]any{"name": "tenants", "namespace": argo.Namespace},
		"spec": map[string]any{
			"goTemplate":        true,
			"goTemplateOptions": []any{"missingkey=error"},
			"generators": []any{map[string]any{"clusterDecisionResource": map[string]any{
				"configMapRef":        install.PlacementDuckType,
				"labelSelector":       map[string]any{"matchLabels": map[string]any{v1alpha1.LabelManagedBy: v1alpha1.ManagedByValue}},
				"requeueAfterSeconds": int64(5),
			}}},
			"template": map[string]any{
				"metadata": map[string]any{
					"name": "tenant-{{.tenant}}-{{.clusterName}}",
					// The hub reads the tenant's health on its cluster by these.
					"labels": map[string]any{v1alpha1.LabelTenant: "{{.tenant}}", v1alpha1.LabelMember: "{{.clusterName}}"},
					// Deleting the Application offboards the tenant from its cluster.
					"finalizers": []any{"resources-finalizer.argocd.argoproj.io"},
				},
				"spec": map[string]any{
					"project": "platform",
					"source": map[string]any{"repoURL": gitURL + "/platform.git", "path": "tenants",
						"directory": map[string]any{"include": "{{.tenant}}.yaml"}},
					"destination": map[string]any{"server": "{{.server}}"},
					"syncPolicy": map[string]any{
						"automated": map[string]any{"prune": true, "selfHeal": true},
						// Argo CD does not sync a revision again once a sync
						// of it failed, as one does while a member is down.
						"retry": map[string]any{"limit": int64(10),
							"backoff": map[string]any{"duration": "5s", "factor": int64(2), "maxDuration": "1m"}},
					},
				},
			},
		},
	}}
}

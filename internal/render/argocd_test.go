package render

import (
	"reflect"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/tenantry/tenantry/api/v1alpha1"
)

func withApps(apps ...v1alpha1.App) func(*v1alpha1.Tenant) {
	return func(t *v1alpha1.Tenant) { t.Spec.Apps = apps }
}

var argoOpts = Options{ArgoCDNamespace: "argocd"}

func nested(t *testing.T, obj *unstructured.Unstructured, path ...string) any {
	t.Helper()
	v, found, err := unstructured.NestedFieldNoCopy(obj.Object, path...)
	if err != nil {
		t.Fatalf("%s %v: %v", obj.GetName(), path, err)
	}
	if !found {
		return nil
	}
	return v
}

func TestAppProjectConfinesTheTenant(t *testing.T) {
	tenant := newTenant(withEnvironments("prod", "staging"),
		withApps(v1alpha1.App{Name: "web", Environment: "prod", RepoURL: "git://git.example.com/acme/web", Path: "deploy"}),
		withOwners(
			v1alpha1.Owner{Kind: v1alpha1.SubjectUser, Name: "alice@acme.com"},
			v1alpha1.Owner{Kind: v1alpha1.SubjectGroup, Name: "acme-admins", Role: v1alpha1.RoleAdmin},
			v1alpha1.Owner{Kind: v1alpha1.SubjectGroup, Name: "acme-devs", Role: v1alpha1.RoleDeveloper},
		),
		func(t *v1alpha1.Tenant) { t.Spec.SourceRepos = []string{"https://github.com/acme/*"} })
	plan := newPlan(func(p *v1alpha1.TenantPlan) { p.Spec.SourceRepos = []string{"https://charts.example.com"} })

	p := AppProject(tenant, plan, argoOpts)
	if p.GetName() != "tenant-acme" || p.GetNamespace() != "argocd" || p.GetLabels()[v1alpha1.LabelTenant] != "acme" {
		t.Fatalf("project %s/%s labels %v", p.GetNamespace(), p.GetName(), p.GetLabels())
	}
	for _, tc := range []struct {
		field string
		path  []string
		want  any
	}{
		{"sources: the tenant's, the plan's and the apps' repositories",
			[]string{"spec", "sourceRepos"},
			[]any{"git://git.example.com/acme/web", "https://charts.example.com", "https://github.com/acme/*"}},
		{"destinations: exactly its namespaces in this cluster",
			[]string{"spec", "destinations"},
			[]any{
				map[string]any{"server": InClusterServer, "namespace": "acme-prod"},
				map[string]any{"server": InClusterServer, "namespace": "acme-staging"},
			}},
		{"no cluster-scoped kind",
			[]string{"spec", "clusterResourceWhitelist"}, []any{}},
		{"quota and limits are the platform's",
			[]string{"spec", "namespaceResourceBlacklist"},
			[]any{map[string]any{"group": "", "kind": "ResourceQuota"}, map[string]any{"group": "", "kind": "LimitRange"}}},
		{"syncs impersonate the tenant's deployer",
			[]string{"spec", "destinationServiceAccounts"},
			[]any{
				map[string]any{"server": InClusterServer, "namespace": "acme-prod", "defaultServiceAccount": DeployerServiceAccount},
				map[string]any{"server": InClusterServer, "namespace": "acme-staging", "defaultServiceAccount": DeployerServiceAccount},
			}},
		{"owner groups get project roles; users do not (Argo CD roles take groups)",
			[]string{"spec", "roles"},
			[]any{
				map[string]any{"name": "admin", "description": "admin of tenant acme", "groups": []any{"acme-admins"},
					"policies": []any{"p, proj:tenant-acme:admin, applications, *, tenant-acme/*, allow"}},
				map[string]any{"name": "developer", "description": "developer of tenant acme", "groups": []any{"acme-devs"},
					"policies": []any{
						"p, proj:tenant-acme:developer, applications, get, tenant-acme/*, allow",
						"p, proj:tenant-acme:developer, applications, sync, tenant-acme/*, allow",
					}},
			}},
	} {
		t.Run(tc.field, func(t *testing.T) {
			if got := nested(t, p, tc.path...); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("%v:\n got %#v\nwant %#v", tc.path, got, tc.want)
			}
		})
	}
}

func TestApplications(t *testing.T) {
	values := &apiextensionsv1.JSON{Raw: []byte(`{"image":{"tag":"1.2.3"}}`)}
	gitApp := v1alpha1.App{Name: "web", Environment: "prod", RepoURL: "git://git.example.com/acme/web", Path: "deploy"}
	chartApp := v1alpha1.App{Name: "db", Environment: "staging", RepoURL: "https://charts.example.com", Chart: "postgres", TargetRevision: "15.2.0", Values: values}
	for _, tc := range []struct {
		name      string
		tenant    *v1alpha1.Tenant
		app       string
		source    map[string]any
		namespace string
		automated bool
	}{
		{"git path, default revision", newTenant(withEnvironments("prod", "staging"), withApps(gitApp, chartApp)), "acme-web",
			map[string]any{"repoURL": "git://git.example.com/acme/web", "path": "deploy", "targetRevision": "HEAD"}, "acme-prod", true},
		{"helm chart with values", newTenant(withEnvironments("prod", "staging"), withApps(gitApp, chartApp)), "acme-db",
			map[string]any{"repoURL": "https://charts.example.com", "chart": "postgres", "targetRevision": "15.2.0",
				"helm": map[string]any{"valuesObject": map[string]any{"image": map[string]any{"tag": "1.2.3"}}}}, "acme-staging", true},
		{"no environments: the tenant's namespace", newTenant(withApps(v1alpha1.App{Name: "web", RepoURL: "git://x/y", Path: "."})), "acme-web",
			map[string]any{"repoURL": "git://x/y", "path": ".", "targetRevision": "HEAD"}, "acme", true},
		{"suspended: no automated sync", newTenant(withEnvironments("prod", "staging"), withApps(gitApp),
			func(t *v1alpha1.Tenant) { t.Spec.Suspended = true }), "acme-web",
			map[string]any{"repoURL": "git://git.example.com/acme/web", "path": "deploy", "targetRevision": "HEAD"}, "acme-prod", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var app *unstructured.Unstructured
			for _, a := range Applications(tc.tenant, argoOpts) {
				if a.GetName() == tc.app {
					app = a
				}
			}
			if app == nil {
				t.Fatalf("no Application %s", tc.app)
			}
			if got := nested(t, app, "spec", "source"); !reflect.DeepEqual(got, tc.source) {
				t.Errorf("source:\n got %#v\nwant %#v", got, tc.source)
			}
			wantDest := map[string]any{"server": InClusterServer, "namespace": tc.namespace}
			if got := nested(t, app, "spec", "destination"); !reflect.DeepEqual(got, wantDest) {
				t.Errorf("destination %#v, want %#v", got, wantDest)
			}
			if got := nested(t, app, "spec", "project"); got != "tenant-acme" {
				t.Errorf("project %v", got)
			}
			automated := nested(t, app, "spec", "syncPolicy", "automated")
			if tc.automated && !reflect.DeepEqual(automated, map[string]any{"prune": true, "selfHeal": true}) {
				t.Errorf("automated %#v, want prune and selfHeal", automated)
			}
			if !tc.automated && automated != nil {
				t.Errorf("automated %#v, want none while suspended", automated)
			}
			if got := nested(t, app, "spec", "syncPolicy", "syncOptions"); !reflect.DeepEqual(got, []any{"CreateNamespace=false", "RespectIgnoreDifferences=true"}) {
				t.Errorf("syncOptions %#v", got)
			}
			// Argo Rollouts owns a Traefik canary's weights mid-release.
			wantIgnored := []any{map[string]any{"group": "traefik.io", "kind": "TraefikService", "jqPathExpressions": []any{".spec.weighted.services[].weight"}}}
			if got := nested(t, app, "spec", "ignoreDifferences"); !reflect.DeepEqual(got, wantIgnored) {
				t.Errorf("ignoreDifferences %#v, want %#v", got, wantIgnored)
			}
			if got := app.GetFinalizers(); !reflect.DeepEqual(got, []string{ResourcesFinalizer}) {
				t.Errorf("finalizers %v: deleting the app must delete what it deployed", got)
			}
		})
	}
}

func TestTenantRendersGitOpsOnlyWithArgoCD(t *testing.T) {
	tenant := newTenant(withApps(v1alpha1.App{Name: "web", RepoURL: "git://x/y", Path: "."}))
	count := func(opts Options) map[string]int {
		objs, err := Tenant(tenant, newPlan(), opts)
		if err != nil {
			t.Fatal(err)
		}
		kinds := map[string]int{}
		for _, o := range objs {
			kinds[o.GetObjectKind().GroupVersionKind().Kind]++
		}
		return kinds
	}
	without, with := count(Options{}), count(argoOpts)
	for _, kind := range []string{"AppProject", "Application", "ServiceAccount"} {
		if without[kind] != 0 || with[kind] != 1 {
			t.Errorf("%s: %d without Argo CD (want 0), %d with (want 1)", kind, without[kind], with[kind])
		}
	}
	if with["RoleBinding"] != without["RoleBinding"]+2 {
		t.Errorf("RoleBindings: %d with Argo CD, %d without: want the deployer's two bindings more", with["RoleBinding"], without["RoleBinding"])
	}
}

func TestFleetMemberRendersTheDeployerOnly(t *testing.T) {
	tenant := newTenant(withApps(v1alpha1.App{Name: "web", RepoURL: "git://x/y", Path: "."}))
	objs, err := Tenant(tenant, newPlan(), Options{FleetMember: true})
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, o := range objs {
		kinds[o.GetObjectKind().GroupVersionKind().Kind]++
	}
	// The hub's Argo CD syncs the apps, as the deployer, from the hub.
	if kinds["ServiceAccount"] != 1 || kinds["AppProject"] != 0 || kinds["Application"] != 0 {
		t.Errorf("a member rendered %v: want the deployer ServiceAccount and no Argo CD object", kinds)
	}
}

func TestMemberAppsOnTheHub(t *testing.T) {
	tenant := newTenant(withEnvironments("prod", "staging"),
		withApps(v1alpha1.App{Name: "web", Environment: "prod", RepoURL: "git://git.example.com/acme/web", Path: "deploy"}))
	// Moving: its namespaces on both clusters, by their names in Argo CD.
	p := MemberAppProject(tenant, newPlan(), argoOpts, []string{"eu-1", "eu-2"})
	wantDests := []any{
		map[string]any{"name": "eu-1", "namespace": "acme-prod"}, map[string]any{"name": "eu-2", "namespace": "acme-prod"},
		map[string]any{"name": "eu-1", "namespace": "acme-staging"}, map[string]any{"name": "eu-2", "namespace": "acme-staging"},
	}
	if got := nested(t, p, "spec", "destinations"); !reflect.DeepEqual(got, wantDests) {
		t.Errorf("destinations:\n got %#v\nwant %#v", got, wantDests)
	}
	// Every member has the same deployer in the tenant's namespaces, and
	// the destinations above already confine the apps to its clusters.
	wantDeployers := []any{
		map[string]any{"server": "*", "namespace": "acme-prod", "defaultServiceAccount": DeployerServiceAccount},
		map[string]any{"server": "*", "namespace": "acme-staging", "defaultServiceAccount": DeployerServiceAccount},
	}
	if got := nested(t, p, "spec", "destinationServiceAccounts"); !reflect.DeepEqual(got, wantDeployers) {
		t.Errorf("destinationServiceAccounts:\n got %#v\nwant %#v", got, wantDeployers)
	}
	if got := nested(t, p, "spec", "clusterResourceWhitelist"); !reflect.DeepEqual(got, []any{}) {
		t.Errorf("clusterResourceWhitelist %#v: want no cluster-scoped kind on members either", got)
	}

	apps := MemberApplications(tenant, argoOpts, "eu-2")
	if len(apps) != 1 {
		t.Fatalf("%d Applications, want 1", len(apps))
	}
	app := apps[0]
	if app.GetName() != "acme-web-eu-2" || app.GetLabels()[v1alpha1.LabelMember] != "eu-2" || app.GetLabels()[v1alpha1.LabelTenant] != "acme" {
		t.Errorf("Application %s labels %v: want acme-web-eu-2, labelled with its tenant and cluster", app.GetName(), app.GetLabels())
	}
	if got, want := nested(t, app, "spec", "destination"), map[string]any{"name": "eu-2", "namespace": "acme-prod"}; !reflect.DeepEqual(got, want) {
		t.Errorf("destination %#v, want %#v", got, want)
	}
	// The in-cluster Application is unchanged by the member's.
	if got := Applications(tenant, argoOpts)[0].GetName(); got != "acme-web" {
		t.Errorf("in-cluster Application %s, want acme-web", got)
	}
}

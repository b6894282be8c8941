package render

import (
	"encoding/json"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tenantry/tenantry/api/v1alpha1"
)

// Argo CD's kinds are written as unstructured objects: the main module does
// not depend on the argo-cd module for two structs.
var (
	AppProjectGVK  = schema.GroupVersionKind{Group: "argoproj.io", Version: "v1alpha1", Kind: "AppProject"}
	ApplicationGVK = schema.GroupVersionKind{Group: "argoproj.io", Version: "v1alpha1", Kind: "Application"}
)

const (
	// InClusterServer is how Argo CD names the cluster it runs in.
	InClusterServer = "https://kubernetes.default.svc"
	// ResourcesFinalizer makes Argo CD delete what an Application deployed
	// before the Application itself goes.
	ResourcesFinalizer = "resources-finalizer.argocd.argoproj.io"
	// DeployerServiceAccount is the ServiceAccount in each tenant namespace
	// that Argo CD impersonates to sync the tenant's apps, so a sync has the
	// tenant's rights and no more.
	DeployerServiceAccount = "tenantry-deployer"
)

// AppProjectName is the name of the tenant's Argo CD AppProject.
func AppProjectName(t *v1alpha1.Tenant) string { return "tenant-" + t.Name }

// ApplicationName is the name of the Argo CD Application of one of the tenant's apps.
func ApplicationName(t *v1alpha1.Tenant, app string) string { return t.Name + "-" + app }

// AppNamespace is the tenant namespace an app deploys into.
func AppNamespace(t *v1alpha1.Tenant, app v1alpha1.App) string {
	if app.Environment == "" {
		return Environments(t)[0].Namespace
	}
	return t.Name + "-" + app.Environment
}

// namespaceBlacklist are the kinds no tenant app may deploy, whatever the
// repository holds: the platform sets the tenant's quota and limits. (The
// platform's own NetworkPolicies and RoleBindings are guarded by admission
// policy rule 1, which holds for Argo CD too; the tenant's own are allowed.)
var namespaceBlacklist = []schema.GroupKind{
	{Group: "", Kind: "ResourceQuota"},
	{Group: "", Kind: "LimitRange"},
}

// projectRolePolicies are the Argo CD permissions of each owner role on the
// tenant's Applications.
var projectRolePolicies = map[v1alpha1.OwnerRole][]string{
	v1alpha1.RoleAdmin:     {"*"},
	v1alpha1.RoleDeveloper: {"get", "sync"},
	v1alpha1.RoleViewer:    {"get"},
}

// AppProject confines the tenant's apps in Argo CD: sources from the
// tenant's and its plan's repositories only; destinations exactly its
// namespaces in this cluster; no cluster-scoped kind at all (an empty
// whitelist); quota and limit ranges refused; each sync done as the
// tenant's deployer ServiceAccount (Argo CD's sync impersonation), so RBAC
// and the admission policies see the tenant, not Argo CD. Owner groups get
// project roles for Argo CD's UI and CLI.
func AppProject(t *v1alpha1.Tenant, plan *v1alpha1.TenantPlan, opts Options) *unstructured.Unstructured {
	return appProject(t, plan, opts, []destination{inCluster})
}

// MemberAppProject is the AppProject of a tenant placed on a fleet's
// members, in the hub's Argo CD: the same confinement, with its
// namespaces on those clusters as the only destinations (two while it
// moves).
func MemberAppProject(t *v1alpha1.Tenant, plan *v1alpha1.TenantPlan, opts Options, clusters []string) *unstructured.Unstructured {
	dests := make([]destination, len(clusters))
	for i, c := range clusters {
		dests[i] = onMember(c)
	}
	return appProject(t, plan, opts, dests)
}

// destination is a cluster as an Argo CD destination names it: by server
// URL (this cluster) or by the cluster's name in Argo CD (a member).
type destination struct{ key, value string }

var inCluster = destination{"server", InClusterServer}

func onMember(cluster string) destination { return destination{"name", cluster} }

func (d destination) in(namespace string) map[string]any {
	return map[string]any{d.key: d.value, "namespace": namespace}
}

func appProject(t *v1alpha1.Tenant, plan *v1alpha1.TenantPlan, opts Options, clusters []destination) *unstructured.Unstructured {
	repos := slices.Concat(t.Spec.SourceRepos, plan.Spec.SourceRepos)
	for _, app := range t.Spec.Apps {
		repos = append(repos, app.RepoURL)
	}
	slices.Sort(repos)
	repos = slices.Compact(repos)

	// The deployer is matched by server URL only. On members the
	// destinations above already confine the apps to the tenant's clusters,
	// and every member has the same deployer in the tenant's namespaces, so
	// the mapping holds for any server.
	deployerServer := InClusterServer
	if !slices.Contains(clusters, inCluster) {
		deployerServer = "*"
	}
	var destinations, deployers []any
	for _, ns := range NamespaceNames(t) {
		for _, c := range clusters {
			destinations = append(destinations, c.in(ns))
		}
		deployers = append(deployers, map[string]any{
			"server": deployerServer, "namespace": ns, "defaultServiceAccount": DeployerServiceAccount,
		})
	}
	var blacklist []any
	for _, gk := range namespaceBlacklist {
		blacklist = append(blacklist, map[string]any{"group": gk.Group, "kind": gk.Kind})
	}
	var roles []any
	for _, role := range []v1alpha1.OwnerRole{v1alpha1.RoleAdmin, v1alpha1.RoleDeveloper, v1alpha1.RoleViewer} {
		var groups []any
		for _, o := range t.Spec.Owners {
			if o.Kind == v1alpha1.SubjectGroup && ownerRole(o) == role {
				groups = append(groups, o.Name)
			}
		}
		if len(groups) == 0 {
			continue
		}
		var policies []any
		for _, action := range projectRolePolicies[role] {
			policies = append(policies, fmt.Sprintf("p, proj:%s:%s, applications, %s, %s/*, allow",
				AppProjectName(t), role, action, AppProjectName(t)))
		}
		roles = append(roles, map[string]any{
			"name":        string(role),
			"description": fmt.Sprintf("%s of tenant %s", role, t.Name),
			"groups":      groups,
			"policies":    policies,
		})
	}

	spec := map[string]any{
		"description":                fmt.Sprintf("Apps of tenant %s, confined to its namespaces by Tenantry", t.Name),
		"sourceRepos":                toAny(repos),
		"destinations":               destinations,
		"destinationServiceAccounts": deployers,
		"clusterResourceWhitelist":   []any{},
		"namespaceResourceBlacklist": blacklist,
	}
	if len(roles) > 0 {
		spec["roles"] = roles
	}
	return argoObject(t, AppProjectGVK, AppProjectName(t), opts.ArgoCDNamespace, spec)
}

// Applications returns one Argo CD Application per app of the tenant, with
// automated sync, pruning and self-healing, unless the tenant is
// suspended: then nothing syncs, so Argo CD does not scale back up what the
// suspension scaled down.
func Applications(t *v1alpha1.Tenant, opts Options) []*unstructured.Unstructured {
	return applications(t, opts, inCluster)
}

// MemberApplications are the tenant's Applications on one member of a
// fleet, in the hub's Argo CD: named after the app and the cluster (a
// moving tenant has its apps on two), and labelled with the cluster
// (v1alpha1.LabelMember) as well as the tenant.
func MemberApplications(t *v1alpha1.Tenant, opts Options, cluster string) []*unstructured.Unstructured {
	apps := applications(t, opts, onMember(cluster))
	for _, app := range apps {
		app.SetName(app.GetName() + "-" + cluster)
		labels := app.GetLabels()
		labels[v1alpha1.LabelMember] = cluster
		app.SetLabels(labels)
	}
	return apps
}

func applications(t *v1alpha1.Tenant, opts Options, cluster destination) []*unstructured.Unstructured {
	apps := make([]*unstructured.Unstructured, 0, len(t.Spec.Apps))
	for _, app := range t.Spec.Apps {
		source := map[string]any{"repoURL": app.RepoURL, "targetRevision": app.TargetRevision}
		if app.TargetRevision == "" {
			source["targetRevision"] = "HEAD"
		}
		if app.Path != "" {
			source["path"] = app.Path
		}
		if app.Chart != "" {
			source["chart"] = app.Chart
		}
		if app.Values != nil && len(app.Values.Raw) > 0 {
			var values any
			if err := json.Unmarshal(app.Values.Raw, &values); err == nil {
				source["helm"] = map[string]any{"valuesObject": values}
			}
		}
		syncPolicy := map[string]any{
			// The namespace is the platform's to create, with its guardrails.
			// RespectIgnoreDifferences: a sync keeps the live values of the
			// fields ignoredDifferences lists.
			"syncOptions": []any{"CreateNamespace=false", "RespectIgnoreDifferences=true"},
			"retry": map[string]any{
				"limit":   int64(5),
				"backoff": map[string]any{"duration": "5s", "factor": int64(2), "maxDuration": "3m"},
			},
		}
		if !t.Spec.Suspended {
			syncPolicy["automated"] = map[string]any{"prune": true, "selfHeal": true}
		}
		obj := argoObject(t, ApplicationGVK, ApplicationName(t, app.Name), opts.ArgoCDNamespace, map[string]any{
			"project":     AppProjectName(t),
			"source":      source,
			"destination": cluster.in(AppNamespace(t, app)),
			"syncPolicy":  syncPolicy,
			// During a canary through Traefik (charts/tenant-app
			// trafficRouting.traefik) Argo Rollouts sets the weights of the
			// app's TraefikService: they are not drift, and neither a sync
			// nor self-heal may put Git's 100/0 back, or each step would be
			// undone.
			"ignoreDifferences": ignoredDifferences(),
		})
		obj.SetFinalizers([]string{ResourcesFinalizer})
		apps = append(apps, obj)
	}
	return apps
}

// ignoredDifferences are the fields of tenant apps that controllers other
// than Argo CD own at run time; new each time, as each Application owns its
// spec.
func ignoredDifferences() []any {
	return []any{
		map[string]any{"group": "traefik.io", "kind": "TraefikService", "jqPathExpressions": []any{".spec.weighted.services[].weight"}},
	}
}

// DeployerClusterRoleName is the role that completes tenant-admin for the
// deployer: Argo CD reconciles Roles and RoleBindings with `kubectl auth
// reconcile`, which reads the namespace first.
const DeployerClusterRoleName = "tenantry:tenant-deployer"

// DeployerClusterRole lets the deployer read the namespace it is bound in
// (a RoleBinding's rule on namespaces covers that namespace only). The chart
// installs it with the owner roles.
func DeployerClusterRole() *rbacv1.ClusterRole {
	return clusterRole(DeployerClusterRoleName, []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"get"}},
	})
}

// Deployer returns the ServiceAccount Argo CD impersonates to sync the
// tenant's apps into a namespace, and its bindings: to the tenant admin
// role (a sync may do what the tenant's admins may do there, nothing more)
// and to DeployerClusterRole.
func Deployer(t *v1alpha1.Tenant, namespace string) []client.Object {
	sa := &corev1.ServiceAccount{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
		ObjectMeta: objectMeta(t, DeployerServiceAccount, namespace),
	}
	objs := []client.Object{sa}
	for _, b := range []struct{ name, role string }{
		{DeployerServiceAccount, ClusterRoleName(v1alpha1.RoleAdmin)},
		{DeployerServiceAccount + ":namespace", DeployerClusterRoleName},
	} {
		objs = append(objs, &rbacv1.RoleBinding{
			TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "RoleBinding"},
			ObjectMeta: objectMeta(t, b.name, namespace),
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: b.role},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: DeployerServiceAccount, Namespace: namespace}},
		})
	}
	return objs
}

func argoObject(t *v1alpha1.Tenant, gvk schema.GroupVersionKind, name, namespace string, spec map[string]any) *unstructured.Unstructured {
	obj := &unstructured.Unstructured{Object: map[string]any{"spec": spec}}
	obj.SetGroupVersionKind(gvk)
	meta := objectMeta(t, name, namespace)
	obj.SetName(meta.Name)
	obj.SetNamespace(meta.Namespace)
	obj.SetLabels(meta.Labels)
	// A namespaced object may be owned by the cluster-scoped Tenant: garbage
	// collection then removes it if the operator ever misses it.
	obj.SetOwnerReferences(meta.OwnerReferences)
	return obj
}

func toAny(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

package render

import (
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tenantry/tenantry/api/v1alpha1"
)

// ClusterRoleName is the ClusterRole a role binds in tenant namespaces.
func ClusterRoleName(role v1alpha1.OwnerRole) string { return "tenantry:tenant-" + string(role) }

// BindableClusterRoles are the ClusterRoles a tenant may bind in its own
// namespaces; the tenantry-role-bindings admission policy holds the same list.
func BindableClusterRoles() []string {
	return []string{ClusterRoleName(v1alpha1.RoleAdmin), ClusterRoleName(v1alpha1.RoleDeveloper), ClusterRoleName(v1alpha1.RoleViewer), "view", "edit"}
}

// roles lists the owner roles in a fixed order, so bindings render stably.
var roles = []v1alpha1.OwnerRole{v1alpha1.RoleAdmin, v1alpha1.RoleDeveloper, v1alpha1.RoleViewer}

var (
	readVerbs  = []string{"get", "list", "watch"}
	writeVerbs = []string{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}
)

// workloadRules are the namespaced resources tenants run their business with.
// ResourceQuota and LimitRange are not among them: they are the platform's,
// and tenants only read them (observe).
var workloadRules = []rbacv1.PolicyRule{
	{APIGroups: []string{""}, Resources: []string{"pods", "services", "configmaps", "persistentvolumeclaims", "serviceaccounts", "replicationcontrollers"}},
	{APIGroups: []string{"apps"}, Resources: []string{"deployments", "statefulsets", "daemonsets", "replicasets"}},
	{APIGroups: []string{"batch"}, Resources: []string{"jobs", "cronjobs"}},
	{APIGroups: []string{"autoscaling"}, Resources: []string{"horizontalpodautoscalers"}},
	{APIGroups: []string{"policy"}, Resources: []string{"poddisruptionbudgets"}},
	{APIGroups: []string{"networking.k8s.io"}, Resources: []string{"ingresses"}},
	// Gateway API routes, where a cluster has them: the guardrails keep
	// their hostnames within the tenant's domains, as for Ingresses.
	{APIGroups: []string{"gateway.networking.k8s.io"}, Resources: []string{"httproutes", "grpcroutes"}},
	// Traefik's routes and weighted services, where Traefik is the ingress
	// controller (charts/tenant-app trafficRouting.traefik): the same
	// guardrail keeps an IngressRoute's hosts within the tenant's domains.
	// Not its TCP and UDP routes, which match no host header, nor its
	// Middlewares, which the chart does not use.
	{APIGroups: []string{"traefik.io"}, Resources: []string{"ingressroutes", "traefikservices"}},
	{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}},
	// Argo Rollouts: progressive releases of the tenant's apps, their
	// analyses and experiments (charts/tenant-app).
	{APIGroups: []string{"argoproj.io"}, Resources: []string{"rollouts", "rollouts/scale", "analysistemplates", "analysisruns", "experiments"}},
}

// ClusterRoles are the three roles owners get in their namespaces. They
// hold namespaced rights only and are bound with RoleBindings, so none of
// them reaches beyond the tenant's namespaces. The chart installs them
// (hack/tenant-roles writes its template from this function).
func ClusterRoles() []*rbacv1.ClusterRole {
	observe := []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"pods/log", "pods/status"}, Verbs: readVerbs},
		{APIGroups: []string{"", "events.k8s.io"}, Resources: []string{"events"}, Verbs: readVerbs},
		// Endpoints are read-only: written by hand they can point a Service,
		// and a shared proxy in front of it, at another tenant's pods
		// (CVE-2021-25740), which is why Kubernetes' own roles dropped it.
		{APIGroups: []string{""}, Resources: []string{"endpoints"}, Verbs: readVerbs},
		{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: readVerbs},
		// Their own limits, as Kubernetes' "view" role allows: a pod refused
		// for quota is explained by `kubectl describe quota`. Writing them
		// stays the platform's (RBAC, and guardrail rule 1 as a backstop).
		{APIGroups: []string{""}, Resources: []string{"resourcequotas", "limitranges"}, Verbs: readVerbs},
		// Their namespace, bound in it: its annotations name the tenant's
		// plan, namespaces and domains, which is how owners (who may not read
		// Tenants) find them. RBAC grants a namespace's own object only.
		{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"get"}},
	}
	operate := []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: writeVerbs},
		{APIGroups: []string{""}, Resources: []string{"pods/exec", "pods/portforward", "pods/attach", "pods/eviction"}, Verbs: []string{"create", "get"}},
		// kubectl debug; the guardrails check the debug image like any other.
		{APIGroups: []string{""}, Resources: []string{"pods/ephemeralcontainers"}, Verbs: []string{"get", "update", "patch"}},
		{APIGroups: []string{"apps"}, Resources: []string{"deployments/scale", "statefulsets/scale", "replicasets/scale"}, Verbs: []string{"get", "update", "patch"}},
	}
	// Access control and network policy: admins manage their own, developers
	// and viewers only read them.
	governance := []rbacv1.PolicyRule{
		{APIGroups: []string{"rbac.authorization.k8s.io"}, Resources: []string{"roles", "rolebindings"}},
		{APIGroups: []string{"networking.k8s.io"}, Resources: []string{"networkpolicies"}},
	}
	// Admins may bind the ClusterRoles the guardrails allow in tenant
	// namespaces without holding every right in them (Kubernetes' "edit"
	// holds rights the tenant roles do not, such as writing endpoints).
	bindable := rbacv1.PolicyRule{
		APIGroups: []string{rbacv1.GroupName}, Resources: []string{"clusterroles"}, Verbs: []string{"bind"},
		ResourceNames: BindableClusterRoles(),
	}

	admin := concat(withVerbs(workloadRules, writeVerbs), observe, operate, withVerbs(governance, writeVerbs), []rbacv1.PolicyRule{bindable})
	developer := concat(withVerbs(workloadRules, writeVerbs), observe, operate, withVerbs(governance, readVerbs))
	// Viewers see workloads but never secrets, as Kubernetes' own "view" role.
	viewer := concat(withVerbs(workloadRules, readVerbs), observe, withVerbs(governance, readVerbs))

	return []*rbacv1.ClusterRole{
		clusterRole(ClusterRoleName(v1alpha1.RoleAdmin), admin),
		clusterRole(ClusterRoleName(v1alpha1.RoleDeveloper), developer),
		clusterRole(ClusterRoleName(v1alpha1.RoleViewer), viewer),
	}
}

func concat(lists ...[]rbacv1.PolicyRule) []rbacv1.PolicyRule {
	var out []rbacv1.PolicyRule
	for _, l := range lists {
		for _, r := range l {
			out = append(out, *r.DeepCopy())
		}
	}
	return out
}

func withVerbs(rules []rbacv1.PolicyRule, verbs []string) []rbacv1.PolicyRule {
	out := make([]rbacv1.PolicyRule, len(rules))
	for i, r := range rules {
		out[i] = *r.DeepCopy()
		out[i].Verbs = verbs
	}
	return out
}

func clusterRole(name string, rules []rbacv1.PolicyRule) *rbacv1.ClusterRole {
	return &rbacv1.ClusterRole{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRole"},
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Rules:      rules,
	}
}

// RoleBindings bind each owner role in use to its owners in one namespace.
func RoleBindings(t *v1alpha1.Tenant, namespace string) []*rbacv1.RoleBinding {
	var bindings []*rbacv1.RoleBinding
	for _, role := range roles {
		subjects := subjectsWithRole(t, role)
		if len(subjects) == 0 {
			continue
		}
		bindings = append(bindings, &rbacv1.RoleBinding{
			TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "RoleBinding"},
			ObjectMeta: objectMeta(t, ClusterRoleName(role), namespace),
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: ClusterRoleName(role)},
			Subjects:   subjects,
		})
	}
	return bindings
}

func subjectsWithRole(t *v1alpha1.Tenant, role v1alpha1.OwnerRole) []rbacv1.Subject {
	var subjects []rbacv1.Subject
	for _, o := range t.Spec.Owners {
		if ownerRole(o) != role {
			continue
		}
		s := rbacv1.Subject{Kind: string(o.Kind), Name: o.Name, Namespace: o.Namespace}
		if o.Kind != v1alpha1.SubjectServiceAccount {
			s.APIGroup = rbacv1.GroupName
		}
		subjects = append(subjects, s)
	}
	return subjects
}

// ownerRole is the owner's role, admin when unset (the API's default).
func ownerRole(o v1alpha1.Owner) v1alpha1.OwnerRole {
	if o.Role == "" {
		return v1alpha1.RoleAdmin
	}
	return o.Role
}

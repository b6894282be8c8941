package render

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/tenantry/tenantry/api/v1alpha1"
)

var (
	alice    = v1alpha1.Owner{Kind: v1alpha1.SubjectUser, Name: "alice@acme.com", Role: v1alpha1.RoleAdmin}
	admins   = v1alpha1.Owner{Kind: v1alpha1.SubjectGroup, Name: "acme-admins"} // role "" is admin
	deployer = v1alpha1.Owner{Kind: v1alpha1.SubjectServiceAccount, Name: "deployer", Namespace: "ci", Role: v1alpha1.RoleDeveloper}
	auditors = v1alpha1.Owner{Kind: v1alpha1.SubjectGroup, Name: "auditors", Role: v1alpha1.RoleViewer}

	aliceSubject    = rbacv1.Subject{Kind: "User", Name: "alice@acme.com", APIGroup: "rbac.authorization.k8s.io"}
	adminsSubject   = rbacv1.Subject{Kind: "Group", Name: "acme-admins", APIGroup: "rbac.authorization.k8s.io"}
	deployerSubject = rbacv1.Subject{Kind: "ServiceAccount", Name: "deployer", Namespace: "ci"}
	auditorsSubject = rbacv1.Subject{Kind: "Group", Name: "auditors", APIGroup: "rbac.authorization.k8s.io"}
)

func withOwners(owners ...v1alpha1.Owner) func(*v1alpha1.Tenant) {
	return func(t *v1alpha1.Tenant) { t.Spec.Owners = owners }
}

// allows reports whether rules let verb be done on group/resource.
func allows(rules []rbacv1.PolicyRule, group, resource, verb string) bool {
	has := func(list []string, s string) bool {
		for _, v := range list {
			if v == s || v == rbacv1.ResourceAll {
				return true
			}
		}
		return false
	}
	for _, r := range rules {
		if has(r.APIGroups, group) && has(r.Resources, resource) && has(r.Verbs, verb) {
			return true
		}
	}
	return false
}

func TestRoleBindings(t *testing.T) {
	type binding struct {
		name     string
		subjects []rbacv1.Subject
	}
	tests := []struct {
		name   string
		owners []v1alpha1.Owner
		want   []binding
	}{
		{"one admin", []v1alpha1.Owner{alice},
			[]binding{{"tenantry:tenant-admin", []rbacv1.Subject{aliceSubject}}}},
		{"empty role is admin", []v1alpha1.Owner{admins},
			[]binding{{"tenantry:tenant-admin", []rbacv1.Subject{adminsSubject}}}},
		{"only roles in use", []v1alpha1.Owner{auditors},
			[]binding{{"tenantry:tenant-viewer", []rbacv1.Subject{auditorsSubject}}}},
		{"grouped by role in order admin, developer, viewer", []v1alpha1.Owner{auditors, deployer, alice, admins},
			[]binding{
				{"tenantry:tenant-admin", []rbacv1.Subject{aliceSubject, adminsSubject}},
				{"tenantry:tenant-developer", []rbacv1.Subject{deployerSubject}},
				{"tenantry:tenant-viewer", []rbacv1.Subject{auditorsSubject}},
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []binding
			for _, rb := range RoleBindings(newTenant(withOwners(tt.owners...)), "acme-prod") {
				got = append(got, binding{rb.Name, rb.Subjects})
				if rb.Namespace != "acme-prod" {
					t.Errorf("%s in namespace %q, want acme-prod", rb.Name, rb.Namespace)
				}
				wantRef := rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: rb.Name}
				if rb.RoleRef != wantRef {
					t.Errorf("%s roleRef = %+v, want %+v", rb.Name, rb.RoleRef, wantRef)
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("bindings = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestClusterRolesShape(t *testing.T) {
	roles := ClusterRoles()
	var names []string
	for _, cr := range roles {
		names = append(names, cr.Name)
		if cr.APIVersion == "" || cr.Kind != "ClusterRole" {
			t.Errorf("%s: TypeMeta = %+v", cr.Name, cr.TypeMeta)
		}
		// The chart owns these: a managed-by=tenantry label would make the
		// guardrails refuse Helm's and Argo CD's updates of them.
		if len(cr.OwnerReferences) != 0 || len(cr.Labels) != 0 {
			t.Errorf("%s: shared role must carry no labels or owners (the chart sets them): labels %v owners %v", cr.Name, cr.Labels, cr.OwnerReferences)
		}
		for _, r := range cr.Rules {
			if all := fmt.Sprint(r.APIGroups, r.Resources, r.Verbs, r.ResourceNames, r.NonResourceURLs); strings.Contains(all, "*") {
				t.Errorf("%s: wildcard in rule %+v", cr.Name, r)
			}
			for _, res := range r.Resources {
				switch strings.SplitN(res, "/", 2)[0] {
				case "namespaces":
					// Bound in a namespace, get reaches that namespace only.
					if !slices.Equal(r.Verbs, []string{"get"}) || res != "namespaces" {
						t.Errorf("%s: namespaces are the platform's, tenants may only get their own: %+v", cr.Name, r)
					}
				case "resourcequotas", "limitranges":
					// Tenants read their own limits, never change them.
					if !slices.Equal(r.Verbs, readVerbs) {
						t.Errorf("%s: %q must be read-only, got verbs %v", cr.Name, res, r.Verbs)
					}
				case "secrets":
					if cr.Name == "tenantry:tenant-viewer" {
						t.Errorf("%s: viewers must not reach secrets: %+v", cr.Name, r)
					}
				}
			}
		}
	}
	want := []string{"tenantry:tenant-admin", "tenantry:tenant-developer", "tenantry:tenant-viewer"}
	if !reflect.DeepEqual(names, want) {
		t.Errorf("cluster roles = %v, want %v", names, want)
	}
}

func TestClusterRolesPermissions(t *testing.T) {
	rules := map[v1alpha1.OwnerRole][]rbacv1.PolicyRule{}
	for _, cr := range ClusterRoles() {
		rules[v1alpha1.OwnerRole(strings.TrimPrefix(cr.Name, "tenantry:tenant-"))] = cr.Rules
	}
	const rbacGroup, netGroup = "rbac.authorization.k8s.io", "networking.k8s.io"
	tests := []struct {
		role                  v1alpha1.OwnerRole
		group, resource, verb string
		want                  bool
	}{
		{v1alpha1.RoleAdmin, rbacGroup, "roles", "create", true},
		{v1alpha1.RoleAdmin, rbacGroup, "rolebindings", "update", true},
		{v1alpha1.RoleAdmin, netGroup, "networkpolicies", "delete", true},
		{v1alpha1.RoleAdmin, rbacGroup, "roles", "bind", false},
		{v1alpha1.RoleAdmin, rbacGroup, "roles", "escalate", false},
		{v1alpha1.RoleDeveloper, rbacGroup, "roles", "get", true},
		{v1alpha1.RoleDeveloper, rbacGroup, "roles", "create", false},
		{v1alpha1.RoleDeveloper, rbacGroup, "rolebindings", "patch", false},
		{v1alpha1.RoleDeveloper, netGroup, "networkpolicies", "list", true},
		{v1alpha1.RoleDeveloper, netGroup, "networkpolicies", "update", false},
		{v1alpha1.RoleDeveloper, "", "secrets", "create", true},
		{v1alpha1.RoleDeveloper, "apps", "deployments", "patch", true},
		{v1alpha1.RoleViewer, "apps", "deployments", "get", true},
		{v1alpha1.RoleViewer, "apps", "deployments", "patch", false},
		{v1alpha1.RoleViewer, "", "secrets", "get", false},
		{v1alpha1.RoleViewer, "", "pods/exec", "create", false},
		{v1alpha1.RoleViewer, netGroup, "networkpolicies", "get", true},
		// Hand-written Endpoints could aim a Service at another tenant's pods.
		{v1alpha1.RoleAdmin, "", "endpoints", "create", false},
		{v1alpha1.RoleDeveloper, "", "endpoints", "update", false},
		{v1alpha1.RoleAdmin, "", "endpoints", "get", true},
	}
	for _, tt := range tests {
		t.Run(string(tt.role)+" "+tt.verb+" "+tt.resource, func(t *testing.T) {
			if got := allows(rules[tt.role], tt.group, tt.resource, tt.verb); got != tt.want {
				t.Errorf("%s may %s %s.%s = %v, want %v", tt.role, tt.verb, tt.resource, tt.group, got, tt.want)
			}
		})
	}
}

package cli

import (
	"fmt"
	"strings"

	"github.com/tenantry/tenantry/api/v1alpha1"
)

const ownerFormat = "KIND:NAME[=ROLE], e.g. user:alice@acme.com=admin, group:acme-devs=developer, serviceaccount:ci/deployer=viewer (ROLE admin, developer or viewer; default admin)"

// parseOwner reads an --owner value.
func parseOwner(s string) (v1alpha1.Owner, error) {
	bad := func(why string) (v1alpha1.Owner, error) {
		return v1alpha1.Owner{}, fmt.Errorf("--owner %q: %s; want %s", s, why, ownerFormat)
	}
	kind, rest, ok := strings.Cut(s, ":")
	if !ok || rest == "" {
		return bad("no KIND: prefix")
	}
	name, role, hasRole := strings.Cut(rest, "=")
	owner := v1alpha1.Owner{Name: name, Role: v1alpha1.RoleAdmin}
	if hasRole {
		owner.Role = v1alpha1.OwnerRole(role)
	}
	switch owner.Role {
	case v1alpha1.RoleAdmin, v1alpha1.RoleDeveloper, v1alpha1.RoleViewer:
	default:
		return bad(fmt.Sprintf("unknown role %q", role))
	}
	switch strings.ToLower(kind) {
	case "user":
		owner.Kind = v1alpha1.SubjectUser
	case "group":
		owner.Kind = v1alpha1.SubjectGroup
	case "serviceaccount", "sa":
		owner.Kind = v1alpha1.SubjectServiceAccount
		ns, sa, ok := strings.Cut(name, "/")
		if !ok || ns == "" || sa == "" {
			return bad("a service account is NAMESPACE/NAME")
		}
		owner.Namespace, owner.Name = ns, sa
	default:
		return bad(fmt.Sprintf("unknown kind %q", kind))
	}
	if owner.Name == "" {
		return bad("empty name")
	}
	return owner, nil
}

// formatOwner is the inverse of parseOwner.
func formatOwner(o v1alpha1.Owner) string {
	name := o.Name
	if o.Kind == v1alpha1.SubjectServiceAccount {
		name = o.Namespace + "/" + o.Name
	}
	role := o.Role
	if role == "" {
		role = v1alpha1.RoleAdmin
	}
	return fmt.Sprintf("%s:%s=%s", strings.ToLower(string(o.Kind)), name, role)
}

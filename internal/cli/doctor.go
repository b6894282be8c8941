package cli

import (
	"context"
	"fmt"
	"slices"

	"github.com/spf13/cobra"
	authenticationv1 "k8s.io/api/authentication/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tenantry/tenantry/api/v1alpha1"
	"github.com/tenantry/tenantry/internal/doctor"
)

func newDoctorCommand(o *options) *cobra.Command {
	var as string
	var asGroups []string
	cmd := &cobra.Command{
		Use:   "doctor NAME",
		Short: "Check a tenant's isolation as its owner: what must be refused is, what must work does",
		Long: `Check a tenant's isolation on the live cluster, as one of the tenant's own
identities (impersonation: you need the right to impersonate it). Every write
is a dry run, so nothing changes. The checks are the essential ones of the
escape suite: another tenant's Secrets, its own quota, namespace labels and
default-deny policy, a privileged pod, a foreign registry, a host outside
its domains, cluster-admin, a NodePort Service (where the plan forbids it); and what a tenant must be
able to do: deploy, create a Service, a Role, a RoleBinding and a
NetworkPolicy. Exits 1 if any check fails.

The identity is the tenant's first admin owner (a group owner is
impersonated as the user tenantry-doctor in that group), or --as/--as-group.

A tenant owner, who may not read Tenants, is checked as itself, without
impersonation or --as: the plan's facts come from the tenant's namespaces
(found as tenantry ns finds them), and kube-system stands for another
tenant's namespace. What a tenant must be able to do is what an admin owner
may do, so run it as an admin of the tenant.`,
		Example: `  tenantry doctor acme
  tenantry doctor acme --as bob@acme.com`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: o.completeTenants,
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.doctor(cmd, args[0], as, asGroups)
		},
	}
	cmd.Flags().StringVar(&as, "as", "", "Check as this user instead of the tenant's first admin owner.")
	cmd.Flags().StringSliceVar(&asGroups, "as-group", nil, "Groups of the --as user.")
	return cmd
}

// doctor checks tenant name's isolation as user (in groups), else as its
// first admin owner. A caller who may not read the Tenant (one of its
// owners) is checked as itself.
func (o *options) doctor(cmd *cobra.Command, name, user string, groups []string) error {
	ctx := cmd.Context()
	c, t, view, err := o.tenantOrView(ctx, name)
	if err != nil {
		return err
	}
	var asTenant client.Client
	var target doctor.Target
	var identity string
	if view != nil {
		if user != "" || len(groups) > 0 {
			return fmt.Errorf("--as needs the right to read tenant %s and to impersonate; as its owner, run tenantry doctor %s without --as: it checks as you", name, name)
		}
		// Owners may not list Tenants to find another tenant's
		// namespace; kube-system is as foreign to the tenant.
		asTenant, identity = c, "you, "+whoAmI(ctx, c)
		target = doctor.Target{Tenant: view.Tenant, Plan: view.Plan, OtherNamespace: "kube-system"}
	} else {
		plan := &v1alpha1.TenantPlan{}
		if err := c.Get(ctx, client.ObjectKey{Name: t.Spec.Plan}, plan); err != nil {
			return fmt.Errorf("plan %s of tenant %s: %w", t.Spec.Plan, t.Name, err)
		}
		if user == "" {
			if user, groups, err = ownerIdentity(t); err != nil {
				return err
			}
		}
		if asTenant, err = o.kubeAs(user, groups); err != nil {
			return err
		}
		other, err := otherNamespace(cmd, c, t)
		if err != nil {
			return err
		}
		identity = describeIdentity(user, groups)
		target = doctor.Target{Tenant: t, Plan: plan, OtherNamespace: other}
	}
	results, err := doctor.Run(ctx, asTenant, target)
	if err != nil {
		return err
	}
	fmt.Fprintf(o.out, "Isolation of tenant %s (plan %s), checked as %s (dry-run):\n", name, target.Tenant.Spec.Plan, identity)
	failed := doctor.Write(o.out, results)
	if failed > 0 {
		return &exitError{code: 1, msg: fmt.Sprintf("%d of %d checks failed: tenant %s is not isolated as it should be", failed, len(results), name)}
	}
	fmt.Fprintf(o.out, "All %d checks passed.\n", len(results))
	return nil
}

// whoAmI is the caller's user name as the API server authenticates it
// (kubectl auth whoami), or "the kubeconfig's user" when it will not say.
func whoAmI(ctx context.Context, c client.Client) string {
	review := &authenticationv1.SelfSubjectReview{}
	if err := c.Create(ctx, review); err != nil || review.Status.UserInfo.Username == "" {
		return "the kubeconfig's user"
	}
	return review.Status.UserInfo.Username
}

// ownerIdentity is the user (and groups) to impersonate for a tenant: its
// first admin owner, else its first owner.
func ownerIdentity(t *v1alpha1.Tenant) (string, []string, error) {
	owners := slices.Clone(t.Spec.Owners)
	slices.SortStableFunc(owners, func(a, b v1alpha1.Owner) int {
		return boolRank(a.Role != v1alpha1.RoleAdmin && a.Role != "") - boolRank(b.Role != v1alpha1.RoleAdmin && b.Role != "")
	})
	if len(owners) == 0 {
		return "", nil, fmt.Errorf("tenant %s has no owners; pass --as", t.Name)
	}
	o := owners[0]
	switch o.Kind {
	case v1alpha1.SubjectGroup:
		return "tenantry-doctor", []string{o.Name}, nil
	case v1alpha1.SubjectServiceAccount:
		return "system:serviceaccount:" + o.Namespace + ":" + o.Name,
			[]string{"system:serviceaccounts", "system:serviceaccounts:" + o.Namespace}, nil
	default:
		return o.Name, nil, nil
	}
}

func boolRank(b bool) int {
	if b {
		return 1
	}
	return 0
}

func describeIdentity(user string, groups []string) string {
	if len(groups) == 0 {
		return user
	}
	return fmt.Sprintf("%s (groups %v)", user, groups)
}

// otherNamespace is a namespace of another tenant, or kube-system when
// there is no other tenant.
func otherNamespace(cmd *cobra.Command, c client.Client, t *v1alpha1.Tenant) (string, error) {
	list := &v1alpha1.TenantList{}
	if err := c.List(cmd.Context(), list); err != nil {
		return "", err
	}
	for _, other := range list.Items {
		if other.Name != t.Name && len(other.Status.Namespaces) > 0 {
			return other.Status.Namespaces[0], nil
		}
	}
	return "kube-system", nil
}

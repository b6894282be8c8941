package cli

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tenantry/tenantry/api/v1alpha1"
)

func newNamespacesCommand(o *options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ns [TENANT]",
		Short: "List a tenant's namespaces, as its owners may see them",
		Long: `List a tenant's namespaces, read from its Tenant's status: tenant owners may
read their own Tenant but not list namespaces. Without TENANT, the tenant is
found from the namespace of the current kubeconfig context (acme-prod is
tenant acme's).`,
		Example: `  tenantry ns acme
  kubectl config set-context --current --namespace acme-prod && tenantry ns`,
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: o.completeTenants,
		RunE: func(cmd *cobra.Command, args []string) error {
			var t *v1alpha1.Tenant
			var err error
			if len(args) == 1 {
				_, t, err = o.tenant(cmd.Context(), args[0])
			} else {
				t, err = o.tenantOfContext(cmd.Context())
			}
			if err != nil {
				return err
			}
			for _, ns := range t.Status.Namespaces {
				fmt.Fprintln(o.out, ns)
			}
			return nil
		},
	}
	return cmd
}

// tenantOfContext finds the Tenant whose namespace the context is in: the
// namespace's name, then each shorter prefix at a dash, as a Tenant name.
func (o *options) tenantOfContext(ctx context.Context) (*v1alpha1.Tenant, error) {
	c, err := o.kube(ctx)
	if err != nil {
		return nil, err
	}
	_, loader, err := o.clusterConfig()
	if err != nil {
		return nil, err
	}
	ns, _, err := loader.Namespace()
	if err != nil || ns == "" || ns == "default" {
		return nil, fmt.Errorf("name the tenant (tenantry ns TENANT), or set a tenant namespace on the context (kubectl config set-context --current --namespace NS)")
	}
	for name := ns; name != ""; {
		t := &v1alpha1.Tenant{}
		err := c.Get(ctx, client.ObjectKey{Name: name}, t)
		if err == nil && slices.Contains(t.Status.Namespaces, ns) {
			return t, nil
		}
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsForbidden(err) {
			return nil, err
		}
		i := strings.LastIndex(name, "-")
		if i < 0 {
			break
		}
		name = name[:i]
	}
	return nil, fmt.Errorf("namespace %s belongs to no tenant you may read; name the tenant: tenantry ns TENANT", ns)
}

func splitLines(s string) []string {
	if strings.TrimSpace(s) == "" {
		return nil
	}
	return strings.Split(strings.TrimRight(s, "\n"), "\n")
}

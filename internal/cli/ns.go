package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

func newNamespacesCommand(o *options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ns [TENANT]",
		Short: "List a tenant's namespaces, as its owners may see them",
		Long: `List a tenant's namespaces. Without TENANT, the tenant is the one whose
namespace the current kubeconfig context is in (its tenantry.dev/tenant label).

Platform engineers read the namespaces from the Tenant's status. Tenant owners
may not read Tenants nor list namespaces, but may read each of their tenant's
namespaces, which lists all the others: the command reads the context's
namespace, then the namespace named exactly TENANT (a tenant without
environments), and uses the first that belongs to the tenant. So an owner sets
a namespace of the tenant on the context once:
kubectl config set-context --current --namespace NS.`,
		Example: `  tenantry ns acme
  kubectl config set-context --current --namespace acme-prod && tenantry ns`,
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: o.completeTenants,
		RunE: func(cmd *cobra.Command, args []string) error {
			name := ""
			if len(args) == 1 {
				name = args[0]
			}
			_, t, view, err := o.tenantOrView(cmd.Context(), name)
			if err != nil {
				return err
			}
			if view != nil {
				t = view.Tenant
			}
			for _, ns := range t.Status.Namespaces {
				fmt.Fprintln(o.out, ns)
			}
			return nil
		},
	}
	return cmd
}

func splitLines(s string) []string {
	if strings.TrimSpace(s) == "" {
		return nil
	}
	return strings.Split(strings.TrimRight(s, "\n"), "\n")
}

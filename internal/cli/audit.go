package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tenantry/tenantry/internal/gitops"
)

func newAuditCommand(o *options) *cobra.Command {
	cmd := &cobra.Command{
		Use:               "audit NAME",
		Short:             "Show the Git history of a tenant: who changed what, when and why",
		Example:           `  tenantry audit acme --gitops ./platform`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: o.completeTenants,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.gitopsDir == "" {
				return fmt.Errorf("audit reads the Git history: pass --gitops DIR (or set TENANTRY_GITOPS)")
			}
			repo, err := gitops.Open(o.gitopsDir)
			if err != nil {
				return err
			}
			changes, err := repo.History(args[0])
			if err != nil {
				return err
			}
			if len(changes) == 0 {
				return fmt.Errorf("no commit touches %s", relTo(repo.Dir(), repo.TenantPath(args[0])))
			}
			writeAudit(o, changes)
			return nil
		},
	}
	return cmd
}

// writeAudit prints one block per commit, newest first.
func writeAudit(o *options, changes []gitops.Change) {
	for i, ch := range changes {
		if i > 0 {
			fmt.Fprintln(o.out)
		}
		fmt.Fprintf(o.out, "%s  %s  %s\n", ch.Hash, ch.When.Local().Format("2006-01-02 15:04"), ch.Author)
		fmt.Fprintf(o.out, "    %s\n", ch.Subject)
		for _, line := range splitLines(ch.Body) {
			fmt.Fprintf(o.out, "    %s\n", line)
		}
		for _, d := range ch.Diff {
			fmt.Fprintf(o.out, "      %s\n", d)
		}
	}
}

package cli

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"

	"github.com/tenantry/tenantry/api/v1alpha1"
)

func newMoveCommand(o *options) *cobra.Command {
	var to string
	cmd := changeCommand(o, &cobra.Command{
		Use:   "move NAME --to CLUSTER",
		Short: "Move a tenant to another member cluster of a fleet",
		Long: `Pin a tenant to a member cluster of a fleet (spec.placement.cluster), on
the fleet's hub. The hub onboards the tenant on that cluster and syncs its
apps there, waits until the tenant is Ready and every app synced and healthy,
and only then offboards it from the cluster it leaves. With --wait, waits
until the hub reports the tenant on its new cluster alone.

Data in the tenant's volumes does not move: the tenant starts afresh on its
new cluster, and its deletionPolicy decides what happens to its namespaces on
the old one.`,
		Example: `  tenantry move acme --to eu-2 --gitops ./platform --reason "eu-1 is full" --push --wait --timeout 10m`,
		Args:    cobra.ExactArgs(1),
	}, func(ctx context.Context, args []string) (change, error) {
		name := args[0]
		if to == "" {
			return change{}, fmt.Errorf("--to is required: the member cluster to move tenant %s to", name)
		}
		if err := o.knownMember(ctx, to); err != nil {
			return change{}, err
		}
		return change{
			subject: fmt.Sprintf("Move tenant %s to cluster %s", name, to), goal: goalMoved, to: to,
			edit: func(t *v1alpha1.Tenant) error {
				if t.Spec.Placement == nil {
					t.Spec.Placement = &v1alpha1.Placement{}
				}
				t.Spec.Placement.Cluster = to
				return nil
			},
		}, nil
	})
	cmd.Flags().StringVar(&to, "to", "", "The member cluster, by its name in Argo CD (the hub's PlacementDecisions list the members).")
	_ = cmd.RegisterFlagCompletionFunc("to", o.completeMembers)
	return cmd
}

// members are the fleet's member clusters, as the hub's PlacementDecisions
// (one per member) name them.
func (o *options) members(ctx context.Context) ([]string, error) {
	c, err := o.kube(ctx)
	if err != nil {
		return nil, err
	}
	var decisions v1alpha1.PlacementDecisionList
	if err := c.List(ctx, &decisions); err != nil {
		return nil, err
	}
	var names []string
	for _, d := range decisions.Items {
		names = append(names, d.Name)
	}
	slices.Sort(names)
	return names, nil
}

// knownMember refuses a cluster the hub does not know as a member. Without
// a hub to ask (a change made in Git alone), the hub says so later, in the
// tenant's Placed condition.
func (o *options) knownMember(ctx context.Context, cluster string) error {
	names, err := o.members(ctx)
	if err != nil {
		if o.gitopsDir != "" {
			return nil
		}
		return err
	}
	switch {
	case slices.Contains(names, cluster):
		return nil
	case len(names) == 0:
		return fmt.Errorf("--to %s: this cluster is no fleet hub with members (it has no PlacementDecisions); run against the hub, see docs/fleet.md", cluster)
	}
	return fmt.Errorf("--to %s: no such member cluster; the members are %s", cluster, strings.Join(names, ", "))
}

func (o *options) completeMembers(cmd *cobra.Command, _ []string, _ string) ([]string, cobra.ShellCompDirective) {
	names, err := o.members(cmd.Context())
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return names, cobra.ShellCompDirectiveNoFileComp
}

// moveProgress says whether the hub has the tenant on cluster alone, and in
// words where the move stands.
func moveProgress(t *v1alpha1.Tenant, cluster string) (bool, string) {
	placed := meta.FindStatusCondition(t.Status.Conditions, v1alpha1.ConditionPlaced)
	if placed == nil || placed.ObservedGeneration < t.Generation {
		return false, "waiting for the hub to place the change (is this the fleet's hub, running with --fleet-hub?)"
	}
	p := t.Status.Placement
	switch {
	case p == nil:
		return false, "not placed" + conditionText(placed)
	case p.Cluster == cluster && p.MovingTo == "":
		return true, "on " + cluster
	case p.MovingTo == cluster:
		return false, fmt.Sprintf("moving from %s to %s: onboarding there, then its apps; it leaves %s once all are healthy", p.Cluster, cluster, p.Cluster)
	}
	return false, "on " + p.Cluster + conditionText(placed)
}

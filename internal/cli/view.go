package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/tenantry/tenantry/api/v1alpha1"
	"github.com/tenantry/tenantry/internal/gitops"
)

func newListCommand(o *options) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List tenants: plan, phase, environments, CPU and memory used/hard, age; on a fleet's hub, the cluster of each",
		Example: `  tenantry list
  tenantry list -o yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := o.kube(cmd.Context())
			if err != nil {
				return err
			}
			list := &v1alpha1.TenantList{}
			if err := c.List(cmd.Context(), list); err != nil {
				return err
			}
			return o.print(output, list, list.Items)
		},
	}
	addOutputFlag(cmd, &output)
	return cmd
}

func newGetCommand(o *options) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "get NAME",
		Short: "Show one tenant as a table row, or as YAML or JSON",
		Example: `  tenantry get acme
  tenantry get acme -o yaml`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: o.completeTenants,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, t, err := o.tenant(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return o.print(output, t, []v1alpha1.Tenant{*t})
		},
	}
	addOutputFlag(cmd, &output)
	return cmd
}

func addOutputFlag(cmd *cobra.Command, output *string) {
	cmd.Flags().StringVarP(output, "output", "o", "", "Output format: yaml or json (default: a table).")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"yaml", "json"}, cobra.ShellCompDirectiveNoFileComp))
}

// tenant reads one Tenant from the cluster, returning the client too.
func (o *options) tenant(ctx context.Context, name string) (client.WithWatch, *v1alpha1.Tenant, error) {
	c, err := o.kube(ctx)
	if err != nil {
		return nil, nil, err
	}
	t := &v1alpha1.Tenant{}
	if err := c.Get(ctx, client.ObjectKey{Name: name}, t); err != nil {
		return nil, nil, fmt.Errorf("tenant %s: %w", name, err)
	}
	return c, t, nil
}

// print writes obj as YAML or JSON (without managed fields), or tenants as
// a table.
func (o *options) print(output string, obj runtime.Object, tenants []v1alpha1.Tenant) error {
	switch output {
	case "":
		writeTable(o.out, tenants, o.now())
		return nil
	case "yaml", "json":
		if list, ok := obj.(*v1alpha1.TenantList); ok {
			for i := range list.Items {
				list.Items[i].ManagedFields = nil
			}
			list.APIVersion, list.Kind = v1alpha1.GroupVersion.String(), "TenantList"
		} else if t, ok := obj.(*v1alpha1.Tenant); ok {
			t.ManagedFields = nil
			t.APIVersion, t.Kind = v1alpha1.GroupVersion.String(), "Tenant"
		}
		var data []byte
		var err error
		if output == "yaml" {
			data, err = yaml.Marshal(obj)
		} else {
			data, err = json.MarshalIndent(obj, "", "  ")
			data = append(data, '\n')
		}
		if err != nil {
			return err
		}
		_, err = o.out.Write(data)
		return err
	default:
		return fmt.Errorf("--output %q: want yaml or json, or nothing for a table", output)
	}
}

// writeTable prints the tenants' summary, sorted by name.
func writeTable(out io.Writer, tenants []v1alpha1.Tenant, now time.Time) {
	slices.SortFunc(tenants, func(a, b v1alpha1.Tenant) int { return strings.Compare(a.Name, b.Name) })
	// A fleet's hub places tenants: there, each row says on which cluster.
	hub := slices.ContainsFunc(tenants, func(t v1alpha1.Tenant) bool {
		return meta.FindStatusCondition(t.Status.Conditions, v1alpha1.ConditionPlaced) != nil
	})
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	header := "NAME\tPLAN\tPHASE\tENVIRONMENTS\tAPPS\tCPU\tMEMORY\tAGE"
	if hub {
		header = "NAME\tPLAN\tCLUSTER\tENVIRONMENTS\tAGE"
	}
	fmt.Fprintln(w, header)
	for _, t := range tenants {
		envs := "-"
		if len(t.Spec.Environments) > 0 {
			envs = strings.Join(t.Spec.Environments, ",")
		}
		if hub {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", t.Name, t.Spec.Plan, clusterOf(t), envs, age(t.CreationTimestamp, now))
			continue
		}
		cpu, memory := "-", "-"
		if q := t.Status.Quota; q != nil {
			cpu, memory = orDash(q.CPU), orDash(q.Memory)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.Name, t.Spec.Plan, orDash(string(t.Status.Phase)), envs,
			orDash(t.Status.AppsReady), cpu, memory, age(t.CreationTimestamp, now))
	}
	_ = w.Flush()
}

// clusterOf is where a fleet's hub placed a tenant: its cluster, the
// cluster it moves to, and why it is nowhere or not as meant.
func clusterOf(t v1alpha1.Tenant) string {
	cluster := "-"
	if p := t.Status.Placement; p != nil {
		cluster = p.Cluster
		if p.MovingTo != "" {
			cluster += "->" + p.MovingTo
		}
	}
	if c := meta.FindStatusCondition(t.Status.Conditions, v1alpha1.ConditionPlaced); c != nil && c.Status != metav1.ConditionTrue {
		cluster += " (" + c.Reason + ")"
	}
	return cluster
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func age(t metav1.Time, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return duration.HumanDuration(now.Sub(t.Time))
}

func newStatusCommand(o *options) *cobra.Command {
	var events int
	cmd := &cobra.Command{
		Use:   "status NAME",
		Short: "Show a tenant at a glance: conditions, quota use, recent events",
		Long: `Show a tenant at a glance: its plan, namespaces and domains, conditions, apps,
quota use and recent events.

Tenant owners may not read Tenants: for them the page comes from the tenant's
namespaces (found as tenantry ns finds them), without phase, conditions or
apps, and its events are those of the tenant's namespaces.`,
		Example:           `  tenantry status acme`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: o.completeTenants,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, t, view, err := o.tenantOrView(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if view != nil {
				list, err := o.namespaceEvents(cmd.Context(), c, view.Tenant.Status.Namespaces)
				if err != nil {
					return err
				}
				writeStatus(o.out, view.Tenant, list, events, o.now(), true)
				return nil
			}
			list := &corev1.EventList{}
			err = c.List(cmd.Context(), list, client.MatchingFields{
				"involvedObject.kind": "Tenant", "involvedObject.name": t.Name,
			})
			// Whoever may read a Tenant but not the cluster's events
			// still gets the rest.
			if apierrors.IsForbidden(err) {
				fmt.Fprintln(o.errOut, "(no events: you may not list events cluster-wide)")
			} else if err != nil {
				return fmt.Errorf("listing the tenant's events: %w", err)
			}
			writeStatus(o.out, t, list.Items, events, o.now(), false)
			return nil
		},
	}
	cmd.Flags().IntVar(&events, "events", 10, "How many recent events to show.")
	return cmd
}

// namespaceEvents lists the events of the tenant's namespaces, skipping
// those the caller may not list.
func (o *options) namespaceEvents(ctx context.Context, c client.Client, namespaces []string) ([]corev1.Event, error) {
	var events []corev1.Event
	for _, ns := range namespaces {
		list := &corev1.EventList{}
		err := c.List(ctx, list, client.InNamespace(ns))
		if apierrors.IsForbidden(err) {
			fmt.Fprintf(o.errOut, "(no events of %s: you may not list them)\n", ns)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("listing the events of %s: %w", ns, err)
		}
		events = append(events, list.Items...)
	}
	return events, nil
}

// writeStatus prints one tenant's conditions, quota bars and latest events.
// fromNamespaces says t is an owner's view built from its namespaces: no
// phase or conditions, and events about the namespaces' objects.
func writeStatus(out io.Writer, t *v1alpha1.Tenant, events []corev1.Event, maxEvents int, now time.Time, fromNamespaces bool) {
	title := t.Name
	if t.Spec.DisplayName != "" {
		title += " (" + t.Spec.DisplayName + ")"
	}
	if fromNamespaces {
		fmt.Fprintf(out, "Tenant %s: plan %s, environments %s\n", title, t.Spec.Plan, orDash(strings.Join(t.Spec.Environments, ",")))
	} else {
		fmt.Fprintf(out, "Tenant %s: plan %s, phase %s, age %s\n", title, t.Spec.Plan, orDash(string(t.Status.Phase)), age(t.CreationTimestamp, now))
	}
	if t.Spec.Suspended {
		fmt.Fprintln(out, "Suspended: workloads are scaled to zero until `tenantry resume`.")
	}
	fmt.Fprintf(out, "Namespaces: %s\n", orDash(strings.Join(t.Status.Namespaces, ", ")))
	if len(t.Status.IngressDomains) > 0 {
		fmt.Fprintf(out, "Domains: %s\n", strings.Join(t.Status.IngressDomains, ", "))
	}
	if t.Status.OnboardingDuration != nil {
		fmt.Fprintf(out, "Onboarded in: %s\n", t.Status.OnboardingDuration.Duration)
	}

	if fromNamespaces {
		fmt.Fprintln(out, "\nConditions: shown to platform engineers only (tenant owners may not read Tenants).")
	} else {
		fmt.Fprintln(out, "\nConditions:")
		w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		for _, c := range t.Status.Conditions {
			fmt.Fprintf(w, "  %s\t%s\t%s\t%s\t%s\n", c.Type, c.Status, c.Reason, age(c.LastTransitionTime, now), c.Message)
		}
		_ = w.Flush()
	}

	if len(t.Status.Apps) > 0 {
		fmt.Fprintln(out, "\nApps (Argo CD):")
		w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		for _, a := range t.Status.Apps {
			fmt.Fprintf(w, "  %s\t%s\t%s\t%s\t%s\t%s\n", a.Name, a.Namespace, orDash(a.Sync), orDash(a.Health), orDash(gitops.ShortHash(a.Revision)), a.Message)
		}
		_ = w.Flush()
		printRollouts(out, t.Status.Apps)
	}

	if q := t.Status.Quota; q != nil && len(q.Hard) > 0 {
		fmt.Fprintln(out, "\nQuota (all namespaces):")
		names := make([]string, 0, len(q.Hard))
		for name := range q.Hard {
			names = append(names, string(name))
		}
		sort.Strings(names)
		w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		for _, name := range names {
			hard := q.Hard[corev1.ResourceName(name)]
			used := q.Used[corev1.ResourceName(name)]
			fmt.Fprintf(w, "  %s\t%s\t%s/%s\n", name, bar(used, hard, 20), used.String(), hard.String())
		}
		_ = w.Flush()
	}

	if maxEvents > 0 && len(events) > 0 {
		slices.SortFunc(events, func(a, b corev1.Event) int { return eventTime(b).Compare(eventTime(a)) })
		events = events[:min(maxEvents, len(events))]
		fmt.Fprintln(out, "\nRecent events:")
		w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		for _, e := range events {
			message := e.Message
			if fromNamespaces {
				// Events of several namespaces and objects: say whose.
				obj := e.InvolvedObject
				message = fmt.Sprintf("%s %s/%s: %s", obj.Namespace, strings.ToLower(obj.Kind), obj.Name, message)
			}
			fmt.Fprintf(w, "  %s\t%s\t%s\t%s\n", duration.HumanDuration(now.Sub(eventTime(e))), e.Type, e.Reason, message)
		}
		_ = w.Flush()
	}
}

func eventTime(e corev1.Event) time.Time {
	for _, t := range []time.Time{e.LastTimestamp.Time, e.EventTime.Time, e.FirstTimestamp.Time, e.CreationTimestamp.Time} {
		if !t.IsZero() {
			return t
		}
	}
	return time.Time{}
}

// bar draws used/hard as [#####.....] over width cells; "!" marks use above
// the quota (after it was lowered).
func bar(used, hard resource.Quantity, width int) string {
	if hard.IsZero() {
		return "[" + strings.Repeat(".", width) + "]"
	}
	ratio := float64(used.MilliValue()) / float64(hard.MilliValue())
	filled := min(int(ratio*float64(width)+0.5), width)
	over := ""
	if ratio > 1 {
		over = "!"
	}
	return "[" + strings.Repeat("#", filled) + strings.Repeat(".", width-filled) + "]" + over
}

// Completions: tenant and plan names from the cluster, quietly nothing when
// it cannot be reached.
func (o *options) completeTenants(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return o.names(cmd.Context(), &v1alpha1.TenantList{}), cobra.ShellCompDirectiveNoFileComp
}

func (o *options) completeTenantThenPlan(cmd *cobra.Command, args []string, s string) ([]string, cobra.ShellCompDirective) {
	if len(args) == 1 {
		return o.completePlans(cmd, args, s)
	}
	return o.completeTenants(cmd, args, s)
}

func (o *options) completePlans(cmd *cobra.Command, _ []string, _ string) ([]string, cobra.ShellCompDirective) {
	return o.names(cmd.Context(), &v1alpha1.TenantPlanList{}), cobra.ShellCompDirectiveNoFileComp
}

func (o *options) names(ctx context.Context, list client.ObjectList) []string {
	if ctx == nil {
		ctx = context.Background()
	}
	c, err := o.kube(ctx)
	if err != nil || c.List(ctx, list) != nil {
		return nil
	}
	var names []string
	switch l := list.(type) {
	case *v1alpha1.TenantList:
		for _, t := range l.Items {
			names = append(names, t.Name)
		}
	case *v1alpha1.TenantPlanList:
		for _, p := range l.Items {
			names = append(names, p.Name)
		}
	}
	return names
}

// printRollouts shows the release of each app that runs as an Argo Rollout.
func printRollouts(out io.Writer, apps []v1alpha1.AppStatus) {
	header := false
	for _, a := range apps {
		ro := a.Rollout
		if ro == nil {
			continue
		}
		if !header {
			fmt.Fprintln(out, "\nReleases (Argo Rollouts):")
			header = true
		}
		fmt.Fprintf(out, "  %s: %s %s, step %s, %d%% on %s\n", a.Name, ro.Strategy, ro.Phase, orDash(ro.Step), ro.Weight, ro.Image)
		if ro.Analysis != "" {
			fmt.Fprintf(out, "    analysis: %s", ro.Analysis)
			if ro.AnalysisRun != "" {
				fmt.Fprintf(out, " (kubectl -n %s get analysisrun %s -o yaml)", a.Namespace, ro.AnalysisRun)
			}
			fmt.Fprintln(out)
		}
		if ro.Phase == v1alpha1.RolloutAborted && ro.Message != "" {
			fmt.Fprintf(out, "    %s\n", ro.Message)
		}
		if ro.Revert != nil {
			fmt.Fprintf(out, "    git: %s\n", ro.Revert.Message)
		}
	}
}

package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/tenantry/tenantry/api/v1alpha1"
)

func objectMeta(name string) metav1.ObjectMeta { return metav1.ObjectMeta{Name: name} }

// changeCommand completes cmd as a command that makes one change to the
// tenant its first argument names: build turns the arguments into the
// change; the verb is the command's name; the change flags are added.
func changeCommand(o *options, cmd *cobra.Command, build func(ctx context.Context, args []string) (change, error)) *cobra.Command {
	var f changeFlags
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		ch, err := build(cmd.Context(), args)
		if err != nil {
			return err
		}
		ch.verb, ch.tenant = cmd.Name(), args[0]
		return o.run(cmd.Context(), &f, ch)
	}
	if cmd.ValidArgsFunction == nil {
		cmd.ValidArgsFunction = o.completeTenants
	}
	f.register(cmd)
	return cmd
}

func newCreateCommand(o *options) *cobra.Command {
	var (
		plan, displayName     string
		owners, envs, domains []string
	)
	cmd := changeCommand(o, &cobra.Command{
		Use:   "create NAME --plan PLAN --owner KIND:NAME[=ROLE]...",
		Short: "Onboard a tenant",
		Example: `  # Through Git: writes tenants/acme.yaml in ./platform and commits it
  tenantry create acme --plan pro --owner user:alice@acme.com=admin --owner group:acme-devs=developer \
    --env prod,staging --domain acme.example.com --gitops ./platform --reason "signed 2026-11-20"

  # Directly on the cluster, waiting until it is Ready
  tenantry create acme --plan pro --owner user:alice@acme.com --wait`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: cobra.NoFileCompletions,
	}, func(ctx context.Context, args []string) (change, error) {
		name := args[0]
		t := &v1alpha1.Tenant{
			TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: "Tenant"},
			ObjectMeta: objectMeta(name),
			Spec:       v1alpha1.TenantSpec{Plan: plan, DisplayName: displayName, Environments: envs},
		}
		if len(owners) == 0 {
			return change{}, fmt.Errorf("--owner is required: who runs the tenant, as %s", ownerFormat)
		}
		for _, s := range owners {
			owner, err := parseOwner(s)
			if err != nil {
				return change{}, err
			}
			t.Spec.Owners = append(t.Spec.Owners, owner)
		}
		t.Spec.Ingress.Domains = domains
		if err := o.knownPlan(ctx, plan); err != nil {
			return change{}, err
		}
		subject := fmt.Sprintf("Onboard tenant %s on plan %s", name, plan)
		if len(envs) > 0 {
			subject += " (" + strings.Join(envs, ", ") + ")"
		}
		return change{subject: subject, create: t, goal: goalReady}, nil
	})
	cmd.Flags().StringVar(&plan, "plan", "", "The TenantPlan (tier): quotas, limits, registries, egress.")
	cmd.Flags().StringArrayVar(&owners, "owner", nil, "An owner, "+ownerFormat+". Repeat for more.")
	cmd.Flags().StringSliceVar(&envs, "env", nil, "Environments, each a namespace NAME-ENV (comma-separated; none: one namespace NAME).")
	cmd.Flags().StringSliceVar(&domains, "domain", nil, "DNS domains the tenant's Ingresses and routes may serve (comma-separated).")
	cmd.Flags().StringVar(&displayName, "display-name", "", "Human-readable name.")
	_ = cmd.MarkFlagRequired("plan")
	_ = cmd.RegisterFlagCompletionFunc("plan", o.completePlans)
	return cmd
}

func newSetPlanCommand(o *options) *cobra.Command {
	return changeCommand(o, &cobra.Command{
		Use:               "set-plan NAME PLAN",
		Short:             "Move a tenant to another plan",
		Example:           `  tenantry set-plan globex pro --gitops ./platform --reason "upgraded, order 4711" --apply --wait`,
		Args:              cobra.ExactArgs(2),
		ValidArgsFunction: o.completeTenantThenPlan,
	}, func(ctx context.Context, args []string) (change, error) {
		name, plan := args[0], args[1]
		if err := o.knownPlan(ctx, plan); err != nil {
			return change{}, err
		}
		return change{
			subject: fmt.Sprintf("Move tenant %s to plan %s", name, plan), goal: goalReady,
			edit: func(t *v1alpha1.Tenant) error { t.Spec.Plan = plan; return nil },
		}, nil
	})
}

func newSuspendCommand(o *options) *cobra.Command {
	return changeCommand(o, &cobra.Command{
		Use:     "suspend NAME",
		Short:   "Suspend a tenant: its workloads scale to zero, its namespaces and data stay",
		Example: `  tenantry suspend globex --gitops ./platform --reason "invoice overdue" --apply --wait`,
		Args:    cobra.ExactArgs(1),
	}, func(_ context.Context, args []string) (change, error) {
		return change{
			subject: "Suspend tenant " + args[0], goal: goalSuspended,
			edit: func(t *v1alpha1.Tenant) error { t.Spec.Suspended = true; return nil },
		}, nil
	})
}

func newResumeCommand(o *options) *cobra.Command {
	return changeCommand(o, &cobra.Command{
		Use:     "resume NAME",
		Short:   "Resume a suspended tenant: its workloads get their replicas back",
		Example: `  tenantry resume globex --gitops ./platform --reason "paid" --apply --wait`,
		Args:    cobra.ExactArgs(1),
	}, func(_ context.Context, args []string) (change, error) {
		return change{
			subject: "Resume tenant " + args[0], goal: goalReady,
			edit: func(t *v1alpha1.Tenant) error { t.Spec.Suspended = false; return nil },
		}, nil
	})
}

func newAddEnvCommand(o *options) *cobra.Command {
	return changeCommand(o, &cobra.Command{
		Use:     "add-env NAME ENV...",
		Short:   "Add environments (namespaces NAME-ENV) to a tenant",
		Example: `  tenantry add-env acme qa --gitops ./platform --reason "QA for the spring release" --apply --wait`,
		Args:    cobra.MinimumNArgs(2),
	}, func(_ context.Context, args []string) (change, error) {
		name, envs := args[0], args[1:]
		return change{
			subject: fmt.Sprintf("Add environment %s to tenant %s", strings.Join(envs, ", "), name), goal: goalReady,
			edit: func(t *v1alpha1.Tenant) error {
				for _, env := range envs {
					if !slices.Contains(t.Spec.Environments, env) {
						t.Spec.Environments = append(t.Spec.Environments, env)
					}
				}
				return nil
			},
		}, nil
	})
}

func newRemoveEnvCommand(o *options) *cobra.Command {
	var confirmDelete bool
	cmd := changeCommand(o, &cobra.Command{
		Use:   "remove-env NAME ENV...",
		Short: "Remove environments from a tenant",
		Long: `Remove environments from a tenant. The operator deletes an environment's
namespace only when nothing runs in it; --confirm-delete lets it go although
workloads still run there (tenantry.dev/confirm-delete).`,
		Example: `  tenantry remove-env acme staging --gitops ./platform --reason "staging moved to qa" --apply --wait`,
		Args:    cobra.MinimumNArgs(2),
	}, func(_ context.Context, args []string) (change, error) {
		name, envs := args[0], args[1:]
		removed := func(e string) bool { return slices.Contains(envs, e) }
		return change{
			subject: fmt.Sprintf("Remove environment %s from tenant %s", strings.Join(envs, ", "), name), goal: goalReady,
			edit: func(t *v1alpha1.Tenant) error {
				for _, env := range envs {
					if !slices.Contains(t.Spec.Environments, env) {
						return fmt.Errorf("tenant %s has no environment %q (it has: %s)", name, env, strings.Join(t.Spec.Environments, ", "))
					}
				}
				t.Spec.Environments = slices.DeleteFunc(t.Spec.Environments, removed)
				if confirmDelete {
					if t.Annotations == nil {
						t.Annotations = map[string]string{}
					}
					t.Annotations[v1alpha1.AnnotationConfirmDelete] = strings.Join(envs, ",")
				}
				return nil
			},
			applied: func(t *v1alpha1.Tenant) bool { return !slices.ContainsFunc(t.Spec.Environments, removed) },
		}, nil
	})
	cmd.Flags().BoolVar(&confirmDelete, "confirm-delete", false, "Delete the environments' namespaces even if workloads still run in them.")
	return cmd
}

func newDeleteCommand(o *options) *cobra.Command {
	return changeCommand(o, &cobra.Command{
		Use:     "delete NAME",
		Short:   "Offboard a tenant (its namespaces go too, unless its deletionPolicy is Retain)",
		Example: `  tenantry delete initech --gitops ./platform --reason "contract ended" --apply --wait`,
		Args:    cobra.ExactArgs(1),
	}, func(_ context.Context, args []string) (change, error) {
		return change{subject: "Offboard tenant " + args[0], delete: true, goal: goalGone}, nil
	})
}

func newAddAppCommand(o *options) *cobra.Command {
	var (
		app         v1alpha1.App
		valuesFile  string
		replaceSame bool
	)
	cmd := changeCommand(o, &cobra.Command{
		Use:   "add-app NAME APP --repo URL (--path DIR | --chart CHART) [--env ENV]",
		Short: "Deploy an app into a tenant's environment with Argo CD, from Git or a Helm repository",
		Long: `Add an app to a tenant (spec.apps). The operator gives it an Argo CD
Application in the tenant's AppProject: synced automatically from the
repository, pruned and self-healing, confined to the tenant's namespaces.
With --wait, waits until Argo CD reports every app of the tenant synced and healthy.`,
		Example: `  tenantry add-app acme web --repo https://git.example.com/acme/web.git --path deploy --env prod \
    --gitops ./platform --reason "first release" --push --wait`,
		Args: cobra.ExactArgs(2),
	}, func(_ context.Context, args []string) (change, error) {
		name := args[0]
		app.Name = args[1]
		if (app.Path == "") == (app.Chart == "") {
			return change{}, fmt.Errorf("give the app's source: --path DIR (a directory in the Git repository) or --chart CHART (a chart in the Helm repository)")
		}
		if valuesFile != "" {
			values, err := readValues(valuesFile)
			if err != nil {
				return change{}, err
			}
			app.Values = values
		}
		return change{
			subject: fmt.Sprintf("Deploy app %s of tenant %s from %s", app.Name, name, app.RepoURL), goal: goalAppsSynced,
			edit: func(t *v1alpha1.Tenant) error {
				i := slices.IndexFunc(t.Spec.Apps, func(a v1alpha1.App) bool { return a.Name == app.Name })
				switch {
				case i < 0:
					t.Spec.Apps = append(t.Spec.Apps, app)
				case replaceSame:
					t.Spec.Apps[i] = app
				default:
					return fmt.Errorf("tenant %s has an app %s already; pass --replace to change it", name, app.Name)
				}
				return nil
			},
			applied: func(t *v1alpha1.Tenant) bool {
				return slices.ContainsFunc(t.Spec.Apps, func(a v1alpha1.App) bool { return equality.Semantic.DeepEqual(a, app) })
			},
		}, nil
	})
	flags := cmd.Flags()
	flags.StringVar(&app.RepoURL, "repo", "", "The Git repository (or Helm repository, with --chart) the app comes from.")
	flags.StringVar(&app.Path, "path", "", "Directory in the Git repository with the app's manifests, Kustomization or chart.")
	flags.StringVar(&app.Chart, "chart", "", "Chart name in the Helm repository.")
	flags.StringVar(&app.TargetRevision, "revision", "", "Branch, tag, commit or chart version (default HEAD, or the newest chart).")
	flags.StringVar(&app.Environment, "env", "", "Environment to deploy into (required when the tenant has environments).")
	flags.StringVar(&valuesFile, "values", "", "YAML file of Helm values.")
	flags.BoolVar(&replaceSame, "replace", false, "Replace an app of the same name.")
	_ = cmd.MarkFlagRequired("repo")
	return cmd
}

func newRemoveAppCommand(o *options) *cobra.Command {
	return changeCommand(o, &cobra.Command{
		Use:     "remove-app NAME APP",
		Short:   "Remove an app from a tenant: Argo CD deletes what it deployed",
		Example: `  tenantry remove-app acme web --gitops ./platform --reason "replaced by shop" --push --wait`,
		Args:    cobra.ExactArgs(2),
	}, func(_ context.Context, args []string) (change, error) {
		name, appName := args[0], args[1]
		isApp := func(a v1alpha1.App) bool { return a.Name == appName }
		return change{
			subject: fmt.Sprintf("Remove app %s of tenant %s", appName, name), goal: goalReady,
			edit: func(t *v1alpha1.Tenant) error {
				if !slices.ContainsFunc(t.Spec.Apps, isApp) {
					return fmt.Errorf("tenant %s has no app %q", name, appName)
				}
				t.Spec.Apps = slices.DeleteFunc(t.Spec.Apps, isApp)
				return nil
			},
			applied: func(t *v1alpha1.Tenant) bool { return !slices.ContainsFunc(t.Spec.Apps, isApp) },
		}, nil
	})
}

// readValues reads a YAML file of Helm values into the JSON the API stores.
func readValues(path string) (*apiextensionsv1.JSON, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--values: %w", err)
	}
	var values map[string]any
	if err := yaml.Unmarshal(data, &values); err != nil {
		return nil, fmt.Errorf("--values %s: not a YAML map of Helm values: %w", path, err)
	}
	raw, err := json.Marshal(values)
	if err != nil {
		return nil, fmt.Errorf("--values %s: %w", path, err)
	}
	return &apiextensionsv1.JSON{Raw: raw}, nil
}

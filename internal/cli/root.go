// Package cli is the `tenantry` command (also the kubectl plugin
// `kubectl tenant`): onboarding and changing tenants through Git or
// directly, waiting for them, viewing them, their Git history, an
// isolation self-check, and what they cost.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tenantry/tenantry/internal/install"
)

// FieldOwner is the field manager of the CLI's writes.
const FieldOwner = "tenantry-cli"

// options are the flags every command shares, and the streams it writes to.
type options struct {
	kubeconfig  string
	kubeContext string
	gitopsDir   string
	out, errOut io.Writer
	// now is the clock for ages and elapsed times (fixed in golden tests).
	now func() time.Time

	// The kubeconfig and the client, loaded and checked once per command
	// however many steps use them.
	config *rest.Config
	loader clientcmd.ClientConfig
	client client.WithWatch
}

// NewRoot returns the root command. name is how the user called it:
// "tenantry", or "kubectl tenant" for the kubectl plugin.
func NewRoot(name string, out, errOut io.Writer) *cobra.Command {
	o := &options{out: out, errOut: errOut, now: time.Now}
	root := &cobra.Command{
		Use:   name,
		Short: "Onboard, change and check Tenantry tenants, through Git or directly",
		Long: `tenantry manages Tenants (tenantry.dev/v1alpha1) on a cluster running the
Tenantry operator.

Changes (create, set-plan, suspend, resume, add-env, remove-env, add-app,
remove-app, delete) go
through Git with --gitops DIR (or $TENANTRY_GITOPS): the command edits
tenants/NAME.yaml in that working copy and commits it, so every change has an
author, a reason and a history (tenantry audit). Without --gitops they are
applied to the cluster directly.`,
		Example: `  # Onboard a tenant through Git, apply it, and wait until it is Ready
  tenantry create acme --plan pro --owner user:alice@acme.com=admin --env prod,staging \
    --gitops ./platform --reason "new customer" --apply --wait

  # See every tenant, one in detail, and who changed it
  tenantry list
  tenantry status acme
  tenantry audit acme --gitops ./platform

  # Check the tenant's isolation as its owner would see it
  tenantry doctor acme`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(out)
	root.SetErr(errOut)
	flags := root.PersistentFlags()
	flags.StringVar(&o.kubeconfig, "kubeconfig", "", "Kubeconfig file (default: $KUBECONFIG, then ~/.kube/config).")
	flags.StringVar(&o.kubeContext, "context", "", "Kubeconfig context (default: the current one).")
	flags.StringVar(&o.gitopsDir, "gitops", os.Getenv("TENANTRY_GITOPS"),
		"Git working copy (or a folder in one) holding tenants/ and plans/; changes are committed there instead of applied (default $TENANTRY_GITOPS).")

	root.AddCommand(
		newCreateCommand(o), newSetPlanCommand(o), newSuspendCommand(o), newResumeCommand(o),
		newAddEnvCommand(o), newRemoveEnvCommand(o), newAddAppCommand(o), newRemoveAppCommand(o), newDeleteCommand(o),
		newMoveCommand(o),
		newListCommand(o), newGetCommand(o), newStatusCommand(o), newAuditCommand(o),
		newDoctorCommand(o), newNamespacesCommand(o), newCostCommand(o),
	)
	return root
}

// clusterConfig loads the kubeconfig the flags name.
func (o *options) clusterConfig() (*rest.Config, clientcmd.ClientConfig, error) {
	if o.config != nil {
		return o.config, o.loader, nil
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if o.kubeconfig != "" {
		rules.ExplicitPath = o.kubeconfig
	}
	loader := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: o.kubeContext})
	cfg, err := loader.ClientConfig()
	if err != nil {
		return nil, nil, fmt.Errorf("no usable kubeconfig (%s): %w; pass --kubeconfig or set KUBECONFIG", o.describeKubeconfig(loader), err)
	}
	o.config, o.loader = cfg, loader
	return cfg, loader, nil
}

// kube returns a client of the cluster, after checking it answers, so an
// unreachable cluster is reported once, naming the kubeconfig and context.
func (o *options) kube(ctx context.Context) (client.WithWatch, error) {
	if o.client != nil {
		return o.client, nil
	}
	cfg, loader, err := o.clusterConfig()
	if err != nil {
		return nil, err
	}
	if err := reachable(ctx, cfg); err != nil {
		return nil, fmt.Errorf("cannot reach the cluster at %s (%s): %w", cfg.Host, o.describeKubeconfig(loader), err)
	}
	scheme, err := install.NewScheme()
	if err != nil {
		return nil, err
	}
	o.client, err = client.NewWithWatch(cfg, client.Options{Scheme: scheme})
	return o.client, err
}

// kubeAs returns a client of the cluster that impersonates user (in groups).
func (o *options) kubeAs(user string, groups []string) (client.Client, error) {
	cfg, _, err := o.clusterConfig()
	if err != nil {
		return nil, err
	}
	cfg = rest.CopyConfig(cfg)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: groups}
	scheme, err := install.NewScheme()
	if err != nil {
		return nil, err
	}
	return client.New(cfg, client.Options{Scheme: scheme})
}

func reachable(ctx context.Context, cfg *rest.Config) error {
	probe := rest.CopyConfig(cfg)
	probe.Timeout = 5 * time.Second
	dc, err := discovery.NewDiscoveryClientForConfig(probe)
	if err != nil {
		return err
	}
	_, err = dc.ServerVersion()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// describeKubeconfig says which kubeconfig file(s) and context were used.
func (o *options) describeKubeconfig(loader clientcmd.ClientConfig) string {
	files := o.kubeconfig
	if files == "" {
		files = clientcmd.NewDefaultClientConfigLoadingRules().GetDefaultFilename()
		if env := os.Getenv(clientcmd.RecommendedConfigPathEnvVar); env != "" {
			files = env
		}
	}
	context := o.kubeContext
	if context == "" && loader != nil {
		if raw, err := loader.RawConfig(); err == nil {
			context = raw.CurrentContext
		}
	}
	if context == "" {
		context = "(none)"
	}
	return fmt.Sprintf("kubeconfig %s, context %s", files, context)
}

// exitError carries a process exit code for failures that are results,
// not errors of the command (doctor's failed checks).
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// ExitCode is the process exit code for err: 0 for nil, an exitError's
// code, else 1.
func ExitCode(err error) int {
	var e *exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &e):
		return e.code
	default:
		return 1
	}
}

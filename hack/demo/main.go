// Command demo shows Tenantry's main job on a local control plane: it starts
// a real etcd, kube-apiserver, kube-controller-manager and kube-scheduler
// with kwok Nodes, the real Argo CD and a Git server on loopback, installs
// the platform chart's rendering, runs the operator as a process, and pushes
// the example plans and tenants from gitops/ to a local Git repository that
// Argo CD syncs. It then onboards one more tenant the GitOps way (`tenantry
// create` and `tenantry add-app`, each a commit), shows Argo CD deploying its
// app, prints how fast each tenant became Ready, checks one tenant's
// isolation from the inside (the checks of `tenantry doctor`), and keeps
// everything running until Ctrl-C. `make demo` runs it.
package main

import (
	"context"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/tenantry/tenantry/api/v1alpha1"
	"github.com/tenantry/tenantry/gitops"
	"github.com/tenantry/tenantry/internal/doctor"
	"github.com/tenantry/tenantry/internal/install"
	"github.com/tenantry/tenantry/internal/localcluster"
)

func main() {
	dataDir := flag.String("data-dir", "", "directory for PKI, etcd data, kubeconfig and logs (emptied at start, kept at exit); default: a temporary directory removed at exit")
	nodes := flag.Int("nodes", 3, "number of simulated kwok Nodes")
	operator := flag.String("operator", "", "tenantry-operator binary (default: tenantry-operator in the control plane's bin directory)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "Usage: %s [flags]\n\nStarts a local control plane with the Tenantry operator and the example tenants, and keeps it running until Ctrl-C.\n\n", os.Args[0])
		flag.PrintDefaults()
	}
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, *dataDir, *nodes, *operator)
	// Ctrl-C is how the demo is meant to end, even half-way through
	// start-up: what it interrupted is no failure.
	if err != nil && ctx.Err() == nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		stop()
		os.Exit(1)
	}
}

func run(ctx context.Context, dataDir string, nodes int, operator string) error {
	// The demo reports progress itself; client-go's logs stay quiet.
	ctrllog.SetLogger(logr.Discard())

	if operator == "" {
		binDir, err := localcluster.DefaultBinDir()
		if err != nil {
			return err
		}
		operator = filepath.Join(binDir, "tenantry-operator")
	}
	cluster, err := localcluster.Start(ctx, localcluster.Options{DataDir: dataDir, Nodes: nodes, Progress: os.Stderr})
	if err != nil {
		return err
	}
	defer func() {
		fmt.Fprintln(os.Stderr, "\nstopping the operator and the local control plane ...")
		if err := cluster.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "demo: stop:", err)
		}
		fmt.Fprintln(os.Stderr, "stopped.")
	}()

	scheme, err := install.NewScheme()
	if err != nil {
		return err
	}
	admin, err := client.New(cluster.Config, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	step(">> installing the platform chart as rendered by Helm (deploy/tenantry.yaml): CRDs, guardrails, RBAC, operator Deployment")
	operatorConfig, err := install.Platform(ctx, admin, cluster.Config)
	if err != nil {
		return err
	}
	// Argo CD before the operator: the operator turns GitOps on when it
	// finds Argo CD's kinds at start-up.
	step(">> starting Argo CD %s out of cluster (application controller, repo server, ApplicationSet controller, Redis), syncs impersonating each tenant's deployer", "v3.2.6")
	argo, err := cluster.StartArgoCD(ctx, localcluster.ArgoCDOptions{
		Config: map[string]string{"application.sync.impersonation.enabled": "true"},
	})
	if err != nil {
		return err
	}
	step(">> starting Argo Rollouts %s out of cluster: canary and blue-green releases of tenant apps", "v1.10.1")
	if _, err := cluster.StartRollouts(ctx, localcluster.RolloutsOptions{}); err != nil {
		return err
	}
	stub, err := startAnalysisStub(ctx, admin)
	if err != nil {
		return err
	}
	defer stub.Close()
	step(">> serving a stand-in for Prometheus and the apps' /healthz on %s: kwok runs no containers, so it answers from each release's FAILURE_RATE", stub.URL)
	// kwok only simulates the Deployment's pods, so the operator itself runs
	// here, with the chart's ServiceAccount and so exactly the chart's rights.
	step(">> starting %s as %s, the chart's ServiceAccount (log: %s)", operator, install.OperatorUsername, filepath.Join(cluster.LogDir, "tenantry-operator.log"))
	if err := cluster.StartAddon("tenantry-operator", operator, operatorConfig,
		"--metrics-bind-address=0", "--health-probe-bind-address=0"); err != nil {
		return err
	}

	repo, err := startGitOps(ctx, cluster, admin, argo, stub.URL)
	if err != nil {
		return err
	}
	tenants, err := fs.Glob(gitops.Examples, "tenants/*.yaml")
	if err != nil {
		return err
	}
	if err := waitReady(ctx, admin, len(tenants)); err != nil {
		return err
	}
	if err := onboardThroughGit(ctx, cluster, admin, argo, repo, filepath.Dir(operator)); err != nil {
		return err
	}
	if err := releaseShop(ctx, cluster, admin, argo, repo, filepath.Dir(operator), stub.URL); err != nil {
		return err
	}
	if err := printTenants(ctx, admin); err != nil {
		return err
	}
	if err := proveIsolation(ctx, cluster, admin, scheme); err != nil {
		return err
	}

	fmt.Printf(`
Local control plane ready in %.1fs; operator and example tenants running.

  kubeconfig: %s
  logs:       %s

GitOps: %s is a clone of %s, which Argo CD syncs.
  git -C %s log --stat           # every change to a tenant is a commit
  tenantry audit umbrella --gitops %s/gitops
  kubectl get applications,appprojects -n argocd
  tenantry status umbrella       # its apps, and shop's releases: 2.0.0 promoted, 3.0.0 aborted
  kubectl get rollouts,analysisruns -n umbrella-prod

Try it:
  export KUBECONFIG=%s
  kubectl get tenants            # or: kubectl get tnt
  kubectl get tenantplans
  kubectl describe tenant acme
  kubectl get networkpolicies,resourcequota -n acme-prod
  kubectl auth can-i list secrets -n acme-prod --as hank@globex.com   # no
  kubectl create service nodeport web --tcp=80 -n globex --as hank@globex.com   # refused: guardrail rule 3
  kubectl get resourcequota,limitrange -n globex --as hank@globex.com          # a tenant reads its limits
  kubectl create deployment web --image=registry.tenantry.dev/demo-app:1.0.0 -n globex --as hank@globex.com
                                 # accepted: the pod defaults fill in what Pod Security and the guardrails require
  export PATH=%s:$PATH
  tenantry list                  # the CLI (docs/cli.md); also: kubectl tenant list
  tenantry status acme
  tenantry doctor globex         # the isolation checks above, as globex's owner
  kubectl get deployment,pods,pdb -n tenantry-system   # the chart's operator Deployment (kwok simulates its pods)
  kubectl auth can-i --list --as system:serviceaccount:tenantry-system:tenantry-operator   # the chart's RBAC: all the operator holds

Press Ctrl-C to stop.
`, cluster.StartupTotal().Seconds(), cluster.KubeconfigPath, cluster.LogDir,
		repo.dir, repo.url, repo.dir, repo.dir, cluster.KubeconfigPath, filepath.Dir(operator))

	<-ctx.Done()
	return nil
}

func step(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }

// waitReady waits until n tenants are Ready, saying which are not yet.
func waitReady(ctx context.Context, c client.Client, n int) error {
	start := time.Now()
	lastReport := time.Now()
	return wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		var list v1alpha1.TenantList
		if err := c.List(ctx, &list); err != nil {
			return false, err
		}
		var pending []string
		for _, t := range list.Items {
			if t.Status.Phase != v1alpha1.PhaseReady {
				pending = append(pending, fmt.Sprintf("%s (%s)", t.Name, t.Status.Phase))
			}
		}
		if len(list.Items) == n && len(pending) == 0 {
			return true, nil
		}
		if time.Since(lastReport) > 5*time.Second {
			step("   waiting for %v (%s)", pending, time.Since(start).Truncate(time.Second))
			lastReport = time.Now()
		}
		return false, nil
	})
}

func printTenants(ctx context.Context, c client.Client) error {
	var list v1alpha1.TenantList
	if err := c.List(ctx, &list); err != nil {
		return err
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "\nTENANT\tPLAN\tPHASE\tNAMESPACES\tREADY AFTER")
	for _, t := range list.Items {
		took := "-"
		if t.Status.OnboardingDuration != nil {
			took = t.Status.OnboardingDuration.Duration.String()
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%v\t%s\n", t.Name, t.Spec.Plan, t.Status.Phase, t.Status.Namespaces, took)
	}
	return w.Flush()
}

// proveIsolation acts as Globex's admin, authenticated by a client
// certificate, and shows what the API server allows and refuses, and which
// layer refuses it. Writes are dry runs: the demo changes nothing.
func proveIsolation(ctx context.Context, cluster *localcluster.Cluster, c client.Client, scheme *runtime.Scheme) error {
	const user, tenant = "hank@globex.com", "globex"
	cfg, err := cluster.UserConfig(user)
	if err != nil {
		return err
	}
	hank, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	target := doctor.Target{Tenant: &v1alpha1.Tenant{}, Plan: &v1alpha1.TenantPlan{}, OtherNamespace: "acme-prod"}
	if err := c.Get(ctx, client.ObjectKey{Name: tenant}, target.Tenant); err != nil {
		return err
	}
	if err := c.Get(ctx, client.ObjectKey{Name: target.Tenant.Spec.Plan}, target.Plan); err != nil {
		return err
	}
	// The same checks as `tenantry doctor globex`, made by hank himself.
	results, err := doctor.Run(ctx, hank, target)
	if err != nil {
		return err
	}
	fmt.Printf("\nIsolation, as %s (admin of tenant globex, plan free), dry-run:\n", user)
	if failed := doctor.Write(os.Stdout, results); failed > 0 {
		return fmt.Errorf("%d isolation checks did not hold", failed)
	}
	return nil
}

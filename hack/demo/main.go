// Command demo shows Tenantry's main job on a local cluster: it starts a
// real etcd, kube-apiserver, kube-controller-manager and kube-scheduler, a
// real node (containerd, kubelet, kube-proxy, CoreDNS) beside kwok Nodes,
// the real Argo CD and a Git server on loopback, Argo Rollouts and
// Prometheus as pods on the real node; builds the operator's and the demo
// app's images without Docker into the cluster's registry; installs the
// platform chart with helm, so the operator and the tenant metrics gateway
// run as pods; and pushes the example plans and tenants from gitops/ to a
// local Git repository that Argo CD syncs. It then onboards one more tenant
// the GitOps way (`tenantry create` and `tenantry add-app`, each a commit),
// shows Argo CD deploying its app and Argo Rollouts releasing another under
// real load, each canary judged by Prometheus's measurements of its real
// requests, queried with the tenant's own credential; asks the app for a
// real HTTP response from a pod of the tenant, prints how fast each tenant
// became Ready, checks one tenant's isolation from the inside (the checks
// of `tenantry doctor`), and keeps everything running until Ctrl-C. `make
// demo` runs it.
package main

import (
	"context"
	"errors"
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
	nodes := flag.Int("nodes", 3, "number of simulated kwok Nodes, beside the real one (pods avoid them: they carry kwok's taint)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "Usage: %s [flags]\n\nStarts a local control plane with the Tenantry operator and the example tenants, and keeps it running until Ctrl-C.\n\n", os.Args[0])
		flag.PrintDefaults()
	}
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, *dataDir, *nodes)
	// Ctrl-C is how the demo is meant to end, even half-way through
	// start-up: what it interrupted is no failure.
	if err != nil && ctx.Err() == nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		stop()
		os.Exit(1)
	}
}

func run(ctx context.Context, dataDir string, nodes int) error {
	// The demo reports progress itself; client-go's logs stay quiet.
	ctrllog.SetLogger(logr.Discard())

	binDir, err := localcluster.DefaultBinDir()
	if err != nil {
		return err
	}
	cluster, err := localcluster.Start(ctx, localcluster.Options{DataDir: dataDir, Nodes: nodes, RealNode: true, Progress: os.Stderr})
	if err != nil {
		if errors.Is(err, localcluster.ErrNoRealNode) {
			return fmt.Errorf("%w\n(make demo runs the operator and the apps as real pods; docs/local-control-plane.md lists what the host needs)", err)
		}
		return err
	}
	defer func() {
		fmt.Fprintln(os.Stderr, "\nstopping the local cluster: its pods, the real node and the control plane ...")
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
	// Argo CD before the operator: the operator turns GitOps on when it
	// finds Argo CD's kinds at start-up.
	step(">> starting Argo CD %s out of cluster (application controller, repo server, ApplicationSet controller, Redis), syncs impersonating each tenant's deployer", "v3.2.6")
	argo, err := cluster.StartArgoCD(ctx, localcluster.ArgoCDOptions{
		Config: map[string]string{"application.sync.impersonation.enabled": "true"},
	})
	if err != nil {
		return err
	}
	step(">> starting Argo Rollouts %s as a pod on the real node: canary and blue-green releases of tenant apps", "v1.10.1")
	// In cluster: its analyses ask Service names (the metrics gateway, the
	// canary's /healthz), resolved by CoreDNS and routed by kube-proxy.
	if _, err := cluster.StartRollouts(ctx, localcluster.RolloutsOptions{}); err != nil {
		return err
	}
	if err := pushDemoApp(ctx, cluster, filepath.Dir(binDir)); err != nil {
		return err
	}
	// Prometheus before the platform: the chart's metrics gateway is given
	// its address.
	step(">> starting Prometheus (Debian's build) as a pod in namespace monitoring: it scrapes the tenants' pods, the operator and the kubelet every %s, with the platform's alerts and cost rules", scrapeInterval)
	rules, err := install.PrometheusRules()
	if err != nil {
		return err
	}
	prom, err := cluster.StartPrometheus(ctx, localcluster.PrometheusOptions{ScrapeInterval: scrapeInterval,
		Rules: map[string]string{"tenantry.yaml": rules}})
	if err != nil {
		return err
	}
	step("   Prometheus ready at %s", prom.URL)
	gateway, err := metricsGatewayValues(ctx, cluster, binDir, prom.URL)
	if err != nil {
		return err
	}
	// Argo CD's kinds exist by now: the operator turns GitOps on when it
	// finds them at start-up.
	step(">> building the operator's image and installing the platform chart with helm (CRDs, guardrails, RBAC, 2 operator pods, the tenant metrics gateway)")
	platform, err := cluster.InstallPlatform(ctx, localcluster.PlatformOptions{Values: gateway})
	if err != nil {
		return err
	}
	step("   operator pods Ready in %s, running %s@%s; tenants query Prometheus through the metrics gateway, each with a credential of its own",
		platform.Namespace, localcluster.OperatorImage, platform.ImageDigest)

	repo, err := startGitOps(ctx, cluster, admin, argo)
	if err != nil {
		return err
	}
	tenants, err := fs.Glob(examples.Examples, "tenants/*.yaml")
	if err != nil {
		return err
	}
	if err := waitReady(ctx, admin, len(tenants)); err != nil {
		return err
	}
	if err := onboardThroughGit(ctx, cluster, admin, argo, repo, binDir); err != nil {
		return err
	}
	if err := releaseShop(ctx, cluster, admin, argo, repo, binDir); err != nil {
		return err
	}
	if err := askTheApp(ctx, cluster); err != nil {
		return err
	}
	if err := printTenants(ctx, admin); err != nil {
		return err
	}
	if err := proveIsolation(ctx, cluster, admin, scheme); err != nil {
		return err
	}

	fmt.Printf(`
Local cluster (control plane and real node) ready in %.1fs; operator pods and example tenants running.

  kubeconfig: %s
  logs:       %s

GitOps: %s is a clone of %s, which Argo CD syncs.
  git -C %s log --stat           # every change to a tenant is a commit
  tenantry audit umbrella --gitops %s/gitops
  kubectl get applications,appprojects -n argocd
  tenantry status umbrella       # its apps, and shop's releases: 2.0.0 promoted, 3.0.0 aborted
  kubectl get rollouts,analysisruns -n umbrella-prod
  kubectl logs -n umbrella-prod shop-load --tail 3     # the load client's reports: answers per version
  kubectl get secret tenantry-analysis -n umbrella-prod --as ada@umbrella.example -o jsonpath='{.data.prometheus-address}' | base64 -d
                                 # umbrella's analysis address: the metrics gateway, with umbrella's own token beside it

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
  tenantry cost --since 15m --resolution %s --environments --prometheus %s
                                 # what each tenant cost so far at gitops/plans/prices.yaml's prices, and its utilisation
  kubectl get pods -n tenantry-system -o wide   # the operator, 2 pods from its own image on the real node
  kubectl get pods -n umbrella-prod -o wide     # the apps: real containers on node real-node-0
  kubectl logs -n umbrella-prod deploy/hello    # through the API server from the kubelet
  kubectl auth can-i --list --as system:serviceaccount:tenantry-system:tenantry-operator   # the chart's RBAC: all the operator holds

Press Ctrl-C to stop.
`, cluster.StartupTotal().Seconds(), cluster.KubeconfigPath, cluster.LogDir,
		repo.dir, repo.url, repo.dir, repo.dir, cluster.KubeconfigPath, binDir, scrapeInterval, prom.HostURL)

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

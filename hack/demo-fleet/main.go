// Command demo-fleet shows a fleet on this machine: a hub cluster running
// Argo CD, a Git server and the Tenantry operator as the fleet's hub, and
// two member clusters (kwok nodes) running the operator as members,
// registered with the hub's Argo CD. It pushes the example plans and
// tenants from gitops/ to the hub's Git server and bootstraps the hub from
// gitops/fleet: the hub places each tenant on a member, and Argo CD carries
// it there, where the member's operator onboards it. It then deploys an app
// to one tenant and moves that tenant to the other member with `tenantry
// move` (a commit), and keeps everything running until Ctrl-C. `make
// demo-fleet` runs it.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/tenantry/tenantry/api/v1alpha1"
	examples "github.com/tenantry/tenantry/gitops"
	"github.com/tenantry/tenantry/internal/cli"
	"github.com/tenantry/tenantry/internal/gitops"
	"github.com/tenantry/tenantry/internal/install"
	"github.com/tenantry/tenantry/internal/localcluster"
	"github.com/tenantry/tenantry/internal/localfleet"
)

// members are the demo's member clusters: their Argo CD names, labels and
// bounds. eu-1 takes two tenants.
var members = []struct {
	name        string
	labels      map[string]string
	annotations map[string]string
}{
	{"eu-1", map[string]string{"region": "eu"}, map[string]string{v1alpha1.AnnotationMaxTenants: "2"}},
	{"us-1", map[string]string{"region": "us"}, nil},
}

func main() {
	dataDir := flag.String("data-dir", "", "directory for the clusters' PKI, etcd data, kubeconfigs and logs, one folder per cluster (emptied at start, kept at exit); default: a temporary directory removed at exit")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "Usage: %s [flags]\n\nStarts a fleet on this machine (a hub with Argo CD and two member clusters), places and onboards the example tenants, moves one, and keeps it running until Ctrl-C.\n\n", os.Args[0])
		flag.PrintDefaults()
	}
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, *dataDir)
	if err != nil && ctx.Err() == nil {
		fmt.Fprintln(os.Stderr, "demo-fleet:", err)
		stop()
		os.Exit(1)
	}
}

func run(ctx context.Context, dataDir string) error {
	ctrllog.SetLogger(logr.Discard())
	binDir, err := localcluster.DefaultBinDir()
	if err != nil {
		return err
	}
	if dataDir == "" {
		if dataDir, err = os.MkdirTemp("", "tenantry-fleet-"); err != nil {
			return err
		}
		defer os.RemoveAll(dataDir)
	} else if err := emptyFleetDir(dataDir); err != nil {
		return err
	}
	operator := filepath.Join(binDir, "tenantry-operator")
	if _, err := os.Stat(operator); err != nil {
		return fmt.Errorf("%w (make demo-fleet builds it)", err)
	}
	scheme, err := install.NewScheme()
	if err != nil {
		return err
	}
	var clusters []*localcluster.Cluster
	kubeconfigs := map[string]string{}
	defer func() {
		fmt.Fprintln(os.Stderr, "\nstopping the fleet's clusters ...")
		for _, c := range slices.Backward(clusters) {
			if err := c.Stop(); err != nil {
				fmt.Fprintln(os.Stderr, "demo-fleet: stop:", err)
			}
		}
		fmt.Fprintln(os.Stderr, "stopped.")
	}()

	step(">> starting the hub: a local control plane, Argo CD out of cluster, a Git server")
	h, err := localfleet.StartHub(ctx, operator, scheme, localfleet.HubOptions{
		Cluster:      localcluster.Options{DataDir: filepath.Join(dataDir, "hub"), Nodes: 1, Progress: os.Stderr},
		Repositories: []string{"platform.git"},
	})
	if h != nil {
		clusters = append(clusters, h.Cluster)
	}
	if err != nil {
		return err
	}
	hub, argo, admin, gitURL := h.Cluster, h.ArgoCD, h.Admin, h.GitURL
	step("   the operator runs as the fleet's hub (--fleet-hub): it places tenants and onboards none")

	for _, m := range members {
		step(">> starting member %s (labels %v, bounds %v): a local control plane with kwok nodes, the operator with --fleet-member", m.name, m.labels, m.annotations)
		member, err := localfleet.StartMember(ctx, m.name, operator, scheme,
			localcluster.Options{DataDir: filepath.Join(dataDir, m.name), Nodes: 1, Progress: os.Stderr})
		if member != nil {
			clusters = append(clusters, member.Cluster)
		}
		if err != nil {
			return err
		}
		kubeconfigs[m.name] = member.Cluster.KubeconfigPath
		if err := member.Register(ctx, admin, argo.Namespace, m.labels, m.annotations); err != nil {
			return err
		}
		step("   registered with the hub's Argo CD as a member: cluster Secret cluster-%s, labelled %s=%s", m.name, v1alpha1.LabelMember, m.name)
	}

	repoDir := filepath.Join(dataDir, "platform")
	if err := publish(repoDir, gitURL+"/platform.git"); err != nil {
		return err
	}
	step(">> pushed gitops/ (plans, tenants acme, globex, initech, apps/hello) to %s/platform.git", gitURL)
	if err := install.FleetBootstrap(ctx, admin, argo.Namespace, gitURL+"/platform.git"); err != nil {
		return err
	}
	step(">> bootstrapped the hub from gitops/fleet: plans and tenants into the hub, plans to every member, each tenant to its member")

	tenants, err := fs.Glob(examples.Examples, "tenants/*.yaml")
	if err != nil {
		return err
	}
	placed, err := waitPlacedAndReady(ctx, admin, argo, len(tenants))
	if err != nil {
		return err
	}
	if err := tenantry(ctx, hub, "list"); err != nil {
		return err
	}

	// globex gets an app, then moves to the other member with it.
	from := placed["globex"]
	to := other(from)
	gitopsDir := filepath.Join(repoDir, "gitops")
	step("\n>> tenantry add-app globex hello (a commit): the hub's Argo CD deploys it to globex's namespace on %s, as globex's deployer", from)
	if err := tenantry(ctx, hub, "add-app", "globex", "hello", "--repo", gitURL+"/platform.git", "--path", "gitops/apps/hello",
		"--gitops", gitopsDir, "--push", "--reason", "first release"); err != nil {
		return err
	}
	if err := waitApp(ctx, argo, "globex-hello-"+from); err != nil {
		return err
	}
	step("\n>> tenantry move globex --to %s (a commit): onboarded there, its app healthy there, then offboarded from %s", to, from)
	if err := tenantry(ctx, hub, "move", "globex", "--to", to, "--gitops", gitopsDir, "--push", "--reason", "closer to its users",
		"--wait", "--timeout", "5m"); err != nil {
		return err
	}
	if err := tenantry(ctx, hub, "list"); err != nil {
		return err
	}

	fmt.Printf(`
Fleet ready: a hub and %d members, the example tenants placed and onboarded, globex moved.

  hub:     export KUBECONFIG=%s
  members: %s (%s), %s (%s)
  logs:    %s/*/logs (the hub's Argo CD and operator: %s)

Try it:
  export PATH=%s:$PATH KUBECONFIG=%s
  tenantry list                                 # the cluster of each tenant
  kubectl get placementdecisions -n argocd -o yaml   # what the ApplicationSet reads
  kubectl get applications -n argocd            # one per tenant per member, and the tenants' apps
  git -C %s log --oneline                       # every placement change is a commit
  tenantry move acme --to %s --gitops %s --push --wait
  KUBECONFIG=%s kubectl get tenants,namespaces  # a member's own view

Press Ctrl-C to stop.
`, len(members), hub.KubeconfigPath,
		members[0].name, kubeconfigs[members[0].name], members[1].name, kubeconfigs[members[1].name],
		dataDir, hub.LogDir, binDir, hub.KubeconfigPath, repoDir, other(placed["acme"]), gitopsDir, kubeconfigs[to])
	<-ctx.Done()
	return nil
}

func step(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }

// other is the member that is not cluster.
func other(cluster string) string {
	if cluster == members[0].name {
		return members[1].name
	}
	return members[0].name
}

// fleetMarker marks a directory as the fleet demo's, which the next run
// may empty.
const fleetMarker = ".tenantry-fleet"

// emptyFleetDir empties a previous run's data dir and marks it; a
// directory with content the demo did not create is refused, so a
// mistyped path loses nothing.
func emptyFleetDir(dir string) error {
	entries, err := os.ReadDir(dir)
	switch {
	case err == nil && len(entries) > 0:
		if _, err := os.Stat(filepath.Join(dir, fleetMarker)); err != nil {
			return fmt.Errorf("--data-dir %s is not empty and holds no earlier fleet (no %s file): choose a new or empty directory", dir, fleetMarker)
		}
		if err := os.RemoveAll(dir); err != nil {
			return err
		}
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, fleetMarker), nil, 0o644)
}

// publish pushes the example plans, tenants and app to the hub's Git
// server, laid out as gitops/ is.
func publish(dir, url string) error {
	files := map[string][]byte{}
	for _, pattern := range []string{"plans/*.yaml", "tenants/*.yaml", "apps/hello/*.yaml"} {
		paths, err := fs.Glob(examples.Examples, pattern)
		if err != nil {
			return err
		}
		for _, p := range paths {
			data, err := fs.ReadFile(examples.Examples, p)
			if err != nil {
				return err
			}
			files["gitops/"+p] = data
		}
	}
	return gitops.Publish(dir, url, files, "The example plans and tenants", "Platform Team", "platform@example.com")
}

// waitPlacedAndReady waits until the hub has placed n tenants and each is
// Ready on its member, as the Application that carries it there reports,
// and returns where each is.
func waitPlacedAndReady(ctx context.Context, hub client.Client, argo *localcluster.ArgoCD, n int) (map[string]string, error) {
	start, lastReport := time.Now(), time.Now()
	placed := map[string]string{}
	err := wait.PollUntilContextTimeout(ctx, time.Second, 5*time.Minute, true, func(ctx context.Context) (bool, error) {
		var list v1alpha1.TenantList
		if err := hub.List(ctx, &list); err != nil {
			return false, err
		}
		var pending []string
		for _, t := range list.Items {
			if t.Status.Placement == nil {
				pending = append(pending, t.Name+" (not placed)")
				continue
			}
			placed[t.Name] = t.Status.Placement.Cluster
			if health := appHealth(ctx, argo, "tenant-"+t.Name+"-"+t.Status.Placement.Cluster); health != synced {
				pending = append(pending, fmt.Sprintf("%s (on %s: %s)", t.Name, t.Status.Placement.Cluster, health))
			}
		}
		if len(list.Items) == n && len(pending) == 0 {
			step("   every tenant placed and Ready on its member %.1fs after the push", time.Since(start).Seconds())
			return true, nil
		}
		if time.Since(lastReport) > 5*time.Second {
			step("   waiting for %v (%s)", pending, time.Since(start).Truncate(time.Second))
			lastReport = time.Now()
		}
		return false, nil
	})
	return placed, err
}

// waitApp waits until an Application on the hub is synced and healthy.
func waitApp(ctx context.Context, argo *localcluster.ArgoCD, name string) error {
	start := time.Now()
	err := wait.PollUntilContextTimeout(ctx, time.Second, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		return appHealth(ctx, argo, name) == synced, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for Application %s (%s): %w", name, appHealth(ctx, argo, name), err)
	}
	step("   Application %s synced and healthy after %.1fs", name, time.Since(start).Seconds())
	return nil
}

// synced is appHealth of a synced and healthy Application.
const synced = "Synced Healthy"

// appHealth is an Application's sync and health status, in two words.
func appHealth(ctx context.Context, argo *localcluster.ArgoCD, name string) string {
	status, err := argo.Status(ctx, name)
	if err != nil {
		return "no Application yet"
	}
	return status.Sync + " " + status.Health
}

// tenantry runs the CLI against the hub, printing what it prints.
func tenantry(ctx context.Context, hub *localcluster.Cluster, args ...string) error {
	var out bytes.Buffer
	root := cli.NewRoot("tenantry", &out, &out)
	root.SetArgs(append([]string{"--kubeconfig", hub.KubeconfigPath}, args...))
	err := root.ExecuteContext(ctx)
	fmt.Print(out.String())
	if err != nil {
		return errors.Join(fmt.Errorf("tenantry %v", args), err)
	}
	return nil
}

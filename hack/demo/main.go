// Command demo runs Tenantry's local control plane until interrupted: a real
// etcd, kube-apiserver, kube-controller-manager and kube-scheduler with kwok
// Nodes, all on loopback. `make demo` runs it; later milestones add the
// operator and sample tenants on top.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/tenantry/tenantry/internal/localcluster"
)

func main() {
	dataDir := flag.String("data-dir", "", "directory for PKI, etcd data, kubeconfig and logs (emptied at start, kept at exit); default: a temporary directory removed at exit")
	nodes := flag.Int("nodes", 3, "number of simulated kwok Nodes")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "Usage: %s [flags]\n\nStarts a local Kubernetes control plane from bin/ and keeps it running until Ctrl-C.\n\n", os.Args[0])
		flag.PrintDefaults()
	}
	flag.Parse()
	if err := run(*dataDir, *nodes); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(dataDir string, nodes int) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	cluster, err := localcluster.Start(ctx, localcluster.Options{DataDir: dataDir, Nodes: nodes, Progress: os.Stderr})
	if err != nil {
		return err
	}
	defer func() {
		fmt.Fprintln(os.Stderr, "\nstopping the local control plane ...")
		if err := cluster.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "demo: stop:", err)
		}
		fmt.Fprintln(os.Stderr, "stopped.")
	}()

	fmt.Printf(`
Local control plane ready in %.1fs (kube-apiserver ready after %.1fs).

  kubeconfig: %s
  logs:       %s

Try it:
  kubectl --kubeconfig %s get nodes

Press Ctrl-C to stop.
`, cluster.StartupTotal().Seconds(), cluster.APIServerReadyAfter().Seconds(),
		cluster.KubeconfigPath, cluster.LogDir, cluster.KubeconfigPath)

	<-ctx.Done()
	return nil
}

// Command demo-app is the sample SaaS workload tenants deploy on Tenantry
// (chart charts/tenant-app). It is configured by environment variables or
// flags; `demo-app --help` lists them, and package internal/demoapp documents
// its routes and metrics. `demo-app get URL` and `demo-app load URL...` are
// clients in the same image, for probing a Service from a pod and for
// measuring what a release does to its clients; `demo-app probe
// tcp|udp|dns|http TARGET` tries one connection, for reachability matrices;
// `demo-app burn` keeps CPUs busy, a known load for cost tests.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/tenantry/tenantry/internal/demoapp"
)

// clients are the subcommands that make the image a client of other pods
// rather than the app: each returns the process exit code.
var clients = map[string]func(ctx context.Context, args []string, stdout, stderr io.Writer) int{
	"burn":  demoapp.Burn,
	"get":   demoapp.Get,
	"load":  demoapp.Load,
	"probe": demoapp.Probe,
}

func main() {
	if len(os.Args) > 1 {
		if client, ok := clients[os.Args[1]]; ok {
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
			code := client(ctx, os.Args[2:], os.Stdout, os.Stderr)
			stop()
			os.Exit(code)
		}
	}
	cfg, err := demoapp.ParseConfig(os.Args[1:], os.Getenv, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo-app:", err)
		os.Exit(2)
	}
	// SIGTERM is how the kubelet stops a pod; SIGINT is Ctrl-C at a terminal.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	if err := demoapp.Run(ctx, cfg, log); err != nil {
		log.Error("stopped", "err", err)
		stop()
		os.Exit(1)
	}
}

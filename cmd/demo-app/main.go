// Command demo-app is the sample SaaS workload tenants deploy on Tenantry
// (chart charts/tenant-app). It is configured by environment variables or
// flags; `demo-app --help` lists them, and package internal/demoapp documents
// its routes and metrics. `demo-app get URL` is a client in the same image,
// for probing a Service from a pod.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/tenantry/tenantry/internal/demoapp"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "get" {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
		code := demoapp.Get(ctx, os.Args[2:], os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
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

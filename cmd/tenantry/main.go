// Command tenantry is Tenantry's CLI. Installed as kubectl-tenant on the
// PATH it is also the kubectl plugin `kubectl tenant`.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"

	"github.com/tenantry/tenantry/internal/cli"
)

func main() {
	name := "tenantry"
	if strings.HasPrefix(filepath.Base(os.Args[0]), "kubectl-tenant") {
		name = "kubectl tenant"
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	err := cli.NewRoot(name, os.Stdout, os.Stderr).ExecuteContext(ctx)
	if err != nil && err.Error() != "" {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
	}
	os.Exit(cli.ExitCode(err))
}

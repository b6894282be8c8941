// Command static-manifest prints deploy/tenantry.yaml: the chart rendered
// with its default values plus createNamespace, for installs without Helm
// (kubectl apply --server-side) and for the tests, the demo and the
// benchmarks, which install exactly this. `make generate` runs it.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/tenantry/tenantry/test/chart"
)

func main() {
	manifest, err := chart.Static(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, "static-manifest:", err)
		os.Exit(1)
	}
	fmt.Print(manifest)
}

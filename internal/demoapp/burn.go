package demoapp

import (
	"context"
	"flag"
	"fmt"
	"io"
	"runtime"
)

// Burn keeps threads busy until ctx ends: a known CPU load for cost and
// utilisation tests. Run in a container with a CPU limit, it uses exactly
// that limit (the kernel's CFS quota throttles the rest).
//
// usage: demo-app burn [--threads N]
func Burn(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("burn", flag.ContinueOnError)
	fs.SetOutput(stderr)
	threads := fs.Int("threads", 1, "Busy threads: the load in cores, where the CPU limit allows.")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *threads < 1 || *threads > runtime.NumCPU()*4 {
		fmt.Fprintf(stderr, "burn: --threads %d: want 1 to %d\n", *threads, runtime.NumCPU()*4)
		return 2
	}
	fmt.Fprintf(stdout, "burning %d threads until stopped\n", *threads)
	for range *threads {
		go spin(ctx)
	}
	<-ctx.Done()
	return 0
}

// spin loops until ctx ends, checking it every few million iterations.
func spin(ctx context.Context) {
	for n := 0; ; n++ {
		if n%(1<<22) == 0 && ctx.Err() != nil {
			return
		}
	}
}

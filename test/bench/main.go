// Command bench measures Tenantry at scale on the local control plane and
// writes a Markdown report (for docs/benchmarks.md) and a JSON file:
//
//  1. the ceilings: for N tenants, the minimal set of objects that isolates
//     them created by plain POSTs, and the operator's objects server-side
//     applied, straight from one client at high QPS, with no operator;
//  2. onboarding N tenants as fast as they can be created;
//  3. create→Ready latency under steady arrival, at each of --rates;
//  4. the operator's footprint at N: memory, CPU, API requests per tenant;
//  5. writes at rest, when nothing changes;
//  6. restart recovery: kill -9, start, time until every tenant is verified;
//  7. drift repair: managed NetworkPolicies deleted by hand, time to restore;
//  8. one /metrics scrape: its time, its series, the operator's RSS after;
//  9. the cluster tax: an unrelated user's read latency at 0 and N tenants,
//     and the API server's memory.
//
// `make bench` runs it; it is not part of `make test`.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/tenantry/tenantry/internal/localcluster"
)

type options struct {
	tenants, envs, workers int
	// ceilingTenants is how many tenants the ceilings write: N unless set.
	ceilingTenants         int
	taxRequests            int
	readyTimeout           time.Duration
	rates                  []float64
	steady, rest           time.Duration
	drift                  int
	operator, out, dataDir string
	operatorArgs           []string
	memoryLimit            resource.Quantity
	gogc                   string
}

func main() {
	var o options
	var qps, burst, concurrency int
	flag.IntVar(&o.tenants, "tenants", 1000, "tenants to onboard (N)")
	flag.IntVar(&o.envs, "envs", 2, "environments (namespaces) per tenant")
	flag.IntVar(&o.workers, "workers", 16, "goroutines creating objects and tenants")
	flag.IntVar(&o.ceilingTenants, "ceiling-tenants", 0, "tenants the ceilings write (default: -tenants)")
	flag.IntVar(&o.taxRequests, "tax-requests", 1000, "reads the unrelated user makes in each of 5 rounds, at 0 and at N tenants")
	flag.DurationVar(&o.readyTimeout, "ready-timeout", 15*time.Minute, "how long onboarding may take before the bench gives up")
	flag.Func("rates", "steady arrival rates in turn, tenants per second (default 10,5: the issue's rate, then one this machine sustains)", func(v string) error {
		o.rates = nil
		for _, f := range strings.Split(v, ",") {
			rate, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
			if err != nil || rate <= 0 {
				return fmt.Errorf("%q is not a rate: give tenants per second, such as 10,5", f)
			}
			o.rates = append(o.rates, rate)
		}
		return nil
	})
	o.rates = []float64{10, 5}
	flag.DurationVar(&o.steady, "steady", time.Minute, "how long tenants arrive at each rate")
	flag.DurationVar(&o.rest, "rest", 2*time.Minute, "how long writes at rest are counted")
	flag.IntVar(&o.drift, "drift", 50, "tenants whose default-deny NetworkPolicy is deleted")
	flag.StringVar(&o.operator, "operator", "", "tenantry-operator binary (default: bin/tenantry-operator)")
	flag.StringVar(&o.out, "out", "", "directory for report.md and report.json (default: bin/bench)")
	flag.StringVar(&o.dataDir, "data-dir", "", "the control plane's data directory (default: a temporary one)")
	flag.IntVar(&qps, "operator-qps", 300, "the operator's --kube-api-qps")
	flag.IntVar(&burst, "operator-burst", 600, "the operator's --kube-api-burst")
	flag.IntVar(&concurrency, "operator-concurrency", 8, "the operator's --max-concurrent-reconciles")
	quotaMetrics := flag.String("operator-quota-metrics", "namespace", "the operator's --quota-metrics")
	flag.Func("operator-memory-limit", "the operator's container memory limit, as the chart's resources.limits.memory (default 256Mi): the operator sets Go's memory limit to 90 % of it", func(v string) error {
		q, err := resource.ParseQuantity(v)
		if err != nil || q.Value() <= 0 {
			return fmt.Errorf("%q is not a memory size: give a quantity such as 256Mi", v)
		}
		o.memoryLimit = q
		return nil
	})
	o.memoryLimit = resource.MustParse("256Mi")
	flag.StringVar(&o.gogc, "operator-gogc", "50", "the operator's GOGC, as the chart sets it (operator.gogc); empty for Go's default, 100")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "Usage: bench [flags]\n\nMeasures Tenantry at scale on a local control plane (make testbin builds it) and writes\nreport.md and report.json. At the defaults it takes about 12 minutes.\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if o.ceilingTenants == 0 {
		o.ceilingTenants = o.tenants
	}
	o.operatorArgs = []string{
		fmt.Sprintf("--kube-api-qps=%d", qps), fmt.Sprintf("--kube-api-burst=%d", burst),
		fmt.Sprintf("--max-concurrent-reconciles=%d", concurrency),
		"--quota-metrics=" + *quotaMetrics,
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	binDir, err := localcluster.DefaultBinDir()
	if err != nil {
		return err
	}
	if o.operator == "" {
		o.operator = filepath.Join(binDir, "tenantry-operator")
	}
	if o.out == "" {
		o.out = filepath.Join(binDir, "bench")
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}

	r := &report{
		Date: time.Now().UTC().Format("2006-01-02"), Machine: machine(),
		Tenants: o.tenants, Environments: o.envs, OperatorArgs: append(o.operatorArgs, o.operatorEnv()...),
	}
	// The footprint, rest, restart and drift are measured at N tenants, as
	// the issue asks; the steady arrival, which adds tenants, comes last.
	step("[1] ceilings: %d tenants' objects written directly, %d workers, no operator", o.ceilingTenants, o.workers)
	if err := measureCeilings(ctx, o, r); err != nil {
		return fmt.Errorf("ceiling: %w", err)
	}
	b, err := newBench(ctx, o)
	if err != nil {
		return err
	}
	defer b.stop()
	for _, s := range []struct {
		name string
		run  func(context.Context, *report) error
	}{
		{"[9] cluster tax at 0 tenants", b.clusterTax(false)},
		{fmt.Sprintf("[2] onboarding %d tenants", o.tenants), b.onboarding},
		{fmt.Sprintf("[4, 8] operator footprint and a /metrics scrape at %d tenants", o.tenants), b.footprint},
		{fmt.Sprintf("[5] writes at rest over %s", o.rest), b.atRest},
		{fmt.Sprintf("[9] cluster tax at %d tenants", o.tenants), b.clusterTax(true)},
		{"[6] restart recovery (kill -9)", b.restart},
		{fmt.Sprintf("[7] drift repair: %d NetworkPolicies deleted", o.drift), b.driftRepair},
	} {
		step("%s", s.name)
		if err := s.run(ctx, r); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
	}
	for _, rate := range o.rates {
		name := fmt.Sprintf("[3] steady arrival: %g tenants/s for %s on top of the %d", rate, o.steady, len(b.tenants))
		step("%s", name)
		if err := b.steadyArrival(ctx, rate, r); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}

	md := r.markdown()
	fmt.Print("\n" + md)
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(o.out, "report.json"), data, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(o.out, "report.md"), []byte(md), 0o644); err != nil {
		return err
	}
	step("wrote %s and report.json", filepath.Join(o.out, "report.md"))
	return nil
}

// operatorEnv is the Go runtime's settings for the operator process.
func (o options) operatorEnv() []string {
	env := []string{"TENANTRY_MEMORY_LIMIT=" + strconv.FormatInt(o.memoryLimit.Value(), 10)}
	if o.gogc != "" {
		env = append(env, "GOGC="+o.gogc)
	}
	return env
}

func step(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s >> "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// machine describes where the figures come from.
func machine() string {
	model := "unknown CPU"
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	return fmt.Sprintf("%d CPUs (%s), %s, %s/%s", runtime.NumCPU(), model, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

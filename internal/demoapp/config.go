// Package demoapp is the sample SaaS workload tenants deploy on Tenantry
// (cmd/demo-app, chart charts/tenant-app): a small tenant-aware HTTP service
// with health and readiness probes, per-tenant Prometheus metrics, and fault
// knobs (a failure rate and added latency) for trying progressive delivery.
//
// Routes:
//
//	/         {"tenant","version","message":"hello from <tenant>"}; slowed by LATENCY,
//	          answered 500 for a FAILURE_RATE fraction of requests.
//	/healthz  liveness: 200 {"status":"ok","tenant","version"}, unaffected by the
//	          fault knobs, except that FAILURE_RATE >= 1 reports 503
//	          {"status":"failing",...}, so a web health-check analysis catches a
//	          release that fails every request.
//	/readyz   200 while serving; 503 from SIGTERM on, through SHUTDOWN_DELAY, so a
//	          Service stops sending traffic before the server closes.
//	/metrics  Prometheus: demo_app_requests_total{tenant,route,code},
//	          demo_app_request_duration_seconds{tenant,route},
//	          demo_app_build_info{tenant,version} 1, Go and process collectors.
//	/version  {"version"}.
package demoapp

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime/debug"
	"strconv"
	"strings"
	"time"
)

// Config is what an instance serves and how it misbehaves.
type Config struct {
	// Tenant is the tenant this instance serves; it labels responses and metrics.
	Tenant string
	// Version is the version the instance reports.
	Version string
	// Addr is the address the HTTP server listens on.
	Addr string
	// FailureRate is the fraction (0..1) of requests to / answered 500.
	FailureRate float64
	// Latency is added to every request to /.
	Latency time.Duration
	// ShutdownDelay is how long the server keeps serving, not ready, after
	// SIGTERM: long enough for endpoints to drop the pod.
	ShutdownDelay time.Duration
}

const usageHeader = `Usage: demo-app [flags]

The sample SaaS workload tenants deploy on Tenantry. Each setting comes from
its environment variable, or from its flag, which wins over the variable.

Routes: / (hello, subject to the fault knobs), /healthz (liveness; 503
"failing" when FAILURE_RATE >= 1, so a health-check analysis can catch a fully
broken release), /readyz (503 while draining after SIGTERM), /metrics
(Prometheus), /version.

Flags:
`

// ParseConfig reads the configuration from args (flags) over getenv
// (environment variables). It returns flag.ErrHelp after writing the usage to
// out when args ask for help, and an error naming the variable when a value is
// invalid.
func ParseConfig(args []string, getenv func(string) string, out io.Writer) (Config, error) {
	env := func(name, def string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		return def
	}
	fs := flag.NewFlagSet("demo-app", flag.ContinueOnError)
	// Silence the flag package: errors go back to the caller, usage only on --help.
	fs.SetOutput(io.Discard)
	tenant := fs.String("tenant", env("TENANT", "unknown"),
		"Tenant (env `TENANT`) this instance serves; it labels every response and metric.")
	version := fs.String("version", env("VERSION", buildVersion()),
		"Version (env `VERSION`) the instance reports on /, /healthz, /version and demo_app_build_info; default from the build.")
	addr := fs.String("addr", env("ADDR", ":8080"),
		"Address (env `ADDR`) the HTTP server listens on.")
	failureRate := fs.String("failure-rate", env("FAILURE_RATE", "0"),
		"Fraction (env `FAILURE_RATE`) of requests to / answered 500, from 0 (none) to 1 (all; /healthz then reports 503 \"failing\").")
	latency := fs.String("latency", env("LATENCY", "0s"),
		"Latency (env `LATENCY`) added to each request to /, a Go duration such as 300ms.")
	shutdownDelay := fs.String("shutdown-delay", env("SHUTDOWN_DELAY", "5s"),
		"After SIGTERM, how long (env `SHUTDOWN_DELAY`) to keep serving with /readyz at 503 before shutting down, a Go duration.")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(out, usageHeader)
			fs.SetOutput(out)
			fs.PrintDefaults()
			return Config{}, err
		}
		return Config{}, fmt.Errorf("%w (see --help)", err)
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected arguments %q: demo-app takes only flags (see --help)", fs.Args())
	}

	cfg := Config{Tenant: *tenant, Version: *version, Addr: *addr}
	var err error
	rate, perr := strconv.ParseFloat(*failureRate, 64)
	// Written so NaN, which compares false to everything, is refused too.
	if perr != nil || !(rate >= 0 && rate <= 1) {
		err = errors.Join(err, invalid("FAILURE_RATE", "failure-rate", *failureRate, "a number from 0 to 1, such as 0.25"))
	}
	cfg.FailureRate = rate
	if cfg.Latency, perr = parseDuration(*latency); perr != nil {
		err = errors.Join(err, invalid("LATENCY", "latency", *latency, perr.Error()))
	}
	if cfg.ShutdownDelay, perr = parseDuration(*shutdownDelay); perr != nil {
		err = errors.Join(err, invalid("SHUTDOWN_DELAY", "shutdown-delay", *shutdownDelay, perr.Error()))
	}
	if err != nil {
		return Config{}, err
	}
	return cfg, nil
}

func invalid(variable, flagName, value, want string) error {
	return fmt.Errorf("invalid %s (--%s) %q: want %s", variable, flagName, value, want)
}

func parseDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, errors.New("a duration of 0 or more, such as 300ms or 2s")
	}
	return d, nil
}

// buildVersion is the module version the binary was built at (set by the Go
// toolchain from a VCS tag), or "dev".
func buildVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/tenantry/tenantry/internal/metricsgateway"
)

// metricsGatewayCommand is the subcommand that runs the metrics gateway
// instead of the operator: the same image serves both, so the platform
// chart needs no image of its own for it.
const metricsGatewayCommand = "metrics-gateway"

// runMetricsGateway serves tenant metrics queries: it authenticates each
// with a TokenReview and forwards it, scoped to the caller's tenant, to
// prom-label-proxy (internal/metricsgateway).
func runMetricsGateway(args []string) error {
	fs := flag.NewFlagSet("tenantry-operator "+metricsGatewayCommand, flag.ContinueOnError)
	listen := fs.String("listen-address", ":9090", "Address tenants' queries are served on (the Service's port).")
	upstream := fs.String("upstream", "http://127.0.0.1:9091", "prom-label-proxy's URL, started with -label=namespace -header-name="+metricsgateway.NamespacesHeader+
		" and listening on loopback only, so nothing reaches it unauthenticated.")
	audience := fs.String("audience", metricsgateway.DefaultAudience, "The token audience accepted; the operator mints the tenants' tokens for it (its --metrics-token-audience).")
	probeAddr := fs.String("health-probe-bind-address", ":8081", "Address of /healthz, /readyz and the gateway's own /metrics.")
	reviewTTL := fs.Duration("token-review-cache-ttl", 30*time.Second, "How long a successful TokenReview is reused for the same token: a dashboard's burst of queries costs one review, "+
		"and a revoked token is accepted this much longer. 0 reviews every query.")
	kubeconfig := fs.String("kubeconfig", "", "Kubeconfig to reach the API server with; default: in-cluster, else $KUBECONFIG.")
	zapOpts := zap.Options{}
	zapOpts.BindFlags(fs)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: tenantry-operator %s [flags]\n\n"+
			"Serves tenants' Prometheus queries, each scoped to the caller's tenant: the bearer token must be a\n"+
			"ServiceAccount token of a tenant namespace for --audience (the Secret tenantry-analysis holds one).\n\nFlags:\n", metricsGatewayCommand)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := zap.New(zap.UseFlagOptions(&zapOpts))
	ctrl.SetLogger(log)

	up, err := url.Parse(*upstream)
	if err != nil || (up.Scheme != "http" && up.Scheme != "https") || up.Host == "" {
		return fmt.Errorf("--upstream %q: want prom-label-proxy's URL, e.g. http://127.0.0.1:9091", *upstream)
	}
	var cfg *rest.Config
	if *kubeconfig != "" {
		cfg, err = clientcmd.BuildConfigFromFlags("", *kubeconfig)
	} else {
		cfg, err = ctrl.GetConfig()
	}
	if err != nil {
		return fmt.Errorf("finding the cluster: %w", err)
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	index, err := metricsgateway.NewNamespaceIndex(client)
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	gateway, err := metricsgateway.New(metricsgateway.Config{
		Upstream: up, Audience: *audience, Reviewer: &metricsgateway.CachingReviewer{Reviewer: metricsgateway.TokenReviewer{Client: client}, TTL: *reviewTTL},
		Tenants: index, Registerer: reg, Log: log.WithName("metrics-gateway"),
	})
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	probes := http.NewServeMux()
	probes.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	probes.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !index.Synced() {
			http.Error(w, "the namespace index has not synced yet", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok"))
	})
	probes.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	servers := []*http.Server{
		{Addr: *listen, Handler: gateway, ReadHeaderTimeout: 10 * time.Second},
		{Addr: *probeAddr, Handler: probes, ReadHeaderTimeout: 10 * time.Second},
	}
	errs := make(chan error, len(servers)+1)
	for _, srv := range servers {
		go func() {
			if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
				errs <- fmt.Errorf("serving %s: %w", srv.Addr, err)
			}
		}()
	}
	go func() {
		if err := index.Start(ctx); err != nil && ctx.Err() == nil {
			errs <- err
		}
	}()
	log.Info("started the metrics gateway", "listen", *listen, "upstream", up.String(), "audience", *audience)

	select {
	case err = <-errs:
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, srv := range servers {
		_ = srv.Shutdown(shutdown)
	}
	return err
}

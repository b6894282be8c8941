// Command tenantry-operator is Tenantry's controller manager: it turns each
// Tenant into namespaces with quotas, network isolation and RBAC, repairs
// drift, and offboards deleted tenants.
package main

import (
	"flag"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/labels"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/tenantry/tenantry/internal/controller"
	"github.com/tenantry/tenantry/internal/install"
	"github.com/tenantry/tenantry/internal/metrics"
	"github.com/tenantry/tenantry/internal/render"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == metricsGatewayCommand {
		if err := runMetricsGateway(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "tenantry-operator "+metricsGatewayCommand+":", err)
			os.Exit(1)
		}
		return
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "tenantry-operator:", err)
		os.Exit(1)
	}
}

// flags are the operator's command line.
type flags struct {
	metricsAddr, probeAddr        string
	pprofAddr                     string
	leaderElect                   bool
	leaderElectionNamespace       string
	concurrency                   int
	qps                           float64
	burst                         int
	pssVersion                    string
	ingressSelector, monSelector  string
	dnsNamespaces, dnsPods        string
	dnsCIDRs                      string
	argoCDNamespace               string
	operatorNamespace, operatorSA string
	metricsGatewayURL             string
	metricsTokenAudience          string
	metricsTokenTTL               time.Duration
	quotaMetrics                  string
	fleetHub                      bool
	fleetMember                   bool
	fleetProbeInterval            time.Duration
}

// parseFlags reads the command line into flags and sets up logging.
func parseFlags() *flags {
	defaults := render.DefaultOptions()
	f := &flags{}
	flag.StringVar(&f.metricsAddr, "metrics-bind-address", ":8080", "Address the Prometheus metrics endpoint listens on; \"0\" turns it off.")
	flag.StringVar(&f.probeAddr, "health-probe-bind-address", ":8081", "Address the /healthz and /readyz probes listen on.")
	flag.StringVar(&f.pprofAddr, "pprof-bind-address", "0", "Address Go's pprof profiles (/debug/pprof/) are served on, for finding what uses CPU or memory; \"0\" (the default) turns them off.")
	flag.BoolVar(&f.leaderElect, "leader-elect", false, "Elect a leader, so only one of several replicas reconciles at a time.")
	flag.StringVar(&f.leaderElectionNamespace, "leader-election-namespace", "", "Namespace of the leader election Lease (default: the pod's own namespace; required out of cluster).")
	flag.IntVar(&f.concurrency, "max-concurrent-reconciles", 8, "How many Tenants are reconciled at once.")
	flag.Float64Var(&f.qps, "kube-api-qps", 300, "Steady queries per second the operator may send to the API server (its flow control shares the server fairly: see the chart's flowControl).")
	flag.IntVar(&f.burst, "kube-api-burst", 600, "Queries the operator may send in a burst above --kube-api-qps.")
	flag.StringVar(&f.quotaMetrics, "quota-metrics", string(metrics.QuotaNamespace),
		"Quota use to export: namespace (each tenant's and each tenant namespace's, about 75 series per two-environment tenant), tenant (each tenant's, about 25), or none (read kube-state-metrics' kube_resourcequota instead, past a few thousand tenants).")
	flag.StringVar(&f.pssVersion, "pod-security-version", defaults.PodSecurityVersion, "Pod Security Standards version pinned on tenant namespaces (e.g. v1.37, or latest).")
	flag.StringVar(&f.ingressSelector, "ingress-namespace-selector", labels.FormatLabels(defaults.IngressNamespaceSelector),
		"Labels (k=v,...) of the ingress controller's namespace, whose pods may reach tenant pods; empty allows none.")
	flag.StringVar(&f.monSelector, "monitoring-namespace-selector", labels.FormatLabels(defaults.MonitoringNamespaceSelector),
		"Labels (k=v,...) of the monitoring namespace, whose pods may scrape tenant pods; empty allows none.")
	flag.StringVar(&f.dnsNamespaces, "dns-namespace-selector", labels.FormatLabels(defaults.DNS.NamespaceSelector),
		"Labels (k=v,...) of the namespace of the cluster's DNS servers, which tenant pods may query on port 53; empty selects no pod.")
	flag.StringVar(&f.dnsPods, "dns-pod-selector", labels.FormatLabels(defaults.DNS.PodSelector),
		"Labels (k=v,...) of the DNS server pods in that namespace; empty means every pod there.")
	flag.StringVar(&f.dnsCIDRs, "dns-cidrs", "",
		"Comma-separated CIDRs of DNS servers outside the pod network tenant pods may also query, e.g. NodeLocal DNSCache's 169.254.20.10/32.")
	flag.StringVar(&f.argoCDNamespace, "argocd-namespace", "argocd",
		"Namespace of Argo CD, where each tenant's AppProject and Applications are created; empty turns GitOps off. "+
			"GitOps is on only if the cluster serves Argo CD's kinds when the operator starts.")
	flag.StringVar(&f.operatorNamespace, "namespace", defaults.OperatorNamespace,
		"The operator's own namespace, where spec.analysis.credentialsSecret names a Secret and the Git credential Secrets of reverts (label tenantry.dev/git-credentials=true) live.")
	flag.StringVar(&f.operatorSA, "service-account", defaults.OperatorServiceAccount,
		"The operator's ServiceAccount (in --namespace), which it binds to tenantry:analysis-writer in tenant namespaces with an analysis Secret.")
	flag.StringVar(&f.metricsGatewayURL, "metrics-gateway-url", "",
		"In-cluster URL of the platform's metrics gateway (tenantry-operator metrics-gateway), e.g. http://tenantry-metrics-gateway.tenantry-system:9090: "+
			"the analysis address of tenants that set none, for which the operator mints each tenant namespace its own credential. Empty: no gateway.")
	flag.StringVar(&f.metricsTokenAudience, "metrics-token-audience", controller.DefaultMetricsTokenAudience,
		"Audience of the minted metrics credentials: the gateway's --audience.")
	flag.DurationVar(&f.metricsTokenTTL, "metrics-token-ttl", controller.DefaultMetricsTokenTTL,
		"Lifetime of a minted metrics credential; a new one is minted when two thirds of it have passed. At least 10m (the API server's minimum).")
	flag.BoolVar(&f.fleetHub, "fleet-hub", false,
		"Run as a fleet's hub: place each Tenant on a member cluster (Argo CD cluster Secrets labelled tenantry.dev/member) and record the decisions "+
			"in PlacementDecisions in --argocd-namespace for an ApplicationSet, onboarding none here (see docs/fleet.md).")
	flag.DurationVar(&f.fleetProbeInterval, "fleet-probe-interval", 10*time.Second,
		"With --fleet-hub: how often to ask each member's API server whether it is ready; three failures in a row make it unavailable.")
	flag.BoolVar(&f.fleetMember, "fleet-member", false,
		"Run on a fleet's member cluster, whose tenants' apps the hub's Argo CD syncs: give each tenant namespace the deployer ServiceAccount "+
			"Argo CD impersonates from the hub (see docs/fleet.md).")
	zapOpts := zap.Options{}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "Usage: tenantry-operator [flags]\n\n"+
			"Reconciles Tenants (tenantry.dev/v1alpha1) into isolated namespaces. It connects to the\n"+
			"cluster it runs in, or to the one --kubeconfig or $KUBECONFIG names.\n\nFlags:\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	return f
}

// renderOptions checks the flags that shape tenants and turns them into render's options.
func (f *flags) renderOptions() (render.Options, error) {
	if f.metricsTokenTTL < 10*time.Minute {
		return render.Options{}, fmt.Errorf("--metrics-token-ttl %s: the API server mints tokens for 10m at least; set 10m or more", f.metricsTokenTTL)
	}
	if f.metricsGatewayURL != "" {
		if u, err := url.Parse(f.metricsGatewayURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return render.Options{}, fmt.Errorf("--metrics-gateway-url %q: want the gateway Service's URL, e.g. http://tenantry-metrics-gateway.tenantry-system:9090", f.metricsGatewayURL)
		}
	}
	if f.fleetHub && f.fleetMember {
		return render.Options{}, fmt.Errorf("--fleet-hub and --fleet-member: a cluster is a fleet's hub or one of its members, not both; keep one")
	}
	var err error
	renderOpts := render.Options{PodSecurityVersion: f.pssVersion, OperatorNamespace: f.operatorNamespace, OperatorServiceAccount: f.operatorSA,
		MetricsGatewayURL: f.metricsGatewayURL, FleetMember: f.fleetMember}
	if renderOpts.IngressNamespaceSelector, err = parseSelector("--ingress-namespace-selector", f.ingressSelector); err != nil {
		return render.Options{}, err
	}
	if renderOpts.MonitoringNamespaceSelector, err = parseSelector("--monitoring-namespace-selector", f.monSelector); err != nil {
		return render.Options{}, err
	}
	if renderOpts.DNS.NamespaceSelector, err = parseSelector("--dns-namespace-selector", f.dnsNamespaces); err != nil {
		return render.Options{}, err
	}
	if renderOpts.DNS.PodSelector, err = parseSelector("--dns-pod-selector", f.dnsPods); err != nil {
		return render.Options{}, err
	}
	if renderOpts.DNS.CIDRs, err = parseCIDRs("--dns-cidrs", f.dnsCIDRs); err != nil {
		return render.Options{}, err
	}
	return renderOpts, nil
}

func run() error {
	f := parseFlags()
	memLimit, err := memoryLimit(os.LookupEnv)
	if err != nil {
		return err
	}
	if memLimit > 0 {
		debug.SetMemoryLimit(memLimit)
	}
	renderOpts, err := f.renderOptions()
	if err != nil {
		return err
	}
	quotaMetrics, err := metrics.ParseQuotaDetail(f.quotaMetrics)
	if err != nil {
		return err
	}

	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("finding the cluster: %w", err)
	}
	cfg.QPS, cfg.Burst = float32(f.qps), f.burst

	scheme, err := install.NewScheme()
	if err != nil {
		return err
	}
	ctrlConfig, err := controller.WithArgoCD(cfg, controller.Config{Render: renderOpts, MaxConcurrentReconciles: f.concurrency,
		MetricsTokenAudience: f.metricsTokenAudience, MetricsTokenTTL: f.metricsTokenTTL,
		QuotaMetrics: quotaMetrics, FleetHub: f.fleetHub, FleetProbeInterval: f.fleetProbeInterval}, f.argoCDNamespace)
	if err != nil {
		return err
	}
	if ctrlConfig.Render.ArgoCDNamespace == "" && f.argoCDNamespace != "" {
		ctrl.Log.Info("Argo CD is not installed (no argoproj.io Applications): GitOps is off until a restart after it is", "namespace", f.argoCDNamespace)
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  scheme,
		Cache:                   controller.CacheOptions(ctrlConfig),
		Metrics:                 metricsserver.Options{BindAddress: f.metricsAddr},
		HealthProbeBindAddress:  f.probeAddr,
		PprofBindAddress:        f.pprofAddr,
		LeaderElection:          f.leaderElect,
		LeaderElectionID:        "tenantry-operator.tenantry.dev",
		LeaderElectionNamespace: f.leaderElectionNamespace,
		// Give up leadership on shutdown, so a rolling update hands over at once.
		LeaderElectionReleaseOnCancel: true,
	})
	if err != nil {
		return fmt.Errorf("creating the manager: %w", err)
	}
	if err := controller.Setup(mgr, ctrlConfig); err != nil {
		return err
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return err
	}
	ctrl.Log.Info("starting tenantry-operator", "concurrency", f.concurrency, "qps", f.qps, "burst", f.burst,
		"argocdNamespace", ctrlConfig.Render.ArgoCDNamespace, "goMemoryLimit", debug.SetMemoryLimit(-1))
	return mgr.Start(ctrl.SetupSignalHandler())
}

// memoryLimitEnv carries the container's memory limit in bytes; the chart
// sets it from the downward API (limits.memory).
const memoryLimitEnv = "TENANTRY_MEMORY_LIMIT"

// memoryLimit is the Go runtime's soft memory limit: 90 % of the
// container's, so the garbage collector works harder before the pod nears
// its limit. The rest is for what the runtime does not count against its
// limit, such as the binary's mapped code: with GOMEMLIMIT at the whole
// limit, RSS reached it. A GOMEMLIMIT of its own wins; 0 means none.
func memoryLimit(lookup func(string) (string, bool)) (int64, error) {
	if _, set := lookup("GOMEMLIMIT"); set {
		return 0, nil
	}
	v, set := lookup(memoryLimitEnv)
	if !set || v == "" {
		return 0, nil
	}
	limit, err := strconv.ParseInt(v, 10, 64)
	if err != nil || limit <= 0 {
		return 0, fmt.Errorf("%s=%q: want the container's memory limit in bytes (the chart sets it from resources.limits.memory), or unset it", memoryLimitEnv, v)
	}
	return limit / 10 * 9, nil
}

// parseSelector reads "k=v,k2=v2" into labels; an empty string means none.
func parseSelector(flagName, s string) (map[string]string, error) {
	if s == "" {
		return nil, nil
	}
	set, err := labels.ConvertSelectorToLabelsMap(s)
	if err != nil {
		return nil, fmt.Errorf("%s %q: want labels like key=value,key2=value2: %w", flagName, s, err)
	}
	return set, nil
}

// parseCIDRs reads "10.0.0.10/32,fd00::a/128"; an empty string means none.
func parseCIDRs(flagName, s string) ([]string, error) {
	var cidrs []string
	for _, c := range strings.Split(s, ",") {
		if c = strings.TrimSpace(c); c == "" {
			continue
		}
		if _, err := netip.ParsePrefix(c); err != nil {
			return nil, fmt.Errorf("%s %q: want CIDRs like 169.254.20.10/32, comma-separated: %w", flagName, s, err)
		}
		cidrs = append(cidrs, c)
	}
	return cidrs, nil
}

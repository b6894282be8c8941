package demoapp

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics holds the instance's own registry, so tests and several servers in
// one process never collide on the global one. Every demo_app_ series carries
// the tenant label, so a Prometheus scraping many tenants can filter by it.
type metrics struct {
	registry *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newMetrics(cfg Config) *metrics {
	tenant := prometheus.Labels{"tenant": cfg.Tenant}
	m := &metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name:        "demo_app_requests_total",
			Help:        "HTTP requests served, by route and status code.",
			ConstLabels: tenant,
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:        "demo_app_request_duration_seconds",
			Help:        "Time to answer an HTTP request, by route (LATENCY included).",
			ConstLabels: tenant,
			Buckets:     prometheus.DefBuckets,
		}, []string{"route"}),
	}
	buildInfo := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "demo_app_build_info",
		Help:        "The tenant and version this instance serves (always 1).",
		ConstLabels: prometheus.Labels{"tenant": cfg.Tenant, "version": cfg.Version},
	})
	buildInfo.Set(1)
	m.registry.MustRegister(
		m.requests, m.duration, buildInfo,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// instrument counts and times requests to h under the route label.
func (m *metrics) instrument(route string, h http.Handler) http.Handler {
	r := prometheus.Labels{"route": route}
	return promhttp.InstrumentHandlerDuration(m.duration.MustCurryWith(r),
		promhttp.InstrumentHandlerCounter(m.requests.MustCurryWith(r), h))
}

// handler serves the registry in the Prometheus exposition format.
func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

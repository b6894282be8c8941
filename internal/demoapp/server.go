package demoapp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// shutdownTimeout bounds how long in-flight requests may take to finish once
// the drain delay is over. With the default SHUTDOWN_DELAY (5s) the whole
// shutdown stays inside Kubernetes' default 30s termination grace period.
const shutdownTimeout = 20 * time.Second

// Options are the server's seams for tests; the zero value is production.
type Options struct {
	// Rand returns a number in [0, 1); a request to / fails when it is below
	// Config.FailureRate. It must be safe for concurrent use. Default: math/rand/v2.
	Rand func() float64
	// Sleep waits for d, or until ctx is done. It adds LATENCY and waits out
	// SHUTDOWN_DELAY. Default: a timer.
	Sleep func(ctx context.Context, d time.Duration)
	// Logger receives lifecycle logs. Default: discarded.
	Logger *slog.Logger
}

// Server is the demo app: an http.Handler plus its graceful lifecycle.
type Server struct {
	cfg      Config
	opts     Options
	metrics  *metrics
	mux      *http.ServeMux
	draining atomic.Bool
}

// New returns a server for cfg, ready to serve.
func New(cfg Config, opts Options) *Server {
	if opts.Rand == nil {
		opts.Rand = rand.Float64
	}
	if opts.Sleep == nil {
		opts.Sleep = sleep
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, opts: opts, metrics: newMetrics(cfg), mux: http.NewServeMux()}
	s.handle("GET /{$}", "/", http.HandlerFunc(s.hello))
	s.handle("GET /healthz", "/healthz", http.HandlerFunc(s.healthz))
	s.handle("GET /readyz", "/readyz", http.HandlerFunc(s.readyz))
	s.handle("GET /metrics", "/metrics", s.metrics.handler())
	s.handle("GET /version", "/version", http.HandlerFunc(s.version))
	return s
}

// handle registers h for pattern, instrumented under the route label. Paths
// no route matches get the mux's 404 and are not counted, so a scanner
// cannot blow up the series count.
func (s *Server) handle(pattern, route string, h http.Handler) {
	s.mux.Handle(pattern, s.metrics.instrument(route, h))
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mux.ServeHTTP(w, r)
}

type helloResponse struct {
	Tenant  string `json:"tenant"`
	Version string `json:"version"`
	Message string `json:"message"`
}

type errorResponse struct {
	Tenant  string `json:"tenant"`
	Version string `json:"version"`
	Error   string `json:"error"`
}

type healthResponse struct {
	Status  string `json:"status"`
	Tenant  string `json:"tenant"`
	Version string `json:"version"`
}

type statusResponse struct {
	Status string `json:"status"`
}

type versionResponse struct {
	Version string `json:"version"`
}

// hello is the app itself, and the only route the fault knobs touch.
func (s *Server) hello(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Latency > 0 {
		s.opts.Sleep(r.Context(), s.cfg.Latency)
	}
	if s.cfg.FailureRate > 0 && s.opts.Rand() < s.cfg.FailureRate {
		writeJSON(w, http.StatusInternalServerError, errorResponse{
			Tenant: s.cfg.Tenant, Version: s.cfg.Version,
			Error: fmt.Sprintf("injected failure (FAILURE_RATE=%g)", s.cfg.FailureRate),
		})
		return
	}
	writeJSON(w, http.StatusOK, helloResponse{
		Tenant: s.cfg.Tenant, Version: s.cfg.Version, Message: "hello from " + s.cfg.Tenant,
	})
}

// healthz is liveness. It ignores LATENCY and partial failure rates, so the
// kubelet does not restart a pod that is merely degraded; a release that
// fails every request (FAILURE_RATE >= 1) reports 503 so a health-check
// analysis can stop it.
func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	status, code := "ok", http.StatusOK
	if s.cfg.FailureRate >= 1 {
		status, code = "failing", http.StatusServiceUnavailable
	}
	writeJSON(w, code, healthResponse{Status: status, Tenant: s.cfg.Tenant, Version: s.cfg.Version})
}

// readyz turns 503 on SIGTERM, so endpoints drop the pod while it still serves.
func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	if s.draining.Load() {
		writeJSON(w, http.StatusServiceUnavailable, statusResponse{Status: "draining"})
		return
	}
	writeJSON(w, http.StatusOK, statusResponse{Status: "ready"})
}

func (s *Server) version(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, versionResponse{Version: s.cfg.Version})
}

func writeJSON(w http.ResponseWriter, code int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	// The client may be gone; there is no one left to tell.
	_ = json.NewEncoder(w).Encode(body)
}

// Serve serves on ln until ctx is done, then shuts down without dropping
// traffic: /readyz turns 503, the server keeps serving for SHUTDOWN_DELAY
// while the Service stops routing to it, then in-flight requests finish.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	log := s.opts.Logger.With("tenant", s.cfg.Tenant, "version", s.cfg.Version)
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("started serving", "addr", ln.Addr().String(),
		"failureRate", s.cfg.FailureRate, "latency", s.cfg.Latency.String())

	select {
	case err := <-served:
		return fmt.Errorf("serving on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	s.draining.Store(true)
	log.Info("stopped being ready, draining", "shutdownDelay", s.cfg.ShutdownDelay.String())
	// ctx is already done; the drain must run its course regardless.
	s.opts.Sleep(context.WithoutCancel(ctx), s.cfg.ShutdownDelay)

	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving on %s: %w", ln.Addr(), err)
	}
	log.Info("shut down")
	return nil
}

// Run listens on cfg.Addr and serves until ctx is done (see Server.Serve).
// It also echoes UDP on the same address (ServeUDPEcho), so `demo-app probe
// udp` can measure UDP reachability to the pod.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listening on ADDR %q: %w", cfg.Addr, err)
	}
	pc, err := net.ListenPacket("udp", cfg.Addr)
	if err != nil {
		ln.Close()
		return fmt.Errorf("listening on ADDR %q for the UDP echo: %w", cfg.Addr, err)
	}
	go func() {
		if err := ServeUDPEcho(ctx, pc); err != nil {
			log.Error("stopped the UDP echo", "err", err)
		}
	}()
	return New(cfg, Options{Logger: log}).Serve(ctx, ln)
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

package demoapp

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeRand returns the given numbers in turn. It may run on a server
// goroutine, so it reports overuse with Error, not Fatal.
func fakeRand(t *testing.T, nums ...float64) func() float64 {
	var mu sync.Mutex
	return func() float64 {
		mu.Lock()
		defer mu.Unlock()
		if len(nums) == 0 {
			t.Error("Rand called more often than the test expected")
			return 1 // never below a failure rate: the request succeeds
		}
		n := nums[0]
		nums = nums[1:]
		return n
	}
}

// fakeSleep records the waits asked of it and returns at once.
type fakeSleep struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (f *fakeSleep) sleep(_ context.Context, d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.waits = append(f.waits, d)
}

func testConfig() Config {
	return Config{Tenant: "acme", Version: "1.2.3", Addr: "127.0.0.1:0", ShutdownDelay: 5 * time.Second}
}

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code, rec.Body.String()
}

func TestRoutes(t *testing.T) {
	broken := testConfig()
	broken.FailureRate = 1
	tests := []struct {
		name     string
		cfg      Config
		path     string
		wantCode int
		wantBody map[string]string // JSON fields, exactly
	}{
		{name: "hello", cfg: testConfig(), path: "/", wantCode: 200,
			wantBody: map[string]string{"tenant": "acme", "version": "1.2.3", "message": "hello from acme"}},
		{name: "healthz", cfg: testConfig(), path: "/healthz", wantCode: 200,
			wantBody: map[string]string{"status": "ok", "tenant": "acme", "version": "1.2.3"}},
		{name: "healthz of a release failing every request", cfg: broken, path: "/healthz", wantCode: 503,
			wantBody: map[string]string{"status": "failing", "tenant": "acme", "version": "1.2.3"}},
		{name: "readyz", cfg: testConfig(), path: "/readyz", wantCode: 200,
			wantBody: map[string]string{"status": "ready"}},
		{name: "readyz ignores failures", cfg: broken, path: "/readyz", wantCode: 200,
			wantBody: map[string]string{"status": "ready"}},
		{name: "version", cfg: testConfig(), path: "/version", wantCode: 200,
			wantBody: map[string]string{"version": "1.2.3"}},
		{name: "unknown path", cfg: testConfig(), path: "/admin", wantCode: 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(tt.cfg, Options{Rand: fakeRand(t), Sleep: (&fakeSleep{}).sleep})
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tt.path, nil))
			if rec.Code != tt.wantCode {
				t.Errorf("GET %s = %d, want %d", tt.path, rec.Code, tt.wantCode)
			}
			if tt.wantBody == nil {
				return
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			var got map[string]string
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatalf("body %q: %v", rec.Body, err)
			}
			if !equal(got, tt.wantBody) {
				t.Errorf("GET %s body = %v, want %v", tt.path, got, tt.wantBody)
			}
		})
	}
}

func equal(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}

func TestFailureRate(t *testing.T) {
	tests := []struct {
		name      string
		rate      float64
		rand      []float64 // what Rand returns, one per request
		requests  int
		wantCodes []int
	}{
		{name: "0 never fails and never draws", rate: 0, requests: 3, wantCodes: []int{200, 200, 200}},
		{name: "1 fails every request", rate: 1, rand: []float64{0, 0.5, 0.999999}, requests: 3, wantCodes: []int{500, 500, 500}},
		{name: "0.5 fails draws below it", rate: 0.5, rand: []float64{0.1, 0.7, 0.49, 0.5}, requests: 4, wantCodes: []int{500, 200, 500, 200}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.FailureRate = tt.rate
			s := New(cfg, Options{Rand: fakeRand(t, tt.rand...), Sleep: (&fakeSleep{}).sleep})
			for i := range tt.requests {
				code, body := get(t, s, "/")
				if code != tt.wantCodes[i] {
					t.Errorf("request %d: code %d, want %d (body %s)", i, code, tt.wantCodes[i], body)
				}
				if code == 500 && !strings.Contains(body, `"error":"injected failure (FAILURE_RATE=`) {
					t.Errorf("request %d: failure body %s does not say the failure was injected", i, body)
				}
			}
			// Liveness is not a victim of partial failure.
			if code, _ := get(t, s, "/healthz"); tt.rate < 1 && code != 200 {
				t.Errorf("/healthz = %d at FAILURE_RATE %g, want 200", code, tt.rate)
			}
		})
	}
}

func TestLatency(t *testing.T) {
	tests := []struct {
		name      string
		latency   time.Duration
		path      string
		wantWaits []time.Duration
	}{
		{name: "added to /", latency: 300 * time.Millisecond, path: "/", wantWaits: []time.Duration{300 * time.Millisecond}},
		{name: "none when 0", latency: 0, path: "/"},
		{name: "not on /healthz", latency: time.Second, path: "/healthz"},
		{name: "not on /readyz", latency: time.Second, path: "/readyz"},
		{name: "not on /metrics", latency: time.Second, path: "/metrics"},
		{name: "not on /version", latency: time.Second, path: "/version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.Latency = tt.latency
			var clock fakeSleep
			s := New(cfg, Options{Rand: fakeRand(t), Sleep: clock.sleep})
			if code, body := get(t, s, tt.path); code != 200 {
				t.Fatalf("GET %s = %d %s", tt.path, code, body)
			}
			if len(clock.waits) != len(tt.wantWaits) || (len(tt.wantWaits) > 0 && clock.waits[0] != tt.wantWaits[0]) {
				t.Errorf("waits = %v, want %v", clock.waits, tt.wantWaits)
			}
		})
	}
}

func TestMetrics(t *testing.T) {
	cfg := testConfig()
	cfg.FailureRate = 0.5
	s := New(cfg, Options{Rand: fakeRand(t, 0.9, 0.1, 0.9), Sleep: (&fakeSleep{}).sleep})
	for _, path := range []string{"/", "/", "/", "/healthz", "/readyz", "/version", "/version", "/nowhere"} {
		get(t, s, path)
	}
	_, text := get(t, s, "/metrics")

	for _, want := range []string{
		`demo_app_requests_total{code="200",route="/",tenant="acme"} 2`,
		`demo_app_requests_total{code="500",route="/",tenant="acme"} 1`,
		`demo_app_requests_total{code="200",route="/healthz",tenant="acme"} 1`,
		`demo_app_requests_total{code="200",route="/readyz",tenant="acme"} 1`,
		`demo_app_requests_total{code="200",route="/version",tenant="acme"} 2`,
		`demo_app_request_duration_seconds_count{route="/",tenant="acme"} 3`,
		`demo_app_request_duration_seconds_count{route="/version",tenant="acme"} 2`,
		`demo_app_request_duration_seconds_bucket{route="/",tenant="acme",le="+Inf"} 3`,
		`demo_app_build_info{tenant="acme",version="1.2.3"} 1`,
		"# TYPE demo_app_requests_total counter",
		"# TYPE demo_app_request_duration_seconds histogram",
		"go_goroutines ",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	// Unmatched paths are not counted: a scanner must not create series.
	if strings.Contains(text, "nowhere") || strings.Contains(text, `code="404"`) {
		t.Errorf("/metrics counts an unmatched path:\n%s", grep(text, "demo_app_requests_total"))
	}
	// Every demo_app_ series carries the tenant, so a shared Prometheus can filter by it.
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "demo_app_") && !strings.Contains(line, `tenant="acme"`) {
			t.Errorf("series without the tenant label: %s", line)
		}
	}

	// The scrape itself is counted on the next one.
	_, text = get(t, s, "/metrics")
	if want := `demo_app_requests_total{code="200",route="/metrics",tenant="acme"} 1`; !strings.Contains(text, want) {
		t.Errorf("/metrics lacks %q:\n%s", want, grep(text, "demo_app_requests_total"))
	}
}

func grep(text, prefix string) string {
	var out []string
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, prefix) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// TestGracefulShutdown serves on a real listener and cancels the context as
// SIGTERM would: /readyz must turn 503 while / keeps answering through the
// drain delay, and Serve must return cleanly after it.
func TestGracefulShutdown(t *testing.T) {
	cfg := testConfig()
	cfg.ShutdownDelay = 7 * time.Second // never really waited: the fake clock holds it
	draining, release := make(chan struct{}), make(chan struct{})
	sleep := func(_ context.Context, d time.Duration) {
		if d != cfg.ShutdownDelay {
			t.Errorf("slept %v, want only the drain delay %v", d, cfg.ShutdownDelay)
		}
		close(draining)
		<-release
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := New(cfg, Options{Rand: fakeRand(t), Sleep: sleep})
	ctx, cancel := context.WithCancel(t.Context())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()

	base := "http://" + ln.Addr().String()
	expect := func(path string, want int) {
		t.Helper()
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s = %d %s, want %d", path, resp.StatusCode, body, want)
		}
	}
	expect("/readyz", 200)

	cancel() // SIGTERM
	select {
	case <-draining:
	case err := <-served:
		t.Fatalf("Serve returned %v before draining", err)
	}
	expect("/readyz", 503)
	expect("/", 200)
	expect("/healthz", 200)

	close(release)
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if _, err := http.Get(base + "/readyz"); err == nil {
		t.Error("server still answers after shutdown")
	}
}

func TestServeReportsListenerFailure(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	err = New(testConfig(), Options{}).Serve(t.Context(), ln)
	if err == nil || !strings.Contains(err.Error(), "serving on") {
		t.Fatalf("Serve on a closed listener = %v, want a serving error", err)
	}
}

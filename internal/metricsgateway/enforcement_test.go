package metricsgateway

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tenantry/tenantry/internal/localcluster"
	"github.com/tenantry/tenantry/internal/testutil"
)

// The gateway in front of the real prom-label-proxy (bin/, pinned in
// tools/prom-label-proxy) in front of a real Prometheus (the Debian
// package), which scrapes three tenant namespaces' endpoints: acme's two
// and globex's one. Each tenant's queries return its own series only,
// whatever the query tries: another namespace's matcher, a match-all
// regexp, an aggregation by namespace, the series and label-values APIs,
// a POSTed query, a scraped series that claims another namespace. No
// cluster: the TokenReview and the namespace index are fakes (TestGateway
// covers them), the enforcement is real.
func TestEnforcementWithRealPrometheus(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Prometheus and prom-label-proxy: run without -short")
	}
	binDir, err := localcluster.DefaultBinDir()
	if err != nil {
		t.Fatal(err)
	}
	plp := filepath.Join(binDir, "prom-label-proxy")
	if _, err := os.Stat(plp); err != nil {
		t.Fatalf("%v: build it with make testbin", err)
	}
	prometheusBin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatalf("%v: install the Debian package prometheus (hack/node-packages.sh, part of make testbin)", err)
	}
	ctx := t.Context()

	// The tenants' pods, as Prometheus's Kubernetes service discovery would
	// label them: the namespace is a target label, set by Prometheus. The
	// series acme exports with a namespace label of its own shows that a
	// tenant cannot claim another's namespace: Prometheus keeps it as
	// exported_namespace.
	targets := map[string]string{
		"acme":      "demo_requests_total{code=\"200\"} 5\ndemo_requests_total{code=\"500\"} 1\nspoofed_total{namespace=\"globex\"} 1\n",
		"acme-prod": "demo_requests_total{code=\"200\"} 50\n",
		"globex":    "demo_requests_total{code=\"200\"} 7\n",
	}
	var scrapeConfigs strings.Builder
	for _, ns := range slices.Sorted(maps.Keys(targets)) {
		body := targets[ns]
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, body) }))
		t.Cleanup(srv.Close)
		fmt.Fprintf(&scrapeConfigs, "  - job_name: %s\n    static_configs:\n      - targets: [%q]\n        labels: {namespace: %s}\n",
			ns, strings.TrimPrefix(srv.URL, "http://"), ns)
	}
	dir := t.TempDir()
	config := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(config, []byte("global: {scrape_interval: 1s}\nscrape_configs:\n"+scrapeConfigs.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	promAddr, plpAddr := freeAddr(t), freeAddr(t)
	start(t, dir, prometheusBin, "--config.file="+config, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+promAddr)
	start(t, dir, plp, "-label=namespace", "-header-name="+NamespacesHeader, "-enable-label-apis",
		"-upstream=http://"+promAddr, "-insecure-listen-address="+plpAddr)

	upstream, _ := url.Parse("http://" + plpAddr)
	g, err := New(Config{Upstream: upstream, Reviewer: reviewer, Tenants: tenants})
	if err != nil {
		t.Fatal(err)
	}
	gateway := httptest.NewServer(g)
	t.Cleanup(gateway.Close)

	// Every target scraped, seen straight from Prometheus: the baseline
	// the scoped answers are compared with.
	waitFor(t, 30*time.Second, func() error {
		got, err := namespacesIn(ctx, "http://"+promAddr, "", "GET", "/api/v1/query", url.Values{"query": {"demo_requests_total"}})
		if err != nil {
			return err
		}
		if !slices.Equal(got, []string{"acme", "acme-prod", "globex"}) {
			return fmt.Errorf("Prometheus has series of %v so far", got)
		}
		return nil
	})

	for _, tc := range []struct {
		name, token, method, path string
		form                      url.Values
		want                      []string
	}{
		{"a plain selector", "acme-metrics", "GET", "/api/v1/query", url.Values{"query": {"demo_requests_total"}}, []string{"acme", "acme-prod"}},
		{"every namespace by regexp", "acme-metrics", "GET", "/api/v1/query", url.Values{"query": {`demo_requests_total{namespace=~".+"}`}}, []string{"acme", "acme-prod"}},
		{"every metric", "acme-metrics", "GET", "/api/v1/query", url.Values{"query": {`{__name__=~".+"}`}}, []string{"acme", "acme-prod"}},
		{"an aggregation by namespace", "acme-metrics", "GET", "/api/v1/query", url.Values{"query": {"sum by (namespace) (demo_requests_total)"}}, []string{"acme", "acme-prod"}},
		{"both sides of a binary expression", "acme-metrics", "GET", "/api/v1/query", url.Values{"query": {"demo_requests_total or up"}}, []string{"acme", "acme-prod"}},
		{"one of its own namespaces", "acme-metrics", "GET", "/api/v1/query", url.Values{"query": {`demo_requests_total{namespace="acme-prod"}`}}, []string{"acme-prod"}},
		{"a range query, POSTed", "acme-metrics", "POST", "/api/v1/query_range", url.Values{"query": {"demo_requests_total"},
			"start": {fmt.Sprint(time.Now().Add(-time.Minute).Unix())}, "end": {fmt.Sprint(time.Now().Add(time.Minute).Unix())}, "step": {"1"}}, []string{"acme", "acme-prod"}},
		// Another tenant's namespace by name: with several namespaces the
		// enforced matcher is added to the query's (namespace=~"acme|acme-prod"
		// and namespace="globex"), which nothing matches; with one, it
		// replaces the query's. Either way no other tenant's series.
		{"another tenant's namespace by name", "acme-metrics", "GET", "/api/v1/query", url.Values{"query": {`demo_requests_total{namespace="globex"}`}}, []string{}},
		{"another tenant's namespace, by a one-namespace tenant", "globex-metrics", "GET", "/api/v1/query", url.Values{"query": {`demo_requests_total{namespace="acme"}`}}, []string{"globex"}},
		{"not its own namespace", "acme-metrics", "GET", "/api/v1/query", url.Values{"query": {`demo_requests_total{namespace!="acme"}`}}, []string{"acme-prod"}},
		{"the series API", "acme-metrics", "GET", "/api/v1/series", url.Values{"match[]": {`{__name__=~".+"}`}}, []string{"acme", "acme-prod"}},
		{"the label values API", "acme-metrics", "GET", "/api/v1/label/namespace/values", nil, []string{"acme", "acme-prod"}},
		{"a series claiming another namespace", "acme-metrics", "GET", "/api/v1/query", url.Values{"query": {"spoofed_total"}}, []string{"acme"}},
		{"the other tenant", "globex-metrics", "GET", "/api/v1/query", url.Values{"query": {`{__name__=~".+"}`}}, []string{"globex"}},
		{"the other tenant can't see acme's spoofed series", "globex-metrics", "GET", "/api/v1/query", url.Values{"query": {`spoofed_total`}}, []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := namespacesIn(ctx, gateway.URL, tc.token, tc.method, tc.path, tc.form)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("namespaces in the answer = %v, want %v", got, tc.want)
			}
			t.Logf("%s %s as %s: namespaces %v", tc.method, tc.path, tc.token, got)
		})
	}

	// The tenant's token for the API server is no metrics credential.
	if code, body := get(ctx, t, gateway.URL+"/api/v1/query?query=up", "acme-api"); code != http.StatusUnauthorized {
		t.Errorf("the API-audience token: %d %s, want 401", code, body)
	}
}

// namespacesIn queries base as the holder of token (none when empty).
func namespacesIn(ctx context.Context, base, token, method, path string, form url.Values) ([]string, error) {
	authorization := ""
	if token != "" {
		authorization = "Bearer " + token
	}
	return testutil.PromNamespaces(ctx, base, authorization, method, path, form)
}

func get(ctx context.Context, t *testing.T, u, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// start runs a command until the test ends, its output in dir, shown if
// the test fails.
func start(t *testing.T, dir, bin string, args ...string) {
	t.Helper()
	logPath := filepath.Join(dir, filepath.Base(bin)+".log")
	log, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		_ = log.Close()
		if t.Failed() {
			out, _ := os.ReadFile(logPath)
			t.Logf("%s:\n%s", filepath.Base(bin), lastLines(out, 20))
		}
	})
}

// freeAddr is a loopback address no one listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func waitFor(t *testing.T, timeout time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still failing after %s: %v", timeout, err)
		}
		<-tick.C
	}
}

func lastLines(b []byte, n int) string {
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

package metricsgateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	authenticationv1 "k8s.io/api/authentication/v1"
)

// fakeTenants is a namespace index: namespace -> tenant.
type fakeTenants map[string]string

func (f fakeTenants) TenantOf(ns string) string { return f[ns] }

func (f fakeTenants) Namespaces(tenant string) []string {
	var names []string
	for ns, t := range f {
		if t == tenant {
			names = append(names, ns)
		}
	}
	slices.Sort(names)
	return names
}

// fakeReviewer answers TokenReviews from a table of tokens, checking the
// audience as the API server does: a token is authenticated for the
// audiences asked only if it was issued for one of them.
type fakeReviewer map[string]struct {
	user      string
	audiences []string
}

func (f fakeReviewer) Review(_ context.Context, token string, audiences []string) (authenticationv1.TokenReviewStatus, error) {
	if token == "api-down" {
		return authenticationv1.TokenReviewStatus{}, errors.New("connection refused")
	}
	t, ok := f[token]
	if !ok {
		return authenticationv1.TokenReviewStatus{Error: "invalid bearer token"}, nil
	}
	var common []string
	for _, a := range audiences {
		if slices.Contains(t.audiences, a) {
			common = append(common, a)
		}
	}
	if len(common) == 0 {
		// The API server's words (k8s.io/kubernetes/pkg/serviceaccount).
		return authenticationv1.TokenReviewStatus{Error: fmt.Sprintf("token audiences %q is invalid for the target audiences %q", t.audiences, audiences)}, nil
	}
	return authenticationv1.TokenReviewStatus{Authenticated: true, Audiences: common, User: authenticationv1.UserInfo{Username: t.user}}, nil
}

var (
	tenants  = fakeTenants{"acme": "acme", "acme-prod": "acme", "globex": "globex"}
	reviewer = fakeReviewer{
		"acme-metrics":   {user: "system:serviceaccount:acme-prod:tenantry-metrics", audiences: []string{DefaultAudience}},
		"acme-api":       {user: "system:serviceaccount:acme:default", audiences: []string{"https://kubernetes.default.svc"}},
		"globex-metrics": {user: "system:serviceaccount:globex:tenantry-metrics", audiences: []string{DefaultAudience}},
		"system-metrics": {user: "system:serviceaccount:kube-system:default", audiences: []string{DefaultAudience}},
		"alice":          {user: "alice", audiences: []string{DefaultAudience}},
	}
)

// The whole request path with a fake TokenReview and a recording upstream:
// who is refused with which code and message, and what prom-label-proxy is
// told for those let through.
func TestGateway(t *testing.T) {
	type seen struct {
		namespaces    []string
		authorization string
		query         string
	}
	var got seen
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = seen{namespaces: r.Header.Values(NamespacesHeader), authorization: r.Header.Get("Authorization"), query: r.URL.RawQuery}
		_, _ = w.Write([]byte(`{"status":"success"}`))
	}))
	defer upstream.Close()
	u, _ := url.Parse(upstream.URL)
	reg := prometheus.NewRegistry()
	g, err := New(Config{Upstream: u, Reviewer: reviewer, Tenants: tenants, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name          string
		authorization string
		// spoof is a namespace the client claims in the enforcement header.
		spoof          string
		wantCode       int
		wantMessage    string
		wantNamespaces []string
	}{
		{name: "own tenant's token: scoped to all of its namespaces", authorization: "Bearer acme-metrics",
			wantCode: 200, wantNamespaces: []string{"acme", "acme-prod"}},
		{name: "scheme is case-insensitive", authorization: "bearer globex-metrics",
			wantCode: 200, wantNamespaces: []string{"globex"}},
		{name: "a namespace the client sends is replaced", authorization: "Bearer acme-metrics", spoof: "globex",
			wantCode: 200, wantNamespaces: []string{"acme", "acme-prod"}},
		{name: "no credential", wantCode: 401, wantMessage: "no credential: send the header \"Authorization: Bearer <token>\""},
		{name: "basic auth", authorization: "Basic YWxpY2U6cHc=", wantCode: 401, wantMessage: "must be \"Bearer <token>\""},
		{name: "unknown token", authorization: "Bearer forged", wantCode: 401, wantMessage: "the token is not valid (expired, revoked, or not a Kubernetes token): invalid bearer token"},
		{name: "the tenant's API token (wrong audience)", authorization: "Bearer acme-api", wantCode: 401, wantMessage: `is invalid for the target audiences ["tenantry-metrics"]`},
		{name: "a ServiceAccount of no tenant", authorization: "Bearer system-metrics", wantCode: 403,
			wantMessage: "namespace kube-system belongs to no tenant"},
		{name: "a user, not a ServiceAccount", authorization: "Bearer alice", wantCode: 403, wantMessage: "alice is not a ServiceAccount"},
		{name: "API server unreachable", authorization: "Bearer api-down", wantCode: 503, wantMessage: "could not be checked with the Kubernetes API"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got = seen{}
			req := httptest.NewRequest(http.MethodGet, "/api/v1/query?query=up", nil)
			if tc.authorization != "" {
				req.Header.Set("Authorization", tc.authorization)
			}
			if tc.spoof != "" {
				req.Header.Set(NamespacesHeader, tc.spoof)
			}
			rec := httptest.NewRecorder()
			g.ServeHTTP(rec, req)
			if rec.Code != tc.wantCode {
				t.Fatalf("code = %d, want %d (body %s)", rec.Code, tc.wantCode, rec.Body)
			}
			if tc.wantCode != 200 {
				var body struct{ Status, ErrorType, Error string }
				if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Status != "error" || !strings.Contains(body.Error, tc.wantMessage) {
					t.Errorf("body = %s (err %v), want a Prometheus API error containing %q", rec.Body, err, tc.wantMessage)
				}
				if got.query != "" {
					t.Errorf("a refused request reached the upstream: %+v", got)
				}
				return
			}
			if !slices.Equal(got.namespaces, tc.wantNamespaces) || got.authorization != "" || got.query != "query=up" {
				t.Errorf("upstream saw %+v, want namespaces %v, no Authorization, query=up", got, tc.wantNamespaces)
			}
		})
	}

	for _, c := range []struct {
		tenant, code string
		want         float64
	}{{"acme", "200", 2}, {"globex", "200", 1}, {"", "401", 4}, {"", "403", 2}, {"", "503", 1}} {
		m := &dto.Metric{}
		if err := g.requests.WithLabelValues(c.tenant, c.code).Write(m); err != nil {
			t.Fatal(err)
		}
		if got := m.GetCounter().GetValue(); got != c.want {
			t.Errorf("tenantry_metrics_gateway_requests_total{tenant=%q,code=%q} = %v, want %v", c.tenant, c.code, got, c.want)
		}
	}
}

func TestIdentify(t *testing.T) {
	sa := func(user string, audiences ...string) authenticationv1.TokenReviewStatus {
		return authenticationv1.TokenReviewStatus{Authenticated: true, Audiences: audiences, User: authenticationv1.UserInfo{Username: user}}
	}
	for _, tc := range []struct {
		name          string
		status        authenticationv1.TokenReviewStatus
		wantNamespace string
		wantCode      int
	}{
		{"a tenant's ServiceAccount", sa("system:serviceaccount:acme:tenantry-metrics", DefaultAudience), "acme", 0},
		{"another audience", sa("system:serviceaccount:acme:tenantry-metrics", "vault"), "", 401},
		{"no audience", sa("system:serviceaccount:acme:tenantry-metrics"), "", 401},
		{"not authenticated", authenticationv1.TokenReviewStatus{Error: "expired"}, "", 401},
		{"a user", sa("alice", DefaultAudience), "", 403},
		{"a node", sa("system:node:real-node-0", DefaultAudience), "", 403},
		{"a truncated ServiceAccount name", sa("system:serviceaccount:acme", DefaultAudience), "", 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns, err := identify(tc.status, DefaultAudience)
			var r *refusal
			switch {
			case tc.wantCode == 0 && (err != nil || ns != tc.wantNamespace):
				t.Errorf("identify = %q, %v; want %q", ns, err, tc.wantNamespace)
			case tc.wantCode != 0 && (!errors.As(err, &r) || r.code != tc.wantCode):
				t.Errorf("identify = %q, %v; want a %d refusal", ns, err, tc.wantCode)
			}
		})
	}
}

func TestRestrict(t *testing.T) {
	h := http.Header{}
	h.Set("Authorization", "Bearer t")
	h.Add(NamespacesHeader, "globex")
	h.Add(NamespacesHeader, ".+")
	h.Set("Accept", "application/json")
	restrict(h, []string{"acme", "acme-prod"})
	if got := h.Values(NamespacesHeader); !slices.Equal(got, []string{"acme", "acme-prod"}) {
		t.Errorf("%s = %v, want only the tenant's namespaces", NamespacesHeader, got)
	}
	if h.Get("Authorization") != "" || h.Get("Accept") != "application/json" {
		t.Errorf("headers %v: want the token dropped and the rest kept", h)
	}
}

// countingReviewer counts the TokenReviews that reach it.
type countingReviewer struct {
	Reviewer
	calls int
}

func (c *countingReviewer) Review(ctx context.Context, token string, audiences []string) (authenticationv1.TokenReviewStatus, error) {
	c.calls++
	return c.Reviewer.Review(ctx, token, audiences)
}

// Successful reviews are reused for the TTL, per token and audience;
// failed ones never are.
func TestCachingReviewer(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	counting := &countingReviewer{Reviewer: reviewer}
	c := &CachingReviewer{Reviewer: counting, TTL: 30 * time.Second, Now: func() time.Time { return now }}
	audience := []string{DefaultAudience}
	for _, step := range []struct {
		name      string
		advance   time.Duration
		token     string
		audiences []string
		wantCalls int
		wantAuth  bool
	}{
		{"first use: reviewed", 0, "acme-metrics", audience, 1, true},
		{"again within the TTL: cached", 10 * time.Second, "acme-metrics", audience, 1, true},
		{"another token: reviewed", 0, "globex-metrics", audience, 2, true},
		{"the same token for another audience: reviewed", 0, "acme-metrics", []string{"vault"}, 3, false},
		{"a failed review: not cached", 0, "forged", audience, 4, false},
		{"the failed one again: reviewed again", 0, "forged", audience, 5, false},
		{"past the TTL: reviewed again", 25 * time.Second, "acme-metrics", audience, 6, true},
	} {
		now = now.Add(step.advance)
		status, err := c.Review(context.Background(), step.token, step.audiences)
		if err != nil || status.Authenticated != step.wantAuth || counting.calls != step.wantCalls {
			t.Errorf("%s: authenticated %v (err %v), %d TokenReviews; want %v, %d", step.name, status.Authenticated, err, counting.calls, step.wantAuth, step.wantCalls)
		}
	}
}

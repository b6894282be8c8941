// Package metricsgateway is the authenticating front of tenant metrics
// queries. A tenant presents a Kubernetes ServiceAccount token of one of its
// namespaces (the operator mints one per namespace into the Secret
// tenantry-analysis); the gateway checks it with a TokenReview, finds the
// tenant by the namespace's tenantry.dev/tenant label, and forwards the
// query to prom-label-proxy with the tenant's namespaces as the only label
// values it may see. prom-label-proxy then rewrites every selector of the
// query to match namespace=~"<those namespaces>".
//
// The gateway holds no credential store: tokens are bound and expiring, and
// deleting the ServiceAccount (or the tenant) revokes them at the API
// server. prom-label-proxy listens on loopback in the gateway's pod, so no
// query reaches it without passing here.
package metricsgateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	authenticationv1 "k8s.io/api/authentication/v1"
)

// DefaultAudience is the audience of the tokens the gateway accepts. A
// tenant's ordinary ServiceAccount tokens (audience: the API server) are
// refused, so a token a pod mounts for the API server cannot read metrics,
// and a metrics token cannot call the API server.
const DefaultAudience = "tenantry-metrics"

// NamespacesHeader carries the tenant's namespaces to prom-label-proxy, one
// header line per namespace (prom-label-proxy -header-name). The gateway
// removes any the client sent, so a tenant cannot widen its own scope.
const NamespacesHeader = "X-Tenantry-Namespace"

// Reviewer checks a bearer token with the API server (a TokenReview).
type Reviewer interface {
	Review(ctx context.Context, token string, audiences []string) (authenticationv1.TokenReviewStatus, error)
}

// Tenants maps namespaces to their tenants and back, from the tenantry.dev/tenant
// label only the platform may set on a namespace.
type Tenants interface {
	// TenantOf is the tenant owning namespace, "" when none does.
	TenantOf(namespace string) string
	// Namespaces are the tenant's namespaces, sorted.
	Namespaces(tenant string) []string
}

// Config wires a Gateway.
type Config struct {
	// Upstream is prom-label-proxy, started with -label namespace
	// -header-name X-Tenantry-Namespace.
	Upstream *url.URL
	// Audience is the token audience accepted; DefaultAudience when empty.
	Audience string
	Reviewer Reviewer
	Tenants  Tenants
	// Registerer receives the gateway's request counter; none when nil.
	Registerer prometheus.Registerer
	Log        logr.Logger
}

// Gateway is an http.Handler in front of prom-label-proxy.
type Gateway struct {
	audience string
	reviewer Reviewer
	tenants  Tenants
	proxy    *httputil.ReverseProxy
	requests *prometheus.CounterVec
	log      logr.Logger
}

// New returns a Gateway forwarding to cfg.Upstream.
func New(cfg Config) (*Gateway, error) {
	if cfg.Upstream == nil || cfg.Upstream.Host == "" {
		return nil, errors.New("metrics gateway: the upstream (prom-label-proxy's URL, e.g. http://127.0.0.1:9091) is required")
	}
	if cfg.Reviewer == nil || cfg.Tenants == nil {
		return nil, errors.New("metrics gateway: a token reviewer and a namespace index are required")
	}
	g := &Gateway{
		audience: cfg.Audience,
		reviewer: cfg.Reviewer,
		tenants:  cfg.Tenants,
		log:      cfg.Log,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tenantry_metrics_gateway_requests_total",
			Help: "Queries the metrics gateway answered, by tenant (\"\" when refused before one was known) and HTTP status code.",
		}, []string{"tenant", "code"}),
	}
	if g.audience == "" {
		g.audience = DefaultAudience
	}
	if cfg.Registerer != nil {
		if err := cfg.Registerer.Register(g.requests); err != nil {
			return nil, fmt.Errorf("registering the gateway's metrics: %w", err)
		}
	}
	upstream := cfg.Upstream
	g.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(upstream)
			scope, _ := pr.In.Context().Value(scopeKey{}).([]string)
			restrict(pr.Out.Header, scope)
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			g.log.Error(err, "forwarding a query failed", "path", r.URL.Path)
			writeError(w, http.StatusBadGateway, "unavailable", "the metrics backend did not answer; try again, and tell the platform team if it persists")
		},
	}
	return g, nil
}

type scopeKey struct{}

// ServeHTTP authenticates the request, scopes it to the caller's tenant and
// forwards it.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
	tenant := ""
	defer func() { g.requests.WithLabelValues(tenant, fmt.Sprint(rec.code)).Inc() }()

	token, err := bearerToken(r.Header)
	if err != nil {
		refuse(rec, err)
		return
	}
	status, err := g.reviewer.Review(r.Context(), token, []string{g.audience})
	if err != nil {
		g.log.Error(err, "reviewing a token failed")
		writeError(rec, http.StatusServiceUnavailable, "unavailable", "the token could not be checked with the Kubernetes API; try again")
		return
	}
	namespace, err := identify(status, g.audience)
	if err != nil {
		refuse(rec, err)
		return
	}
	tenant, namespaces, err := scope(namespace, g.tenants)
	if err != nil {
		refuse(rec, err)
		return
	}
	g.proxy.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), scopeKey{}, namespaces)))
}

// refusal is an authentication (401) or authorization (403) failure, with
// the message the client gets.
type refusal struct {
	code    int
	message string
}

func (e *refusal) Error() string { return e.message }

func unauthorized(format string, args ...any) error {
	return &refusal{code: http.StatusUnauthorized, message: fmt.Sprintf(format, args...)}
}

func forbidden(format string, args ...any) error {
	return &refusal{code: http.StatusForbidden, message: fmt.Sprintf(format, args...)}
}

func refuse(w http.ResponseWriter, err error) {
	var r *refusal
	if !errors.As(err, &r) {
		r = &refusal{code: http.StatusInternalServerError, message: err.Error()}
	}
	kind := "unauthorized"
	if r.code == http.StatusForbidden {
		kind = "forbidden"
	}
	if r.code == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="tenantry-metrics"`)
	}
	writeError(w, r.code, kind, r.message)
}

// writeError answers in the Prometheus API's error format, so Grafana and
// promtool show the message.
func writeError(w http.ResponseWriter, code int, kind, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"status": "error", "errorType": kind, "error": message})
}

// bearerToken is the token of an "Authorization: Bearer <token>" header.
func bearerToken(h http.Header) (string, error) {
	auth := h.Get("Authorization")
	if auth == "" {
		return "", unauthorized("no credential: send the header \"Authorization: Bearer <token>\" with the token from the key authorization of the Secret tenantry-analysis in your namespace")
	}
	scheme, token, ok := strings.Cut(auth, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return "", unauthorized("the Authorization header must be \"Bearer <token>\"")
	}
	return strings.TrimSpace(token), nil
}

// identify is the namespace of the ServiceAccount a reviewed token belongs
// to. Only ServiceAccount tokens for the gateway's audience are accepted:
// users' tokens and tokens for other audiences are refused.
func identify(status authenticationv1.TokenReviewStatus, audience string) (string, error) {
	if !status.Authenticated {
		msg := "the token is not valid (expired, revoked, or not a Kubernetes token)"
		if status.Error != "" {
			msg += ": " + status.Error
		}
		return "", unauthorized("%s; read a fresh one from the Secret tenantry-analysis", msg)
	}
	audienceOK := false
	for _, a := range status.Audiences {
		audienceOK = audienceOK || a == audience
	}
	if !audienceOK {
		return "", unauthorized("the token is not meant for the metrics gateway (audience %q wanted); use the one in the Secret tenantry-analysis, or mint one with kubectl create token tenantry-metrics --audience %s", audience, audience)
	}
	rest, isSA := strings.CutPrefix(status.User.Username, "system:serviceaccount:")
	namespace, name, ok := strings.Cut(rest, ":")
	if !isSA || !ok || namespace == "" || name == "" {
		return "", forbidden("%s is not a ServiceAccount: only ServiceAccount tokens of a tenant's namespace may query tenant metrics", status.User.Username)
	}
	return namespace, nil
}

// scope is the tenant owning namespace and every namespace of that tenant.
func scope(namespace string, tenants Tenants) (string, []string, error) {
	tenant := tenants.TenantOf(namespace)
	if tenant == "" {
		return "", nil, forbidden("namespace %s belongs to no tenant: only ServiceAccounts of tenant namespaces may query tenant metrics", namespace)
	}
	namespaces := tenants.Namespaces(tenant)
	if len(namespaces) == 0 {
		// The index saw the namespace a moment ago; it is going away.
		return "", nil, forbidden("tenant %s has no namespace left", tenant)
	}
	return tenant, namespaces, nil
}

// restrict sets the label values prom-label-proxy enforces to the tenant's
// namespaces, replacing any the client sent, and drops the client's token:
// the backend needs no tenant credential, and should not see one.
func restrict(h http.Header, namespaces []string) {
	h.Del("Authorization")
	h.Del(NamespacesHeader)
	for _, ns := range namespaces {
		h.Add(NamespacesHeader, ns)
	}
}

// statusRecorder remembers the status code written, for the request counter.
type statusRecorder struct {
	http.ResponseWriter
	code    int
	written bool
}

func (s *statusRecorder) WriteHeader(code int) {
	if !s.written {
		s.code, s.written = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	s.written = true
	return s.ResponseWriter.Write(b)
}

// Flush lets streamed responses through.
func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

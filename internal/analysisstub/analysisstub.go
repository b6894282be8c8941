// Package analysisstub stands in, on loopback, for what a canary analysis
// asks: a Prometheus query API (/api/v1/query) and the new version's health
// endpoint. On a control plane whose pods are simulated (kwok), nothing
// runs the app and nothing scrapes it, so the caller decides each answer:
// the end-to-end tests make a release good or bad on purpose, and the demo
// derives the answer from the release's fault knobs.
package analysisstub

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"time"
)

// Query is one request of the analysis, as the stub received it.
type Query struct {
	// Query is the PromQL expression; empty for a health check.
	Query string
	// Path is the URL path of a health check.
	Path string
	// Hash is the rollouts-pod-template-hash the query selects, if any: the
	// version under analysis.
	Hash string
	// Header holds the request's headers (the tenant's X-Scope-OrgID, the
	// Authorization the tenant's defaults set).
	Header http.Header
	At     time.Time
}

// Answers decide what the stub replies.
type Answers struct {
	// Prometheus returns the value of a query, or false for no data.
	Prometheus func(q Query) (float64, bool)
	// Healthy says whether a health check passes ({"status":"ok"}) or fails
	// (503 {"status":"failing"}).
	Healthy func(q Query) bool
}

// Server is a running stub.
type Server struct {
	// URL is the base URL: the Prometheus address, and the prefix of
	// health-check URLs (URL + "/healthz").
	URL string

	srv     *http.Server
	answers Answers
	mu      sync.Mutex
	queries []Query
}

// hashSelector finds the version a query selects by its pod template hash.
var hashSelector = regexp.MustCompile(`pod_template_hash="([^"]+)"`)

// Start serves the stub on a free loopback port until Close.
func Start(answers Answers) (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listening for the analysis stub: %w", err)
	}
	s := &Server{URL: "http://" + ln.Addr().String(), answers: answers}
	mux := http.NewServeMux()
	mux.HandleFunc("/api/v1/query", s.prometheus)
	mux.HandleFunc("/", s.health)
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// Close stops the stub.
func (s *Server) Close() error { return s.srv.Close() }

// Queries returns what the stub was asked so far, oldest first.
func (s *Server) Queries() []Query {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Query(nil), s.queries...)
}

func (s *Server) record(q Query) {
	s.mu.Lock()
	s.queries = append(s.queries, q)
	s.mu.Unlock()
}

// prometheus answers an instant query with a one-sample vector, or an
// empty one for no data, in the Prometheus HTTP API's format.
func (s *Server) prometheus(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	q := Query{Query: r.Form.Get("query"), Header: r.Header.Clone(), At: time.Now()}
	if m := hashSelector.FindStringSubmatch(q.Query); m != nil {
		q.Hash = m[1]
	}
	s.record(q)
	result := []any{}
	if s.answers.Prometheus != nil {
		if v, ok := s.answers.Prometheus(q); ok {
			result = append(result, map[string]any{
				"metric": map[string]string{},
				"value":  []any{float64(q.At.UnixMilli()) / 1000, strconv.FormatFloat(v, 'f', -1, 64)},
			})
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "success", "data": map[string]any{"resultType": "vector", "result": result}})
}

// health answers a web health check the way the demo app's /healthz does.
func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	q := Query{Path: r.URL.Path, Header: r.Header.Clone(), At: time.Now()}
	s.record(q)
	if s.answers.Healthy == nil || s.answers.Healthy(q) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
		return
	}
	writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "failing"})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

package analysisstub

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestStub(t *testing.T) {
	s, err := Start(Answers{
		Prometheus: func(q Query) (float64, bool) { return 0.5, q.Hash == "bad" },
		Healthy:    func(q Query) bool { return q.Path != "/failing/healthz" },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	tests := []struct {
		name     string
		path     string
		wantCode int
		want     string
	}{
		{"a query with data", "/api/v1/query?query=" + url.QueryEscape(`sum(rate(x{rollouts_pod_template_hash="bad"}[1m]))`), 200, `[{"metric":{},"value":`},
		{"a query without data", "/api/v1/query?query=" + url.QueryEscape(`sum(rate(x{rollouts_pod_template_hash="good"}[1m]))`), 200, `[]`},
		{"a healthy check", "/ok/healthz", 200, `"ok"`},
		{"a failing check", "/failing/healthz", 503, `"failing"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, s.URL+tt.path, nil)
			req.Header.Set("X-Scope-OrgID", "acme")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body map[string]any
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatal(err)
			}
			raw, _ := json.Marshal(body)
			if resp.StatusCode != tt.wantCode || !strings.Contains(string(raw), tt.want) {
				t.Errorf("GET %s = %d %s, want %d with %s", tt.path, resp.StatusCode, raw, tt.wantCode, tt.want)
			}
		})
	}
	qs := s.Queries()
	if len(qs) != 4 || qs[0].Hash != "bad" || qs[0].Header.Get("X-Scope-OrgID") != "acme" {
		t.Errorf("recorded %+v, want 4 queries, the first for hash bad with the tenant header", qs)
	}
}

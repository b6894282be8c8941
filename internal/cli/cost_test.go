package cli

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tenantry/tenantry/internal/cost"
)

func TestCostPeriod(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		flags      costFlags
		from, to   time.Time
		step       time.Duration
		wantErrHas string
	}{
		{"default: the last 30 days", costFlags{since: "30d"}, now.AddDate(0, 0, -30), now, 43*time.Minute + 12*time.Second, ""},
		{"hours with a resolution", costFlags{since: "2h", resolution: 10 * time.Second}, now.Add(-2 * time.Hour), now, 10 * time.Second, ""},
		{"times", costFlags{since: "2026-12-01T00:00:00Z", until: "2026-12-02T00:00:00Z"},
			time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC), 86 * time.Second, ""},
		{"a past month", costFlags{month: "2026-11"}, time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), 43*time.Minute + 12*time.Second, ""},
		{"this month, until now", costFlags{month: "2026-12"}, time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), now, 9*time.Minute + 22*time.Second, ""},
		{"a month to come", costFlags{month: "2027-01"}, time.Time{}, time.Time{}, 0, "has not started yet"},
		{"a month and an end", costFlags{month: "2026-11", until: "2026-11-15T00:00:00Z"}, time.Time{}, time.Time{}, 0, "leave --since and --until out"},
		{"a month and a start", costFlags{month: "2026-11", since: "7d", sinceSet: true}, time.Time{}, time.Time{}, 0, "leave --since and --until out"},
		{"a month misspelt", costFlags{month: "November"}, time.Time{}, time.Time{}, 0, "--month \"November\": want YYYY-MM"},
		{"since misspelt", costFlags{since: "a month"}, time.Time{}, time.Time{}, 0, "--since \"a month\": want a duration such as 30d"},
		{"until misspelt", costFlags{since: "1d", until: "tomorrow"}, time.Time{}, time.Time{}, 0, "--until \"tomorrow\""},
		{"since after until", costFlags{since: "2026-12-08T00:00:00Z"}, time.Time{}, time.Time{}, 0, "before it starts"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := tt.flags.period(now)
			if tt.wantErrHas != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErrHas) {
					t.Fatalf("period = %v, want an error with %q", err, tt.wantErrHas)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !p.From.Equal(tt.from) || !p.To.Equal(tt.to) || p.Step != tt.step {
				t.Errorf("period %s–%s every %s, want %s–%s every %s", p.From, p.To, p.Step, tt.from, tt.to, tt.step)
			}
		})
	}
}

// TestQueryCost runs every query of the report against a stand-in
// Prometheus answering each with one figure, and checks the report is
// built from them; the real Prometheus is test/realnode's.
func TestQueryCost(t *testing.T) {
	var mu sync.Mutex
	queries := map[string]bool{}
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		q := r.Form.Get("query")
		mu.Lock()
		queries[q] = true
		mu.Unlock()
		result := `[{"metric":{"tenant":"acme","namespace":"acme-prod"},"value":[1,"3600"]}]`
		if strings.Contains(q, "tenantry:tenant_cost:hourly") {
			result = `[{"metric":{"tenant":"acme","currency":"EUR","component":"cpu"},"value":[1,"12.5"]}]`
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"success","data":{"resultType":"vector","result":` + result + `}}`))
	}))
	defer server.Close()
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	p := cost.Period{From: now.Add(-time.Hour), To: now, Step: time.Minute}
	r, err := queryCost(context.Background(), server.URL, p, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if len(queries) != len(cost.Queries(p, "acme")) {
		t.Errorf("%d queries asked, want %d", len(queries), len(cost.Queries(p, "acme")))
	}
	if len(r.Tenants) != 1 || r.Tenants[0].Total != 12.5 || r.Currency != "EUR" || r.Tenants[0].CPU.Billed != 3600 {
		t.Errorf("report %+v, want acme at 12.5 EUR with 3600 core-hours", r)
	}
	if _, err := queryCost(context.Background(), "", p, ""); err == nil || !strings.Contains(err.Error(), "--prometheus") {
		t.Errorf("no Prometheus: %v, want an error naming --prometheus", err)
	}
}

package localcluster

import (
	"strings"
	"testing"
	"time"

	"github.com/tenantry/tenantry/internal/demoapp"
)

// TestSumPhases checks how the load client's reports are told apart by
// phase and URL: a report counts towards the phase marked last before it
// ended.
func TestSumPhases(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	latency := func(d time.Duration) []int {
		h := make([]int, len(demoapp.LatencyBuckets))
		h[demoapp.LatencyBucket(d)] = 10
		return h
	}
	reports := []demoapp.LoadReport{
		{Time: at(1), URL: "svc", Sent: 10, OK: 10, Versions: map[string]int{"1.0.0": 10}, Latency: latency(time.Millisecond)},
		{Time: at(1), URL: "ingress", Sent: 10, OK: 10, Versions: map[string]int{"1.0.0": 10}, Latency: latency(time.Millisecond)},
		{Time: at(2), URL: "svc", Sent: 10, OK: 9, Failed: 1, Versions: map[string]int{"1.0.0": 8, "2.0.0": 2},
			Failures: map[string]int{"status 500": 1}, Latency: latency(100 * time.Millisecond)},
		{Time: at(3), URL: "svc", Sent: 10, OK: 10, Versions: map[string]int{"2.0.0": 10}, Latency: latency(time.Millisecond)},
	}
	marks := []loadMark{{phase: "start"}, {phase: "weight 20", at: at(2)}, {phase: "promoted", at: at(3)}}

	got := sumPhases(marks, reports)
	want := []struct {
		phase, url       string
		sent, ok, failed int
		share2           float64
	}{
		{"start", "svc", 10, 10, 0, 0},
		{"start", "ingress", 10, 10, 0, 0},
		{"weight 20", "svc", 10, 9, 1, 0.2},
		{"promoted", "svc", 10, 10, 0, 1},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d phases, want %d:\n%s", len(got), len(want), FormatLoadPhases(got))
	}
	for i, w := range want {
		g := got[i]
		if g.Phase != w.phase || g.URL != w.url || g.Sent != w.sent || g.OK != w.ok || g.Failed != w.failed || g.Share("2.0.0") != w.share2 {
			t.Errorf("phase %d = %+v, want %+v", i, g, w)
		}
	}
	table := FormatLoadPhases(got)
	for _, s := range []string{"weight 20", "1.0.0=8 2.0.0=2", "status 500=1"} {
		if !strings.Contains(table, s) {
			t.Errorf("table lacks %q:\n%s", s, table)
		}
	}
}

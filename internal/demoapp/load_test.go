package demoapp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func TestParseLoad(t *testing.T) {
	tests := []struct {
		args    []string
		wantErr string
	}{
		{args: []string{"http://web/"}},
		{args: []string{"--rate", "500", "--keepalive", "http://a/", "http://b/"}},
		{args: nil, wantErr: "want at least one URL"},
		{args: []string{"--rate", "0", "http://web/"}, wantErr: "--rate 0"},
		{args: []string{"--interval", "0s", "http://web/"}, wantErr: "--interval 0s"},
		{args: []string{"--timeout", "-1s", "http://web/"}, wantErr: "--timeout -1s"},
		{args: []string{"--rate", "fast", "http://web/"}, wantErr: "invalid value"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, err := parseLoad(tt.args)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("parseLoad(%q) = %v, want error containing %q", tt.args, err, tt.wantErr)
			}
		})
	}
}

func TestLatencyQuantile(t *testing.T) {
	hist := func(latencies ...time.Duration) []int {
		c := make([]int, len(LatencyBuckets))
		for _, l := range latencies {
			c[LatencyBucket(l)]++
		}
		return c
	}
	many := make([]time.Duration, 0, 100)
	for range 99 {
		many = append(many, 2*time.Millisecond)
	}
	many = append(many, time.Second)
	tests := []struct {
		name   string
		counts []int
		q      float64
		lo, hi time.Duration
	}{
		{"empty", hist(), 0.5, 0, 0},
		{"one", hist(3 * time.Millisecond), 0.99, 3 * time.Millisecond, 3750 * time.Microsecond},
		{"p50 of 99 fast and 1 slow", hist(many...), 0.5, 2 * time.Millisecond, 2500 * time.Microsecond},
		{"p99 of 99 fast and 1 slow", hist(many...), 0.99, 2 * time.Millisecond, 2500 * time.Microsecond},
		{"max of 99 fast and 1 slow", hist(many...), 1, time.Second, 1250 * time.Millisecond},
		{"slower than every bound", hist(time.Minute), 0.5, time.Minute, time.Duration(1<<63 - 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := LatencyQuantile(tt.counts, tt.q); got < tt.lo || got > tt.hi {
				t.Errorf("LatencyQuantile(q=%v) = %s, want in [%s, %s]", tt.q, got, tt.lo, tt.hi)
			}
		})
	}
}

func TestFailureReason(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{context.DeadlineExceeded, "timeout"},
		{fmt.Errorf("Get \"http://web/\": %w", io.EOF), "connection closed"},
		{fmt.Errorf("dial tcp 10.0.0.9:80: connect: %w", syscall.ECONNREFUSED), "connection refused"},
		{errors.New("read tcp 10.245.0.7:4711->10.0.0.9:80: read: connection reset by peer"), "connection reset"},
		{errors.New("dial tcp: lookup web on 10.0.0.10:53: no such host"), "no such host"},
		{errors.New("something new"), "error"},
	}
	for _, tt := range tests {
		if got := failureReason(tt.err); got != tt.want {
			t.Errorf("failureReason(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

// TestRunLoad sends load at two servers, one of them failing half of its
// requests, and reads the reports back as the harness does.
func TestRunLoad(t *testing.T) {
	answer := func(version string, failEvery int) http.HandlerFunc {
		var n atomic.Int64
		return func(w http.ResponseWriter, r *http.Request) {
			i := n.Add(1)
			if r.Host != "shop.example.com" {
				http.Error(w, "wrong host "+r.Host, http.StatusNotFound)
				return
			}
			code := http.StatusOK
			if failEvery > 0 && i%int64(failEvery) == 0 {
				code = http.StatusInternalServerError
			}
			w.WriteHeader(code)
			_ = json.NewEncoder(w).Encode(map[string]string{"version": version})
		}
	}
	good := httptest.NewServer(answer("1.0.0", 0))
	defer good.Close()
	bad := httptest.NewServer(answer("2.0.0", 2))
	defer bad.Close()

	cfg := loadConfig{urls: []string{good.URL, bad.URL}, rate: 200, interval: 100 * time.Millisecond, timeout: time.Second, host: "shop.example.com"}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	var out bytes.Buffer
	runLoad(ctx, cfg, http.DefaultClient.Do, json.NewEncoder(&out))

	total := map[string]*LoadReport{}
	dec := json.NewDecoder(&out)
	for dec.More() {
		var r LoadReport
		if err := dec.Decode(&r); err != nil {
			t.Fatal(err)
		}
		sum, ok := total[r.URL]
		if !ok {
			sum = &LoadReport{Versions: map[string]int{}, Failures: map[string]int{}}
			total[r.URL] = sum
		}
		sum.Sent += r.Sent
		sum.OK += r.OK
		sum.Failed += r.Failed
		for v, n := range r.Versions {
			sum.Versions[v] += n
		}
		for f, n := range r.Failures {
			sum.Failures[f] += n
		}
	}
	g, b := total[good.URL], total[bad.URL]
	if g == nil || b == nil || g.Sent < 10 || b.Sent < 10 {
		t.Fatalf("too few requests: %+v %+v", g, b)
	}
	if g.Failed != 0 || g.OK != g.Sent || g.Versions["1.0.0"] != g.Sent {
		t.Errorf("good server: %+v, want every request answered OK by 1.0.0", g)
	}
	if b.OK+b.Failed != b.Sent || b.Failures["status 500"] != b.Failed || b.Failed < b.Sent/2-1 || b.Versions["2.0.0"] != b.Sent {
		t.Errorf("bad server: %+v, want half the requests failed with status 500, all answered by 2.0.0", b)
	}
}

package demoapp

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

const loadUsage = `Usage: demo-app load [flags] URL...

Sends GET requests at a constant total rate, round-robin over the URLs,
until SIGTERM, and every interval prints one JSON line per URL: requests
sent, answered OK (2xx), failed (any other status, a timeout, a refused or
reset connection), the version that answered (the "version" field of the
demo app's answers) and a latency histogram. Run in a pod, it measures what
a release does to the app's clients:

  kubectl run load --image=IMAGE -- load --rate 100 http://web/

A request is never retried, so every failure a client would see is counted.
Each request opens its own connection unless --keepalive is set, so a
Service spreads them over its pods as it would spread independent clients.

Flags:
`

// LoadReport is what `demo-app load` prints for one URL and one interval.
type LoadReport struct {
	// Time is the end of the interval.
	Time time.Time `json:"time"`
	URL  string    `json:"url"`
	// Sent counts requests started in the interval; OK and Failed count the
	// requests that ended in it.
	Sent   int `json:"sent"`
	OK     int `json:"ok"`
	Failed int `json:"failed"`
	// Versions counts answers by the version that gave them, failed or not.
	Versions map[string]int `json:"versions,omitempty"`
	// Failures counts failed requests by reason ("status 500", "timeout",
	// "connection refused", …).
	Failures map[string]int `json:"failures,omitempty"`
	// Latency counts ended requests by LatencyBuckets.
	Latency []int `json:"latency"`
}

// LatencyBuckets are the upper bounds of the latency histogram of a
// LoadReport: 0.5 ms growing by a quarter up to about 11 s, then +Inf, so a
// quantile read from it is within 25 % of the true value.
var LatencyBuckets = func() []time.Duration {
	var b []time.Duration
	for d := 500 * time.Microsecond; d < 12*time.Second; d = d * 5 / 4 {
		b = append(b, d)
	}
	return append(b, time.Duration(math.MaxInt64))
}()

// LatencyBucket is the index of the bucket of LatencyBuckets d falls in.
func LatencyBucket(d time.Duration) int {
	return sort.Search(len(LatencyBuckets), func(i int) bool { return d <= LatencyBuckets[i] })
}

// LatencyQuantile reads quantile q (0..1) from a histogram over
// LatencyBuckets: the upper bound of the bucket holding it, 0 when empty.
func LatencyQuantile(counts []int, q float64) time.Duration {
	total := 0
	for _, c := range counts {
		total += c
	}
	if total == 0 {
		return 0
	}
	rank := int(math.Ceil(q * float64(total)))
	seen := 0
	for i, c := range counts {
		if seen += c; seen >= max(rank, 1) {
			return LatencyBuckets[i]
		}
	}
	return LatencyBuckets[len(LatencyBuckets)-1]
}

// loadConfig is the parsed command line of `demo-app load`.
type loadConfig struct {
	urls      []string
	rate      int
	interval  time.Duration
	timeout   time.Duration
	host      string
	keepAlive bool
}

// Load is `demo-app load`; it returns the process exit code: 0 when stopped
// by ctx, 2 on bad arguments.
func Load(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := parseLoad(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, loadUsage)
		loadFlags(&loadConfig{}, stdout).PrintDefaults()
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "demo-app load:", err, "(see load --help)")
		return 2
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.DisableKeepAlives = !cfg.keepAlive
	transport.MaxIdleConnsPerHost = 64
	client := &http.Client{Timeout: cfg.timeout, Transport: transport}
	runLoad(ctx, cfg, client.Do, json.NewEncoder(stdout))
	return 0
}

func loadFlags(cfg *loadConfig, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("demo-app load", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.IntVar(&cfg.rate, "rate", 100, "Requests per second, in total over the URLs.")
	fs.DurationVar(&cfg.interval, "interval", time.Second, "How often to print a report, a Go duration.")
	fs.DurationVar(&cfg.timeout, "timeout", 2*time.Second, "How long a request may take before it counts as failed.")
	fs.StringVar(&cfg.host, "host", "", "Host header of every request (a virtual host behind an ingress); empty: the URL's.")
	fs.BoolVar(&cfg.keepAlive, "keepalive", false, "Reuse connections instead of opening one per request.")
	return fs
}

func parseLoad(args []string) (loadConfig, error) {
	var cfg loadConfig
	fs := loadFlags(&cfg, io.Discard)
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	switch {
	case fs.NArg() == 0:
		return cfg, errors.New("want at least one URL")
	case cfg.rate <= 0:
		return cfg, fmt.Errorf("--rate %d: want a positive number of requests per second", cfg.rate)
	case cfg.interval <= 0:
		return cfg, fmt.Errorf("--interval %s: want a positive duration", cfg.interval)
	case cfg.timeout <= 0:
		return cfg, fmt.Errorf("--timeout %s: want a positive duration", cfg.timeout)
	}
	cfg.urls = fs.Args()
	return cfg, nil
}

// doFunc sends one request: http.Client.Do, or a fake in tests.
type doFunc func(*http.Request) (*http.Response, error)

// runLoad sends the requests until ctx ends, then waits for those in
// flight and prints the last reports.
func runLoad(ctx context.Context, cfg loadConfig, do doFunc, out *json.Encoder) {
	tally := newLoadTally(cfg.urls)
	var inFlight sync.WaitGroup
	send := time.NewTicker(time.Second / time.Duration(cfg.rate))
	defer send.Stop()
	report := time.NewTicker(cfg.interval)
	defer report.Stop()
	next := 0
	for {
		select {
		case <-ctx.Done():
			inFlight.Wait()
			tally.flush(time.Now(), out)
			return
		case now := <-report.C:
			tally.flush(now, out)
		case <-send.C:
			url := cfg.urls[next%len(cfg.urls)]
			next++
			tally.sent(url)
			inFlight.Add(1)
			go func() {
				defer inFlight.Done()
				// The request outlives ctx so that stopping the client does
				// not count requests it cut short as failures.
				tally.ended(url, request(context.WithoutCancel(ctx), do, url, cfg.host))
			}()
		}
	}
}

// outcome is the end of one request.
type outcome struct {
	latency time.Duration
	version string // "" when the answer had none
	failure string // "" when answered 2xx
}

func request(ctx context.Context, do doFunc, url, host string) outcome {
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return outcome{failure: err.Error()}
	}
	if host != "" {
		req.Host = host
	}
	resp, err := do(req)
	if err != nil {
		return outcome{latency: time.Since(start), failure: failureReason(err)}
	}
	defer resp.Body.Close()
	var body struct {
		Version string `json:"version"`
	}
	decodeErr := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&body)
	_, _ = io.Copy(io.Discard, resp.Body)
	o := outcome{latency: time.Since(start), version: body.Version}
	switch {
	case resp.StatusCode/100 != 2:
		o.failure = fmt.Sprintf("status %d", resp.StatusCode)
	case decodeErr != nil:
		o.failure = "unreadable answer"
	}
	return o
}

// failureReason names a transport error by its kind, so reports group
// them: the URL and addresses in the error would make each one unique.
func failureReason(err error) string {
	var timeout interface{ Timeout() bool }
	switch {
	case errors.As(err, &timeout) && timeout.Timeout():
		return "timeout"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed"
	}
	for _, kind := range []string{"connection refused", "connection reset", "no route to host", "no such host", "broken pipe"} {
		if strings.Contains(err.Error(), kind) {
			return kind
		}
	}
	return "error"
}

// loadTally accumulates the current interval's reports, one per URL.
type loadTally struct {
	mu      sync.Mutex
	urls    []string
	reports map[string]*LoadReport
}

func newLoadTally(urls []string) *loadTally {
	t := &loadTally{urls: urls}
	t.reset()
	return t
}

func (t *loadTally) reset() {
	t.reports = map[string]*LoadReport{}
	for _, u := range t.urls {
		t.reports[u] = &LoadReport{URL: u, Latency: make([]int, len(LatencyBuckets))}
	}
}

func (t *loadTally) sent(url string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.reports[url].Sent++
}

func (t *loadTally) ended(url string, o outcome) {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.reports[url]
	r.Latency[LatencyBucket(o.latency)]++
	if o.version != "" {
		if r.Versions == nil {
			r.Versions = map[string]int{}
		}
		r.Versions[o.version]++
	}
	if o.failure == "" {
		r.OK++
		return
	}
	r.Failed++
	if r.Failures == nil {
		r.Failures = map[string]int{}
	}
	r.Failures[o.failure]++
}

// flush prints the interval's reports and starts the next interval.
func (t *loadTally) flush(now time.Time, out *json.Encoder) {
	t.mu.Lock()
	reports := t.reports
	t.reset()
	t.mu.Unlock()
	for _, u := range t.urls {
		r := reports[u]
		r.Time = now
		_ = out.Encode(r)
	}
}

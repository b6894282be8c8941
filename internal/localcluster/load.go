package localcluster

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/tenantry/tenantry/internal/demoapp"
)

// LoadOptions configure StartLoad.
type LoadOptions struct {
	// Namespace and Name of the load pod.
	Namespace, Name string
	// Image is demo-app's image (the load client is `demo-app load`).
	Image string
	// URLs are requested round-robin; each gets its own figures.
	URLs []string
	// Host is the Host header of every request (a virtual host behind an
	// ingress); empty: each URL's own.
	Host string
	// Rate is requests per second over all URLs; default 100.
	Rate int
	// Interval is how often the client reports; default 500ms. Phases are
	// told apart to within one interval.
	Interval time.Duration
	// Resources of the load pod; default 100m CPU and 32Mi requested, 1 CPU
	// and 64Mi at most, so the client is not what slows requests down.
	Resources *corev1.ResourceRequirements
}

// Load is a load client running in a pod: `demo-app load`, whose reports
// it reads from the pod's log as they come.
type Load struct {
	pods    podDeleter
	name    string
	done    chan struct{}
	stream  error
	mu      sync.Mutex
	reports []demoapp.LoadReport
	marks   []loadMark
}

type podDeleter interface {
	Delete(ctx context.Context, name string, opts metav1.DeleteOptions) error
}

type loadMark struct {
	phase string
	at    time.Time
}

// LoadPhase is what the clients of one URL saw during one phase.
type LoadPhase struct {
	Phase, URL         string
	Sent, OK, Failed   int
	Versions, Failures map[string]int
	// Latency is the histogram over demoapp.LatencyBuckets.
	Latency []int
}

// Quantile of the phase's latency (upper bound of its bucket: within 25 %).
func (p LoadPhase) Quantile(q float64) time.Duration { return demoapp.LatencyQuantile(p.Latency, q) }

// Share is the part of the phase's answers that version gave, 0 to 1.
func (p LoadPhase) Share(version string) float64 {
	total := 0
	for _, n := range p.Versions {
		total += n
	}
	if total == 0 {
		return 0
	}
	return float64(p.Versions[version]) / float64(total)
}

// StartLoad runs a load client in a pod created by cs (a tenant's user, so
// the guardrails, quota and NetworkPolicies apply to it as to the tenant's
// own clients), waits until it sends, and follows its reports. The first
// phase is "start"; Mark begins the next. Stop ends it.
func StartLoad(ctx context.Context, cs kubernetes.Interface, opts LoadOptions) (*Load, error) {
	if opts.Rate == 0 {
		opts.Rate = 100
	}
	if opts.Interval == 0 {
		opts.Interval = 500 * time.Millisecond
	}
	args := []string{"load", "--rate", strconv.Itoa(opts.Rate), "--interval", opts.Interval.String()}
	if opts.Host != "" {
		args = append(args, "--host", opts.Host)
	}
	pod := clientPod(opts.Namespace, opts.Name, opts.Image, append(args, opts.URLs...))
	pod.Spec.TerminationGracePeriodSeconds = ptr.To[int64](30)
	pod.Spec.Containers[0].Resources = loadResources(opts.Resources)
	pods := cs.CoreV1().Pods(opts.Namespace)
	if _, err := pods.Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("creating load pod %s/%s: %w", opts.Namespace, opts.Name, err)
	}
	l := &Load{pods: pods, name: opts.Name, done: make(chan struct{}), marks: []loadMark{{phase: "start"}}}
	what := "load pod " + opts.Namespace + "/" + opts.Name
	err := waitFor(ctx, what+" running", nil, func() error {
		p, err := pods.Get(ctx, opts.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if p.Status.Phase != corev1.PodRunning {
			return fmt.Errorf("pod is %s", p.Status.Phase)
		}
		return nil
	})
	if err != nil {
		_ = pods.Delete(context.WithoutCancel(ctx), opts.Name, metav1.DeleteOptions{})
		return nil, err
	}
	// The stream outlives ctx: it ends when the pod stops (Stop).
	logs, err := pods.GetLogs(opts.Name, &corev1.PodLogOptions{Follow: true}).Stream(context.WithoutCancel(ctx))
	if err != nil {
		_ = pods.Delete(context.WithoutCancel(ctx), opts.Name, metav1.DeleteOptions{})
		return nil, fmt.Errorf("following the log of %s: %w", what, err)
	}
	go func() {
		defer close(l.done)
		defer logs.Close()
		lines := bufio.NewScanner(logs)
		for lines.Scan() {
			var r demoapp.LoadReport
			if err := json.Unmarshal(lines.Bytes(), &r); err != nil {
				continue // not a report: nothing else is printed on stdout
			}
			l.mu.Lock()
			l.reports = append(l.reports, r)
			l.mu.Unlock()
		}
		l.stream = lines.Err()
	}()
	err = waitFor(ctx, what+" reporting", nil, func() error {
		if len(l.Phases()) == 0 {
			return fmt.Errorf("no report yet")
		}
		return nil
	})
	return l, err
}

func loadResources(r *corev1.ResourceRequirements) corev1.ResourceRequirements {
	if r != nil {
		return *r
	}
	return corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("32Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("64Mi")},
	}
}

// Mark begins phase now; reports from now on count towards it.
func (l *Load) Mark(phase string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.marks = append(l.marks, loadMark{phase: phase, at: time.Now()})
}

// Phases sums the reports so far by phase and URL, in the order of the
// phases and of the URLs.
func (l *Load) Phases() []LoadPhase {
	l.mu.Lock()
	defer l.mu.Unlock()
	return sumPhases(l.marks, l.reports)
}

// Since sums the reports that ended after t, by URL: what the clients saw
// since then, whatever the phase.
func (l *Load) Since(t time.Time) []LoadPhase {
	l.mu.Lock()
	defer l.mu.Unlock()
	return sumPhases([]loadMark{{phase: "since " + t.Format(time.TimeOnly)}}, slices.DeleteFunc(slices.Clone(l.reports),
		func(r demoapp.LoadReport) bool { return !r.Time.After(t) }))
}

// Stop ends the load: the client finishes the requests in flight and
// reports them before its pod is gone. It returns the phases.
func (l *Load) Stop(ctx context.Context) ([]LoadPhase, error) {
	if err := l.pods.Delete(ctx, l.name, metav1.DeleteOptions{}); err != nil {
		return l.Phases(), fmt.Errorf("stopping load pod %s: %w", l.name, err)
	}
	select {
	case <-l.done:
	case <-ctx.Done():
		return l.Phases(), fmt.Errorf("waiting for the last reports of load pod %s: %w", l.name, ctx.Err())
	}
	return l.Phases(), l.stream
}

// sumPhases assigns each report to the phase marked last before it ended.
func sumPhases(marks []loadMark, reports []demoapp.LoadReport) []LoadPhase {
	type key struct{ phase, url string }
	sums := map[key]*LoadPhase{}
	var order []key
	for _, r := range reports {
		phase := marks[0].phase
		for _, m := range marks[1:] {
			if !r.Time.Before(m.at) {
				phase = m.phase
			}
		}
		k := key{phase, r.URL}
		s, ok := sums[k]
		if !ok {
			s = &LoadPhase{Phase: phase, URL: r.URL, Versions: map[string]int{}, Failures: map[string]int{}, Latency: make([]int, len(demoapp.LatencyBuckets))}
			sums[k] = s
			order = append(order, k)
		}
		s.Sent += r.Sent
		s.OK += r.OK
		s.Failed += r.Failed
		for v, n := range r.Versions {
			s.Versions[v] += n
		}
		for f, n := range r.Failures {
			s.Failures[f] += n
		}
		for i, n := range r.Latency {
			if i < len(s.Latency) {
				s.Latency[i] += n
			}
		}
	}
	phases := make([]LoadPhase, len(order))
	for i, k := range order {
		phases[i] = *sums[k]
	}
	return phases
}

// FormatLoadPhases prints phases as a table: what the clients saw.
func FormatLoadPhases(phases []LoadPhase) string {
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "PHASE\tURL\tSENT\tOK\tFAILED\tANSWERED BY\tP50\tP99\tMAX\tFAILURES")
	for _, p := range phases {
		fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\n", p.Phase, p.URL, p.Sent, p.OK, p.Failed,
			formatCounts(p.Versions), p.Quantile(0.5), p.Quantile(0.99), p.Quantile(1), formatCounts(p.Failures))
	}
	_ = w.Flush()
	return b.String()
}

func formatCounts(counts map[string]int) string {
	if len(counts) == 0 {
		return "-"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(counts)) {
		parts = append(parts, fmt.Sprintf("%s=%d", k, counts[k]))
	}
	return strings.Join(parts, " ")
}

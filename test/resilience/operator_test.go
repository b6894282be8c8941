package resilience

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tenantry/tenantry/internal/install"
)

// leaseName is the operator's leader election Lease (--leader-election-id
// is fixed in cmd/tenantry-operator), in install.OperatorNamespace.
const leaseName = "tenantry-operator.tenantry.dev"

// Leader election timing: controller-runtime's defaults, which the operator
// keeps. A follower takes over once the lease has not been renewed for
// leaseDuration, checking every retryPeriod (with up to 20 % jitter).
const (
	leaseDuration = 15 * time.Second
	retryPeriod   = 2 * time.Second
)

// operatorArgs tune the operator as internal/controller's tests and the
// benchmarks do: at the default 50 requests/s the operator, not the
// control plane, would set the pace of onboarding hundreds of tenants.
var operatorArgs = []string{"--kube-api-qps=200", "--kube-api-burst=400"}

// operator is the tenantry-operator binary running as a process of its
// own, as the chart's ServiceAccount, so that it can be killed with
// SIGKILL, and its metrics and log read.
type operator struct {
	name        string
	args        []string
	metricsAddr string
	logPath     string
	cmd         *exec.Cmd
	exited      chan struct{}
}

// newOperator prepares an operator process named name (its log is
// LogDir/<name>.log; restarts append to it). With leaderElect it takes
// part in leader election on the Lease in tenantry-system, as the chart
// runs it. The test's cleanup stops it gracefully, so that it gives up the
// lease for the next test, and prints the end of its log if the test failed.
func newOperator(t *testing.T, name string, leaderElect bool) *operator {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	args := append([]string{
		"--kubeconfig=" + operatorKubeconfig,
		"--metrics-bind-address=" + addr,
		"--health-probe-bind-address=0",
		"--argocd-namespace=",
	}, operatorArgs...)
	if leaderElect {
		args = append(args, "--leader-elect", "--leader-election-namespace="+install.OperatorNamespace)
	}
	o := &operator{name: name, args: args, metricsAddr: addr, logPath: filepath.Join(cluster.LogDir, name+".log")}
	t.Cleanup(func() {
		o.stop()
		if t.Failed() {
			t.Logf("last lines of %s:\n%s", o.logPath, o.logTail(60))
		}
	})
	return o
}

// start runs the operator and waits until its metrics endpoint answers.
func (o *operator) start(t *testing.T) {
	t.Helper()
	if o.running() {
		t.Fatalf("operator %s already runs", o.name)
	}
	logFile, err := os.OpenFile(o.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(logFile, "--- resilience: %s started at %s ---\n", o.name, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(operatorBinary, o.args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Its own process group, killed by the kernel if the test process dies
	// first: a panicking test must not leave an operator behind to
	// reconcile the next run's tenants.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		t.Fatalf("starting %s: %v", o.name, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logFile.Close()
		close(exited)
	}()
	o.cmd, o.exited = cmd, exited
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := o.scrape(); err == nil {
			return
		} else if !o.running() {
			t.Fatalf("operator %s exited at start:\n%s", o.name, o.logTail(20))
		} else if time.Now().After(deadline) {
			t.Fatalf("operator %s: metrics endpoint did not answer within 30s: %v", o.name, err)
		}
		select {
		case <-o.exited:
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// running reports whether the process runs.
func (o *operator) running() bool {
	if o.exited == nil {
		return false
	}
	select {
	case <-o.exited:
		return false
	default:
		return true
	}
}

func (o *operator) pid() int { return o.cmd.Process.Pid }

// kill ends the operator at once, as a node failure or the OOM killer
// would: no graceful shutdown, the lease is not released.
func (o *operator) kill(t *testing.T) {
	t.Helper()
	if !o.running() {
		t.Fatalf("operator %s is not running", o.name)
	}
	_ = syscall.Kill(-o.pid(), syscall.SIGKILL)
	<-o.exited
}

// stop ends the operator as Kubernetes does a pod: SIGTERM, then SIGKILL
// after a grace period. With leader election it releases the lease.
func (o *operator) stop() {
	if !o.running() {
		return
	}
	_ = syscall.Kill(-o.pid(), syscall.SIGTERM)
	select {
	case <-o.exited:
	case <-time.After(30 * time.Second):
		_ = syscall.Kill(-o.pid(), syscall.SIGKILL)
		<-o.exited
	}
}

// scrape returns the operator's metrics in the Prometheus text format.
func (o *operator) scrape() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+o.metricsAddr+"/metrics", nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	return string(body), nil
}

// metric returns the sum of the samples of name whose labels include
// every one of labels (`key="value"`), and whether there was any.
func (o *operator) metric(name string, labels ...string) (float64, bool, error) {
	text, err := o.scrape()
	if err != nil {
		return 0, false, err
	}
	sum, found := 0.0, false
	for _, line := range strings.Split(text, "\n") {
		series, value, ok := strings.Cut(line, " ")
		if !ok || (series != name && !strings.HasPrefix(series, name+"{")) {
			continue
		}
		if !allIn(series, labels) {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil {
			return 0, false, fmt.Errorf("%s: %w", line, err)
		}
		sum, found = sum+v, true
	}
	return sum, found, nil
}

func allIn(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// leader reports whether the operator holds the lease, from client-go's
// leader election gauge, which only the leader sets to 1.
func (o *operator) leader() (bool, error) {
	v, _, err := o.metric("leader_election_master_status", `name="`+leaseName+`"`)
	return v == 1, err
}

// reconciles is how many Tenant reconciles the operator has run.
func (o *operator) reconciles() (float64, error) {
	v, _, err := o.metric("controller_runtime_reconcile_total", `controller="tenant"`)
	return v, err
}

// logContains reports whether the operator's log holds s.
func (o *operator) logContains(s string) bool {
	data, err := os.ReadFile(o.logPath)
	return err == nil && bytes.Contains(data, []byte(s))
}

// logTail is the last lines of the operator's log.
func (o *operator) logTail(lines int) string {
	data, err := os.ReadFile(o.logPath)
	if err != nil {
		return err.Error()
	}
	all := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	return strings.Join(all[max(len(all)-lines, 0):], "\n")
}

// tenantName matches the tenant and namespace names the tests generate,
// so that errors about different tenants count as one kind.
var tenantName = regexp.MustCompile(`\b[a-z]+-\d{3}(-env\d)?\b`)

// logErrors counts the error lines in the operator's log by the start of
// their message and error, with tenant names blanked out: what went wrong,
// and how often.
func (o *operator) logErrors() (map[string]int, error) {
	f, err := os.Open(o.logPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	counts := map[string]int{}
	scanner := bufio.NewScanner(f)
	scanner.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for scanner.Scan() {
		line := scanner.Bytes()
		var entry struct {
			Level string `json:"level"`
			Msg   string `json:"msg"`
			Error string `json:"error"`
		}
		if json.Unmarshal(line, &entry) == nil {
			if entry.Level != "error" {
				continue
			}
			counts[errorKind(entry.Msg+": "+entry.Error)]++
			continue
		}
		// klog lines (leader election, client-go): E for errors.
		if len(line) > 0 && line[0] == 'E' {
			counts[errorKind(klogMessage(string(line)))]++
		}
	}
	return counts, scanner.Err()
}

// errorKind is the first 200 characters of an error message with tenant
// names blanked out: errors of the same kind about different tenants, or
// differing only in details at the end, count together.
func errorKind(msg string) string {
	return truncate(tenantName.ReplaceAllString(msg, "<tenant>"), 200)
}

// klogMessage strips a klog line of its header (level, date, time, pid, file:line).
func klogMessage(line string) string {
	if _, msg, ok := strings.Cut(line, "] "); ok {
		return msg
	}
	return line
}

// logErrorSummary logs what logErrors found, most frequent first.
func (o *operator) logErrorSummary(t *testing.T) {
	t.Helper()
	counts, err := o.logErrors()
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			t.Errorf("reading %s: %v", o.logPath, err)
		}
		return
	}
	if len(counts) == 0 {
		t.Logf("operator %s logged no errors", o.name)
		return
	}
	keys := make([]string, 0, len(counts))
	total := 0
	for k, n := range counts {
		keys = append(keys, k)
		total += n
	}
	slices.SortFunc(keys, func(a, b string) int { return counts[b] - counts[a] })
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "\n  %5d× %s", counts[k], k)
	}
	t.Logf("operator %s logged %d errors:%s", o.name, total, b.String())
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	dto "github.com/prometheus/client_model/go"
	"k8s.io/client-go/rest"

	"github.com/tenantry/tenantry/internal/localcluster"
	"github.com/tenantry/tenantry/internal/testutil"
)

// operator is the tenantry-operator binary running as a process of its
// own, so its memory and CPU can be read and it can be killed.
type operator struct {
	binary, kubeconfig, logDir string
	args                       []string
	// env holds the container memory limit and GOGC, as the chart sets
	// them: the operator runs here as it does there.
	env         []string
	metricsAddr string
	// pprofAddr serves the operator's pprof profiles (--pprof-bind-address).
	pprofAddr string
	cmd       *exec.Cmd
	starts    int
}

func newOperator(binary string, cfg *rest.Config, dataDir string, args ...string) (*operator, error) {
	kubeconfig := filepath.Join(dataDir, "bench-operator.kubeconfig")
	if err := localcluster.WriteKubeconfig(cfg, "tenantry-operator", kubeconfig); err != nil {
		return nil, err
	}
	metricsPort, err := freePort()
	if err != nil {
		return nil, err
	}
	pprofPort, err := freePort()
	if err != nil {
		return nil, err
	}
	return &operator{
		binary: binary, kubeconfig: kubeconfig, logDir: filepath.Join(dataDir, "logs"), args: args,
		metricsAddr: "127.0.0.1:" + strconv.Itoa(metricsPort), pprofAddr: "127.0.0.1:" + strconv.Itoa(pprofPort),
	}, nil
}

// start runs the operator and waits until its metrics endpoint answers.
func (o *operator) start(ctx context.Context) error {
	o.starts++
	logFile, err := os.Create(filepath.Join(o.logDir, fmt.Sprintf("bench-operator-%d.log", o.starts)))
	if err != nil {
		return err
	}
	args := append([]string{"--kubeconfig", o.kubeconfig, "--metrics-bind-address", o.metricsAddr,
		"--health-probe-bind-address", "0",
		"--pprof-bind-address", o.pprofAddr, "--argocd-namespace", ""}, o.args...)
	o.cmd = exec.Command(o.binary, args...)
	o.cmd.Env = append(os.Environ(), o.env...)
	o.cmd.Stdout, o.cmd.Stderr = logFile, logFile
	if err := o.cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", o.binary, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := o.metrics(); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("the operator's metrics endpoint %s did not answer within 30s (log: %s)", o.metricsAddr, logFile.Name())
}

// kill ends the operator at once (SIGKILL: no graceful shutdown).
func (o *operator) kill() error {
	if o.cmd == nil || o.cmd.Process == nil {
		return nil
	}
	_ = o.cmd.Process.Signal(syscall.SIGKILL)
	_ = o.cmd.Wait()
	o.cmd = nil
	return nil
}

// usage reads the operator's resident memory (MiB) and CPU time (seconds).
func (o *operator) usage() (rssMiB, cpuSeconds float64, err error) {
	return localcluster.ProcessUsage(o.cmd.Process.Pid)
}

// profile saves one of the operator's pprof profiles (such as "heap?gc=1"
// or "profile?seconds=30") to path, for go tool pprof.
func (o *operator) profile(ctx context.Context, query, path string) error {
	return testutil.SaveProfile(ctx, o.pprofAddr, query, path)
}

// heapAfterGC writes a heap profile to path, which forces a collection
// first, and then reads the heap: what is live, and the spans that hold it.
func (o *operator) heapAfterGC(ctx context.Context, path string) (liveMiB, spansMiB float64, err error) {
	if err := o.profile(ctx, "heap?gc=1", path); err != nil {
		return 0, 0, err
	}
	families, err := o.metrics()
	if err != nil {
		return 0, 0, err
	}
	const mib = 1 << 20
	return testutil.SeriesSum(families, "go_memstats_heap_alloc_bytes", nil) / mib,
		testutil.SeriesSum(families, "go_memstats_heap_inuse_bytes", nil) / mib, nil
}

// profileCPU records a CPU profile of the next d in the background, to
// path; failures are only reported, as the profile is an aid.
func (o *operator) profileCPU(ctx context.Context, d time.Duration, path string) {
	go func() {
		if err := o.profile(ctx, fmt.Sprintf("profile?seconds=%d", int(d.Seconds())), path); err != nil && ctx.Err() == nil {
			step("   (no CPU profile: %v)", err)
		}
	}()
}

// metrics scrapes the operator's Prometheus endpoint.
func (o *operator) metrics() ([]*dto.MetricFamily, error) {
	families, _, err := o.scrape()
	return families, err
}

// scrape scrapes the operator's Prometheus endpoint and times it to the
// last byte (the parse comes after the clock stops).
func (o *operator) scrape() ([]*dto.MetricFamily, float64, error) {
	start := time.Now()
	resp, err := http.Get("http://" + o.metricsAddr + "/metrics")
	if err != nil {
		return nil, 0, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, 0, err
	}
	seconds := time.Since(start).Seconds()
	families, err := testutil.ParseMetrics(bytes.NewReader(body))
	return families, seconds, err
}

// seriesIn counts the series of families.
func seriesIn(families []*dto.MetricFamily) int {
	n := 0
	for _, f := range families {
		n += len(f.GetMetric())
	}
	return n
}

// requests scrapes the operator for countRequests.
func (o *operator) requests() (all, writes float64, err error) {
	families, err := o.metrics()
	if err != nil {
		return 0, 0, err
	}
	return countRequests(families)
}

// countRequests counts the API requests the operator has sent: all, and
// writes (every method but GET), from client-go's rest_client_requests_total.
func countRequests(families []*dto.MetricFamily) (all, writes float64, err error) {
	const name = "rest_client_requests_total"
	if len(testutil.Series(families, name, nil)) == 0 {
		return 0, 0, fmt.Errorf("the operator exports no %s", name)
	}
	all = testutil.SeriesSum(families, name, nil)
	return all, all - testutil.SeriesSum(families, name, map[string]string{"method": "GET"}), nil
}

// reconciles is the tenant controller's reconcile count.
func reconciles(families []*dto.MetricFamily) float64 {
	return testutil.SeriesSum(families, "controller_runtime_reconcile_total", map[string]string{"controller": "tenant"})
}

// queueDepth is the tenant controller's work queue depth.
func queueDepth(families []*dto.MetricFamily) float64 {
	return testutil.SeriesSum(families, "workqueue_depth", map[string]string{"name": "tenant"})
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

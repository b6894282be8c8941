// Package localcluster starts and stops a real Kubernetes control plane on
// loopback from binaries built into bin/ by `make testbin`: etcd,
// kube-apiserver, kube-controller-manager, kube-scheduler and kwok, which
// simulates Nodes so that pods are scheduled and reach Running without a
// container runtime.
//
// It is the embedded default for Tenantry's tests, demo and benchmarks: RBAC,
// Pod Security admission, quota admission and garbage collection all run for
// real, with no Docker and no kind.
//
// For GitOps, StartGitServer serves Git repositories on loopback and
// StartArgoCD runs the real Argo CD (application controller, repo server,
// ApplicationSet controller) out of cluster against the control plane.
//
// Where containers must really run, Options.RealNode adds a real node on
// this host (containerd, runc, the CNI bridge, kubelet, kube-proxy,
// CoreDNS) with a registry on loopback for images built from Go;
// InstallPlatform then installs the Tenantry chart with helm, so the
// operator runs as pods. Stop leaves nothing of the node on the host.
package localcluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Options configure a local cluster. The zero value is usable.
type Options struct {
	// BinDir holds the component binaries. Default: $TENANTRY_BIN_DIR, else
	// bin/ at the root of the Tenantry checkout containing the working directory.
	BinDir string
	// KubeBinDir holds kube-apiserver, kube-controller-manager and
	// kube-scheduler, so the control plane can be another Kubernetes
	// version than bin/'s (`make test-oldest-kube` builds the oldest
	// supported one into bin/kube-<version>/) while etcd, kwok and the
	// add-ons still come from BinDir. Default: $TENANTRY_KUBE_BIN_DIR, so a
	// test package runs on another version with no code change; else BinDir.
	KubeBinDir string
	// DataDir holds PKI, etcd data, kubeconfigs and logs. Default: a new
	// temporary directory, removed by Stop. A given DataDir is emptied first
	// and kept after Stop so its logs can be read.
	DataDir string
	// Nodes is the number of simulated kwok Nodes. Default 3; negative means none.
	Nodes int
	// StartTimeout bounds the whole start-up. Default 2 minutes, generous for
	// a busy 2-core machine; a healthy start takes seconds.
	StartTimeout time.Duration
	// Progress, if set, receives one line per start-up step.
	Progress io.Writer
	// RealNode adds a real node next to the kwok ones (containerd, runc, the
	// CNI plugins, kubelet, kube-proxy, CoreDNS and a loopback registry for
	// its images), and taints the kwok nodes so that pods run on it. It
	// needs root and the files CheckRealNodeHost lists; Start's error wraps
	// ErrNoRealNode when the host lacks them. One real node runs per host:
	// a second cluster's Start waits (within StartTimeout) for the first
	// to stop.
	RealNode bool
	// QuotaResyncPeriod is how often the controller manager recounts every
	// ResourceQuota (--resource-quota-sync-period). Default 5 minutes, as
	// Kubernetes'. The recount corrects what it missed as objects raced a
	// new quota, such as each new namespace's kube-root-ca.crt ConfigMap.
	QuotaResyncPeriod time.Duration
}

// Cluster is a running local control plane.
type Cluster struct {
	// Config is an admin (system:masters) client configuration.
	Config *rest.Config
	// KubeconfigPath is an admin kubeconfig file for kubectl and other tools.
	KubeconfigPath string
	// DataDir and LogDir are where state and component logs live.
	DataDir string
	LogDir  string
	// KubeVersion is the Kubernetes version kube-apiserver reports
	// (`kube-apiserver --version`), such as "v1.37.2". The components get
	// the same flags on every version from 1.30 on: each one exists there.
	KubeVersion string
	// StartupTimes records how long each step of Start took, in order.
	StartupTimes []StepTime

	opts       Options
	client     kubernetes.Interface // admin client, for start-up checks
	removeData bool
	pki        *pki
	serverURL  string
	node       *realNode   // nil without Options.RealNode
	prometheus *Prometheus // set by StartPrometheus

	// mu guards processes: tests start add-ons (Argo CD, a Git server) on
	// the shared cluster while other tests look up components.
	mu        sync.Mutex
	processes []*process
}

// nodeCount is the number of fake Nodes to create; a negative Options.Nodes means none.
func (c *Cluster) nodeCount() int { return max(c.opts.Nodes, 0) }

// StepTime is the duration of one start-up step, measured from the step
// before it.
type StepTime struct {
	Step    string
	Elapsed time.Duration
}

// serviceCIDR is the Service ClusterIP range; its first address is the
// in-cluster "kubernetes" Service, which the serving certificate covers.
const serviceCIDR = "10.0.0.0/24"

var kubernetesServiceIP = net.IPv4(10, 0, 0, 1)

// Start brings up a control plane and waits until it is ready to serve:
// the API server answers /readyz, the controller manager, scheduler and kwok
// report healthy, every fake Node is Ready and the default ServiceAccount
// exists. On error everything already started is stopped again and the
// error names the logs to read (the data dir is kept for them).
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	opts, err := withDefaults(opts)
	if err != nil {
		return nil, err
	}
	kubeVersion, err := binaryVersion(ctx, opts.bin("kube-apiserver"))
	if err != nil {
		return nil, err
	}
	if opts.Progress != nil {
		fmt.Fprintf(opts.Progress, "localcluster: Kubernetes %s (%s)\n", kubeVersion, opts.KubeBinDir)
	}
	ctx, cancel := context.WithTimeout(ctx, opts.StartTimeout)
	defer cancel()
	// Ports are probed free and then released for the components to bind;
	// another process can take one in between. That is worth a fresh try,
	// nothing else is.
	for attempt := 1; ; attempt++ {
		lastAttempt := attempt == maxStartAttempts
		c, err := start(ctx, opts, kubeVersion, lastAttempt)
		if !errors.Is(err, errPortTaken) || lastAttempt {
			return c, err
		}
		if opts.Progress != nil {
			fmt.Fprintf(opts.Progress, "localcluster: %v; retrying with new ports\n", err)
		}
	}
}

const maxStartAttempts = 3

// start makes one attempt. A failed attempt keeps its data dir for the logs,
// unless it will be retried.
func start(ctx context.Context, opts Options, kubeVersion string, lastAttempt bool) (_ *Cluster, err error) {
	c := &Cluster{opts: opts, KubeVersion: kubeVersion}
	if err := c.prepareDataDir(); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			if lastAttempt || !errors.Is(err, errPortTaken) {
				c.removeData = false
			}
			err = fmt.Errorf("%w (component logs: %s)", err, c.LogDir)
			_ = c.Stop()
		}
	}()

	begin := time.Now()
	last := begin
	step := func(name string) {
		now := time.Now()
		c.StartupTimes = append(c.StartupTimes, StepTime{Step: name, Elapsed: now.Sub(last)})
		c.progressf("%-28s %6.2fs (total %.2fs)", name, now.Sub(last).Seconds(), now.Sub(begin).Seconds())
		last = now
	}

	apiServerIPs := []net.IP{kubernetesServiceIP}
	if opts.RealNode {
		if c.node, err = c.prepareRealNode(ctx); err != nil {
			return nil, err
		}
		apiServerIPs = append(apiServerIPs, c.node.ip)
	}
	if c.pki, err = newPKI(filepath.Join(c.DataDir, "pki"), apiServerIPs...); err != nil {
		return nil, err
	}
	step("pki generated")
	ports, err := freePorts(6)
	if err != nil {
		return nil, err
	}
	etcdURL, err := c.startEtcd(ctx, ports[0], ports[1])
	if err != nil {
		return nil, err
	}
	step("etcd ready")
	if err := c.startAPIServer(ctx, etcdURL, ports[2]); err != nil {
		return nil, err
	}
	step(stepAPIServerReady)
	if err := c.startControllers(ctx, ports[3], ports[4], ports[5]); err != nil {
		return nil, err
	}
	step("controllers healthy")
	if err := c.createNodes(ctx); err != nil {
		return nil, err
	}
	step(fmt.Sprintf("%d kwok nodes ready", c.nodeCount()))
	if c.node != nil {
		if err := c.startRealNode(ctx); err != nil {
			return nil, err
		}
		step("real node and DNS ready")
	}
	if err := c.waitDefaultServiceAccount(ctx); err != nil {
		return nil, err
	}
	step("default service account")
	return c, nil
}

const stepAPIServerReady = "kube-apiserver ready"

// StartupTotal is the whole start-up time.
func (c *Cluster) StartupTotal() time.Duration {
	var total time.Duration
	for _, s := range c.StartupTimes {
		total += s.Elapsed
	}
	return total
}

// APIServerReadyAfter is the time from the start until kube-apiserver
// answered /readyz.
func (c *Cluster) APIServerReadyAfter() time.Duration {
	var total time.Duration
	for _, s := range c.StartupTimes {
		total += s.Elapsed
		if s.Step == stepAPIServerReady {
			return total
		}
	}
	return 0
}

// Stop ends every process the cluster started, newest first, and removes a
// temporary data dir. It is safe to call more than once.
func (c *Cluster) Stop() error {
	c.mu.Lock()
	processes := c.processes
	c.processes = nil
	c.mu.Unlock()
	var errs []error
	if c.prometheus != nil {
		// Its pod goes with the node; its service discovery runs here.
		errs = append(errs, c.prometheus.sd.close())
		c.prometheus = nil
	}
	if c.node != nil {
		// Before the control plane: kubelet reports to the API server as it stops.
		errs = append(errs, c.node.stop())
		c.node = nil
	}
	errs = append(errs, stopAll(processes)...)
	if c.removeData && c.DataDir != "" {
		errs = append(errs, os.RemoveAll(c.DataDir))
		c.DataDir = ""
	}
	return errors.Join(errs...)
}

// PIDs are the process IDs of the running components.
func (c *Cluster) PIDs() []int {
	processes := c.running()
	pids := make([]int, 0, len(processes))
	for _, p := range processes {
		pids = append(pids, p.cmd.Process.Pid)
	}
	return pids
}

// DumpLogs writes the last lines of every component's log to w, for a test
// that failed and wants to show why.
func (c *Cluster) DumpLogs(w io.Writer, lines int) {
	for _, p := range c.running() {
		// A long-running API server logs megabytes; the end is what matters.
		data, err := tail(p.logPath, 256<<10)
		if err != nil {
			fmt.Fprintf(w, "=== %s: %v\n", p.name, err)
			continue
		}
		all := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
		if len(all) > lines {
			all = all[len(all)-lines:]
		}
		fmt.Fprintf(w, "=== last %d lines of %s\n%s\n", len(all), p.logPath, strings.Join(all, "\n"))
	}
}

// track adds a started process to those Stop ends.
func (c *Cluster) track(p *process) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.processes = append(c.processes, p)
}

// stopProcesses stops some of the cluster's processes (an add-on's), newest
// first, and forgets them.
func (c *Cluster) stopProcesses(ps []*process) error {
	c.mu.Lock()
	c.processes = slices.DeleteFunc(c.processes, func(p *process) bool { return slices.Contains(ps, p) })
	c.mu.Unlock()
	return errors.Join(stopAll(ps)...)
}

// running is a snapshot of the cluster's processes, oldest first.
func (c *Cluster) running() []*process {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.processes)
}

// stopAll stops processes newest first: add-ons before the control plane,
// the API server before etcd.
func stopAll(ps []*process) []error {
	var errs []error
	for i := len(ps) - 1; i >= 0; i-- {
		errs = append(errs, ps[i].stop())
	}
	return errs
}

func (c *Cluster) progressf(format string, args ...any) {
	if c.opts.Progress != nil {
		fmt.Fprintf(c.opts.Progress, "localcluster: "+format+"\n", args...)
	}
}

func withDefaults(opts Options) (Options, error) {
	if opts.BinDir == "" {
		dir, err := DefaultBinDir()
		if err != nil {
			return opts, err
		}
		opts.BinDir = dir
	}
	if opts.KubeBinDir == "" {
		opts.KubeBinDir = opts.BinDir
		if dir := os.Getenv("TENANTRY_KUBE_BIN_DIR"); dir != "" {
			abs, err := filepath.Abs(dir)
			if err != nil {
				return opts, err
			}
			opts.KubeBinDir = abs
		}
	}
	for _, name := range Binaries {
		if _, err := os.Stat(opts.bin(name)); err != nil {
			if slices.Contains(KubeBinaries, name) && opts.KubeBinDir != opts.BinDir {
				return opts, fmt.Errorf("%s not found in %s (KubeBinDir, $TENANTRY_KUBE_BIN_DIR): `make test-oldest-kube` builds the oldest supported version into bin/kube-<version>/", name, opts.KubeBinDir)
			}
			return opts, fmt.Errorf("%s not found in %s: run `make testbin` to build the local control plane", name, opts.BinDir)
		}
	}
	if opts.Nodes == 0 {
		opts.Nodes = 3
	}
	if opts.StartTimeout == 0 {
		opts.StartTimeout = 2 * time.Minute
	}
	return opts, nil
}

// Binaries are the files Start needs in BinDir, or for KubeBinaries in
// KubeBinDir.
var Binaries = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", kwokStagesFile}

// KubeBinaries are the Binaries that come from KubeBinDir: one Kubernetes
// release's control plane.
var KubeBinaries = []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler"}

// bin is the path of one of Binaries, or of an add-on's file in BinDir.
func (o Options) bin(name string) string {
	if slices.Contains(KubeBinaries, name) {
		return filepath.Join(o.KubeBinDir, name)
	}
	return filepath.Join(o.BinDir, name)
}

// binaryVersion runs `binary --version` ("Kubernetes v1.37.2") and returns
// the version it reports.
func binaryVersion(ctx context.Context, binary string) (string, error) {
	out, err := exec.CommandContext(ctx, binary, "--version").Output()
	if err != nil {
		return "", fmt.Errorf("%s --version: %w", binary, err)
	}
	fields := strings.Fields(string(out))
	if len(fields) != 2 || fields[0] != "Kubernetes" {
		return "", fmt.Errorf("%s --version: unexpected output %q", binary, out)
	}
	return fields[1], nil
}

// DefaultBinDir is $TENANTRY_BIN_DIR, or bin/ in the nearest directory at
// or above the working directory that holds the Tenantry go.mod. Tests run
// in their package directory, so this finds the checkout's bin/ from any of them.
func DefaultBinDir() (string, error) {
	if dir := os.Getenv("TENANTRY_BIN_DIR"); dir != "" {
		return filepath.Abs(dir)
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.HasPrefix(string(data), "module github.com/tenantry/tenantry\n") {
			return filepath.Join(dir, "bin"), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("cannot find the Tenantry checkout above the working directory: set TENANTRY_BIN_DIR to the directory `make testbin` built")
		}
		dir = parent
	}
}

// freePorts reserves n distinct loopback ports by listening on them all at
// once, then releases them for the components to bind.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("finding a free port: %w", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// PID is the process ID of the running component called name
// ("kube-apiserver", "etcd", ...), or 0 if none runs.
func (c *Cluster) PID(name string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.processes {
		if p.name == name && p.cmd.Process != nil {
			return p.cmd.Process.Pid
		}
	}
	return 0
}

package localcluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// RestartAPIServer kills kube-apiserver (SIGKILL, a crash), starts it again
// with the same flags (port, certificates, service-account keys, etcd) and
// waits until it answers /readyz. Config, the kubeconfigs and the tokens
// issued before stay valid, and everything else keeps running: controllers,
// add-ons and clients see the API server go away and come back, which is
// what resilience tests want to put them through. The new process appends
// to the same log.
//
// Like any kube-apiserver, the new one serves requests before /readyz
// passes, and until its RBAC caches have synced it refuses requests that
// only RBAC allows with 403 Forbidden (kubernetes/kubernetes#121635).
// Production clients reach it through a load balancer that waits for
// /readyz; the clients of this cluster connect directly and may see a few
// such refusals (system:masters, as Config, is not affected).
//
// Why a kill and not SIGTERM: on SIGTERM both kube-apiserver and etcd stop
// listening at once but then wait for the open watches to end, which they
// never do, until stop's grace period runs out; clients would see the same
// outage, five seconds longer.
func (c *Cluster) RestartAPIServer(ctx context.Context) error {
	return c.APIServerOutage(ctx, nil)
}

// APIServerOutage is RestartAPIServer with the API server kept down while
// during runs: the cluster is unreachable, as a cluster whose network or
// control plane fails is, for as long as a test needs to see what others
// make of that. The error is during's, or the restart's.
func (c *Cluster) APIServerOutage(ctx context.Context, during func(context.Context) error) error {
	return c.restart(ctx, "kube-apiserver", during, func(ctx context.Context, p *process) error {
		return waitFor(ctx, "kube-apiserver /readyz", p, c.apiServerReady(ctx))
	})
}

// RestartEtcd kills etcd (SIGKILL, as RestartAPIServer) and starts it
// again on the same data dir and ports, so no data is lost. The API server
// keeps running and reconnects by itself; RestartEtcd returns once etcd is
// healthy and the API server answers /readyz again (which it only does
// when it can reach etcd), so the cluster is usable when it returns.
func (c *Cluster) RestartEtcd(ctx context.Context) error {
	return c.restart(ctx, "etcd", nil, func(ctx context.Context, p *process) error {
		url, ok := flagValue(p.cmd.Args, "--listen-client-urls")
		if !ok {
			return fmt.Errorf("etcd runs without --listen-client-urls: %q", p.cmd.Args)
		}
		if err := waitFor(ctx, "etcd /health", p, func() error { return httpOK(plainHTTP, url+"/health") }); err != nil {
			return err
		}
		return waitFor(ctx, "kube-apiserver /readyz", c.processByName("kube-apiserver"), c.apiServerReady(ctx))
	})
}

// restartMu serialises restarts, so that two callers never start two copies
// of a component on one port. Restarts are rare and take seconds: one lock
// for every cluster in the process is enough.
var restartMu sync.Mutex

// restart kills the running component name, runs during (if any) while
// it is down, and starts it again with the same binary and arguments, in
// the same place among the cluster's processes (so Stop still ends the API
// server before etcd), then waits until ready succeeds. The start is
// bounded by Options.StartTimeout, like Start. The components it restarts
// (etcd, kube-apiserver) get no environment of their own, so none is
// carried over.
func (c *Cluster) restart(ctx context.Context, name string, during func(context.Context) error, ready func(context.Context, *process) error) error {
	restartMu.Lock()
	defer restartMu.Unlock()

	old := c.processByName(name)
	if old == nil {
		return fmt.Errorf("restarting %s: it is not running (was the cluster stopped?)", name)
	}
	old.kill()
	stopped := time.Now()
	var duringErr error
	if during != nil {
		c.progressf("%s (pid %d) killed; down while the caller looks", name, old.cmd.Process.Pid)
		duringErr = during(ctx)
	}
	ctx, cancel := context.WithTimeout(ctx, c.opts.StartTimeout)
	defer cancel()
	c.progressf("%s (pid %d) killed %.1fs ago; starting it again", name, old.cmd.Process.Pid, time.Since(stopped).Seconds())
	// A line in the log shows where the new process starts.
	appendLine(old.logPath, fmt.Sprintf("--- localcluster: %s restarted at %s ---", name, time.Now().Format(time.RFC3339Nano)))
	p, err := startProcess(name, old.cmd.Path, old.cmd.Args[1:], nil, c.LogDir)
	if err != nil {
		return errors.Join(duringErr, fmt.Errorf("restarting %s: %w", name, err))
	}
	if !c.replace(old, p) {
		// Stop ran meanwhile and no longer knows this process: end it here.
		_ = p.stop()
		return errors.Join(duringErr, fmt.Errorf("restarting %s: the cluster was stopped meanwhile", name))
	}
	if err := ready(ctx, p); err != nil {
		return errors.Join(duringErr, fmt.Errorf("restarting %s: %w\n%s", name, err, logTail(p.logPath, 20)))
	}
	c.progressf("%s (pid %d) ready %.2fs after the kill", name, p.cmd.Process.Pid, time.Since(stopped).Seconds())
	return duringErr
}

// kill ends the process group at once and waits until the process is
// reaped, so its ports are free when it returns.
func (p *process) kill() {
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.exited
}

// replace puts p where old was among the cluster's processes; it reports
// false when old is no longer there because Stop has taken it.
func (c *Cluster) replace(old, p *process) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	i := slices.Index(c.processes, old)
	if i < 0 {
		return false
	}
	c.processes[i] = p
	return true
}

// flagValue finds the value of --name=value in args.
func flagValue(args []string, name string) (string, bool) {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v, true
		}
	}
	return "", false
}

// appendLine adds a line to a component's log. A log it cannot write to
// only loses the marker, so errors are ignored.
func appendLine(path, line string) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return
	}
	defer f.Close()
	_, _ = fmt.Fprintln(f, line)
}

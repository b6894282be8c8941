//go:build unix

// Command pause is the process of the local cluster's pod sandboxes, in
// place of registry.k8s.io/pause, so the node pulls no image from outside
// the loopback registry: it holds the pod's namespaces open and does
// nothing else. It is built static, without cgo, for an image with no libc.
//
// As PID 1 of the pod's PID namespace it has two duties the kernel gives
// every init: exit when the runtime stops the sandbox (PID 1 gets no
// default signal handlers, so without ours SIGTERM would be ignored and the
// runtime would wait for its kill timeout), and reap the zombies of
// processes orphaned into it (with a shared PID namespace, any container's
// orphans), which would otherwise fill the process table.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	// Buffered: signals that arrive while a reap runs are kept, not lost.
	// Several SIGCHLDs may still merge into one, hence the reap loop.
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for sig := range signals {
		if sig != syscall.SIGCHLD {
			os.Exit(0)
		}
		reap()
	}
}

// reap collects every child that has exited, without blocking on those
// still running.
func reap() {
	for {
		var status syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
		if err == syscall.EINTR {
			continue
		}
		if pid <= 0 || err != nil {
			return // no exited child left (or no child at all: ECHILD)
		}
	}
}

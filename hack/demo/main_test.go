package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tenantry/tenantry/internal/testutil"
)

// TestMakeDemoStopsCleanlyOnCtrlC runs `make demo` as a terminal does, in
// a process group of its own, and presses Ctrl-C (SIGINT to the whole
// group) once the demo is starting its control plane: the demo must exit 0
// and nothing may print an error line, as the demo's last line promises a
// normal stop. (GNU make itself, once its child has exited, re-raises the
// SIGINT it received, as for any interrupted make: a shell shows status
// 130, silently. Had the demo failed, make would print "Error N".)
func TestMakeDemoStopsCleanlyOnCtrlC(t *testing.T) {
	// The demo runs a real node; where the host cannot, it stops at once
	// with that error, which is not what this test is about.
	testutil.NeedsRealNode(t)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	demo := exec.CommandContext(ctx, "make", "--no-print-directory", "demo", "DEMO_DATA_DIR="+t.TempDir())
	demo.Dir = "../.."
	demo.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := demo.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	demo.Stderr = demo.Stdout
	if err := demo.Start(); err != nil {
		t.Fatal(err)
	}
	var seen bytes.Buffer
	lines := bufio.NewScanner(out)
	for lines.Scan() {
		seen.WriteString(lines.Text() + "\n")
		if strings.HasPrefix(lines.Text(), "localcluster: ") {
			break // the demo binary runs: make's builds are done
		}
	}
	if err := syscall.Kill(-demo.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	rest, _ := io.ReadAll(out)
	seen.Write(rest)
	err = demo.Wait()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}
	interrupted := exit != nil && exit.Sys().(syscall.WaitStatus).Signal() == syscall.SIGINT
	if (err != nil && !interrupted) || strings.Contains(seen.String(), "Error") || strings.Contains(seen.String(), "demo: ") {
		t.Errorf("make demo after Ctrl-C: %v, want a clean stop and no error line; it printed:\n%s", err, seen.String())
	}
}

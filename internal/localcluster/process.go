package localcluster

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// stopGrace is how long a component gets to exit after SIGTERM before it is
// killed. kube-apiserver and etcd shut down in well under a second on
// loopback; the grace only matters on a loaded machine.
const stopGrace = 5 * time.Second

// process is one running control-plane component.
type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	// exited is closed when the process has been reaped; err holds its exit status.
	exited chan struct{}
	err    error
}

// startProcess starts binary with args, sending stdout and stderr to
// logDir/<name>.log. env, if any, is added to this process's environment.
// The child gets its own process group, so Stop can signal everything it
// spawned, and is killed by the kernel if this process dies first (a
// panicking test must not leave an etcd behind).
func startProcess(name, binary string, args, env []string, logDir string) (*process, error) {
	logPath := filepath.Join(logDir, name+".log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(binary, args...)
	if len(env) > 0 {
		cmd.Env = append(os.Environ(), env...)
	}
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, logPath: logPath, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logFile.Close()
		close(p.exited)
	}()
	return p, nil
}

// errPortTaken marks a component that could not bind its port.
var errPortTaken = errors.New("port already in use")

// running reports an error if the process has already exited, so a wait for
// readiness can fail fast instead of timing out.
func (p *process) running() error {
	select {
	case <-p.exited:
	default:
		return nil
	}
	err := fmt.Errorf("%s exited early (%v); see %s", p.name, p.err, p.logPath)
	// Go servers say "address already in use", git daemon "Address already in use".
	if logTail, _ := tail(p.logPath, 4096); bytes.Contains(bytes.ToLower(logTail), []byte("address already in use")) {
		err = fmt.Errorf("%w: %w", errPortTaken, err)
	}
	return err
}

// tail returns up to the last n bytes of a file.
func tail(path string, n int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	offset := max(info.Size()-n, 0)
	buf := make([]byte, info.Size()-offset)
	_, err = f.ReadAt(buf, offset)
	return buf, err
}

// stop sends SIGTERM to the process group, then SIGKILL after stopGrace.
func (p *process) stop() error {
	pgid := -p.cmd.Process.Pid
	if err := syscall.Kill(pgid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("signalling %s: %w", p.name, err)
	}
	select {
	case <-p.exited:
	case <-time.After(stopGrace):
		_ = syscall.Kill(pgid, syscall.SIGKILL)
		<-p.exited
	}
	// Reap stragglers in the group (none of today's components fork, but a
	// future one might).
	_ = syscall.Kill(pgid, syscall.SIGKILL)
	return nil
}

// ProcessUsage reads a process's resident memory (MiB) and the CPU time it
// has used (seconds) from /proc: what the benchmarks report of the
// components they run.
func ProcessUsage(pid int) (rssMiB, cpuSeconds float64, err error) {
	if pid == 0 {
		return 0, 0, errors.New("the process is not running")
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		if fields := strings.Fields(line); len(fields) >= 2 && fields[0] == "VmRSS:" {
			kib, _ := strconv.ParseFloat(fields[1], 64)
			rssMiB = kib / 1024
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	// Fields after the command name (in parentheses): utime and stime are
	// the 12th and 13th, in clock ticks (100 per second on Linux).
	fields := strings.Fields(string(stat)[strings.LastIndexByte(string(stat), ')')+2:])
	utime, _ := strconv.ParseFloat(fields[11], 64)
	stime, _ := strconv.ParseFloat(fields[12], 64)
	return rssMiB, (utime + stime) / 100, nil
}

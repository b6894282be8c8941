package localcluster

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
)

// gitServerName names the Git server's process and log.
const gitServerName = "git-daemon"

// StartGitServer serves the bare repositories under baseDir over the Git
// protocol on loopback, for Argo CD to clone from and tests to push to: the
// repository baseDir/<name> is <url>/<name>, where url is
// git://127.0.0.1:<port>. It is `git daemon` (git must be on PATH) with
// every repository exported and pushes allowed, without authentication:
// fine on loopback, for tests and the demo only. Stop ends it.
//
// Start-up is bounded by Options.StartTimeout, like Start.
func (c *Cluster) StartGitServer(ctx context.Context, baseDir string) (url string, err error) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.StartTimeout)
	defer cancel()
	gitBinary, err := exec.LookPath("git")
	if err != nil {
		return "", fmt.Errorf("the local Git server needs git: %w", err)
	}
	baseDir, err = filepath.Abs(baseDir)
	if err != nil {
		return "", err
	}
	if info, err := os.Stat(baseDir); err != nil || !info.IsDir() {
		return "", fmt.Errorf("git server base directory %s: not a directory (%v)", baseDir, err)
	}
	ports, p, err := c.startOnFreePorts(ctx, gitServerName, 1, func(ports []int) (*process, func() error, error) {
		p, err := c.startTracked(gitServerName, gitBinary, []string{
			"daemon",
			"--reuseaddr",
			"--export-all",
			"--enable=receive-pack",
			"--informative-errors",
			"--base-path=" + baseDir,
			"--listen=127.0.0.1",
			"--port=" + strconv.Itoa(ports[0]),
			baseDir,
		}, nil)
		return p, func() error { return dialOK(ports[0]) }, err
	})
	if err != nil {
		return "", err
	}
	c.progressf("git daemon serving %s on git://127.0.0.1:%d (pid %d)", baseDir, ports[0], p.cmd.Process.Pid)
	return "git://127.0.0.1:" + strconv.Itoa(ports[0]), nil
}

// InitBareRepository creates an empty bare repository baseDir/name whose
// default branch is main, ready for StartGitServer to serve and for a first
// push.
func InitBareRepository(baseDir, name string) error {
	_, err := git.PlainInitWithOptions(filepath.Join(baseDir, name), &git.PlainInitOptions{
		Bare:        true,
		InitOptions: git.InitOptions{DefaultBranch: plumbing.Main},
	})
	if err != nil {
		return fmt.Errorf("creating bare repository %s in %s: %w", name, baseDir, err)
	}
	return nil
}

// dialOK succeeds once something accepts TCP connections on the loopback port.
func dialOK(port int) error {
	conn, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second)
	if err != nil {
		return err
	}
	return conn.Close()
}

// ServeGit creates empty bare repositories named repos under the cluster's
// data directory and serves them with StartGitServer: the repository
// <name> is <url>/<name>.
func (c *Cluster) ServeGit(ctx context.Context, repos ...string) (url string, err error) {
	base := filepath.Join(c.DataDir, "git")
	if err := os.MkdirAll(base, 0o755); err != nil {
		return "", err
	}
	for _, name := range repos {
		if err := InitBareRepository(base, name); err != nil {
			return "", err
		}
	}
	return c.StartGitServer(ctx, base)
}

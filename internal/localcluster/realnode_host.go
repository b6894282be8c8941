package localcluster

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// ErrNoRealNode marks a host that cannot run the real node: tests skip on
// it and say what is missing.
var ErrNoRealNode = errors.New("this host cannot run a real node")

// cniBinDir holds the CNI plugins the real node takes from the distribution
// (hack/node-packages.sh installs them from Debian).
const cniBinDir = "/usr/lib/cni"

// RealNodeBinaries are the files a real node needs in BinDir.
var RealNodeBinaries = []string{"kubelet", "kube-proxy", "kube-router", "containerd", "containerd-shim-runc-v2", "runc", "pause", "coredns"}

// cgroupControllers are the cgroup v1 controllers kubelet requires.
var cgroupControllers = []string{"cpu", "cpuacct", "cpuset", "memory", "pids", "devices", "freezer", "blkio"}

// CheckRealNodeHost reports why this host cannot run a real node, naming
// everything that is missing, or nil. binDir holds RealNodeBinaries.
func CheckRealNodeHost(binDir string) error {
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root (containerd and kubelet create mounts, cgroups and network namespaces)")
	}
	if !procFileHas("/proc/filesystems", "overlay") {
		missing = append(missing, "the overlay filesystem (containerd's snapshotter)")
	}
	for _, c := range cgroupControllers {
		if _, err := os.Stat(filepath.Join(cgroupMount, c)); err != nil {
			missing = append(missing, "the cgroup v1 controller "+c+" under "+cgroupMount)
		}
	}
	for _, name := range RealNodeBinaries {
		if _, err := os.Stat(filepath.Join(binDir, name)); err != nil {
			missing = append(missing, filepath.Join(binDir, name)+" (make testbin)")
		}
	}
	for _, f := range []string{cniBinDir + "/bridge", cniBinDir + "/host-local", cniBinDir + "/loopback", cniBinDir + "/portmap"} {
		if _, err := os.Stat(f); err != nil {
			missing = append(missing, f+" (hack/node-packages.sh)")
		}
	}
	for _, cmd := range []string{"iptables", "iptables-save", "iptables-restore", "ipset", "ip"} {
		if _, err := exec.LookPath(cmd); err != nil {
			missing = append(missing, cmd+" (hack/node-packages.sh)")
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: missing %s", ErrNoRealNode, strings.Join(missing, "; "))
	}
	return nil
}

// cgroupMount is where the host mounts its cgroup v1 hierarchies.
const cgroupMount = "/sys/fs/cgroup"

func procFileHas(path, word string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		for _, field := range strings.Fields(s.Text()) {
			if field == word {
				return true
			}
		}
	}
	return false
}

// nodeLockPath is the host-wide lock a real node holds: its bridge, pod
// range, port 10250 and netfilter chains are the host's, so a second real
// node on the same host waits for the first to stop rather than collide.
const nodeLockPath = "/run/tenantry-localcluster-real-node.lock"

// lockRealNode takes the host's real-node lock, waiting (and saying so
// through progress) while another cluster's real node holds it, until ctx
// ends.
func lockRealNode(ctx context.Context, dataDir string, progress func(format string, args ...any)) (*os.File, error) {
	f, err := os.OpenFile(nodeLockPath, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	said := false
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		holder, _ := os.ReadFile(nodeLockPath)
		if !said {
			progress("waiting for the real node of another local cluster (data dir %s) to stop: one real node per host", strings.TrimSpace(string(holder)))
			said = true
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("another local cluster's real node runs on this host (data dir %s), and one runs per host: %w", strings.TrimSpace(string(holder)), ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
	// The lock is free but names a data dir: that node's process was killed
	// before Stop (its components die with it, the rest stays). Clear it.
	if previous, _ := os.ReadFile(nodeLockPath); len(strings.TrimSpace(string(previous))) > 0 {
		if err := removeStaleNode(strings.TrimSpace(string(previous))); err != nil {
			f.Close()
			return nil, fmt.Errorf("clearing what a killed real node left (data dir %s): %w", strings.TrimSpace(string(previous)), err)
		}
	}
	if err := f.Truncate(0); err != nil {
		f.Close()
		return nil, err
	}
	if _, err := f.WriteAt([]byte(dataDir+"\n"), 0); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// hostIP is the host's first non-loopback IPv4 address: the real node's
// InternalIP, where kube-apiserver is reached from pods.
func hostIP() (net.IP, error) {
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	for _, iface := range ifaces {
		if iface.Flags&net.FlagUp == 0 || iface.Flags&net.FlagLoopback != 0 || iface.Name == realNodeBridge {
			continue
		}
		addrs, err := iface.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if ipnet, ok := a.(*net.IPNet); ok && ipnet.IP.To4() != nil {
				return ipnet.IP.To4(), nil
			}
		}
	}
	return nil, fmt.Errorf("%w: no non-loopback IPv4 address for the node", ErrNoRealNode)
}

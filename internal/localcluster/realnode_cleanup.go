package localcluster

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// What the real node leaves on the host while it runs, and what Stop must
// take away again: processes outside the harness's own (container
// processes, runc shims), mounts (overlay root filesystems, shm, network
// namespaces, volumes), interfaces (the bridge, veths), netfilter rules
// (kube-proxy's and kube-router's KUBE-* and the CNI plugins' CNI-*
// chains), kube-router's ipsets, cgroups and a few sysctls.

// HostResources lists what a real node can leave behind on the host, for
// tests that compare the host before a cluster starts and after it stops.
type HostResources struct {
	// Processes are "pid command" of the node's daemons (containerd,
	// kubelet, kube-proxy, the runc shims) and of every process in the
	// pods' cgroups (the containers, pause included).
	Processes []string
	// Mounts are the mount points of overlay, nsfs, shm and tmpfs mounts
	// outside the host's own (under the given data dir, or of a network
	// namespace).
	Mounts []string
	// NetworkNamespaces are the host's nsfs mounts.
	NetworkNamespaces []string
	// Links are the bridge and veth interfaces.
	Links []string
	// NetfilterRules are iptables and ip6tables rules ("-A ..." lines of
	// iptables-save, per table).
	NetfilterRules []string
	// IPSets are the node's ipsets (kube-router's KUBE-SRC-*, KUBE-DST-*...).
	IPSets []string
}

// SnapshotHost lists the host's HostResources; dataDir is where a cluster
// keeps its mounts.
func SnapshotHost(dataDir string) (HostResources, error) {
	var r HostResources
	var err error
	if r.Processes, err = nodeProcesses(); err != nil {
		return r, err
	}
	mounts, err := readMounts()
	if err != nil {
		return r, err
	}
	for _, m := range mounts {
		switch {
		case m.fsType == "nsfs":
			r.NetworkNamespaces = append(r.NetworkNamespaces, m.point)
		case dataDir != "" && strings.HasPrefix(m.point, dataDir+"/"):
			r.Mounts = append(r.Mounts, m.fsType+" "+m.point)
		}
	}
	if r.Links, err = bridgeAndVethLinks(); err != nil {
		return r, err
	}
	for _, family := range netfilterFamilies {
		rules, err := savedRules(family)
		if err != nil {
			return r, err
		}
		r.NetfilterRules = append(r.NetfilterRules, rules...)
	}
	sets, err := nodeIPSets()
	if err != nil {
		return r, err
	}
	r.IPSets = slices.Sorted(maps.Keys(sets))
	return r, nil
}

// nodeProcessNames are the commands a real node runs.
var nodeProcessNames = []string{"containerd", "containerd-shim", "kubelet", "kube-proxy", "kube-router", "runc"}

func nodeProcesses() ([]string, error) {
	inPods := map[int]bool{}
	_ = filepath.WalkDir(filepath.Join(cgroupMount, "pids", nodeCgroupRoot), func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.Name() == "cgroup.procs" {
			data, _ := os.ReadFile(path)
			for _, f := range strings.Fields(string(data)) {
				if pid, err := strconv.Atoi(f); err == nil {
					inPods[pid] = true
				}
			}
		}
		return nil
	})
	var out []string
	err := eachProcess(func(pid int, comm string, _ []string) {
		switch {
		case inPods[pid]:
			out = append(out, strconv.Itoa(pid)+" "+comm+" (in a pod)")
		case slices.Contains(nodeProcessNames, comm):
			out = append(out, strconv.Itoa(pid)+" "+comm)
		}
	})
	return out, err
}

// eachProcess calls fn for every process on the host with its command name
// and arguments; processes that exit meanwhile are skipped.
func eachProcess(fn func(pid int, comm string, args []string)) error {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return err
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		comm, err := os.ReadFile(filepath.Join("/proc", e.Name(), "comm"))
		if err != nil {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		fn(pid, strings.TrimSpace(string(comm)), strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00"))
	}
	return nil
}

type mount struct{ point, fsType string }

// readMounts parses /proc/self/mountinfo: field 5 is the mount point, the
// first field after " - " the filesystem type.
func readMounts() ([]mount, error) {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	var out []mount
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		before, after, ok := strings.Cut(line, " - ")
		fields, tail := strings.Fields(before), strings.Fields(after)
		if !ok || len(fields) < 5 || len(tail) < 1 {
			continue
		}
		out = append(out, mount{point: unescapeMount(fields[4]), fsType: tail[0]})
	}
	return out, nil
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func bridgeAndVethLinks() ([]string, error) {
	var out []string
	for _, kind := range []string{"bridge", "veth"} {
		data, err := exec.Command("ip", "-o", "link", "show", "type", kind).Output()
		if err != nil {
			return nil, fmt.Errorf("ip link show type %s: %w", kind, err)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			// "7: tenantry0: <BROADCAST,...> ..." or "9: veth1@if2: ..."
			if fields := strings.Fields(line); len(fields) > 1 {
				name, _, _ := strings.Cut(strings.TrimSuffix(fields[1], ":"), "@")
				out = append(out, kind+" "+name)
			}
		}
	}
	return out, nil
}

// netfilterFamilies are the iptables commands the node's chains live in.
var netfilterFamilies = []string{"iptables", "ip6tables"}

// netfilterTable is one table of iptables-save's output: its chains, and
// its rules as "CHAIN spec" (the "-A " lines without "-A ").
type netfilterTable struct {
	name   string
	chains []string
	rules  []string
}

// saveNetfilter runs family-save (iptables-save, ip6tables-save) and parses
// what it prints.
func saveNetfilter(family string) ([]netfilterTable, error) {
	out, err := exec.Command(family + "-save").Output()
	if err != nil {
		return nil, fmt.Errorf("%s-save: %w", family, err)
	}
	return parseNetfilter(string(out)), nil
}

// parseNetfilter reads iptables-save's format: "*table", ":CHAIN policy
// [counters]", "-A CHAIN spec", "COMMIT".
func parseNetfilter(saved string) []netfilterTable {
	var tables []netfilterTable
	for _, line := range strings.Split(saved, "\n") {
		if name, ok := strings.CutPrefix(line, "*"); ok {
			tables = append(tables, netfilterTable{name: name})
			continue
		}
		if len(tables) == 0 {
			continue
		}
		t := &tables[len(tables)-1]
		if chain, ok := strings.CutPrefix(line, ":"); ok {
			chain, _, _ = strings.Cut(chain, " ")
			t.chains = append(t.chains, chain)
		} else if rule, ok := strings.CutPrefix(line, "-A "); ok {
			t.rules = append(t.rules, rule)
		}
	}
	return tables
}

// savedRules are a family's rules, as "<family>-save <table> -A <rule>".
func savedRules(family string) ([]string, error) {
	tables, err := saveNetfilter(family)
	if err != nil {
		return nil, err
	}
	var rules []string
	for _, t := range tables {
		for _, r := range t.rules {
			rules = append(rules, family+"-save "+t.name+" -A "+r)
		}
	}
	return rules, nil
}

// nodeChainPrefixes name the netfilter chains of kube-proxy, the kubelet
// and kube-router (KUBE-: KUBE-ROUTER-*, KUBE-NWPLCY-*, KUBE-POD-FW-*) and
// of the CNI plugins (CNI-).
var nodeChainPrefixes = []string{"KUBE-", "CNI-"}

func isNodeChain(name string) bool {
	return slices.ContainsFunc(nodeChainPrefixes, func(p string) bool { return strings.HasPrefix(name, p) })
}

// nodeChains lists a family's chains that belong to a node, per table
// ("nat/KUBE-SERVICES").
func nodeChains(family string) (map[string]bool, error) {
	tables, err := saveNetfilter(family)
	if err != nil {
		return nil, err
	}
	chains := map[string]bool{}
	for _, t := range tables {
		for _, c := range t.chains {
			if isNodeChain(c) {
				chains[t.name+"/"+c] = true
			}
		}
	}
	return chains, nil
}

// removeNetfilterChains deletes, in one iptables-restore --noflush per
// family, every node chain that was not there before the node started
// (keep), with the rules elsewhere that jump to them. A host that runs a
// Kubernetes node of its own keeps its chains.
func removeNetfilterChains(keep map[string]map[string]bool) error {
	var errs []error
	for _, family := range netfilterFamilies {
		tables, err := saveNetfilter(family)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		script := cleanupScript(tables, keep[family])
		if script == "" {
			continue
		}
		cmd := exec.Command(family+"-restore", "--noflush")
		cmd.Stdin = strings.NewReader(script)
		if out, err := cmd.CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("%s-restore: %w: %s", family, err, out))
		}
	}
	return errors.Join(errs...)
}

// cleanupScript is an iptables-restore --noflush script that deletes the
// jumps into new node chains, then flushes and deletes those chains.
func cleanupScript(tables []netfilterTable, keep map[string]bool) string {
	var b strings.Builder
	for _, t := range tables {
		ours := func(chain string) bool { return isNodeChain(chain) && !keep[t.name+"/"+chain] }
		chains := slices.DeleteFunc(slices.Clone(t.chains), func(c string) bool { return !ours(c) })
		var jumps []string
		for _, r := range t.rules {
			chain, _, _ := strings.Cut(r, " ")
			if !ours(chain) && ours(jumpTarget(r)) {
				jumps = append(jumps, r)
			}
		}
		if len(jumps)+len(chains) == 0 {
			continue
		}
		fmt.Fprintf(&b, "*%s\n", t.name)
		for _, j := range jumps {
			fmt.Fprintf(&b, "-D %s\n", j)
		}
		for _, verb := range []string{"-F", "-X"} {
			for _, c := range chains {
				fmt.Fprintf(&b, "%s %s\n", verb, c)
			}
		}
		b.WriteString("COMMIT\n")
	}
	return b.String()
}

// jumpTarget is the chain a rule jumps or goes to (-j/-g), or "".
func jumpTarget(rule string) string {
	fields := strings.Fields(rule)
	for i := 0; i+1 < len(fields); i++ {
		if fields[i] == "-j" || fields[i] == "-g" {
			return fields[i+1]
		}
	}
	return ""
}

// killCgroupTree kills every process in the cgroup named root (under each
// v1 hierarchy), waits for them to go and removes the cgroups, deepest
// first.
func killCgroupTree(root string) error {
	var dirs []string
	for _, c := range append([]string{"systemd"}, cgroupControllers...) {
		base := filepath.Join(cgroupMount, c, root)
		_ = filepath.WalkDir(base, func(path string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, path)
			}
			return nil
		})
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		alive := 0
		for _, d := range dirs {
			data, _ := os.ReadFile(filepath.Join(d, "cgroup.procs"))
			for _, f := range strings.Fields(string(data)) {
				if pid, err := strconv.Atoi(f); err == nil {
					_ = syscall.Kill(pid, syscall.SIGKILL)
					alive++
				}
			}
		}
		if alive == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Deepest first: a cgroup with children cannot be removed.
	slices.SortFunc(dirs, func(a, b string) int { return strings.Count(b, "/") - strings.Count(a, "/") })
	var errs []error
	for _, d := range dirs {
		if err := syscall.Rmdir(d); err != nil && !errors.Is(err, syscall.ENOENT) {
			errs = append(errs, fmt.Errorf("removing cgroup %s: %w", d, err))
		}
	}
	return errors.Join(errs...)
}

// killShims kills the runc shims of the containerd listening on socket and
// waits until they are gone: shims outlive containerd by design (so
// containers survive its restart), so stopping containerd does not stop them.
func killShims(socket string) {
	var pids []int
	_ = eachProcess(func(pid int, comm string, args []string) {
		if strings.HasPrefix(comm, "containerd-shim") && slices.Contains(args, socket) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			pids = append(pids, pid)
		}
	})
	// Reparented to init, a killed shim lingers until init reaps it.
	deadline := time.Now().Add(5 * time.Second)
	for _, pid := range pids {
		for time.Now().Before(deadline) {
			if _, err := os.Stat(filepath.Join("/proc", strconv.Itoa(pid))); err != nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// unmountUnder detaches every mount below dir, deepest first: overlay root
// filesystems, sandbox shm, network namespaces and volumes.
func unmountUnder(dir string) error {
	mounts, err := readMounts()
	if err != nil {
		return err
	}
	var points []string
	for _, m := range mounts {
		if strings.HasPrefix(m.point, dir+"/") {
			points = append(points, m.point)
		}
	}
	slices.SortFunc(points, func(a, b string) int { return len(b) - len(a) })
	var errs []error
	for _, p := range points {
		if err := syscall.Unmount(p, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
			errs = append(errs, fmt.Errorf("unmounting %s: %w", p, err))
		}
	}
	return errors.Join(errs...)
}

// deleteLink removes a network interface if it exists.
func deleteLink(name string) error {
	out, err := exec.Command("ip", "link", "delete", name).CombinedOutput()
	if err != nil && !bytes.Contains(out, []byte("Cannot find device")) && !bytes.Contains(out, []byte("does not exist")) {
		return fmt.Errorf("ip link delete %s: %w: %s", name, err, out)
	}
	return nil
}

// nodeSysctls are the host settings the node needs: routing for pod
// traffic, bridged traffic through netfilter (so Service replies between
// pods on the bridge are un-NATed), and loopback NodePorts (kube-proxy).
// Their earlier values are restored by Stop.
var nodeSysctls = map[string]string{
	"net/ipv4/ip_forward":                 "1",
	"net/bridge/bridge-nf-call-iptables":  "1",
	"net/bridge/bridge-nf-call-ip6tables": "1",
	"net/ipv4/conf/all/route_localnet":    "1",
}

// setSysctls sets values and returns the ones they replaced.
func setSysctls(values map[string]string) (map[string]string, error) {
	old := map[string]string{}
	for key, value := range values {
		path := filepath.Join("/proc/sys", key)
		prev, err := os.ReadFile(path)
		if err != nil {
			return old, fmt.Errorf("%w: reading sysctl %s: %v", ErrNoRealNode, key, err)
		}
		old[key] = strings.TrimSpace(string(prev))
		if err := os.WriteFile(path, []byte(value), 0o644); err != nil {
			return old, fmt.Errorf("setting sysctl %s: %w", key, err)
		}
	}
	return old, nil
}

package localcluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tenantry/tenantry/internal/images"
)

// realNode is the cluster's one real node: containerd, runc, the CNI
// plugins, kubelet and kube-proxy running on this host, with CoreDNS as the
// cluster DNS and a registry on loopback for its images. Unlike kwok's, its
// pods run: their packets, requests and metrics are real.
type realNode struct {
	paths nodePaths
	ip    net.IP
	// lock is the host-wide real-node lock, held until stop.
	lock *os.File
	// registry serves the node's images on loopback.
	registry *images.Registry
	// processes are containerd, kubelet and kube-proxy, oldest first.
	processes []*process
	// keepChains are the node netfilter chains the host had before the node
	// started, per family: stop leaves them alone.
	keepChains map[string]map[string]bool
	// keepIPSets are the node ipsets the host had before: stop leaves them.
	keepIPSets map[string]bool
	oldSysctls map[string]string
}

// nodeCgroupRoot holds every pod's cgroup: one real node per host, so one
// name; stop kills what is left in it and removes it.
const nodeCgroupRoot = "tenantry-real-node"

// prepareRealNode checks the host, takes the real-node lock and finds the
// node's address. It runs before the PKI is made, since the API server's
// certificate must name that address (pods reach the API server there).
func (c *Cluster) prepareRealNode(ctx context.Context) (*realNode, error) {
	dataDir, binDir := c.DataDir, c.opts.BinDir
	if err := CheckRealNodeHost(binDir); err != nil {
		return nil, err
	}
	ip, err := hostIP()
	if err != nil {
		return nil, err
	}
	lock, err := lockRealNode(ctx, dataDir, c.progressf)
	if err != nil {
		return nil, err
	}
	return &realNode{paths: nodePaths{dir: filepath.Join(dataDir, "node")}, ip: ip, lock: lock}, nil
}

// startRealNode brings up the node and waits until it is Ready and cluster
// DNS answers: registry and images, containerd, kubelet, kube-proxy,
// kube-router (NetworkPolicy), then CoreDNS.
func (c *Cluster) startRealNode(ctx context.Context) error {
	n := c.node
	keep := map[string]map[string]bool{}
	for _, family := range netfilterFamilies {
		chains, err := nodeChains(family)
		if err != nil {
			return err
		}
		keep[family] = chains
	}
	n.keepChains = keep
	ipsets, err := nodeIPSets()
	if err != nil {
		return err
	}
	n.keepIPSets = ipsets
	old, err := setSysctls(nodeSysctls)
	n.oldSysctls = old
	if err != nil {
		return err
	}
	if err := c.startRegistry(ctx); err != nil {
		return err
	}
	if err := c.writeNodeConfigs(); err != nil {
		return err
	}
	if err := c.startContainerd(ctx); err != nil {
		return err
	}
	if err := c.startKubelet(ctx); err != nil {
		return err
	}
	if err := c.startKubeProxy(ctx); err != nil {
		return err
	}
	if err := c.startNetworkPolicyEngine(ctx); err != nil {
		return err
	}
	return c.installCoreDNS(ctx, LocalRegistry+"/coredns:"+coreDNSImageTag)
}

// startRegistry serves the loopback registry and pushes the images the node
// itself needs: the pod sandbox (pause) and CoreDNS.
func (c *Cluster) startRegistry(ctx context.Context) error {
	reg, err := images.StartRegistry("127.0.0.1:0")
	if err != nil {
		return err
	}
	c.node.registry = reg
	if _, err := c.PushBinaryImage(ctx, "pause:"+pauseImageTag, c.bin("pause"), images.Options{User: 65535, Title: "pause"}); err != nil {
		return err
	}
	_, err = c.PushBinaryImage(ctx, "coredns:"+coreDNSImageTag, c.bin("coredns"), images.Options{Title: "coredns", Version: coreDNSImageTag})
	return err
}

// PushBinaryImage builds an image from a static Linux binary (internal/images)
// and pushes it to the real node's registry as LocalRegistry/<nameTag>,
// the name pods use. It returns the image's digest.
func (c *Cluster) PushBinaryImage(ctx context.Context, nameTag, binary string, opts images.Options) (string, error) {
	if c.node == nil {
		return "", errors.New("the cluster has no real node (Options.RealNode)")
	}
	img, err := images.FromBinary(binary, opts)
	if err != nil {
		return "", fmt.Errorf("image %s: %w", nameTag, err)
	}
	digest, err := images.Push(ctx, img, c.node.registry.Addr+"/"+nameTag)
	if err != nil {
		return "", fmt.Errorf("pushing %s: %w", nameTag, err)
	}
	return digest, nil
}

// RealNodeName is the name of the cluster's real node, empty without one.
func (c *Cluster) RealNodeName() string {
	if c.node == nil {
		return ""
	}
	return realNodeName
}

func (c *Cluster) writeNodeConfigs() error {
	n := c.node
	p := n.paths
	files := map[string][]byte{
		p.containerdConfig(): []byte(containerdConfig(p, c.bin("runc"), cniBinDir)),
	}
	for _, host := range MirroredRegistries {
		files[filepath.Join(p.registryHosts(), host, "hosts.toml")] = []byte(registryHostsFile(host, n.registry.Addr))
	}
	cni, err := cniConfig(p.cniIPAMDir())
	if err != nil {
		return err
	}
	files[filepath.Join(p.cniConfDir(), "10-tenantry.conflist")] = cni
	for path := range files {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
	}
	for _, dir := range []string{p.podLogs(), p.kubeletRoot(), p.cniIPAMDir()} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	// kubelet expects its cgroup root to exist in every hierarchy.
	for _, ctrl := range append([]string{"systemd"}, cgroupControllers...) {
		if err := os.MkdirAll(filepath.Join(cgroupMount, ctrl, nodeCgroupRoot), 0o755); err != nil {
			return fmt.Errorf("creating cgroup %s/%s: %w", ctrl, nodeCgroupRoot, err)
		}
	}
	return writeFiles(files)
}

func (c *Cluster) startNodeProcess(name string, args []string) (*process, error) {
	p, err := startProcess(name, c.bin(name), args, []string{"PATH=" + c.opts.BinDir + ":" + os.Getenv("PATH")}, c.LogDir)
	if err != nil {
		return nil, err
	}
	c.node.processes = append(c.node.processes, p)
	return p, nil
}

func (c *Cluster) startContainerd(ctx context.Context) error {
	p, err := c.startNodeProcess("containerd", []string{"--config", c.node.paths.containerdConfig()})
	if err != nil {
		return err
	}
	return waitFor(ctx, "containerd socket", p, func() error {
		_, err := os.Stat(c.node.paths.containerdSocket())
		return err
	})
}

func (c *Cluster) startKubelet(ctx context.Context) error {
	n := c.node
	// The API server calls the kubelet at the node's address.
	certFile, keyFile, err := c.writeServingCert("kubelet", n.ip)
	if err != nil {
		return err
	}
	ports, err := freePorts(1)
	if err != nil {
		return err
	}
	config := kubeletConfig(kubeletSettings{
		paths: n.paths, nodeIP: n.ip.String(), caFile: c.pki.caCertFile(),
		certFile: certFile, keyFile: keyFile, cgroupRoot: "/" + nodeCgroupRoot, healthzPort: ports[0],
	})
	if err := os.WriteFile(n.paths.kubeletConfig(), []byte(config), 0o644); err != nil {
		return err
	}
	// The Node authorizer and NodeRestriction admission know a kubelet by
	// this identity, and limit it to its own Node and pods.
	kubeconfig, err := c.writeComponentKubeconfig("kubelet", "system:node:"+realNodeName, "system:nodes")
	if err != nil {
		return err
	}
	p, err := c.startNodeProcess("kubelet", []string{
		"--config=" + n.paths.kubeletConfig(),
		"--kubeconfig=" + kubeconfig,
		"--root-dir=" + n.paths.kubeletRoot(),
		"--hostname-override=" + realNodeName,
		"--node-ip=" + n.ip.String(),
		"--node-labels=" + realNodeLabel + "=true",
	})
	if err != nil {
		return err
	}
	return waitFor(ctx, "node "+realNodeName+" Ready", p, func() error {
		node, err := c.client.CoreV1().Nodes().Get(ctx, realNodeName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if !NodeReady(node) {
			return errors.New("not Ready yet")
		}
		return nil
	})
}

// realNodeLabel marks the real node, for pods that must run for real
// (nodeSelector) and for tests that look for it.
const realNodeLabel = "tenantry.dev/real-node"

func (c *Cluster) startKubeProxy(ctx context.Context) error {
	kubeconfig, err := c.writeComponentKubeconfig("kube-proxy", "system:kube-proxy")
	if err != nil {
		return err
	}
	ports, err := freePorts(2)
	if err != nil {
		return err
	}
	healthz := "127.0.0.1:" + strconv.Itoa(ports[0])
	metrics := "127.0.0.1:" + strconv.Itoa(ports[1])
	if err := os.WriteFile(c.node.paths.kubeProxyConfig(), []byte(kubeProxyConfig(kubeconfig, healthz, metrics)), 0o644); err != nil {
		return err
	}
	p, err := c.startNodeProcess("kube-proxy", []string{"--config=" + c.node.paths.kubeProxyConfig()})
	if err != nil {
		return err
	}
	return waitFor(ctx, "kube-proxy /healthz", p, func() error {
		return httpOK(plainHTTP, "http://"+healthz+"/healthz")
	})
}

// stop tears the node down so that nothing of it is left on the host:
// kube-proxy and kubelet first (so nothing restarts a container), then every
// process in the pods' cgroups, containerd and its shims, the mounts under
// the node's directory (root filesystems, shm, network namespaces, volumes),
// the bridge (each veth went with its namespace), the netfilter chains and
// ipsets the node added, the cgroups, and the sysctls it changed. It goes on
// past errors and reports them all.
func (n *realNode) stop() error {
	var errs []error
	for i := len(n.processes) - 1; i >= 0; i-- {
		if n.processes[i].name == "containerd" {
			// Containers first: containerd must see its tasks exit.
			errs = append(errs, killCgroupTree(nodeCgroupRoot))
		}
		errs = append(errs, n.processes[i].stop())
	}
	n.processes = nil
	killShims(n.paths.containerdSocket())
	errs = append(errs, killCgroupTree(nodeCgroupRoot))
	errs = append(errs, unmountUnder(n.paths.dir))
	errs = append(errs, deleteLink(realNodeBridge))
	if n.keepChains != nil {
		errs = append(errs, removeNetfilterChains(n.keepChains))
		// After the chains: a set still matched by a rule cannot go.
		errs = append(errs, removeIPSets(n.keepIPSets))
	}
	if n.oldSysctls != nil {
		_, err := setSysctls(n.oldSysctls)
		errs = append(errs, err)
		n.oldSysctls = nil
	}
	if n.registry != nil {
		errs = append(errs, n.registry.Close())
		n.registry = nil
	}
	if n.lock != nil {
		// An empty lock file tells the next node there is nothing to clear.
		errs = append(errs, n.lock.Truncate(0), n.lock.Close())
		n.lock = nil
	}
	return errors.Join(errs...)
}

// removeStaleNode clears what a real node whose process was killed left:
// the processes in its cgroups, its shims, its mounts, its bridge and every
// node netfilter chain (the host-wide lock says they were that node's).
func removeStaleNode(dataDir string) error {
	paths := nodePaths{dir: filepath.Join(dataDir, "node")}
	killShims(paths.containerdSocket())
	return errors.Join(
		killCgroupTree(nodeCgroupRoot),
		unmountUnder(paths.dir),
		deleteLink(realNodeBridge),
		removeNetfilterChains(nil),
		removeIPSets(nil),
	)
}

package localcluster

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
)

// The real node's addresses. Its pods get their own range, apart from the
// one kwok hands out to simulated pods, so a real pod's address is never
// one a fake pod also shows.
const (
	realNodeName    = "real-node-0"
	realPodCIDR     = "10.245.0.0/24"
	realNodeBridge  = "tenantry0"
	cniNetworkName  = "tenantry"
	pauseImageTag   = "3.10"
	coreDNSImageTag = "1.15.0"
)

// LocalRegistry is the image registry name that charts, plans and examples
// use. On the real node, containerd resolves it (and MirroredRegistries) to
// the registry the cluster serves on loopback, so the names stay
// production-like and the registry guardrail sees them unchanged.
const LocalRegistry = "registry.tenantry.dev"

// MirroredRegistries are the registry hosts containerd on the real node
// pulls from the loopback registry: nothing here reaches the internet.
var MirroredRegistries = []string{LocalRegistry, "ghcr.io"}

// nodePaths are where the real node keeps its state, all under one
// directory so that Stop can find (and unmount) everything it made.
type nodePaths struct{ dir string }

func (p nodePaths) join(elem ...string) string {
	return filepath.Join(append([]string{p.dir}, elem...)...)
}
func (p nodePaths) containerdConfig() string { return p.join("containerd.toml") }
func (p nodePaths) containerdRoot() string   { return p.join("containerd") }
func (p nodePaths) containerdState() string  { return p.join("containerd-state") }
func (p nodePaths) containerdSocket() string { return p.join("containerd-state", "containerd.sock") }
func (p nodePaths) runcRoot() string         { return p.join("runc") }
func (p nodePaths) registryHosts() string    { return p.join("certs.d") }
func (p nodePaths) cniConfDir() string       { return p.join("cni", "net.d") }
func (p nodePaths) cniIPAMDir() string       { return p.join("cni", "ipam") }
func (p nodePaths) kubeletRoot() string      { return p.join("kubelet") }
func (p nodePaths) kubeletConfig() string    { return p.join("kubelet.yaml") }
func (p nodePaths) podLogs() string          { return p.join("pod-logs") }
func (p nodePaths) kubeProxyConfig() string  { return p.join("kube-proxy.yaml") }

// containerdConfig is containerd's configuration (format version 3, which
// containerd 2.x reads): the CRI plugin with runc under cgroupfs (the host
// has cgroup v1 and no systemd), the CNI configuration of this node, the
// sandbox image from the local registry, and per-registry host files that
// send pulls to the loopback registry. Network namespaces are mounted under
// the state directory, not /run/netns, so they are the node's alone. OOM
// score adjustments are clamped to containerd's own: lowering one needs
// CAP_SYS_RESOURCE, which root in this project's VMs lacks, and runc fails
// every sandbox (kubelet asks -998 for it) without the clamp.
func containerdConfig(p nodePaths, runc, cniBinDir string) string {
	return fmt.Sprintf(`version = 3
root = %[1]q
state = %[2]q

[grpc]
  address = %[3]q

[plugins."io.containerd.nri.v1.nri"]
  disable = true

[plugins."io.containerd.cri.v1.images"]
  snapshotter = "overlayfs"
  [plugins."io.containerd.cri.v1.images".pinned_images]
    sandbox = %[4]q
  [plugins."io.containerd.cri.v1.images".registry]
    config_path = %[5]q

[plugins."io.containerd.cri.v1.runtime"]
  netns_mounts_under_state_dir = true
  restrict_oom_score_adj = true
  [plugins."io.containerd.cri.v1.runtime".cni]
    bin_dirs = [%[6]q]
    conf_dir = %[7]q
  [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
      BinaryName = %[8]q
      Root = %[9]q
      SystemdCgroup = false
`, p.containerdRoot(), p.containerdState(), p.containerdSocket(),
		LocalRegistry+"/pause:"+pauseImageTag, p.registryHosts(),
		cniBinDir, p.cniConfDir(), runc, p.runcRoot())
}

// registryHostsFile maps one registry name to the loopback registry
// (containerd's hosts.toml): pulls and resolves go to plain HTTP on
// registryAddr, and nowhere else.
func registryHostsFile(registry, registryAddr string) string {
	return fmt.Sprintf(`server = "https://%s"

[host."http://%s"]
  capabilities = ["pull", "resolve"]
`, registry, registryAddr)
}

// cniConfig is the node's pod network: a Linux bridge with the node as
// gateway, addresses from host-local, masquerade for traffic leaving the
// pod range, hairpin so a pod reaches itself through its Service, and
// portmap for hostPort.
func cniConfig(ipamDir string) ([]byte, error) {
	return json.MarshalIndent(map[string]any{
		"cniVersion": "1.0.0",
		"name":       cniNetworkName,
		"plugins": []any{
			map[string]any{
				"type":        "bridge",
				"bridge":      realNodeBridge,
				"isGateway":   true,
				"ipMasq":      true,
				"hairpinMode": true,
				"ipam": map[string]any{
					"type":    "host-local",
					"ranges":  [][]map[string]string{{{"subnet": realPodCIDR}}},
					"routes":  []map[string]string{{"dst": "0.0.0.0/0"}},
					"dataDir": ipamDir,
				},
			},
			map[string]any{"type": "portmap", "capabilities": map[string]bool{"portMappings": true}},
		},
	}, "", "  ")
}

// kubeletSettings are what kubeletConfig needs to know of the cluster.
type kubeletSettings struct {
	paths                     nodePaths
	nodeIP                    string
	caFile, certFile, keyFile string
	cgroupRoot                string
	healthzPort               int
}

// kubeletConfig is the kubelet's KubeletConfiguration. What departs from
// the defaults, and why:
//   - cgroupfs and failCgroupV1: false: the host has cgroup v1 hierarchies
//     and no systemd; kubelet 1.35+ refuses cgroup v1 unless told otherwise.
//   - cgroupRoot: the node's pods live under their own cgroup, so Stop can
//     find (and kill) every process the node started.
//   - webhook authentication and authorization: the API server's calls
//     (logs, exec) are checked as on a real node; anonymous is off.
//   - eviction thresholds low: a developer's disk is fuller than a node's.
//   - podLogsDir under the node's directory instead of /var/log/pods.
func kubeletConfig(s kubeletSettings) string {
	return fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: %[1]s
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: %[2]d
tlsCertFile: %[3]s
tlsPrivateKeyFile: %[4]s
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: %[5]s
authorization:
  mode: Webhook
containerRuntimeEndpoint: unix://%[6]s
cgroupDriver: cgroupfs
cgroupRoot: %[7]s
failCgroupV1: false
failSwapOn: false
clusterDNS:
- %[8]s
clusterDomain: %[9]s
resolvConf: /etc/resolv.conf
podLogsDir: %[10]s
staticPodPath: ""
serializeImagePulls: false
maxPods: 110
evictionHard:
  memory.available: 100Mi
  nodefs.available: 1%%
  imagefs.available: 1%%
  nodefs.inodesFree: 1%%
imageGCHighThresholdPercent: 99
imageGCLowThresholdPercent: 98
`, s.nodeIP, s.healthzPort, s.certFile, s.keyFile, s.caFile, s.paths.containerdSocket(),
		s.cgroupRoot, ClusterDNSIP, ClusterDomain, s.paths.podLogs())
}

// kubeProxyConfig is kube-proxy's configuration: iptables mode (Debian's
// iptables, nf_tables backend), the node's pod range as the cluster CIDR
// (traffic from outside it to a Service is masqueraded), health and metrics
// on loopback, and conntrack sysctls left as the host has them.
func kubeProxyConfig(kubeconfig, healthzAddr, metricsAddr string) string {
	return strings.TrimLeft(fmt.Sprintf(`
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection:
  kubeconfig: %s
hostnameOverride: %s
clusterCIDR: %s
healthzBindAddress: %s
metricsBindAddress: %s
conntrack:
  maxPerCore: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
`, kubeconfig, realNodeName, realPodCIDR, healthzAddr, metricsAddr), "\n")
}

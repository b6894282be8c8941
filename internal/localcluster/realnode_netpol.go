package localcluster

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os/exec"
	"slices"
	"strconv"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// NetworkPolicy on the real node: kube-router's firewall controller
// (bin/kube-router, built from tools/kube-router), alone: no BGP routing,
// no service proxy (kube-proxy does that), no CNI configuration (the
// bridge plugin does that). It runs on the host like kubelet and
// kube-proxy and turns every NetworkPolicy into iptables chains (KUBE-ROUTER-*,
// KUBE-NWPLCY-*, KUBE-POD-FW-*) and ipsets (KUBE-SRC-*, KUBE-DST-*), which
// filter the pods' traffic on the bridge (FORWARD), to the host (INPUT) and
// from the host (OUTPUT). docs/isolation.md says why this engine.

// kubeRouterUser is the identity kube-router acts as: a client certificate
// for this user, bound to kubeRouterClusterRole.
const kubeRouterUser = "tenantry:kube-router"

// kubeRouterClusterRole grants what kube-router's firewall reads, and no
// write: it only programs the host. Its informers list and watch pods,
// namespaces and NetworkPolicies (the policies and who they select), the
// Node (its own addresses), and Services and EndpointSlices (they start
// with every kube-router, whichever controllers run). The upstream
// DaemonSet's role adds leases and services/status, which only the BGP
// router and the load-balancer allocator write.
func kubeRouterClusterRole() *rbacv1.ClusterRole {
	read := []string{"get", "list", "watch"}
	return &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: kubeRouterUser, Labels: map[string]string{"app.kubernetes.io/name": "kube-router"}},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"pods", "namespaces", "nodes", "services"}, Verbs: read},
			{APIGroups: []string{"networking.k8s.io"}, Resources: []string{"networkpolicies"}, Verbs: read},
			{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: read},
		},
	}
}

func kubeRouterClusterRoleBinding() *rbacv1.ClusterRoleBinding {
	return &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: kubeRouterUser, Labels: map[string]string{"app.kubernetes.io/name": "kube-router"}},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: kubeRouterUser},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: kubeRouterUser}},
	}
}

// kubeRouterArgs are kube-router's flags on the real node: the firewall
// only, the node's name as kubelet registers it, the Service range (its
// input chain lets pods reach Service addresses, which kube-proxy then
// translates and the policies judge by the real destination), IPv4 only
// like the node's pod range, health and metrics on loopback.
func kubeRouterArgs(kubeconfig string, healthPort, metricsPort int) []string {
	return []string{
		"--run-firewall=true",
		"--run-router=false",
		"--run-service-proxy=false",
		"--run-loadbalancer=false",
		"--enable-cni=false",
		"--enable-ipv4=true",
		"--enable-ipv6=false",
		"--kubeconfig=" + kubeconfig,
		"--hostname-override=" + realNodeName,
		"--service-cluster-ip-range=" + serviceCIDR,
		"--health-addr=127.0.0.1",
		"--health-port=" + strconv.Itoa(healthPort),
		"--metrics-addr=127.0.0.1",
		"--metrics-port=" + strconv.Itoa(metricsPort),
	}
}

// kubeRouterSyncMetric counts kube-router's full policy syncs: it is
// observed once each sync has written the chains and ipsets.
const kubeRouterSyncMetric = "kube_router_controller_iptables_sync_time_count"

// startNetworkPolicyEngine grants kube-router its rights, starts it and
// waits until its first full sync is written, so NetworkPolicies are in
// force once Start returns.
func (c *Cluster) startNetworkPolicyEngine(ctx context.Context) error {
	rbac := c.client.RbacV1()
	if err := errors.Join(
		createObject(ctx, rbac.ClusterRoles().Create, kubeRouterClusterRole()),
		createObject(ctx, rbac.ClusterRoleBindings().Create, kubeRouterClusterRoleBinding()),
	); err != nil {
		return fmt.Errorf("granting kube-router its rights: %w", err)
	}
	kubeconfig, err := c.writeComponentKubeconfig("kube-router", kubeRouterUser)
	if err != nil {
		return err
	}
	ports, err := freePorts(2)
	if err != nil {
		return err
	}
	p, err := c.startNodeProcess("kube-router", kubeRouterArgs(kubeconfig, ports[0], ports[1]))
	if err != nil {
		return err
	}
	healthz := "http://127.0.0.1:" + strconv.Itoa(ports[0]) + "/healthz"
	metrics := "http://127.0.0.1:" + strconv.Itoa(ports[1]) + "/metrics"
	return waitFor(ctx, "kube-router's first NetworkPolicy sync", p, func() error {
		if err := httpOK(plainHTTP, healthz); err != nil {
			return err
		}
		syncs, err := metricValue(plainHTTP, metrics, kubeRouterSyncMetric)
		if err != nil {
			return err
		}
		if syncs < 1 {
			return errors.New("no full policy sync written yet")
		}
		return nil
	})
}

// metricValue reads one unlabelled sample from a Prometheus text endpoint.
func metricValue(client *http.Client, url, name string) (float64, error) {
	resp, err := client.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return parseMetric(bufio.NewScanner(resp.Body), name)
}

// parseMetric finds "name value" in Prometheus' text format; a metric that
// is not there yet reads as 0 (histograms appear with their first sample).
func parseMetric(s *bufio.Scanner, name string) (float64, error) {
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) >= 2 && fields[0] == name {
			v, err := strconv.ParseFloat(fields[1], 64)
			if err != nil {
				return 0, fmt.Errorf("metric %s: %w", name, err)
			}
			return v, nil
		}
	}
	return 0, s.Err()
}

// nodeIPSetPrefixes name the ipsets a real node makes: kube-router's
// per-policy sets (KUBE-SRC-*, KUBE-DST-*, and kube-router-* such as its
// local-pods set), and their IPv6 twins, which ipset knows by an "inet6:"
// prefix. KUBE- also covers kube-proxy's sets in ipvs mode.
var nodeIPSetPrefixes = []string{"KUBE-", "kube-router-", "inet6:KUBE-", "inet6:kube-router-"}

func isNodeIPSet(name string) bool {
	return slices.ContainsFunc(nodeIPSetPrefixes, func(p string) bool { return strings.HasPrefix(name, p) })
}

// nodeIPSets lists the host's node ipsets. A host without the ipset
// command has none (kube-router cannot run there, and CheckRealNodeHost
// says so).
func nodeIPSets() (map[string]bool, error) {
	if _, err := exec.LookPath("ipset"); err != nil {
		return map[string]bool{}, nil
	}
	out, err := exec.Command("ipset", "list", "-name").Output()
	if err != nil {
		return nil, fmt.Errorf("ipset list -name: %w", err)
	}
	sets := map[string]bool{}
	for _, name := range strings.Fields(string(out)) {
		if isNodeIPSet(name) {
			sets[name] = true
		}
	}
	return sets, nil
}

// removeIPSets destroys every node ipset the host did not have before the
// node started (keep). It must run after removeNetfilterChains: the kernel
// refuses to destroy a set an iptables rule still matches on.
func removeIPSets(keep map[string]bool) error {
	sets, err := nodeIPSets()
	if err != nil {
		return err
	}
	var script strings.Builder
	for _, name := range slices.Sorted(maps.Keys(sets)) {
		if !keep[name] {
			fmt.Fprintf(&script, "destroy %s\n", name)
		}
	}
	if script.Len() == 0 {
		return nil
	}
	// One ipset restore for all of them: a busy node has hundreds.
	cmd := exec.Command("ipset", "restore")
	cmd.Stdin = strings.NewReader(script.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("ipset restore (destroying the node's ipsets): %w: %s", err, out)
	}
	return nil
}

package reachability

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/mattfenwick/cyclonus/pkg/matcher"
	corev1 "k8s.io/api/core/v1"

	"github.com/tenantry/tenantry/internal/images"
	"github.com/tenantry/tenantry/internal/localcluster"
	"github.com/tenantry/tenantry/internal/testutil"
)

// The measured matrix: the same NetworkPolicies the prediction reads,
// enforced by the real node's engine (kube-router), and every cell tried
// with a real connection from a real pod. See docs/isolation.md.

// cellProbe is one connection tried to a destination: how demo-app probes
// it, and the protocol and port the policies judge, which for a Service
// address is its endpoint's, since kube-proxy translates the address before
// the filter sees the packet.
type cellProbe struct {
	kind     string // the matrix's name for it: tcp, udp, dns, dns-tcp
	args     []string
	protocol corev1.Protocol
	port     int
}

// destination is a column of the matrix.
type destination struct {
	name string
	// peer is what the policies see as the destination.
	peer   *matcher.TrafficPeer
	probes []cellProbe
	tenant string
}

// source is a row: a pod the test can exec `demo-app probe` in.
type source struct {
	name, namespace, pod string
	tenant               string
	peer                 *matcher.TrafficPeer
}

// cell is one (source, destination, probe) and what came of it.
type cell struct {
	src                 source
	dst                 destination
	probe               cellProbe
	predicted, measured bool
	output              string
}

// probeTimeout bounds each connection: the node refuses at once (kube-router
// rejects), and an allowed connection on one host takes milliseconds; only
// a UDP datagram that is dropped waits it out.
const probeTimeout = "1s"

// measuredScenario is the standard scenario's platform with tenants on two
// plans, each with two environments, and one tenant with a single
// namespace, on the real node's addresses.
func measuredScenario(podIPs map[string]string, names []string, outside []endpoint) scenario {
	closed, open := newPlan("standard", false), newPlan("connected", true)
	s := standardScenario()
	s.tenants = []tenantOnPlan{
		{newTenant("acme", "dev", "prod"), closed},
		{newTenant("globex"), closed},
		{newTenant("initech", "dev", "prod"), open},
	}
	s.podIP = func(n int) string {
		if n < len(names) {
			if ip, ok := podIPs[names[n]]; ok {
				return ip
			}
		}
		return fmt.Sprintf("10.255.%d.1", n) // not yet known: only names are read
	}
	s.outside = outside
	return s
}

// TestMeasuredMatrix starts a cluster with a real node, applies the
// Namespaces and NetworkPolicies render.Tenant produces for tenants on two
// plans, runs demo-app in every tenant namespace and in the ingress
// controller's and monitoring's namespaces, and tries every connection the
// cyclonus prediction speaks about with a real one: TCP, UDP and DNS, to
// pods, to CoreDNS (directly and through the kube-dns Service), to an
// internet address and the metadata address outside the pod network, to
// the node, and to the API server (directly and through the kubernetes
// Service). The two matrices must agree cell by cell.
func TestMeasuredMatrix(t *testing.T) {
	binDir := testutil.NeedsRealNode(t)
	ctx := context.Background()
	dataDir := t.TempDir()
	before, err := localcluster.SnapshotHost(dataDir)
	if err != nil {
		t.Fatal(err)
	}

	demoApp := filepath.Join(t.TempDir(), "demo-app")
	if err := images.BuildGo(ctx, images.GoBuild{Dir: "../..", Package: "./cmd/demo-app", Out: demoApp}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	// No kwok nodes: every pod must run for real. The start-up time
	// includes waiting for another real node on this host to stop.
	cluster, err := localcluster.Start(ctx, localcluster.Options{
		BinDir: binDir, DataDir: dataDir, Nodes: -1, RealNode: true, Progress: os.Stderr, StartTimeout: 10 * time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			_ = cluster.Stop()
		}
	}()
	t.Logf("cluster with a real node and kube-router ready in %.1fs", time.Since(start).Seconds())

	outside := startOutside(t, demoApp)
	env := newMeasuredEnv(t, ctx, cluster, demoApp)
	nodeIP := env.nodeIP()
	onNode := listenOnNode(t, nodeIP)
	t.Logf("outside: demo-app on %s and %s port %d (netns %s); on the node: %s", internetIP, metadataIP, outsidePort, outsideNetns, onNode)

	// The prediction's endpoints, in its order, name the pods to run.
	outsideEndpoints := []endpoint{
		outsideAddress(internetIP, roleInternet),
		outsideAddress(metadataIP, rolePrivate),
		outsideAddress(nodeIP, rolePrivate),
	}
	draft := newCluster(t, measuredScenario(nil, nil, outsideEndpoints))
	var names []string
	for _, e := range draft.endpoints {
		names = append(names, e.name)
	}
	policies := env.applyTenants(measuredScenario(nil, nil, outsideEndpoints))
	podIPs := env.runPods(draft.endpoints)
	tenantIPs := map[string]string{}
	for _, e := range draft.endpoints {
		if e.role == roleTenant {
			tenantIPs[e.name] = podIPs[e.name]
		}
	}
	env.waitForPolicies(tenantIPs, policies)
	during, err := localcluster.SnapshotHost(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	// Counted, not compared with before: another cluster's node may have
	// been running when before was taken, and Start waited for it.
	rules := 0
	for _, r := range during.NetfilterRules {
		if strings.Contains(r, "KUBE-ROUTER-") || strings.Contains(r, "KUBE-NWPLCY-") || strings.Contains(r, "KUBE-POD-FW-") {
			rules++
		}
	}
	t.Logf("kube-router enforces %d NetworkPolicies with %d ipsets and %d netfilter rules", policies, len(during.IPSets), rules)
	if len(during.IPSets) == 0 {
		t.Error("kube-router made no ipsets, so checking that Stop removes them proves nothing")
	}
	predicted := newCluster(t, measuredScenario(podIPs, names, outsideEndpoints))

	sources, destinations := measuredEndpoints(predicted, podIPs, nodeIP, onNode.port(), apiServerPort(t, cluster))
	probeStart := time.Now()
	cells := env.probeAll(sources, destinations, predicted)
	t.Logf("%d connections tried from %d pods in %.1fs", len(cells), len(sources), time.Since(probeStart).Seconds())
	env.checkPodsSteady(sources)
	t.Logf("predicted (cyclonus):\n%s", renderMatrix(cells, sources, destinations, func(c cell) bool { return c.predicted }))
	t.Logf("measured (real connections through kube-router):\n%s", renderMatrix(cells, sources, destinations, func(c cell) bool { return c.measured }))

	for _, c := range cells {
		if c.predicted != c.measured {
			t.Errorf("%s -> %s %s: predicted %s, measured %s: %s", c.src.name, c.dst.name, c.probe.kind,
				verdictWord(c.predicted), verdictWord(c.measured), c.output)
		}
		if c.measured && c.src.tenant != "" && c.dst.tenant != "" && c.src.tenant != c.dst.tenant {
			t.Errorf("cross-tenant connection succeeded: %s -> %s %s: %s", c.src.name, c.dst.name, c.probe.kind, c.output)
		}
	}
	env.checkDNSResolves(sources)

	outside.stop()
	stopped = true
	if err := cluster.Stop(); err != nil {
		t.Errorf("Stop: %v", err)
	}
	after, err := localcluster.SnapshotHost(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	checkNothingLeft(t, before, after)
}

func verdictWord(allowed bool) string {
	if allowed {
		return "allowed"
	}
	return "refused"
}

// apiServerPort is the port kube-apiserver listens on, on every address of
// the host: the kubernetes Service's endpoint on the node.
func apiServerPort(t *testing.T, cluster *localcluster.Cluster) int {
	t.Helper()
	u, err := url.Parse(cluster.Config.Host)
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		t.Fatalf("API server address %s has no port: %v", cluster.Config.Host, err)
	}
	return port
}

// measuredEndpoints turns the prediction's endpoints into the matrix's rows
// and columns: every demo-app pod is a source; every endpoint is a
// destination with the probes that suit what listens there, plus the
// kube-dns and kubernetes Service addresses, judged as their endpoints.
func measuredEndpoints(c *cluster, podIPs map[string]string, nodeIP string, nodePort, apiPort int) ([]source, []destination) {
	tcpUDP := func(ip string, port int) []cellProbe {
		addr := net.JoinHostPort(ip, strconv.Itoa(port))
		return []cellProbe{
			{"tcp", []string{"tcp", addr}, corev1.ProtocolTCP, port},
			{"udp", []string{"udp", addr}, corev1.ProtocolUDP, port},
		}
	}
	dns := func(server string) []cellProbe {
		name := "kubernetes.default.svc." + localcluster.ClusterDomain + "@" + net.JoinHostPort(server, "53")
		return []cellProbe{
			{"dns", []string{"dns", name}, corev1.ProtocolUDP, 53},
			{"dns-tcp", []string{"dns", name, "--tcp"}, corev1.ProtocolTCP, 53},
		}
	}
	var sources []source
	var dsts []destination
	var dnsPeer, nodePeer *matcher.TrafficPeer
	for _, e := range c.endpoints {
		d := destination{name: e.name, peer: e.peer, tenant: e.tenant}
		switch {
		case e.role == roleDNS:
			// CoreDNS: DNS on 53, and its metrics port, which tenant policies
			// do not open.
			d.probes = append(dns(e.peer.IP), cellProbe{"tcp", []string{"tcp", net.JoinHostPort(e.peer.IP, "9153")}, corev1.ProtocolTCP, 9153})
			dnsPeer = e.peer
		case e.name == nodeIP:
			d.name = "node"
			d.probes = tcpUDP(nodeIP, nodePort)
			nodePeer = e.peer
		case e.outside():
			d.probes = tcpUDP(e.peer.IP, outsidePort)
			if e.name == metadataIP {
				d.name = "metadata"
			} else {
				d.name = "internet"
			}
		default:
			d.probes = tcpUDP(podIPs[e.name], 8080)
			s := source{name: e.name, namespace: e.peer.Internal.Namespace, pod: e.name, tenant: e.tenant, peer: e.peer}
			sources = append(sources, s)
		}
		dsts = append(dsts, d)
	}
	dsts = append(dsts,
		destination{name: "kube-dns-svc", peer: dnsPeer, probes: dns(localcluster.ClusterDNSIP)},
		destination{name: "apiserver", peer: nodePeer, probes: []cellProbe{
			{"tcp", []string{"tcp", net.JoinHostPort(nodeIP, strconv.Itoa(apiPort))}, corev1.ProtocolTCP, apiPort}}},
		destination{name: "kubernetes-svc", peer: nodePeer, probes: []cellProbe{
			{"tcp", []string{"tcp", "10.0.0.1:443"}, corev1.ProtocolTCP, apiPort}}},
	)
	return sources, dsts
}

// probeAll tries every cell, a few at a time (each is an exec through the
// API server and the kubelet into the source pod), and asks the prediction
// about each.
func (e *measuredEnv) probeAll(sources []source, dsts []destination, c *cluster) []cell {
	var cells []cell
	for _, src := range sources {
		for _, dst := range dsts {
			if dst.peer == src.peer {
				continue // a pod to itself: loopback, which no policy governs
			}
			for _, p := range dst.probes {
				verdict := c.policies.IsTrafficAllowed(&matcher.Traffic{
					Source: src.peer, Destination: dst.peer, ResolvedPort: p.port, Protocol: p.protocol,
				})
				cells = append(cells, cell{src: src, dst: dst, probe: p, predicted: verdict.IsAllowed()})
			}
		}
	}
	const parallel = 8
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i := range cells {
		wg.Add(1)
		sem <- struct{}{}
		go func(c *cell) {
			defer wg.Done()
			defer func() { <-sem }()
			args := append(slices.Clone(c.probe.args), "--timeout", probeTimeout)
			code, out, err := e.execProbe(c.src, args)
			c.output = out
			switch {
			case err != nil:
				e.t.Errorf("probing %s -> %s %s: %v", c.src.name, c.dst.name, c.probe.kind, err)
			case code == 0:
				c.measured = true
			case code != 1:
				e.t.Errorf("probing %s -> %s %s: demo-app probe exited %d: %s", c.src.name, c.dst.name, c.probe.kind, code, out)
			}
		}(&cells[i])
	}
	wg.Wait()
	return cells
}

// renderMatrix prints sources down, destinations across; a cell lists the
// probes that got through (. for none, - for the pod itself).
func renderMatrix(cells []cell, sources []source, dsts []destination, allowed func(cell) bool) string {
	byPair := map[[2]string][]string{}
	tried := map[[2]string]bool{}
	for _, c := range cells {
		key := [2]string{c.src.name, c.dst.name}
		tried[key] = true
		if allowed(c) {
			byPair[key] = append(byPair[key], c.probe.kind)
		}
	}
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 0, 1, ' ', 0)
	fmt.Fprint(w, "from \\ to")
	for _, d := range dsts {
		fmt.Fprintf(w, "\t%s", d.name)
	}
	fmt.Fprintln(w)
	for _, s := range sources {
		fmt.Fprint(w, s.name)
		for _, d := range dsts {
			key := [2]string{s.name, d.name}
			switch {
			case !tried[key]:
				fmt.Fprint(w, "\t-")
			case len(byPair[key]) == 0:
				fmt.Fprint(w, "\t.")
			default:
				fmt.Fprintf(w, "\t%s", strings.Join(byPair[key], ","))
			}
		}
		fmt.Fprintln(w)
	}
	w.Flush()
	return b.String()
}

// checkNothingLeft compares the host's netfilter rules, ipsets and network
// namespaces after Stop with before Start. (When Start had to wait for
// another cluster's real node, before holds that node's too, and the check
// is weaker: run alone, as make test does, it is exact.)
func checkNothingLeft(t *testing.T, before, after localcluster.HostResources) {
	t.Helper()
	for _, k := range []struct {
		name          string
		before, after []string
	}{
		{"netfilter rules", before.NetfilterRules, after.NetfilterRules},
		{"ipsets", before.IPSets, after.IPSets},
		{"network namespaces", before.NetworkNamespaces, after.NetworkNamespaces},
		{"bridges and veths", before.Links, after.Links},
	} {
		var left []string
		for _, r := range k.after {
			if !slices.Contains(k.before, r) {
				left = append(left, r)
			}
		}
		if len(left) > 0 {
			t.Errorf("%s left after Stop: %d\n%s", k.name, len(left), strings.Join(left, "\n"))
		}
	}
}

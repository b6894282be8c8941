package localcluster

import (
	"bufio"
	"strings"
	"testing"
)

func TestParseMetric(t *testing.T) {
	const exposition = `# HELP kube_router_controller_iptables_sync_time Time it took for controller to sync iptables
# TYPE kube_router_controller_iptables_sync_time histogram
kube_router_controller_iptables_sync_time_bucket{le="0.005"} 0
kube_router_controller_iptables_sync_time_sum 0.21
kube_router_controller_iptables_sync_time_count 3
`
	tests := []struct {
		name, text string
		want       float64
		wantErr    bool
	}{
		{"after three syncs", exposition, 3, false},
		{"before the first sync the histogram is absent", "# HELP go_goroutines x\ngo_goroutines 12\n", 0, false},
		{"a bucket is not the count", `kube_router_controller_iptables_sync_time_bucket{le="+Inf"} 3` + "\n", 0, false},
		{"garbage value", kubeRouterSyncMetric + " many\n", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseMetric(bufio.NewScanner(strings.NewReader(tt.text)), kubeRouterSyncMetric)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("parseMetric = %v, %v; want %v (error: %v)", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestIsNodeIPSet(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"KUBE-SRC-3Z4K5ATSOFRMAD3Q", true},
		{"KUBE-DST-V2P3JBW6F5GGWPWU", true},
		{"kube-router-local-pods", true},
		{"inet6:KUBE-SRC-3Z4K5ATSOFRMAD3Q", true},
		{"inet6:kube-router-local-pods", true},
		// The host's own sets (a firewall's, Docker's) are left alone.
		{"blocklist-v4", false},
		{"docker-ext-bridges-v4", false},
		{"inet6:blocklist", false},
	}
	for _, tt := range tests {
		if got := isNodeIPSet(tt.name); got != tt.want {
			t.Errorf("isNodeIPSet(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestKubeRouterRunsOnlyTheFirewall guards the flags that keep kube-router
// out of the node's routing and Service proxying, which the bridge plugin
// and kube-proxy own.
func TestKubeRouterRunsOnlyTheFirewall(t *testing.T) {
	args := strings.Join(kubeRouterArgs("/k", 1, 2), " ")
	for _, want := range []string{
		"--run-firewall=true", "--run-router=false", "--run-service-proxy=false", "--run-loadbalancer=false",
		"--enable-cni=false", "--hostname-override=" + realNodeName, "--service-cluster-ip-range=" + serviceCIDR,
		"--health-addr=127.0.0.1", "--metrics-addr=127.0.0.1",
	} {
		if !strings.Contains(args, want) {
			t.Errorf("kube-router's flags lack %s: %s", want, args)
		}
	}
	for _, rule := range kubeRouterClusterRole().Rules {
		for _, verb := range rule.Verbs {
			if verb != "get" && verb != "list" && verb != "watch" {
				t.Errorf("kube-router's ClusterRole grants %s on %v; its firewall only reads", verb, rule.Resources)
			}
		}
	}
}

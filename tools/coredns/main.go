// Command coredns is CoreDNS with only the plugins a Kubernetes cluster DNS
// uses: the local cluster's real node runs it, from an image, as the
// kube-dns Deployment in kube-system. Upstream's main imports core/plugin,
// which links every plugin and with them the AWS, Azure and Google Cloud
// SDKs: importing these eleven builds about 800 packages, not 1,400.
//
// Each plugin registers its directive in init. dnsserver.Directives still
// lists every upstream plugin in execution order; a Corefile that names one
// not linked here fails at start-up with "no action found for directive".
package main

import (
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/loop"
	_ "github.com/coredns/coredns/plugin/metrics" // the "prometheus" directive
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"

	"github.com/coredns/coredns/coremain"
)

func main() { coremain.Run() }

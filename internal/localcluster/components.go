package localcluster

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"
)

// kwokStagesFile is the kwok Stage configuration `make testbin` assembles in
// bin/ from the Stages the kwok module ships (node/fast,
// node/heartbeat-with-lease, pod/fast).
const kwokStagesFile = "kwok-stages.yaml"

// kwokNodeLeaseSeconds keeps node leases alive: without leases the node
// lifecycle controller marks the fake Nodes NotReady after its grace period
// and evicts or un-readies their pods.
const kwokNodeLeaseSeconds = "40"

// bin is the path of a component's binary: the Kubernetes ones from
// KubeBinDir, the rest from BinDir.
func (c *Cluster) bin(name string) string { return c.opts.bin(name) }

func (c *Cluster) start(name string, args []string) (*process, error) {
	return c.startTracked(name, c.bin(name), args, nil)
}

// startTracked starts a process that Stop ends.
func (c *Cluster) startTracked(name, binary string, args, env []string) (*process, error) {
	p, err := startProcess(name, binary, args, env, c.LogDir)
	if err != nil {
		return nil, err
	}
	c.track(p)
	return p, nil
}

// startEtcd runs a single-member etcd on loopback. fsync is off: the data
// lives as long as the cluster and speed matters more than durability here.
func (c *Cluster) startEtcd(ctx context.Context, clientPort, peerPort int) (string, error) {
	clientURL := "http://127.0.0.1:" + strconv.Itoa(clientPort)
	peerURL := "http://127.0.0.1:" + strconv.Itoa(peerPort)
	p, err := c.start("etcd", []string{
		"--name=localcluster",
		"--data-dir=" + filepath.Join(c.DataDir, "etcd"),
		"--listen-client-urls=" + clientURL,
		"--advertise-client-urls=" + clientURL,
		"--listen-peer-urls=" + peerURL,
		"--initial-advertise-peer-urls=" + peerURL,
		"--initial-cluster=localcluster=" + peerURL,
		"--unsafe-no-fsync=true",
		"--log-level=warn",
	})
	if err != nil {
		return "", err
	}
	return clientURL, waitFor(ctx, "etcd /health", p, func() error {
		return httpOK(plainHTTP, clientURL+"/health")
	})
}

func (c *Cluster) startAPIServer(ctx context.Context, etcdURL string, port int) error {
	c.serverURL = "https://127.0.0.1:" + strconv.Itoa(port)
	if c.node != nil {
		if err := c.pki.writeKubeletClientCert(); err != nil {
			return err
		}
	}
	p, err := c.start("kube-apiserver", append(c.apiServerAddressArgs(), []string{
		"--etcd-servers=" + etcdURL,
		"--secure-port=" + strconv.Itoa(port),
		"--cert-dir=" + filepath.Join(c.DataDir, "apiserver-certs"),
		"--tls-cert-file=" + c.pki.servingCertFile(),
		"--tls-private-key-file=" + c.pki.servingKeyFile(),
		"--client-ca-file=" + c.pki.caCertFile(),
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + c.pki.saPubFile(),
		"--service-account-signing-key-file=" + c.pki.saKeyFile(),
		"--service-cluster-ip-range=" + serviceCIDR,
		// The production settings that isolation depends on: RBAC, not
		// AlwaysAllow; the default admission chain (PodSecurity,
		// ResourceQuota, LimitRanger, NamespaceLifecycle, ...); and
		// privileged containers allowed globally so that Pod Security
		// admission, per namespace, is what refuses them.
		"--authorization-mode=Node,RBAC",
		"--allow-privileged=true",
	}...))
	if err != nil {
		return err
	}
	if err := c.writeAdminKubeconfig(); err != nil {
		return err
	}
	if c.client, err = kubernetes.NewForConfig(c.Config); err != nil {
		return err
	}
	return waitFor(ctx, "kube-apiserver /readyz", p, c.apiServerReady(ctx))
}

// apiServerAddressArgs say where kube-apiserver listens and what the
// "kubernetes" Service points to. Without a real node everything runs out
// of cluster on loopback, so the Service needs no endpoints (the reconciler
// would refuse a loopback address). With one, pods reach it through that
// Service at the node's address, as on a real cluster, and it calls the
// kubelet (logs, exec) with a client certificate.
func (c *Cluster) apiServerAddressArgs() []string {
	if c.node == nil {
		return []string{"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", "--endpoint-reconciler-type=none"}
	}
	return []string{
		"--bind-address=0.0.0.0",
		"--advertise-address=" + c.node.ip.String(),
		"--endpoint-reconciler-type=lease",
		"--kubelet-client-certificate=" + c.pki.kubeletClientCertFile(),
		"--kubelet-client-key=" + c.pki.kubeletClientKeyFile(),
		"--kubelet-certificate-authority=" + c.pki.caCertFile(),
		// The node's name resolves nowhere; its InternalIP does.
		"--kubelet-preferred-address-types=InternalIP",
	}
}

// apiServerReady checks /readyz, which passes only once the API server can
// reach etcd and has finished its post-start hooks (CRDs served, bootstrap
// RBAC in place).
func (c *Cluster) apiServerReady(ctx context.Context) func() error {
	return func() error {
		body, err := c.client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		if err != nil {
			return fmt.Errorf("%w: %s", err, body)
		}
		return nil
	}
}

// startControllers starts kube-controller-manager, kube-scheduler and kwok
// together (they do not depend on each other) and waits for all three.
func (c *Cluster) startControllers(ctx context.Context, cmPort, schedPort, kwokPort int) error {
	servingCert, servingKey, err := c.writeServingCert("components")
	if err != nil {
		return err
	}
	// The controller manager and the scheduler share how they reach the API
	// server and how they serve /healthz.
	commonArgs := func(name, user string, port int) ([]string, error) {
		kubeconfig, err := c.writeComponentKubeconfig(name, user)
		return []string{
			"--kubeconfig=" + kubeconfig,
			"--authentication-kubeconfig=" + kubeconfig,
			"--authorization-kubeconfig=" + kubeconfig,
			"--bind-address=127.0.0.1",
			"--secure-port=" + strconv.Itoa(port),
			"--tls-cert-file=" + servingCert,
			"--tls-private-key-file=" + servingKey,
			"--leader-elect=false",
		}, err
	}

	cmArgs, err := commonArgs("kube-controller-manager", "system:kube-controller-manager", cmPort)
	if err != nil {
		return err
	}
	cm, err := c.start("kube-controller-manager", append(cmArgs,
		// Every controller runs under its own service account, as in a
		// production cluster, so RBAC applies to them too.
		"--use-service-account-credentials=true",
		"--service-account-private-key-file="+c.pki.saKeyFile(),
		"--root-ca-file="+c.pki.caCertFile(),
		"--cluster-signing-cert-file="+c.pki.caCertFile(),
		"--cluster-signing-key-file="+c.pki.caKeyFile(),
		"--service-cluster-ip-range="+serviceCIDR,
		"--controllers=*",
		// The defaults, 20 requests/s (burst 30) for each controller, hold
		// the quota controller to about 20 quota status writes a second:
		// with a thousand tenants onboarding, every new namespace waits in
		// that queue before quota admission lets a pod in (docs/benchmarks.md).
		// Clusters that large raise them; so does this one.
		"--kube-api-qps=100",
		"--kube-api-burst=200",
		"--concurrent-resource-quota-syncs=10",
		"--resource-quota-sync-period="+cmp.Or(c.opts.QuotaResyncPeriod, 5*time.Minute).String(),
	))
	if err != nil {
		return err
	}

	schedArgs, err := commonArgs("kube-scheduler", "system:kube-scheduler", schedPort)
	if err != nil {
		return err
	}
	sched, err := c.start("kube-scheduler", schedArgs)
	if err != nil {
		return err
	}

	// kwok plays the kubelet of every fake Node; like the node agents of a
	// real cluster it acts with cluster-wide rights.
	kwokConfig, err := c.writeComponentKubeconfig("kwok", "kwok", "system:masters")
	if err != nil {
		return err
	}
	kwokAddr := "127.0.0.1:" + strconv.Itoa(kwokPort)
	kwok, err := c.start("kwok", []string{
		"--kubeconfig=" + kwokConfig,
		"--config=" + c.bin(kwokStagesFile),
		"--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector=" + kwokNodeAnnotation + "=fake",
		"--node-lease-duration-seconds=" + kwokNodeLeaseSeconds,
		"--server-address=" + kwokAddr,
		"--cidr=10.244.0.0/16",
		"--node-ip=127.0.0.1",
	})
	if err != nil {
		return err
	}

	pool := x509.NewCertPool()
	pool.AddCert(c.pki.caCert)
	verified := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
	}}
	checks := []struct {
		p   *process
		url string
		hc  *http.Client
	}{
		{cm, fmt.Sprintf("https://127.0.0.1:%d/healthz", cmPort), verified},
		{sched, fmt.Sprintf("https://127.0.0.1:%d/healthz", schedPort), verified},
		{kwok, "http://" + kwokAddr + "/healthz", plainHTTP},
	}
	for _, check := range checks {
		if err := waitFor(ctx, check.p.name+" /healthz", check.p, func() error {
			return httpOK(check.hc, check.url)
		}); err != nil {
			return err
		}
	}
	return nil
}

// writeServingCert issues a serving certificate for loopback and extraIPs
// to the components that serve on them (health endpoints, the kubelet), so
// their clients verify TLS against the cluster CA.
func (c *Cluster) writeServingCert(name string, extraIPs ...net.IP) (certFile, keyFile string, err error) {
	template := servingTemplate()
	template.IPAddresses = append(template.IPAddresses, extraIPs...)
	certPEM, keyPEM, err := c.pki.issue(template)
	if err != nil {
		return "", "", err
	}
	certFile = filepath.Join(c.pki.dir, name+".crt")
	keyFile = filepath.Join(c.pki.dir, name+".key")
	if err := writeFiles(map[string][]byte{certFile: certPEM, keyFile: keyPEM}); err != nil {
		return "", "", err
	}
	return certFile, keyFile, nil
}

// waitFor polls check until it succeeds, the context ends, or p exits.
func waitFor(ctx context.Context, what string, p *process, check func() error) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		if p != nil {
			if err := p.running(); err != nil {
				return err
			}
		}
		if last = check(); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w (last error: %v)", what, ctx.Err(), last)
		case <-tick.C:
		}
	}
}

// plainHTTP checks the health of components that serve plain HTTP on loopback.
var plainHTTP = &http.Client{Timeout: 2 * time.Second}

// getBody sends GET url and returns the answer's body, or an error naming
// the URL, the status and the body unless the answer is 200 OK.
func getBody(ctx context.Context, client *http.Client, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
	}
	return body, nil
}

func httpOK(client *http.Client, url string) error {
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}

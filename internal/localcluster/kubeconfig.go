package localcluster

import (
	"fmt"
	"path/filepath"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// AdminUser is the identity of Config and KubeconfigPath.
const AdminUser = "tenantry-admin"

// UserConfig returns a client configuration that authenticates as user in
// groups with a client certificate signed by the cluster CA: the API server
// sees a real authenticated user, so RBAC and admission treat the requests
// exactly as they would a person's. No group grants anything by itself
// (except system:masters, which callers should not pass unless they mean it).
func (c *Cluster) UserConfig(user string, groups ...string) (*rest.Config, error) {
	certPEM, keyPEM, err := c.pki.clientCert(user, groups...)
	if err != nil {
		return nil, fmt.Errorf("issuing a client certificate for %q: %w", user, err)
	}
	return &rest.Config{
		Host: c.serverURL,
		TLSClientConfig: rest.TLSClientConfig{
			CAData:   c.pki.caPEM,
			CertData: certPEM,
			KeyData:  keyPEM,
		},
		// Tests create objects in bursts; client-side throttling would only
		// hide the API server's own behaviour.
		QPS:   200,
		Burst: 400,
	}, nil
}

// WriteKubeconfig writes cfg (a client certificate from UserConfig, or a
// bearer token) to path so kubectl can act as that user too.
func WriteKubeconfig(cfg *rest.Config, user, path string) error {
	kc := clientcmdapi.NewConfig()
	kc.Clusters["localcluster"] = &clientcmdapi.Cluster{
		Server:                   cfg.Host,
		CertificateAuthorityData: cfg.CAData,
	}
	kc.AuthInfos[user] = &clientcmdapi.AuthInfo{
		ClientCertificateData: cfg.CertData,
		ClientKeyData:         cfg.KeyData,
		Token:                 cfg.BearerToken,
	}
	kc.Contexts[user+"@localcluster"] = &clientcmdapi.Context{Cluster: "localcluster", AuthInfo: user}
	kc.CurrentContext = user + "@localcluster"
	return clientcmd.WriteToFile(*kc, path)
}

// writeAdminKubeconfig sets Config and KubeconfigPath for a system:masters user.
func (c *Cluster) writeAdminKubeconfig() error {
	cfg, err := c.UserConfig(AdminUser, "system:masters")
	if err != nil {
		return err
	}
	c.Config = cfg
	c.KubeconfigPath = filepath.Join(c.DataDir, "kubeconfig")
	return WriteKubeconfig(cfg, AdminUser, c.KubeconfigPath)
}

// writeComponentKubeconfig writes a kubeconfig for a control-plane component
// under its well-known identity (bootstrap RBAC grants it what it needs).
func (c *Cluster) writeComponentKubeconfig(name, user string, groups ...string) (string, error) {
	cfg, err := c.UserConfig(user, groups...)
	if err != nil {
		return "", err
	}
	path := filepath.Join(c.DataDir, name+".kubeconfig")
	return path, WriteKubeconfig(cfg, user, path)
}

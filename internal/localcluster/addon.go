package localcluster

import (
	"path/filepath"

	"k8s.io/client-go/rest"
)

// StartAddon runs a controller next to the control plane (the Tenantry
// operator in the demo; the Argo controllers later) as the identity of cfg
// (from UserConfig, or a ServiceAccount token): it gets a kubeconfig for
// cfg as its --kubeconfig flag, logs to LogDir/<name>.log, and is stopped by
// Stop before the control plane.
func (c *Cluster) StartAddon(name, binary string, cfg *rest.Config, args ...string) error {
	kubeconfig := filepath.Join(c.DataDir, name+".kubeconfig")
	if err := WriteKubeconfig(cfg, name, kubeconfig); err != nil {
		return err
	}
	p, err := startProcess(name, binary, append([]string{"--kubeconfig", kubeconfig}, args...), c.LogDir)
	if err != nil {
		return err
	}
	c.processes = append(c.processes, p)
	return nil
}

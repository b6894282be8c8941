package localcluster

// StartAddon runs a controller next to the control plane (the Tenantry
// operator in the demo; the Argo controllers later) as the identity user:
// it gets a kubeconfig for that user as its --kubeconfig flag, logs to
// LogDir/<name>.log, and is stopped by Stop before the control plane.
func (c *Cluster) StartAddon(name, binary, user string, args ...string) error {
	kubeconfig, err := c.writeComponentKubeconfig(name, user)
	if err != nil {
		return err
	}
	p, err := startProcess(name, binary, append([]string{"--kubeconfig", kubeconfig}, args...), c.LogDir)
	if err != nil {
		return err
	}
	c.processes = append(c.processes, p)
	return nil
}

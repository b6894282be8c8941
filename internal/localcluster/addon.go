package localcluster

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

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
	_, err := c.startTracked(name, binary, append([]string{"--kubeconfig", kubeconfig}, args...), nil)
	return err
}

// startOnFreePorts starts an add-on on n free loopback ports and waits until
// ready succeeds. Like Start, it tries again with new ports if another
// process took one in between; any other failure is returned with the end
// of the add-on's log, which says why.
func (c *Cluster) startOnFreePorts(ctx context.Context, name string, n int, start func(ports []int) (p *process, ready func() error, err error)) ([]int, *process, error) {
	for attempt := 1; ; attempt++ {
		ports, err := freePorts(n)
		if err != nil {
			return nil, nil, err
		}
		p, ready, err := start(ports)
		if err != nil {
			return nil, nil, err
		}
		err = waitFor(ctx, name, p, ready)
		if err == nil {
			return ports, p, nil
		}
		if errors.Is(err, errPortTaken) && attempt < maxStartAttempts {
			c.progressf("%v; retrying with new ports", err)
			_ = c.stopProcesses([]*process{p})
			continue
		}
		_ = c.stopProcesses([]*process{p})
		return nil, nil, fmt.Errorf("%w\n%s", err, logTail(p.logPath, 20))
	}
}

// logTail is the last lines of a log, indented, for an error message.
func logTail(path string, lines int) string {
	data, err := tail(path, 64<<10)
	if err != nil {
		return fmt.Sprintf("    (cannot read %s: %v)", path, err)
	}
	all := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return fmt.Sprintf("    last %d lines of %s:\n        %s", len(all), path, strings.Join(all, "\n        "))
}

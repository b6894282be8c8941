package localcluster

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

func (c *Cluster) prepareDataDir() error {
	if c.opts.DataDir == "" {
		dir, err := os.MkdirTemp("", "tenantry-localcluster-")
		if err != nil {
			return err
		}
		c.DataDir, c.removeData = dir, true
	} else {
		abs, err := filepath.Abs(c.opts.DataDir)
		if err != nil {
			return err
		}
		if err := emptyDataDir(abs); err != nil {
			return err
		}
		c.DataDir = abs
	}
	c.LogDir = filepath.Join(c.DataDir, "logs")
	if err := os.MkdirAll(c.LogDir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(c.DataDir, dataDirMarker), nil, 0o644)
}

// dataDirMarker marks a directory as a local cluster's data dir, which the
// next start may empty.
const dataDirMarker = ".tenantry-localcluster"

// emptyDataDir removes a previous run's data dir. It refuses to touch a
// directory with content it did not create, so a mistyped path loses nothing.
func emptyDataDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) || (err == nil && len(entries) == 0) {
		return nil
	}
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(dir, dataDirMarker)); err != nil {
		return fmt.Errorf("data dir %s is not empty and holds no earlier local cluster (no %s file): choose a new or empty directory", dir, dataDirMarker)
	}
	return os.RemoveAll(dir)
}

package charts

import (
	"io/fs"
	"strings"
)

// TenantAppFiles returns charts/tenant-app's files by their path in the
// chart ("values.yaml", "templates/rollout.yaml"), to vendor the chart into
// a tenant's Git repository, as the demo and the delivery tests do.
func TenantAppFiles() (map[string][]byte, error) {
	files := map[string][]byte{}
	err := fs.WalkDir(TenantApp, "tenant-app", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(TenantApp, path)
		files[strings.TrimPrefix(path, "tenant-app/")] = data
		return err
	})
	return files, err
}

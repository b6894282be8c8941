// Package gitops embeds the example GitOps repository's plans and tenants,
// so the demo applies exactly the files a reader sees here.
package gitops

import "embed"

// Examples holds plans/*.yaml and tenants/*.yaml.
//
//go:embed plans/*.yaml tenants/*.yaml
var Examples embed.FS

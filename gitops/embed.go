// Package examples embeds the example GitOps repository, so the demo and the
// tests apply exactly the files a reader sees here: plans, tenants, the
// bootstrap and platform Argo CD Applications, and a sample tenant app.
package examples

import "embed"

// Examples holds plans/, tenants/, bootstrap/, platform/, applicationset/,
// fleet/ and apps/hello/.
//
//go:embed plans/*.yaml tenants/*.yaml bootstrap/*.yaml platform/*.yaml applicationset/*.yaml fleet/*.yaml apps/hello/*.yaml
var Examples embed.FS

// UpstreamRepoURL is the repository the example Applications sync from;
// a fork, the demo or a test replaces it with its own.
const UpstreamRepoURL = "https://github.com/tenantry/tenantry.git"

// Package deploy embeds the static install manifest: charts/tenantry
// rendered with its default values (make generate), so the tests, the demo
// and the benchmarks install exactly what the chart installs.
package deploy

import _ "embed"

// Tenantry is deploy/tenantry.yaml: CRDs first, then the chart's objects
// in Helm's install order.
//
//go:embed tenantry.yaml
var Tenantry []byte

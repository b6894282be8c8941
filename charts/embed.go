// Package charts embeds the generated manifests of the platform chart, so
// tests, the demo and the benchmarks install exactly what the chart ships.
package charts

import "embed"

// Tenantry holds charts/tenantry's CRDs (crds/*.yaml), the operator's
// generated ClusterRole (templates/role.yaml) and the admission policies
// (templates/guardrails.yaml).
//
//go:embed tenantry/crds/*.yaml tenantry/templates/role.yaml tenantry/templates/guardrails.yaml
var Tenantry embed.FS

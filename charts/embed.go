// Package charts embeds the generated manifests of the platform chart, so
// tests, the demo and the benchmarks install exactly what the chart ships.
package charts

import "embed"

// Tenantry holds charts/tenantry's CRDs (crds/*.yaml), the operator's
// generated ClusterRole (templates/role.yaml), the admission policies
// (templates/guardrails.yaml), and the Grafana dashboard and alert rules
// (dashboards/).
//
//go:embed tenantry/crds/*.yaml tenantry/templates/role.yaml tenantry/templates/guardrails.yaml tenantry/dashboards
var Tenantry embed.FS

// Package charts embeds files of the platform chart that Go code checks:
// the Grafana dashboard and alert rules, against the metrics the operator
// exports. The chart itself is installed from its rendering,
// deploy/tenantry.yaml (package deploy).
package charts

import "embed"

// Tenantry holds charts/tenantry's dashboards/ (the Grafana dashboard and
// the PrometheusRule the chart ships).
//
//go:embed tenantry/dashboards
var Tenantry embed.FS

// Package charts embeds the charts Go code reads: files of the platform
// chart that are checked against the metrics the operator exports, and the
// tenant app chart the demo and tests publish. The platform chart itself is
// installed from its rendering, deploy/tenantry.yaml (package deploy).
package charts

import "embed"

// Tenantry holds charts/tenantry's dashboards/ (the Grafana dashboard and
// the PrometheusRule the chart ships).
//
//go:embed tenantry/dashboards
var Tenantry embed.FS

// TenantApp holds the whole of charts/tenant-app (under tenant-app/,
// _helpers.tpl and .helmignore included), the chart a tenant's app is
// deployed with: the demo and the tests publish it into a tenant's Git
// repository, for Argo CD to render with the app's values.
//
//go:embed all:tenant-app
var TenantApp embed.FS

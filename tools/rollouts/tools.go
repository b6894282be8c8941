//go:build tools

// Package tools records the Argo Rollouts command this module builds: its
// controller, which also serves the metrics and health endpoints.
package tools

import _ "github.com/argoproj/argo-rollouts/cmd/rollouts-controller"

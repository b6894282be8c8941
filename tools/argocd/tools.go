//go:build tools

// Package tools records the Argo CD command this module builds: one
// multi-call binary that acts by its argv[0] or ARGOCD_BINARY_NAME.
package tools

import _ "github.com/argoproj/argo-cd/v3/cmd"

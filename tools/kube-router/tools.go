//go:build tools

// Package tools records the kube-router command this module builds: the real
// node's NetworkPolicy engine (only its firewall controller is switched on).
package tools

import _ "github.com/cloudnativelabs/kube-router/v2/cmd/kube-router"

//go:build tools

// Package tools records the container runtime commands this module builds
// for the local cluster's real node: containerd 2.x and its runc shim.
package tools

import (
	_ "github.com/containerd/containerd/v2/cmd/containerd"
	_ "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2"
)

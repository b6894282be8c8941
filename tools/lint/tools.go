//go:build tools

// Package tools records the linters this module builds.
package tools

import _ "honnef.co/go/tools/cmd/staticcheck"

package images

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// BuildGo builds the Go package pkg (a path like ./cmd/demo-app, relative to
// dir) into the static Linux binary out, for goarch. Static (no cgo), because
// the image has no libc; -trimpath and -buildvcs=false, so the binary, and
// with it the image digest, does not depend on where or from which checkout
// it was built; "-s -w" drops the symbol table and DWARF, which a container
// never reads. ldflags is appended to those, for -X version stamps.
func BuildGo(ctx context.Context, dir, pkg, goarch, out string, ldflags string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false",
		"-ldflags", strings.TrimSpace("-s -w "+ldflags), "-o", out, pkg)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goarch)
	if output, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s for linux/%s: %w\n%s", pkg, goarch, err, output)
	}
	return nil
}

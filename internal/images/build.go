package images

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
)

// GoBuild is one `go build` of a static Linux binary for an image.
type GoBuild struct {
	// Dir is where go runs (a directory of the module); Package is relative
	// to it, like ./cmd/demo-app.
	Dir, Package string
	// GOARCH is the target architecture; empty means the host's.
	GOARCH string
	// Out is the binary's path.
	Out string
	// LDFlags are appended to "-s -w" (no symbol table or DWARF, which a
	// container never reads), for -X version stamps.
	LDFlags string
	// Reproducible adds -trimpath, so the binary, and with it the image's
	// digest, does not depend on the checkout's path: what released images
	// need. Builds for the local cluster leave it off, so they share the
	// compiled packages of `go vet` and `make operator` (same flags): a cold
	// CI then compiles the operator's dependencies once less.
	Reproducible bool
}

// BuildGo runs b. The binary is static (no cgo), because the image has no
// libc, and has no VCS stamp, so it does not depend on the checkout's state.
func BuildGo(ctx context.Context, b GoBuild) error {
	args := []string{"build", "-buildvcs=false", "-ldflags", strings.TrimSpace("-s -w " + b.LDFlags), "-o", b.Out}
	if b.Reproducible {
		args = append(args, "-trimpath")
	}
	cmd := exec.CommandContext(ctx, "go", append(args, b.Package)...)
	cmd.Dir = b.Dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if b.GOARCH != "" {
		cmd.Env = append(cmd.Env, "GOARCH="+b.GOARCH)
	}
	if output, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s for linux/%s: %w\n%s", b.Package, cmp.Or(b.GOARCH, runtime.GOARCH), err, output)
	}
	return nil
}

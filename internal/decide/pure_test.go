package decide

import (
	"os/exec"
	"strings"
	"testing"
)

// The decision layers stay pure: nothing they import can reach a cluster.
// This is the check anyone can run: go list -deps ./internal/decide (and
// ./internal/placement, the fleet hub's decisions).
func TestDecideIsPure(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go is not on PATH")
	}
	for _, pkg := range []string{"github.com/tenantry/tenantry/internal/decide", "github.com/tenantry/tenantry/internal/placement"} {
		out, err := exec.Command("go", "list", "-deps", pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		for _, dep := range strings.Fields(string(out)) {
			if strings.HasPrefix(dep, "k8s.io/client-go") || strings.HasPrefix(dep, "sigs.k8s.io/controller-runtime") {
				t.Errorf("%s depends on %s", pkg, dep)
			}
		}
	}
}

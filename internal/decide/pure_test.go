package decide

import (
	"os/exec"
	"strings"
	"testing"
)

// The decision layer stays pure: nothing it imports can reach a cluster.
// This is the check anyone can run: go list -deps ./internal/decide.
func TestDecideIsPure(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go is not on PATH")
	}
	out, err := exec.Command("go", "list", "-deps", "github.com/tenantry/tenantry/internal/decide").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.HasPrefix(dep, "k8s.io/client-go") || strings.HasPrefix(dep, "sigs.k8s.io/controller-runtime") {
			t.Errorf("internal/decide depends on %s", dep)
		}
	}
}

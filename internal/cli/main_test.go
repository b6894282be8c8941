package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tenantry/tenantry/gitops"
	"github.com/tenantry/tenantry/internal/controller"
	"github.com/tenantry/tenantry/internal/install"
	"github.com/tenantry/tenantry/internal/localcluster"
	"github.com/tenantry/tenantry/internal/render"
	"github.com/tenantry/tenantry/internal/testutil"
)

// The package shares one control plane, with the platform installed, the
// operator running and the example plans applied; each test works on
// tenants of its own.
var (
	cluster *localcluster.Cluster
	admin   client.Client
	scheme  *runtime.Scheme
)

func TestMain(m *testing.M) {
	cfg := controller.Config{Render: render.DefaultOptions(), MaxConcurrentReconciles: 4}
	os.Exit(testutil.RunWithPlatform(m, cfg, func(ctx context.Context, p testutil.Platform) error {
		cluster, admin, scheme = p.Cluster, p.Admin, p.Scheme
		_, err := install.Apply(ctx, admin, examples.Examples, "plans/*.yaml")
		return err
	}))
}

// result is what one run of the CLI printed and returned.
type result struct {
	out, errOut string
	err         error
}

func (r result) String() string {
	return fmt.Sprintf("error: %v\nstdout:\n%s\nstderr:\n%s", r.err, r.out, r.errOut)
}

// tenantry runs the CLI with args against the test cluster (as its admin,
// unless args name another --kubeconfig).
func tenantry(t *testing.T, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	root := NewRoot("tenantry", &out, &errOut)
	if !containsPrefix(args, "--kubeconfig") {
		args = append([]string{"--kubeconfig", cluster.KubeconfigPath}, args...)
	}
	root.SetArgs(args)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	err := root.ExecuteContext(ctx)
	return result{out: out.String(), errOut: errOut.String(), err: err}
}

// mustRun runs the CLI and fails the test on an error.
func mustRun(t *testing.T, args ...string) result {
	t.Helper()
	r := tenantry(t, args...)
	if r.err != nil {
		t.Fatalf("tenantry %s: %s", strings.Join(args, " "), r)
	}
	return r
}

func containsPrefix(args []string, prefix string) bool {
	for _, a := range args {
		if strings.HasPrefix(a, prefix) {
			return true
		}
	}
	return false
}

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }

package main

import (
	"context"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tenantry/tenantry/api/v1alpha1"
	"github.com/tenantry/tenantry/gitops"
	"github.com/tenantry/tenantry/internal/gitops"
	"github.com/tenantry/tenantry/internal/install"
	"github.com/tenantry/tenantry/internal/localcluster"
)

// platformRepo is the demo's GitOps repository: a bare repository served on
// loopback (url) and a working copy of it (dir).
type platformRepo struct {
	url, dir string
}

// startGitOps serves a new Git repository holding gitops/ (plans, the
// example tenants, the sample app), and bootstraps Argo CD from it as
// gitops/bootstrap says: from here on, tenants change by commits.
func startGitOps(ctx context.Context, cluster *localcluster.Cluster, admin client.Client, argo *localcluster.ArgoCD) (platformRepo, error) {
	server, err := cluster.ServeGit(ctx, "platform.git")
	if err != nil {
		return platformRepo{}, err
	}
	repo := platformRepo{url: server + "/platform.git", dir: filepath.Join(cluster.DataDir, "platform")}

	files := map[string][]byte{}
	err = fs.WalkDir(examples.Examples, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(examples.Examples, path)
		files["gitops/"+path] = data
		return err
	})
	if err != nil {
		return repo, err
	}
	// The plans set no analysis address: every tenant's apps query the
	// platform's metrics gateway, with the tenant's own credential, which
	// the operator writes into each namespace's Secret tenantry-analysis.
	shop, err := shopFiles()
	if err != nil {
		return repo, err
	}
	maps.Copy(files, shop)
	step(">> pushing gitops/ (plans, tenants acme, globex, initech, apps/hello, apps/shop: charts/tenant-app at 1.0.0) to %s", repo.url)
	if err := gitops.Publish(repo.dir, repo.url, files, "Platform: plans, the first tenants and the sample app",
		"Platform Team", "platform@example.com"); err != nil {
		return repo, err
	}
	step(">> bootstrapping Argo CD: AppProject platform and the Applications plans and tenants (gitops/bootstrap, gitops/platform)")
	return repo, install.GitOpsBootstrap(ctx, admin, argo.Namespace, repo.url)
}

// onboardThroughGit onboards tenant umbrella the GitOps way: two CLI
// commands, each a commit pushed to the repository; Argo CD syncs the
// Tenant, the operator gives it an AppProject and an Application, and Argo
// CD deploys its app. It prints the time from the first push to the app
// running.
func onboardThroughGit(ctx context.Context, cluster *localcluster.Cluster, admin client.Client, argo *localcluster.ArgoCD, repo platformRepo, binDir string) error {
	gitopsDir := filepath.Join(repo.dir, "gitops")
	commands := [][]string{
		{"create", "umbrella", "--plan", "pro", "--env", "prod", "--display-name", "Umbrella Corp",
			"--owner", "user:ada@umbrella.example=admin", "--owner", "group:umbrella-devs=developer",
			"--reason", "new customer, order 1042", "--gitops", gitopsDir, "--push"},
		{"add-app", "umbrella", "hello", "--repo", repo.url, "--path", "gitops/apps/hello", "--env", "prod",
			"--reason", "first release", "--gitops", gitopsDir, "--push"},
	}
	start := time.Now()
	for _, args := range commands {
		if err := runTenantry(ctx, cluster, binDir, args...); err != nil {
			return err
		}
	}
	// A Git webhook would do this; without one Argo CD polls every few minutes.
	if err := argo.Refresh(ctx, "tenants"); err != nil {
		return err
	}
	step(">> Argo CD syncs tenants/umbrella.yaml; the operator onboards umbrella and creates its AppProject and Application; Argo CD deploys hello")
	last := ""
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		t := &v1alpha1.Tenant{}
		state := "Tenant not in the cluster yet"
		if err := admin.Get(ctx, client.ObjectKey{Name: "umbrella"}, t); err == nil {
			state = "Tenant created, the operator is onboarding it"
			if t.Status.Phase != "" {
				state = "phase " + string(t.Status.Phase)
			}
			if c := meta.FindStatusCondition(t.Status.Conditions, v1alpha1.ConditionGitOpsReady); c != nil {
				state += ", GitOpsReady " + string(c.Status) + " (" + c.Message + ")"
				if c.Status == "True" && len(t.Status.Apps) == 1 {
					return true, nil
				}
			}
		}
		if state != last {
			step("   %5.1fs  %s", time.Since(start).Seconds(), state)
			last = state
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for umbrella's app (last: %s): %w", last, err)
	}
	step("   %5.1fs  umbrella's app hello is synced from Git and healthy: first commit to running app in %.1fs",
		time.Since(start).Seconds(), time.Since(start).Seconds())
	return nil
}

// runTenantry runs the CLI as a platform engineer would, printing the
// command and its output.
func runTenantry(ctx context.Context, cluster *localcluster.Cluster, binDir string, args ...string) error {
	step(">> tenantry %s", strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "tenantry"), args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+cluster.KubeconfigPath)
	out, err := cmd.CombinedOutput()
	os.Stderr.Write(indent(out))
	if err != nil {
		return fmt.Errorf("tenantry %s: %w", args[0], err)
	}
	return nil
}

func indent(out []byte) []byte {
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	return []byte("   " + strings.Join(lines, "\n   ") + "\n")
}

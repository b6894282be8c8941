// Package gitops proves the GitOps pillar end to end with the real Argo CD:
// tenants committed to a Git repository (served over git:// on loopback) are
// synced by Argo CD, onboarded by the operator, and their apps synced from
// their own repositories, confined by their AppProjects, self-healing, and
// offboarded by deleting a file. The tenantry CLI makes every commit.
package gitops

import (
	"context"
	"io/fs"
	"os"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tenantry/tenantry/gitops"
	"github.com/tenantry/tenantry/internal/controller"
	"github.com/tenantry/tenantry/internal/gitops"
	"github.com/tenantry/tenantry/internal/install"
	"github.com/tenantry/tenantry/internal/localcluster"
	"github.com/tenantry/tenantry/internal/render"
	"github.com/tenantry/tenantry/internal/testutil"
)

var (
	cluster *localcluster.Cluster
	admin   client.Client
	argo    *localcluster.ArgoCD
	// gitURL serves the bare repositories: platform.git (plans and
	// tenants, as in gitops/), acme-web.git and globex-web.git (apps).
	gitURL string
	// platformDir is a working copy of platform.git; its gitops/ folder is
	// what the CLI's --gitops points at.
	platformDir string
)

func TestMain(m *testing.M) {
	os.Exit(testutil.RunWithCluster(m, setUp))
}

// setUp runs Argo CD (with sync impersonation on) and a Git server next to
// the control plane, installs the platform and starts the operator with
// GitOps on, then bootstraps Argo CD from the example files in gitops/, as
// gitops/bootstrap tells a platform team to.
func setUp(ctx context.Context, c *localcluster.Cluster) (func(), error) {
	cluster = c
	var err error
	argo, err = c.StartArgoCD(ctx, localcluster.ArgoCDOptions{
		Config: map[string]string{"application.sync.impersonation.enabled": "true"},
	})
	if err != nil {
		return nil, err
	}
	if gitURL, err = c.ServeGit(ctx, "platform.git", "acme-web.git", "globex-web.git"); err != nil {
		return nil, err
	}

	scheme, err := install.NewScheme()
	if err != nil {
		return nil, err
	}
	cfg := controller.Config{Render: render.DefaultOptions()}
	cfg.Render.ArgoCDNamespace = argo.Namespace
	var stop func()
	if admin, stop, err = testutil.StartPlatform(ctx, c, scheme, cfg); err != nil {
		return nil, err
	}
	if err := seedRepositories(); err != nil {
		return stop, err
	}
	return stop, install.GitOpsBootstrap(ctx, admin, argo.Namespace, gitURL+"/platform.git")
}

// seedRepositories pushes the first commits: the example plans and an empty
// tenants folder to platform.git; to each app repository the sample app in
// deploy/ and, for acme, manifests that try to leave its confinement.
func seedRepositories() error {
	var err error
	if platformDir, err = os.MkdirTemp(cluster.DataDir, "platform-"); err != nil {
		return err
	}
	files := map[string]string{"gitops/tenants/README.md": "One Tenant per file, written by `tenantry create --gitops`.\n"}
	plans, err := fs.Glob(examples.Examples, "plans/*.yaml")
	if err != nil {
		return err
	}
	for _, p := range plans {
		data, err := fs.ReadFile(examples.Examples, p)
		if err != nil {
			return err
		}
		files["gitops/"+p] = string(data)
	}
	if err := pushFiles(platformDir, "platform.git", files, "Add the plans"); err != nil {
		return err
	}

	hello, err := fs.ReadFile(examples.Examples, "apps/hello/deployment.yaml")
	if err != nil {
		return err
	}
	acme := map[string]string{"deploy/hello.yaml": string(hello)}
	for path, manifest := range escapeManifests {
		acme[path] = manifest
	}
	for repo, files := range map[string]map[string]string{"acme-web.git": acme, "globex-web.git": {"deploy/hello.yaml": string(hello)}} {
		dir, err := os.MkdirTemp(cluster.DataDir, "app-")
		if err != nil {
			return err
		}
		if err := pushFiles(dir, repo, files, "The hello app"); err != nil {
			return err
		}
	}
	return nil
}

// escapeManifests are in acme's own app repository: each tries to deploy
// something a tenant's app must not.
var escapeManifests = map[string]string{
	"escape/other-tenant/configmap.yaml": `apiVersion: v1
kind: ConfigMap
metadata: {name: planted, namespace: globex-prod}
data: {from: acme}
`,
	"escape/cluster-scoped/clusterrole.yaml": `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: acme-everything}
rules: [{apiGroups: ["*"], resources: ["*"], verbs: ["*"]}]
`,
	"escape/quota/resourcequota.yaml": `apiVersion: v1
kind: ResourceQuota
metadata: {name: more}
spec: {hard: {requests.cpu: "1000"}}
`,
	"escape/escalation/rolebinding.yaml": `apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: acme-admins-cluster-admin}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: Group, name: acme-admins}]
`,
}

func pushFiles(dir, repo string, files map[string]string, message string) error {
	data := map[string][]byte{}
	for path, content := range files {
		data[path] = []byte(content)
	}
	return gitops.Publish(dir, gitURL+"/"+repo, data, message, "Platform Team", "platform@example.com")
}

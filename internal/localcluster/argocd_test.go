package localcluster_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	git "github.com/go-git/go-git/v5"
	gitconfig "github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/memory"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/tenantry/tenantry/internal/localcluster"
	"github.com/tenantry/tenantry/internal/testutil"
)

// TestGitServerServesPushes pushes to the loopback Git server and clones
// the commit back: the round trip Argo CD and the GitOps tests rely on.
func TestGitServerServesPushes(t *testing.T) {
	testutil.NeedsCluster(t)
	t.Parallel()
	url := startGitServer(t, "config")
	work := newWorkRepo(t, url+"/config")
	pushed := work.commit("first", map[string]string{"README": "hello\n"})

	clone, err := git.CloneContext(t.Context(), memory.NewStorage(), nil, &git.CloneOptions{URL: url + "/config"})
	if err != nil {
		t.Fatal(err)
	}
	head, err := clone.Head()
	if err != nil {
		t.Fatal(err)
	}
	if head.Name() != plumbing.Main || head.Hash().String() != pushed {
		t.Errorf("clone HEAD is %s at %s, want %s at %s", head.Name(), head.Hash(), plumbing.Main, pushed)
	}
}

// TestArgoCDSyncsFromGitAndSelfHeals runs Argo CD against the local
// control plane: an Application with automated sync, prune and self-heal
// applies a commit, restores a deleted object, and applies a pushed change
// once refreshed.
func TestArgoCDSyncsFromGitAndSelfHeals(t *testing.T) {
	testutil.NeedsCluster(t)
	t.Parallel()
	ctx := t.Context()
	url := startGitServer(t, "apps")
	argo := startArgoCD(t, localcluster.ArgoCDOptions{})
	ns := newNamespace(t, "gitops", nil)
	work := newWorkRepo(t, url+"/apps")

	start := time.Now()
	revision := work.commit("web and its settings", map[string]string{
		"manifests/settings.yaml": configMapYAML("settings", "color: blue"),
		"manifests/obsolete.yaml": configMapYAML("obsolete", "color: grey"),
		"manifests/web.yaml":      deploymentYAML("web", 2),
	})
	createApplication(t, argo, ns, "default", url+"/apps", "manifests", ns)
	waitSynced(t, argo, ns, revision)
	t.Logf("commit -> Synced and Healthy: %.1fs", time.Since(start).Seconds())
	waitAvailable(t, ns, "web", 2)
	wantConfigMap(t, ns, "settings", "color", "blue")

	// Self-heal: a deleted object comes back.
	if err := admin.CoreV1().ConfigMaps(ns).Delete(ctx, "settings", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	wantConfigMap(t, ns, "settings", "color", "blue")
	t.Logf("delete -> restored: %.1fs", time.Since(start).Seconds())

	// A pushed change: updated, and what left Git pruned.
	start = time.Now()
	revision = work.commit("green, and nothing obsolete", map[string]string{
		"manifests/settings.yaml": configMapYAML("settings", "color: green"),
		"manifests/obsolete.yaml": "",
	})
	if err := argo.Refresh(ctx, ns); err != nil {
		t.Fatal(err)
	}
	waitSynced(t, argo, ns, revision)
	wantConfigMap(t, ns, "settings", "color", "green")
	testutil.Eventually(t, 30*time.Second, func() error {
		_, err := admin.CoreV1().ConfigMaps(ns).Get(ctx, "obsolete", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("ConfigMap obsolete not pruned (err=%v)", err)
	})
	t.Logf("push -> refreshed, applied and pruned: %.1fs", time.Since(start).Seconds())
}

// TestArgoCDSyncImpersonation proves that with sync impersonation Argo CD
// applies a tenant's app with the rights of the ServiceAccount its
// AppProject names for the destination, not with its own: what the
// tenant's edit role allows syncs, a ResourceQuota does not.
func TestArgoCDSyncImpersonation(t *testing.T) {
	testutil.NeedsCluster(t)
	t.Parallel()
	ctx := t.Context()
	url := startGitServer(t, "tenant")
	argo := startArgoCD(t, localcluster.ArgoCDOptions{
		Namespace: "argocd-impersonation",
		Config:    map[string]string{"application.sync.impersonation.enabled": "true"},
	})
	ns := newNamespace(t, "tenant", nil)
	if _, err := admin.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "deployer"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	bindRole(t, ns, "deployer-edit", "edit", rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: "deployer", Namespace: ns})
	applyUnstructured(t, argo.Namespace, localcluster.AppProjectGVR, map[string]any{
		"apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject",
		"metadata": map[string]any{"name": ns},
		"spec": map[string]any{
			"sourceRepos":  []any{url + "/tenant"},
			"destinations": []any{map[string]any{"server": localcluster.InClusterServer, "namespace": ns}},
			"destinationServiceAccounts": []any{map[string]any{
				"server": localcluster.InClusterServer, "namespace": ns, "defaultServiceAccount": "deployer",
			}},
		},
	})
	work := newWorkRepo(t, url+"/tenant")
	revision := work.commit("an allowed app and a forbidden one", map[string]string{
		"allowed/settings.yaml": configMapYAML("settings", "color: blue"),
		"forbidden/quota.yaml": `apiVersion: v1
kind: ResourceQuota
metadata:
  name: more
spec:
  hard:
    pods: "100"
`,
	})

	allowed, forbidden := ns+"-allowed", ns+"-forbidden"
	createApplication(t, argo, allowed, ns, url+"/tenant", "allowed", ns)
	createApplication(t, argo, forbidden, ns, url+"/tenant", "forbidden", ns)

	waitSynced(t, argo, allowed, revision)
	wantConfigMap(t, ns, "settings", "color", "blue")

	// Automated sync retries a failed apply, so the operation may still be
	// Running: wait for the refusal in its message, whatever the phase.
	sa := "system:serviceaccount:" + ns + ":deployer"
	var failure string
	testutil.Eventually(t, 2*time.Minute, func() error {
		s, err := argo.Status(ctx, forbidden)
		if err != nil {
			return err
		}
		failure = strings.Join(append([]string{s.OperationMessage}, syncResultMessages(t, argo, forbidden)...), "\n")
		if !strings.Contains(failure, "forbidden") {
			return fmt.Errorf("Application %s: %s; want a sync refused as forbidden", forbidden, s)
		}
		return nil
	})
	t.Logf("forbidden sync failed with: %s", failure)
	for _, want := range []string{`User "` + sa + `" cannot create resource "resourcequotas"`, `in the namespace "` + ns + `"`} {
		if !strings.Contains(failure, want) {
			t.Errorf("sync failure does not say %q:\n%s", want, failure)
		}
	}
	if _, err := admin.CoreV1().ResourceQuotas(ns).Get(ctx, "more", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("ResourceQuota more exists (err=%v); the sync should have been refused", err)
	}
}

// TestArgoCDRendersHelmChart proves Argo CD's repo server renders a Helm
// chart kept in Git with the pinned helm CLI (bin/helm, first on its PATH),
// with the values the Application overrides in spec.source.helm.valuesObject.
func TestArgoCDRendersHelmChart(t *testing.T) {
	testutil.NeedsCluster(t)
	t.Parallel()
	url := startGitServer(t, "charts")
	argo := startArgoCD(t, localcluster.ArgoCDOptions{Namespace: "argocd-helm"})
	ns := newNamespace(t, "helm", nil)
	work := newWorkRepo(t, url+"/charts")

	start := time.Now()
	revision := work.commit("the greeting chart", map[string]string{
		"greeting/Chart.yaml":  "apiVersion: v2\nname: greeting\nversion: 0.1.0\n",
		"greeting/values.yaml": "color: blue\n",
		"greeting/templates/settings.yaml": `apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-settings
data:
  color: {{ .Values.color | quote }}
  chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | quote }}
`,
	})
	app := applicationObject(ns, "default", url+"/charts", "greeting", ns)
	if err := unstructured.SetNestedField(app, map[string]any{"valuesObject": map[string]any{"color": "green"}}, "spec", "source", "helm"); err != nil {
		t.Fatal(err)
	}
	applyUnstructured(t, argo.Namespace, localcluster.ApplicationGVR, app)
	waitSynced(t, argo, ns, revision)
	t.Logf("chart commit -> Synced and Healthy: %.1fs", time.Since(start).Seconds())

	// The Release is named after the Application; the value is the override.
	wantConfigMap(t, ns, ns+"-settings", "color", "green")
	wantConfigMap(t, ns, ns+"-settings", "chart", "greeting-0.1.0")
	obj, err := dynamic.NewForConfigOrDie(cluster.Config).Resource(localcluster.ApplicationGVR).Namespace(argo.Namespace).Get(t.Context(), ns, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sourceType, _, _ := unstructured.NestedString(obj.Object, "status", "sourceType"); sourceType != "Helm" {
		t.Errorf("Application %s has source type %q, want Helm", ns, sourceType)
	}
}

// startGitServer serves a new bare repository, repo, from a directory of
// the test's own.
func startGitServer(t *testing.T, repo string) string {
	t.Helper()
	dir := t.TempDir()
	if err := localcluster.InitBareRepository(dir, repo); err != nil {
		t.Fatal(err)
	}
	url, err := cluster.StartGitServer(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	return url
}

func startArgoCD(t *testing.T, opts localcluster.ArgoCDOptions) *localcluster.ArgoCD {
	t.Helper()
	start := time.Now()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	argo, err := cluster.StartArgoCD(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("StartArgoCD in namespace %s: %.1fs", argo.Namespace, time.Since(start).Seconds())
	t.Cleanup(func() {
		if t.Failed() {
			return // Cluster.Stop stops it, after TestMain has shown its logs.
		}
		if err := argo.Stop(); err != nil {
			t.Error(err)
		}
	})
	return argo
}

// createApplication creates an Application with automated sync, prune and
// self-heal of one folder of the repository into namespace ns.
func createApplication(t *testing.T, argo *localcluster.ArgoCD, name, project, repoURL, path, ns string) {
	t.Helper()
	applyUnstructured(t, argo.Namespace, localcluster.ApplicationGVR, applicationObject(name, project, repoURL, path, ns))
}

// applicationObject is the Application createApplication creates.
func applicationObject(name, project, repoURL, path, ns string) map[string]any {
	return map[string]any{
		"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
		"metadata": map[string]any{"name": name},
		"spec": map[string]any{
			"project":     project,
			"source":      map[string]any{"repoURL": repoURL, "targetRevision": "main", "path": path},
			"destination": map[string]any{"server": localcluster.InClusterServer, "namespace": ns},
			"syncPolicy":  map[string]any{"automated": map[string]any{"prune": true, "selfHeal": true}},
		},
	}
}

func applyUnstructured(t *testing.T, ns string, gvr schema.GroupVersionResource, obj map[string]any) {
	t.Helper()
	u := &unstructured.Unstructured{Object: obj}
	u.SetNamespace(ns)
	if _, err := dynamic.NewForConfigOrDie(cluster.Config).Resource(gvr).Namespace(ns).Create(t.Context(), u, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating %s %s/%s: %v", u.GetKind(), ns, u.GetName(), err)
	}
}

// waitSynced waits until the Application is Synced to revision and Healthy.
func waitSynced(t *testing.T, argo *localcluster.ArgoCD, app, revision string) {
	t.Helper()
	testutil.Eventually(t, 2*time.Minute, func() error {
		s, err := argo.Status(t.Context(), app)
		if err != nil {
			return err
		}
		if s.Sync != "Synced" || s.Health != "Healthy" || s.Revision != revision {
			return fmt.Errorf("Application %s: %s; want Synced and Healthy at %.7s", app, s, revision)
		}
		return nil
	})
}

// syncResultMessages are the per-resource messages of the last sync.
func syncResultMessages(t *testing.T, argo *localcluster.ArgoCD, app string) []string {
	t.Helper()
	obj, err := dynamic.NewForConfigOrDie(cluster.Config).Resource(localcluster.ApplicationGVR).Namespace(argo.Namespace).Get(t.Context(), app, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	resources, _, _ := unstructured.NestedSlice(obj.Object, "status", "operationState", "syncResult", "resources")
	var messages []string
	for _, r := range resources {
		if m, ok := r.(map[string]any); ok {
			messages = append(messages, fmt.Sprintf("%v %v: %v", m["kind"], m["name"], m["message"]))
		}
	}
	return messages
}

func wantConfigMap(t *testing.T, ns, name, key, value string) {
	t.Helper()
	testutil.Eventually(t, time.Minute, func() error {
		cm, err := admin.CoreV1().ConfigMaps(ns).Get(t.Context(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if cm.Data[key] != value {
			return fmt.Errorf("ConfigMap %s/%s: %s=%q, want %q", ns, name, key, cm.Data[key], value)
		}
		return nil
	})
}

func configMapYAML(name, data string) string {
	return fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\ndata:\n  %s\n", name, data)
}

func deploymentYAML(name string, replicas int) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: %[1]s
spec:
  replicas: %[2]d
  selector:
    matchLabels: {app: %[1]s}
  template:
    metadata:
      labels: {app: %[1]s}
    spec:
      containers:
      - name: app
        image: registry.example/%[1]s:1.0
`, name, replicas)
}

// workRepo is a working copy whose commits go straight to the Git server.
type workRepo struct {
	t    *testing.T
	dir  string
	repo *git.Repository
}

func newWorkRepo(t *testing.T, remoteURL string) *workRepo {
	t.Helper()
	dir := t.TempDir()
	repo, err := git.PlainInitWithOptions(dir, &git.PlainInitOptions{InitOptions: git.InitOptions{DefaultBranch: plumbing.Main}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := repo.CreateRemote(&gitconfig.RemoteConfig{Name: "origin", URLs: []string{remoteURL}}); err != nil {
		t.Fatal(err)
	}
	return &workRepo{t: t, dir: dir, repo: repo}
}

// commit writes files (an empty content removes the file), commits them
// and pushes main; it returns the commit's hash.
func (w *workRepo) commit(message string, files map[string]string) string {
	w.t.Helper()
	tree, err := w.repo.Worktree()
	if err != nil {
		w.t.Fatal(err)
	}
	for path, content := range files {
		full := filepath.Join(w.dir, path)
		if content == "" {
			if _, err := tree.Remove(path); err != nil {
				w.t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			w.t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			w.t.Fatal(err)
		}
		if _, err := tree.Add(path); err != nil {
			w.t.Fatal(err)
		}
	}
	hash, err := tree.Commit(message, &git.CommitOptions{Author: &object.Signature{Name: "test", Email: "test@tenantry.dev", When: time.Now()}})
	if err != nil {
		w.t.Fatal(err)
	}
	err = w.repo.PushContext(w.t.Context(), &git.PushOptions{RefSpecs: []gitconfig.RefSpec{"refs/heads/main:refs/heads/main"}})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		w.t.Fatalf("pushing %s: %v", message, err)
	}
	return hash.String()
}

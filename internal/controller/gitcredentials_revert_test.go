package controller_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tenantry/tenantry/api/v1alpha1"
	"github.com/tenantry/tenantry/internal/controller"
	"github.com/tenantry/tenantry/internal/gitops"
	"github.com/tenantry/tenantry/internal/install"
	"github.com/tenantry/tenantry/internal/localcluster"
	"github.com/tenantry/tenantry/internal/render"
	"github.com/tenantry/tenantry/internal/testutil"
)

// A revert on abort authenticates with the Git credentials Secret of the
// operator's namespace, read on the real API server with the chart's
// rights: none there (a look-alike in another namespace does not count)
// is GitCredentialsMissing, a wrong password GitAuthFailed naming the
// Secret, the right one a pushed revert and GitWriteReady true.
func TestRevertGitCredentials(t *testing.T) {
	testutil.NeedsCluster(t)
	ctx := t.Context()
	base, failed, https, operator := revertFixture(t)
	repoURL := https.URL + "/apps"
	tenant := &v1alpha1.Tenant{
		ObjectMeta: metav1.ObjectMeta{Name: "gitwriter", Generation: 1},
		Spec: v1alpha1.TenantSpec{RevertOnAbort: true, Apps: []v1alpha1.App{
			{Name: "shop", RepoURL: repoURL, Path: "apps/shop", TargetRevision: "main"},
		}},
	}
	aborts := 0
	// revert has the operator handle a new abort of the release of failed.
	revert := func() (*metav1.Condition, *v1alpha1.RolloutRevert) {
		t.Helper()
		aborts++
		apps := []v1alpha1.AppStatus{{Name: "shop", Namespace: "gitwriter", Revision: failed, Rollout: &v1alpha1.AppRollout{
			Name: "shop", Phase: v1alpha1.RolloutAborted, Message: "analysis failed",
			AbortedAt: &metav1.Time{Time: time.Date(2026, 1, 1, 0, aborts, 0, 0, time.UTC)},
		}}}
		cond, err := controller.RevertAborted(ctx, operator, render.DefaultOptions(), tenant, apps)
		if err != nil {
			t.Fatal(err)
		}
		if cond == nil {
			t.Fatalf("no GitWriteReady condition; the revert: %+v", apps[0].Rollout.Revert)
		}
		return cond, apps[0].Rollout.Revert
	}
	credentials := func(namespace, password string) *corev1.Secret {
		t.Helper()
		s := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "gitwriter-git", Labels: map[string]string{v1alpha1.LabelGitCredentials: "true"}},
			StringData: map[string]string{
				gitops.CredentialURL: https.URL + "/", gitops.CredentialUsername: "tenantry-bot", gitops.CredentialPassword: password,
				gitops.CredentialCABundle: string(https.CA),
			},
		}
		if err := admin.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = admin.Delete(ctx, s) })
		return s
	}

	// The right credentials, but outside the operator's namespace.
	credentials("default", "right-token")
	cond, rv := revert()
	for _, want := range []string{repoURL, "namespace tenantry-system", "labelled tenantry.dev/git-credentials=true", "username + password"} {
		if cond.Status != metav1.ConditionFalse || cond.Reason != "GitCredentialsMissing" || !strings.Contains(cond.Message, want) {
			t.Errorf("without a Secret in tenantry-system: GitWriteReady = %s/%s %q, want False/GitCredentialsMissing naming %q", cond.Status, cond.Reason, cond.Message, want)
		}
	}
	if !strings.HasPrefix(rv.Message, "revert failed: could not write to "+repoURL) || rv.Commit != "" {
		t.Errorf("revert = %+v, want failed for want of credentials", rv)
	}
	// The operator could not have read it anyway.
	err := operator.List(ctx, &corev1.SecretList{}, client.InNamespace("default"))
	if !apierrors.IsForbidden(err) {
		t.Errorf("the operator listing Secrets in default: %v, want forbidden", err)
	}

	wrong := credentials("tenantry-system", "wrong-token")
	cond, rv = revert()
	if cond.Status != metav1.ConditionFalse || cond.Reason != "GitAuthFailed" || !strings.Contains(cond.Message, "with the credentials of Secret tenantry-system/gitwriter-git failed") {
		t.Errorf("with a wrong password: GitWriteReady = %s/%s %q, want False/GitAuthFailed naming the Secret", cond.Status, cond.Reason, cond.Message)
	}
	if rv.Commit != "" || !strings.Contains(rv.Message, "authentication required") {
		t.Errorf("revert = %+v, want refused", rv)
	}

	wrong.StringData = map[string]string{gitops.CredentialPassword: "right-token"}
	if err := admin.Update(ctx, wrong); err != nil {
		t.Fatal(err)
	}
	cond, rv = revert()
	if cond.Status != metav1.ConditionTrue || cond.Reason != "GitWritePushed" || !strings.Contains(cond.Message, "pushed to "+repoURL+" with the credentials of Secret tenantry-system/gitwriter-git") {
		t.Errorf("with the right password: GitWriteReady = %s/%s %q, want True/GitWritePushed", cond.Status, cond.Reason, cond.Message)
	}
	if head := git(t, filepath.Join(base, "apps"), "rev-parse", "main"); rv.Commit == "" || head != rv.Commit {
		t.Errorf("revert = %+v, main at %s; want the revert pushed", rv, head)
	}
}

// revertFixture serves, over HTTPS with a password, a repository apps whose
// last change to apps/shop (failed) is the release to revert, and returns
// a client with the operator's identity and exactly the chart's rights.
func revertFixture(t *testing.T) (base, failed string, https *localcluster.GitHTTPSServer, operator client.Client) {
	t.Helper()
	base = t.TempDir()
	failed = seedGitRepo(t, base, "apps")
	https, err := localcluster.ServeGitHTTPS(base, "tenantry-bot", "right-token")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = https.Close() })
	cfg, err := install.OperatorConfig(t.Context(), admin, cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	if operator, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
		t.Fatal(err)
	}
	return base, failed, https, operator
}

// seedGitRepo creates the bare repository base/name whose main changed
// apps/shop three times, and returns the last change: the release that
// fails.
func seedGitRepo(t *testing.T, base, name string) string {
	t.Helper()
	git(t, base, "init", "--quiet", "--bare", "--initial-branch=main", name)
	work := t.TempDir()
	git(t, work, "init", "--quiet", "--initial-branch=main")
	for _, v := range []string{"v1", "v2", "v3"} {
		if err := os.MkdirAll(filepath.Join(work, "apps/shop"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(work, "apps/shop/values.yaml"), []byte("image:\n  tag: "+v+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		git(t, work, "add", ".")
		git(t, work, "commit", "--quiet", "-m", "shop: "+v)
	}
	git(t, work, "push", "--quiet", filepath.Join(base, name), "main")
	return git(t, work, "rev-parse", "HEAD")
}

// git runs git in dir as a developer and returns its output, trimmed.
func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=Dev", "-c", "user.email=dev@example.com"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

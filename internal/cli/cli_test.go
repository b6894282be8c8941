package cli

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing/object"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/tenantry/tenantry/api/v1alpha1"
	"github.com/tenantry/tenantry/gitops"
	"github.com/tenantry/tenantry/internal/install"
	"github.com/tenantry/tenantry/internal/localcluster"
	"github.com/tenantry/tenantry/internal/testutil"
)

// newRepo makes a GitOps repository like gitops/: the example plans in
// plans/, committed, with an author configured in the repository.
func newRepo(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	repo, err := git.PlainInit(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := repo.Config()
	if err != nil {
		t.Fatal(err)
	}
	cfg.User.Name, cfg.User.Email = "Platform Team", "platform@example.com"
	if err := repo.SetConfig(cfg); err != nil {
		t.Fatal(err)
	}
	plans, err := fs.Sub(examples.Examples, "plans")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(filepath.Join(dir, "plans"), plans); err != nil {
		t.Fatal(err)
	}
	commitAll(t, dir, "Plans")
	return dir
}

func commitAll(t *testing.T, dir, message string) {
	t.Helper()
	repo, err := git.PlainOpen(dir)
	if err != nil {
		t.Fatal(err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	if err := wt.AddGlob("."); err != nil {
		t.Fatal(err)
	}
	if _, err := wt.Commit(message, &git.CommitOptions{}); err != nil {
		t.Fatal(err)
	}
}

// headCommit reads the last commit back with go-git.
func headCommit(t *testing.T, dir string) *object.Commit {
	t.Helper()
	repo, err := git.PlainOpen(dir)
	if err != nil {
		t.Fatal(err)
	}
	head, err := repo.Head()
	if err != nil {
		t.Fatal(err)
	}
	c, err := repo.CommitObject(head.Hash())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func wantContains(t *testing.T, what, got string, fragments ...string) {
	t.Helper()
	for _, f := range fragments {
		if !strings.Contains(got, f) {
			t.Errorf("%s lacks %q:\n%s", what, f, got)
		}
	}
}

func readTenantFile(t *testing.T, dir, name string) (string, *v1alpha1.Tenant) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "tenants", name+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	tenant := &v1alpha1.Tenant{}
	if err := yaml.UnmarshalStrict(data, tenant); err != nil {
		t.Fatalf("tenants/%s.yaml: %v\n%s", name, err, data)
	}
	return string(data), tenant
}

// TestGitOpsWorkflow drives a tenant's whole life through Git: every
// command commits one reviewable change, --apply puts it on the cluster,
// --wait sees it through, and audit tells the story back.
func TestGitOpsWorkflow(t *testing.T) {
	testutil.NeedsCluster(t)
	t.Parallel()
	dir := newRepo(t)
	// A bare repository as the remote --push sends commits to.
	remote := t.TempDir()
	if _, err := git.PlainInit(remote, true); err != nil {
		t.Fatal(err)
	}
	local, err := git.PlainOpen(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := local.CreateRemote(&config.RemoteConfig{Name: "origin", URLs: []string{remote}}); err != nil {
		t.Fatal(err)
	}
	gitopsFlags := []string{"--gitops", dir, "--apply", "--wait"}
	step := func(args ...string) result {
		t.Helper()
		return mustRun(t, append(args, gitopsFlags...)...)
	}

	r := step("create", "gitacme", "--plan", "pro", "--owner", "user:alice@gitacme.example=admin", "--owner", "group:gitacme-devs=developer",
		"--env", "prod,staging", "--domain", "gitacme.example.com", "--reason", "signed on 2026-11-20", "--push")
	wantContains(t, "create output", r.out, "committed ", "tenants/gitacme.yaml: Onboard tenant gitacme on plan pro (prod, staging)",
		"pushed to origin", "applied", "tenant gitacme: Ready after")
	wantContains(t, "create progress", r.errOut, "s] ")
	file, tenant := readTenantFile(t, dir, "gitacme")
	if strings.Contains(file, "status") || tenant.Spec.Plan != "pro" || !slices.Equal(tenant.Spec.Environments, []string{"prod", "staging"}) {
		t.Errorf("tenants/gitacme.yaml is not the tenant as asked:\n%s", file)
	}
	commit := headCommit(t, dir)
	if pushed := headCommit(t, remote); pushed.Hash != commit.Hash {
		t.Errorf("the remote's HEAD is %s, want the pushed commit %s", pushed.Hash, commit.Hash)
	}
	wantContains(t, "commit message", commit.Message, "Onboard tenant gitacme on plan pro", "Reason: signed on 2026-11-20", "tenantry create")
	if commit.Author.Email != "platform@example.com" {
		t.Errorf("commit author = %v, want the repository's user", commit.Author)
	}

	// A reviewer's comment in the file survives the CLI's edits.
	commented := "# Acme's contract: https://crm.example.com/4711\n" + file
	if err := os.WriteFile(filepath.Join(dir, "tenants", "gitacme.yaml"), []byte(commented), 0o644); err != nil {
		t.Fatal(err)
	}
	commitAll(t, dir, "Link the contract")

	step("set-plan", "gitacme", "enterprise", "--reason", "upgraded, order 4711")
	step("add-env", "gitacme", "qa", "--reason", "QA for the spring release")
	r = step("suspend", "gitacme", "--reason", "invoice overdue")
	wantContains(t, "suspend output", r.out, "tenant gitacme: Suspended after")
	step("resume", "gitacme", "--reason", "paid")
	step("remove-env", "gitacme", "staging", "--reason", "staging moved to qa")
	file, tenant = readTenantFile(t, dir, "gitacme")
	wantContains(t, "edited file", file, "# Acme's contract: https://crm.example.com/4711")
	if tenant.Spec.Plan != "enterprise" || !slices.Equal(tenant.Spec.Environments, []string{"prod", "qa"}) || tenant.Spec.Suspended {
		t.Errorf("tenants/gitacme.yaml after the edits:\n%s", file)
	}
	onCluster := &v1alpha1.Tenant{}
	if err := admin.Get(t.Context(), client.ObjectKey{Name: "gitacme"}, onCluster); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(onCluster.Status.Namespaces, []string{"gitacme-prod", "gitacme-qa"}) {
		t.Errorf("cluster namespaces = %v, want gitacme-prod and gitacme-qa", onCluster.Status.Namespaces)
	}

	// Nothing to change is no commit.
	before := headCommit(t, dir).Hash
	r = mustRun(t, "resume", "gitacme", "--gitops", dir)
	wantContains(t, "no-op output", r.out, "nothing to change")
	if headCommit(t, dir).Hash != before {
		t.Error("a no-op resume made a commit")
	}

	step("delete", "gitacme", "--reason", "contract ended")
	if _, err := os.Stat(filepath.Join(dir, "tenants", "gitacme.yaml")); !os.IsNotExist(err) {
		t.Errorf("tenants/gitacme.yaml still there after delete: %v", err)
	}
	if err := admin.Get(t.Context(), client.ObjectKey{Name: "gitacme"}, &v1alpha1.Tenant{}); !apierrors.IsNotFound(err) {
		t.Errorf("tenant gitacme still on the cluster: %v", err)
	}

	r = mustRun(t, "audit", "gitacme", "--gitops", dir)
	wantContains(t, "audit", r.out,
		"Platform Team <platform@example.com>",
		"Offboard tenant gitacme", "Reason: contract ended", "deleted",
		"Move tenant gitacme to plan enterprise", "Reason: upgraded, order 4711", "spec.plan: pro -> enterprise",
		"Add environment qa to tenant gitacme", "Suspend tenant gitacme", "Resume tenant gitacme",
		"Remove environment staging from tenant gitacme", "Link the contract",
		"Onboard tenant gitacme on plan pro", "created")
	if first, last := strings.Index(r.out, "Offboard"), strings.Index(r.out, "Onboard"); first > last {
		t.Error("audit is not newest first")
	}
}

// TestClusterCommands changes a tenant on the cluster directly and reads
// it back as a table, YAML, JSON and a status page.
func TestClusterCommands(t *testing.T) {
	testutil.NeedsCluster(t)
	t.Parallel()
	r := mustRun(t, "create", "direct", "--plan", "pro", "--owner", "user:dora@direct.example", "--env", "prod", "--wait")
	wantContains(t, "create", r.out, "tenant direct: Onboard tenant direct on plan pro (prod)", "tenant direct: Ready after")

	r = mustRun(t, "list")
	wantContains(t, "list", r.out, "NAME", "PLAN", "PHASE", "ENVIRONMENTS", "APPS", "CPU", "MEMORY", "AGE")
	var row string
	for _, line := range strings.Split(r.out, "\n") {
		if strings.HasPrefix(line, "direct ") {
			row = line
		}
	}
	if fields := strings.Fields(row); len(fields) != 8 || fields[1] != "pro" || fields[2] != "Ready" || fields[3] != "prod" || fields[4] != "-" || !strings.HasSuffix(fields[5], "/4") {
		t.Errorf("list row for direct = %q", row)
	}

	for _, format := range []string{"yaml", "json"} {
		r = mustRun(t, "get", "direct", "-o", format)
		got := &v1alpha1.Tenant{}
		if err := yaml.Unmarshal([]byte(r.out), got); err != nil || got.Name != "direct" || got.Kind != "Tenant" || len(got.ManagedFields) != 0 {
			t.Errorf("get -o %s: %v\n%s", format, err, r.out)
		}
	}

	r = mustRun(t, "status", "direct")
	wantContains(t, "status", r.out, "Tenant direct: plan pro, phase Ready", "Namespaces: direct-prod", "Conditions:", "Ready", "True",
		"Quota (all namespaces):", "requests.cpu", "[", "Recent events:", "TenantReady")

	mustRun(t, "set-plan", "direct", "enterprise", "--wait")
	r = mustRun(t, "suspend", "direct", "--wait")
	wantContains(t, "suspend", r.out, "Suspended after")
	r = mustRun(t, "delete", "direct", "--wait")
	wantContains(t, "delete", r.out, "tenant direct: gone after")
}

// TestWaitTimesOut: a tenant that cannot become Ready makes --wait fail
// with the blocking condition's message, after showing progress.
func TestWaitTimesOut(t *testing.T) {
	testutil.NeedsCluster(t)
	t.Parallel()
	mustRun(t, "create", "holder", "--plan", "free", "--owner", "user:h@holder.example", "--domain", "shared.example.net", "--wait")
	r := tenantry(t, "create", "claimer", "--plan", "free", "--owner", "user:c@claimer.example", "--domain", "shop.shared.example.net", "--wait", "--timeout", "3s")
	if r.err == nil {
		t.Fatalf("--wait succeeded for a tenant whose domain is taken:\n%s", r)
	}
	wantContains(t, "timeout error", r.err.Error(), "timed out after 3s waiting for tenant claimer", "DomainConflict", "shared.example.net")
	wantContains(t, "progress", r.errOut, "not Ready (DomainConflict")
	if ExitCode(r.err) != 1 {
		t.Errorf("exit code %d, want 1", ExitCode(r.err))
	}
}

// TestDoctor passes on a properly isolated tenant and fails, with the
// failing check named, once an admin removes a guardrail.
func TestDoctor(t *testing.T) {
	testutil.NeedsCluster(t)
	mustRun(t, "create", "doc", "--plan", "pro", "--owner", "user:dee@doc.example", "--env", "prod", "--wait")
	r := mustRun(t, "doctor", "doc")
	wantContains(t, "doctor", r.out, "checked as dee@doc.example", "run an image from a foreign registry", "refused by guardrail rule 4 (registries)",
		"read Secrets in", "refused by RBAC", "run a privileged pod", "refused by Pod Security", "deploy a workload", "allowed", "All ")

	binding := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{ObjectMeta: metav1.ObjectMeta{Name: "tenantry-pods"}}
	if err := admin.Delete(t.Context(), binding); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// t.Context() is already cancelled when cleanups run.
		if err := install.Guardrails(context.Background(), admin); err != nil {
			t.Errorf("restoring the guardrails: %v", err)
		}
	})
	testutil.Eventually(t, 30*time.Second, func() error {
		r = tenantry(t, "doctor", "doc")
		if ExitCode(r.err) != 1 {
			return errorf("doctor still passes without the registry guardrail:\n%s", r)
		}
		return nil
	})
	wantContains(t, "doctor without the guardrail", r.out, "run an image from a foreign registry", "FAIL")
	wantContains(t, "doctor error", r.err.Error(), "checks failed: tenant doc is not isolated as it should be")

	// Put the guardrail back and wait until it refuses again: the parallel
	// tests, which run after this one, doctor their tenants too.
	if err := install.Guardrails(t.Context(), admin); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 30*time.Second, func() error {
		if r = tenantry(t, "doctor", "doc"); r.err != nil {
			return errorf("doctor still fails with the guardrails restored:\n%s", r)
		}
		return nil
	})
}

// TestNamespacesAsOwner: a tenant owner, who may read neither Tenants nor
// the list of namespaces, sees its tenant through its namespaces: ns with
// and without a name, status and doctor, as itself.
func TestNamespacesAsOwner(t *testing.T) {
	testutil.NeedsCluster(t)
	t.Parallel()
	mustRun(t, "create", "nsco", "--plan", "pro", "--owner", "user:nina@nsco.example", "--env", "prod,dev",
		"--domain", "nsco.example.com", "--display-name", "Nsco Ltd", "--wait")
	mustRun(t, "create", "nsone", "--plan", "free", "--owner", "user:olga@nsone.example", "--wait")
	// An event about a pod of the tenant, as the kubelet would record it.
	event := &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Namespace: "nsco-prod", Name: "web-1.owner-view"},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "nsco-prod", Name: "web-1"},
		Type:           corev1.EventTypeWarning, Reason: "BackOff", Message: "Back-off restarting failed container app",
		LastTimestamp: metav1.Now(),
	}
	if err := admin.Create(t.Context(), event); err != nil {
		t.Fatal(err)
	}

	kubeconfig := func(user, namespace string, groups ...string) string {
		cfg, err := cluster.UserConfig(user, groups...)
		if err != nil {
			t.Fatal(err)
		}
		return writeKubeconfig(t, cfg, strings.Split(user, "@")[0], namespace)
	}
	nina, ninaNoNS, olga := kubeconfig("nina@nsco.example", "nsco-dev"), kubeconfig("nina@nsco.example", ""), kubeconfig("olga@nsone.example", "")
	// A platform engineer, who reads the Tenant itself.
	platform := kubeconfig("pat@platform.example", "nsco-prod", "system:masters")
	tests := []struct {
		name       string
		kubeconfig string
		args       []string
		wantOut    []string // fragments; exact when wantExact
		wantExact  bool
		wantErr    []string
	}{
		{name: "ns TENANT from the context's namespace", kubeconfig: nina, args: []string{"ns", "nsco"},
			wantOut: []string{"nsco-dev\nnsco-prod\n"}, wantExact: true},
		{name: "ns without a name", kubeconfig: nina, args: []string{"ns"},
			wantOut: []string{"nsco-dev\nnsco-prod\n"}, wantExact: true},
		{name: "ns of a tenant without environments, without a context namespace", kubeconfig: olga, args: []string{"ns", "nsone"},
			wantOut: []string{"nsone\n"}, wantExact: true},
		{name: "status", kubeconfig: nina, args: []string{"status", "nsco"}, wantOut: []string{
			"Tenant nsco (Nsco Ltd): plan pro, environments dev,prod", "Namespaces: nsco-dev, nsco-prod", "Domains: nsco.example.com",
			"Conditions: shown to platform engineers only", "Quota (all namespaces):", "requests.cpu", "/8",
			"Recent events:", "Warning", "BackOff", "nsco-prod pod/web-1: Back-off restarting failed container app"}},
		{name: "doctor", kubeconfig: nina, args: []string{"doctor", "nsco"}, wantOut: []string{
			"Isolation of tenant nsco (plan pro), checked as you, nina@nsco.example (dry-run)",
			"deploy a workload", "allowed",
			"read Secrets in kube-system", "refused by RBAC", "run an image from a foreign registry", "refused by guardrail rule 4 (registries)",
			"All "}},
		{name: "doctor --as", kubeconfig: nina, args: []string{"doctor", "nsco", "--as", "someone"},
			wantErr: []string{"--as needs the right to read tenant nsco", "without --as: it checks as you"}},
		{name: "ns without a context namespace, the tenant's namespaces named otherwise", kubeconfig: ninaNoNS, args: []string{"ns", "nsco"},
			wantErr: []string{"tenant nsco: you may not read the Tenant", "tried namespace nsco",
				"set a namespace of the tenant on the context: kubectl config set-context --current --namespace NS"}},
		{name: "ns without a name or a context namespace", kubeconfig: ninaNoNS, args: []string{"ns"},
			wantErr: []string{"name the tenant, or set a namespace of the tenant on the context"}},
		{name: "another tenant", kubeconfig: nina, args: []string{"status", "nsone"},
			wantErr: []string{"tenant nsone: you may not read the Tenant", "the context's namespace nsco-dev and namespace nsone"}},
		{name: "platform engineer: ns without a name", kubeconfig: platform, args: []string{"ns"},
			wantOut: []string{"nsco-dev\nnsco-prod\n"}, wantExact: true},
		{name: "platform engineer: status from the Tenant", kubeconfig: platform, args: []string{"status", "nsco"},
			wantOut: []string{"Tenant nsco (Nsco Ltd): plan pro, phase Ready", "Conditions:\n", "Ready"}},
		{name: "list every tenant", kubeconfig: nina, args: []string{"list"},
			wantErr: []string{`tenants.tenantry.dev is forbidden: User "nina@nsco.example" cannot list resource "tenants"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tenantry(t, append([]string{"--kubeconfig", tt.kubeconfig}, tt.args...)...)
			if len(tt.wantErr) > 0 {
				if r.err == nil {
					t.Fatalf("succeeded, want an error:\n%s", r)
				}
				wantContains(t, "error", r.err.Error(), tt.wantErr...)
				return
			}
			if r.err != nil {
				t.Fatalf("tenantry %s: %s", strings.Join(tt.args, " "), r)
			}
			if tt.wantExact && r.out != tt.wantOut[0] {
				t.Errorf("output = %q, want %q", r.out, tt.wantOut[0])
			}
			wantContains(t, "output", r.out, tt.wantOut...)
		})
	}
}

func writeKubeconfig(t *testing.T, cfg *rest.Config, user, namespace string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := localcluster.WriteKubeconfig(cfg, user, path); err != nil {
		t.Fatal(err)
	}
	if namespace == "" {
		return path
	}
	kc, err := clientcmd.LoadFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	kc.Contexts[kc.CurrentContext].Namespace = namespace
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestBadInput: each mistake gets a message that names it and the fix.
func TestBadInput(t *testing.T) {
	testutil.NeedsCluster(t)
	t.Parallel()
	notARepo := t.TempDir()
	dirty := newRepo(t)
	if err := os.WriteFile(filepath.Join(dirty, "junk.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	unreachable := writeKubeconfig(t, &rest.Config{Host: "https://127.0.0.1:1", BearerToken: "x"}, "nobody", "")
	clean := newRepo(t)
	owner := []string{"--owner", "user:a@bad.example"}
	mustRun(t, append([]string{"create", "badenv", "--plan", "free", "--env", "prod"}, owner...)...)

	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"unknown plan", append([]string{"create", "bad", "--plan", "gold"}, owner...),
			[]string{`unknown plan "gold"`, "the plans in the cluster are: enterprise, free, pro"}},
		{"unknown plan in Git", append([]string{"create", "bad", "--plan", "gold", "--gitops", clean}, owner...),
			[]string{`unknown plan "gold"`, "plans are: enterprise, free, pro"}},
		{"malformed owner", []string{"create", "bad", "--plan", "pro", "--owner", "alice"},
			[]string{`--owner "alice"`, "KIND:NAME[=ROLE]", "user:alice@acme.com=admin"}},
		{"no owner", []string{"create", "bad", "--plan", "pro"}, []string{"--owner is required"}},
		{"no plan", append([]string{"create", "bad"}, owner...), []string{`"plan" not set`}},
		{"not a Git repository", append([]string{"create", "bad", "--plan", "pro", "--gitops", notARepo}, owner...),
			[]string{notARepo, "not a Git repository", "git init"}},
		{"dirty working copy", append([]string{"create", "bad", "--plan", "pro", "--gitops", dirty}, owner...),
			[]string{"uncommitted changes (junk.txt)", "--allow-dirty"}},
		{"cluster unreachable", []string{"--kubeconfig", unreachable, "list"},
			[]string{"cannot reach the cluster at https://127.0.0.1:1", "kubeconfig " + unreachable, "context nobody@localcluster"}},
		{"push without Git", []string{"suspend", "bad", "--push"}, []string{"--push only makes sense with --gitops DIR"}},
		{"no such tenant", []string{"suspend", "nosuch"}, []string{"no tenant nosuch", "tenantry list"}},
		{"no such tenant in Git", []string{"suspend", "nosuch", "--gitops", clean}, []string{"no tenant nosuch in " + clean, "tenantry create"}},
		{"no such environment", []string{"remove-env", "badenv", "nosuchenv"}, []string{`tenant badenv has no environment "nosuchenv" (it has: prod)`}},
		{"bad output format", []string{"list", "-o", "xml"}, []string{`--output "xml"`, "yaml or json"}},
		{"audit without Git", []string{"audit", "any"}, []string{"pass --gitops DIR"}},
		{"move without a cluster", []string{"move", "badenv"}, []string{"--to is required"}},
		{"move on a cluster that is no hub", []string{"move", "badenv", "--to", "eu-1"}, []string{"--to eu-1", "no fleet hub", "docs/fleet.md"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tenantry(t, tt.args...)
			if r.err == nil {
				t.Fatalf("tenantry %s succeeded:\n%s", strings.Join(tt.args, " "), r)
			}
			wantContains(t, "error", r.err.Error(), tt.want...)
		})
	}

	// --allow-dirty commits the tenant file only.
	mustRun(t, append([]string{"create", "dirtyok", "--plan", "free", "--gitops", dirty, "--allow-dirty"}, owner...)...)
	files, err := headCommit(t, dirty).Files()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	_ = files.ForEach(func(f *object.File) error { names = append(names, f.Name); return nil })
	if slices.Contains(names, "junk.txt") {
		t.Errorf("--allow-dirty committed junk.txt: %v", names)
	}
}

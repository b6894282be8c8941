package gitops

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/tenantry/tenantry/api/v1alpha1"
	"github.com/tenantry/tenantry/gitops"
)

const (
	testUser  = "Test User"
	testEmail = "test@example.com"
)

// isolate keeps the machine's git config (identity, global excludes) out
// of a test.
func isolate(t *testing.T) {
	t.Helper()
	t.Setenv("HOME", t.TempDir())
	t.Setenv("XDG_CONFIG_HOME", "")
}

// newRepo makes a Git repository in a temporary folder with an identity in
// its own config, and returns the folder.
func newRepo(t *testing.T) (string, *git.Repository) {
	t.Helper()
	isolate(t)
	dir := t.TempDir()
	repo, err := git.PlainInit(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := repo.Config()
	if err != nil {
		t.Fatal(err)
	}
	cfg.User.Name, cfg.User.Email = testUser, testEmail
	if err := repo.SetConfig(cfg); err != nil {
		t.Fatal(err)
	}
	return dir, repo
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// commitAll commits every file in the working copy, as a person would
// before using the CLI.
func commitAll(t *testing.T, repo *git.Repository, msg string) {
	t.Helper()
	wt, err := repo.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	if err := wt.AddWithOptions(&git.AddOptions{All: true}); err != nil {
		t.Fatal(err)
	}
	sig := &object.Signature{Name: testUser, Email: testEmail, When: time.Now()}
	if _, err := wt.Commit(msg, &git.CommitOptions{Author: sig, AllowEmptyCommits: true}); err != nil {
		t.Fatal(err)
	}
}

func openRepo(t *testing.T, dir string) *Repo {
	t.Helper()
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestOpen(t *testing.T) {
	dir, _ := newRepo(t)
	sub := filepath.Join(dir, "gitops")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	plain := t.TempDir()
	file := filepath.Join(plain, "file")
	writeFile(t, file, "x")

	t.Run("repository root", func(t *testing.T) {
		r := openRepo(t, dir)
		if r.Dir() != dir {
			t.Errorf("Dir() = %s, want %s", r.Dir(), dir)
		}
		rel, err := r.RelPath(r.TenantPath("acme"))
		if err != nil || rel != "tenants/acme.yaml" {
			t.Errorf("RelPath(TenantPath) = %q, %v; want tenants/acme.yaml", rel, err)
		}
	})
	t.Run("folder inside the repository", func(t *testing.T) {
		r := openRepo(t, sub)
		if r.Dir() != sub {
			t.Errorf("Dir() = %s, want %s", r.Dir(), sub)
		}
		if want := filepath.Join(sub, "tenants", "acme.yaml"); r.TenantPath("acme") != want {
			t.Errorf("TenantPath = %s, want %s", r.TenantPath("acme"), want)
		}
		rel, err := r.RelPath(r.TenantPath("acme"))
		if err != nil || rel != "gitops/tenants/acme.yaml" {
			t.Errorf("RelPath(TenantPath) = %q, %v; want gitops/tenants/acme.yaml", rel, err)
		}
		if _, err := r.RelPath(plain); err == nil || !strings.Contains(err.Error(), "outside the Git working copy") {
			t.Errorf("RelPath outside: got %v", err)
		}
	})

	refusals := []struct {
		name     string
		dir      string
		want     string
		sentinel error
	}{
		{"not a repository", plain, plain + `: not a Git repository (run "git init" there, or point --gitops at a clone of your GitOps repository)`, ErrNotARepository},
		{"missing folder", filepath.Join(plain, "nope"), filepath.Join(plain, "nope") + ": no such directory", nil},
		{"a file", file, file + ": not a directory", nil},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Open(tc.dir)
			if err == nil || err.Error() != tc.want {
				t.Errorf("got error %v, want %q", err, tc.want)
			}
			if tc.sentinel != nil && !errors.Is(err, tc.sentinel) {
				t.Errorf("error %v does not wrap %v", err, tc.sentinel)
			}
		})
	}
}

func TestDirty(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string, repo *git.Repository)
		want  []string
	}{{
		name:  "clean",
		setup: func(*testing.T, string, *git.Repository) {},
	}, {
		name: "modified",
		setup: func(t *testing.T, dir string, _ *git.Repository) {
			writeFile(t, filepath.Join(dir, "tenants", "acme.yaml"), "changed\n")
		},
		want: []string{"tenants/acme.yaml"},
	}, {
		name: "untracked",
		setup: func(t *testing.T, dir string, _ *git.Repository) {
			writeFile(t, filepath.Join(dir, "tenants", "new.yaml"), "new\n")
			writeFile(t, filepath.Join(dir, "notes.txt"), "new\n")
		},
		want: []string{"notes.txt", "tenants/new.yaml"},
	}, {
		name: "staged",
		setup: func(t *testing.T, dir string, repo *git.Repository) {
			writeFile(t, filepath.Join(dir, "plans", "gold.yaml"), "gold\n")
			wt, _ := repo.Worktree()
			if _, err := wt.Add("plans/gold.yaml"); err != nil {
				t.Fatal(err)
			}
		},
		want: []string{"plans/gold.yaml"},
	}, {
		name: "deleted",
		setup: func(t *testing.T, dir string, _ *git.Repository) {
			if err := os.Remove(filepath.Join(dir, "tenants", "acme.yaml")); err != nil {
				t.Fatal(err)
			}
		},
		want: []string{"tenants/acme.yaml"},
	}, {
		name: "tracked file in an ignored folder, modified",
		setup: func(t *testing.T, dir string, repo *git.Repository) {
			writeFile(t, filepath.Join(dir, "bin", "tool.sh"), "v1\n")
			wt, _ := repo.Worktree()
			if _, err := wt.Add("bin/tool.sh"); err != nil { // git add -f
				t.Fatal(err)
			}
			commitAll(t, repo, "add tool")
			writeFile(t, filepath.Join(dir, "bin", "tool.sh"), "v2\n")
			writeFile(t, filepath.Join(dir, "bin", "output"), "ignored\n")
		},
		want: []string{"bin/tool.sh"},
	}, {
		name: "ignored only",
		setup: func(t *testing.T, dir string, _ *git.Repository) {
			writeFile(t, filepath.Join(dir, "bin", "small"), "x")
			writeFile(t, filepath.Join(dir, "tenants", "acme.yaml~"), "backup")
			// A sparse 4 GiB file: if Dirty read it, the test would take
			// seconds instead of milliseconds.
			f, err := os.Create(filepath.Join(dir, "bin", "big"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if err := f.Truncate(4 << 30); err != nil {
				t.Fatal(err)
			}
		},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir, repo := newRepo(t)
			writeFile(t, filepath.Join(dir, ".gitignore"), "/bin/\n*~\n")
			writeFile(t, filepath.Join(dir, "tenants", "acme.yaml"), "acme\n")
			commitAll(t, repo, "initial")
			tc.setup(t, dir, repo)

			got, err := openRepo(t, dir).Dirty()
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("Dirty() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestDirtyDoesNotEnterIgnoredFolders(t *testing.T) {
	dir, repo := newRepo(t)
	writeFile(t, filepath.Join(dir, ".gitignore"), "node_modules/\nbuild/\n")
	writeFile(t, filepath.Join(dir, "build", "keep.txt"), "tracked\n")
	wt, _ := repo.Worktree()
	if _, err := wt.Add("build/keep.txt"); err != nil {
		t.Fatal(err)
	}
	commitAll(t, repo, "initial")
	writeFile(t, filepath.Join(dir, "node_modules", "x", "index.js"), "x\n")
	writeFile(t, filepath.Join(dir, "web", "node_modules", "y.js"), "y\n")
	writeFile(t, filepath.Join(dir, "web", "app.js"), "app\n")

	hidden, err := openRepo(t, dir).withoutIgnoredFolders()
	if err != nil {
		t.Fatal(err)
	}
	for folder, want := range map[string][]string{
		"":    {".git", ".gitignore", "build", "web"}, // build/ holds a tracked file
		"web": {"app.js"},
	} {
		entries, err := hidden.Filesystem.ReadDir(folder)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		slices.Sort(names)
		if !slices.Equal(names, want) {
			t.Errorf("ReadDir(%q) = %q, want %q", folder, names, want)
		}
	}
}

func TestCommitTenant(t *testing.T) {
	dir, repo := newRepo(t)
	// tenants.md sorts before the tenants/ folder in a Git tree; a tree in
	// the wrong order would fail git fsck below.
	writeFile(t, filepath.Join(dir, "tenants.md"), "# Tenants\n")
	writeFile(t, filepath.Join(dir, "tenants-old", "x.yaml"), "x\n")
	commitAll(t, repo, "initial")
	r := openRepo(t, dir)
	acme := readExample(t, "tenants/acme.yaml")
	edited := []byte(strings.Replace(string(acme), "plan: pro", "plan: enterprise", 1))

	steps := []struct {
		name    string
		data    []byte
		wantErr error
		want    []byte // the committed file; nil for none
	}{
		{"create", acme, nil, acme},
		{"same again", acme, ErrNoChange, acme},
		{"edit", edited, nil, edited},
		{"delete", nil, nil, nil},
		{"delete again", nil, ErrNoChange, nil},
		{"create again", acme, nil, acme},
	}
	for _, s := range steps {
		before := headHash(t, repo)
		hash, err := r.CommitTenant("acme", s.data, "tenant acme: "+s.name)
		if s.wantErr != nil {
			if !errors.Is(err, s.wantErr) || err.Error() != "no change to commit for tenant acme" {
				t.Errorf("%s: got error %v, want %q", s.name, err, "no change to commit for tenant acme")
			}
			if headHash(t, repo) != before {
				t.Errorf("%s: HEAD moved", s.name)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if !regexp.MustCompile(`^[0-9a-f]{40}$`).MatchString(hash) || headHash(t, repo) != hash {
			t.Fatalf("%s: returned %q, HEAD is %s", s.name, hash, headHash(t, repo))
		}
		c, err := repo.CommitObject(plumbing.NewHash(hash))
		if err != nil {
			t.Fatal(err)
		}
		if c.Message != "tenant acme: "+s.name || c.Author.Name != testUser || c.Author.Email != testEmail || c.Committer.Email != testEmail {
			t.Errorf("%s: commit %q by %s <%s>", s.name, c.Message, c.Author.Name, c.Author.Email)
		}
		if len(c.ParentHashes) != 1 || c.ParentHashes[0].String() != before {
			t.Errorf("%s: parents %v, want %s", s.name, c.ParentHashes, before)
		}
		got, err := fileAt(c, "tenants/acme.yaml")
		if err != nil || string(got) != string(s.want) || (got == nil) != (s.want == nil) {
			t.Errorf("%s: committed %q, %v; want %q", s.name, got, err, s.want)
		}
		if md, _ := fileAt(c, "tenants.md"); string(md) != "# Tenants\n" {
			t.Errorf("%s: tenants.md lost from the commit", s.name)
		}
		if dirty, err := r.Dirty(); err != nil || len(dirty) != 0 {
			t.Errorf("%s: working copy not clean after the commit: %q, %v", s.name, dirty, err)
		}
		onDisk, err := r.ReadTenant("acme")
		if s.want == nil {
			if !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("%s: ReadTenant after delete: %v, want fs.ErrNotExist", s.name, err)
			}
		} else if string(onDisk) != string(s.want) {
			t.Errorf("%s: file on disk %q", s.name, onDisk)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "tenants")); err != nil {
		t.Errorf("tenants/ folder: %v", err)
	}
	gitFsck(t, dir)
}

func TestCommitTenantLeavesOtherChangesOut(t *testing.T) {
	dir, repo := newRepo(t)
	writeFile(t, filepath.Join(dir, "gitops", "plans", "pro.yaml"), "pro\n")
	commitAll(t, repo, "initial")
	// Someone's work in progress: a staged plan change and an untracked file.
	writeFile(t, filepath.Join(dir, "gitops", "plans", "pro.yaml"), "pro, changed\n")
	writeFile(t, filepath.Join(dir, "gitops", "plans", "gold.yaml"), "gold\n")
	wt, _ := repo.Worktree()
	if _, err := wt.Add("gitops/plans/pro.yaml"); err != nil {
		t.Fatal(err)
	}

	r := openRepo(t, filepath.Join(dir, "gitops"))
	hash, err := r.CommitTenant("acme", readExample(t, "tenants/acme.yaml"), "Add tenant acme")
	if err != nil {
		t.Fatal(err)
	}
	c, err := repo.CommitObject(plumbing.NewHash(hash))
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := fileAt(c, "gitops/plans/pro.yaml"); string(got) != "pro\n" {
		t.Errorf("commit holds the staged plan change: %q", got)
	}
	if got, _ := fileAt(c, "gitops/tenants/acme.yaml"); got == nil {
		t.Error("commit lacks gitops/tenants/acme.yaml")
	}
	dirty, err := r.Dirty()
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"gitops/plans/gold.yaml", "gitops/plans/pro.yaml"}; !slices.Equal(dirty, want) {
		t.Errorf("Dirty() = %q, want %q (still staged and untracked)", dirty, want)
	}
	status, _ := wt.Status()
	if s := status.File("gitops/plans/pro.yaml"); s.Staging != git.Modified {
		t.Errorf("plans/pro.yaml no longer staged: %+v", s)
	}
	gitFsck(t, dir)
}

func TestCommitTenantIdentity(t *testing.T) {
	tests := []struct {
		name       string
		local      func(*config.Config)
		global     string // ~/.gitconfig
		wantAuthor string
	}{
		{"repository config", func(c *config.Config) { c.User.Name, c.User.Email = "Repo", "repo@x" }, "[user]\n\tname = Global\n\temail = global@x\n", "Repo <repo@x>"},
		{"global config", func(*config.Config) {}, "[user]\n\tname = Global\n\temail = global@x\n", "Global <global@x>"},
		{"author section wins", func(c *config.Config) { c.User.Name, c.Author.Name = "Repo", "Author" }, "[user]\n\temail = global@x\n", "Author <global@x>"},
		{"OS user", func(*config.Config) {}, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			isolate(t)
			if tc.global != "" {
				writeFile(t, filepath.Join(os.Getenv("HOME"), ".gitconfig"), tc.global)
			}
			dir := t.TempDir()
			repo, err := git.PlainInit(dir, false)
			if err != nil {
				t.Fatal(err)
			}
			cfg, _ := repo.Config()
			tc.local(cfg)
			if err := repo.SetConfig(cfg); err != nil {
				t.Fatal(err)
			}
			want := tc.wantAuthor
			if want == "" {
				if sys, _ := config.LoadConfig(config.SystemScope); sys != nil && sys.User.Name != "" {
					t.Skip("the system's git config sets user.name")
				}
				name, email := osIdentity()
				want = name + " <" + email + ">"
			}

			hash, err := openRepo(t, dir).CommitTenant("acme", readExample(t, "tenants/acme.yaml"), "Add tenant acme")
			if err != nil {
				t.Fatal(err)
			}
			c, _ := repo.CommitObject(plumbing.NewHash(hash))
			if got := c.Author.Name + " <" + c.Author.Email + ">"; got != want {
				t.Errorf("author %q, want %q", got, want)
			}
		})
	}
}

func TestCommitTenantRefusesBadNames(t *testing.T) {
	dir, _ := newRepo(t)
	r := openRepo(t, dir)
	for _, name := range []string{"../acme", "Acme", "", "a/b", "-acme"} {
		if _, err := r.CommitTenant(name, []byte("x"), "msg"); err == nil || !strings.Contains(err.Error(), "is not a tenant name") {
			t.Errorf("CommitTenant(%q): got %v", name, err)
		}
		if _, err := r.ReadTenant(name); err == nil {
			t.Errorf("ReadTenant(%q) accepted", name)
		}
	}
	if _, err := r.CommitTenant("acme", []byte("x"), " \n"); err == nil || !strings.Contains(err.Error(), "empty commit message") {
		t.Errorf("empty message: got %v", err)
	}
}

func TestHistory(t *testing.T) {
	dir, repo := newRepo(t)
	writeFile(t, filepath.Join(dir, "README.md"), "GitOps\n")
	commitAll(t, repo, "initial")
	r := openRepo(t, dir)
	acme := string(readExample(t, "tenants/acme.yaml"))

	edit := func(data string, f func(*v1alpha1.Tenant)) string {
		t.Helper()
		out, err := EditTenant([]byte(data), func(tn *v1alpha1.Tenant) error { f(tn); return nil })
		if err != nil {
			t.Fatal(err)
		}
		return string(out)
	}
	enterprise := edit(acme, func(tn *v1alpha1.Tenant) { tn.Spec.Plan = "enterprise" })
	withQA := edit(enterprise, func(tn *v1alpha1.Tenant) { tn.Spec.Environments = append(tn.Spec.Environments, "qa") })
	suspended := edit(withQA, func(tn *v1alpha1.Tenant) {
		tn.Spec.Suspended = true
		tn.Spec.Quota = nil
		tn.Spec.Owners[1].Role = v1alpha1.RoleAdmin
	})

	commits := []struct {
		data    string // "" deletes
		message string
	}{
		{acme, "Add tenant acme\n\nRequested in PLAT-12.\n"},
		{enterprise, "tenant acme: plan enterprise"},
		{"", "unrelated"}, // a commit to another file
		{withQA, "tenant acme: add environment qa"},
		{suspended, "tenant acme: suspend"},
		{"", "Remove tenant acme"},
	}
	for _, c := range commits {
		if c.message == "unrelated" {
			writeFile(t, filepath.Join(dir, "README.md"), "GitOps, changed\n")
			commitAll(t, repo, c.message)
			continue
		}
		var data []byte
		if c.data != "" {
			data = []byte(c.data)
		}
		if _, err := r.CommitTenant("acme", data, c.message); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.CommitTenant("globex", readExample(t, "tenants/globex.yaml"), "Add tenant globex"); err != nil {
		t.Fatal(err)
	}

	got, err := r.History("acme")
	if err != nil {
		t.Fatal(err)
	}
	want := []Change{
		{Subject: "Remove tenant acme", Diff: []string{"deleted"}},
		{Subject: "tenant acme: suspend", Diff: []string{
			"spec.owners[1].role: developer -> admin",
			"- spec.quota.requests.cpu (was 6)",
			"+ spec.suspended: true",
		}},
		{Subject: "tenant acme: add environment qa", Diff: []string{"spec.environments: + qa"}},
		{Subject: "tenant acme: plan enterprise", Diff: []string{"spec.plan: pro -> enterprise"}},
		{Subject: "Add tenant acme", Body: "Requested in PLAT-12.", Diff: []string{"created"}},
	}
	if len(got) != len(want) {
		t.Fatalf("History has %d changes, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		if g.Subject != w.Subject || g.Body != w.Body || !slices.Equal(g.Diff, w.Diff) {
			t.Errorf("change %d: got %q / %q / %q, want %q / %q / %q", i, g.Subject, g.Body, g.Diff, w.Subject, w.Body, w.Diff)
		}
		if g.Author != testUser+" <"+testEmail+">" {
			t.Errorf("change %d: author %q", i, g.Author)
		}
		if !regexp.MustCompile(`^[0-9a-f]{12}$`).MatchString(g.Hash) || time.Since(g.When) > time.Hour {
			t.Errorf("change %d: hash %q, when %v", i, g.Hash, g.When)
		}
	}

	none, err := r.History("initech")
	if err != nil || len(none) != 0 {
		t.Errorf("History of a tenant never committed: %+v, %v", none, err)
	}
}

func TestHistoryEmptyRepository(t *testing.T) {
	dir, _ := newRepo(t)
	got, err := openRepo(t, dir).History("acme")
	if err != nil || got != nil {
		t.Errorf("History in a repository without commits: %+v, %v", got, err)
	}
}

func TestDiffTenant(t *testing.T) {
	const base = "apiVersion: tenantry.dev/v1alpha1\nkind: Tenant\nmetadata:\n  name: acme\nspec:\n  plan: pro\n"
	tests := []struct {
		name          string
		before, after string
		want          []string
	}{
		{"plan", base, strings.Replace(base, "pro", "free", 1), []string{"spec.plan: pro -> free"}},
		{"environments added and removed",
			base + "  environments: [prod, staging]\n", base + "  environments: [prod, qa, dev]\n",
			[]string{"spec.environments: - staging", "spec.environments: + qa", "spec.environments: + dev"}},
		{"first environment", base, base + "  environments: [prod]\n", []string{"spec.environments: + prod"}},
		{"environments reordered", base + "  environments: [prod, dev]\n", base + "  environments: [dev, prod]\n", []string{"spec.environments: reordered"}},
		{"owner added",
			base + "  owners:\n  - {kind: User, name: a}\n", base + "  owners:\n  - {kind: User, name: a}\n  - {kind: Group, name: g, role: viewer}\n",
			[]string{"+ spec.owners[1].kind: Group", "+ spec.owners[1].name: g", "+ spec.owners[1].role: viewer"}},
		{"label added, quota changed",
			base + "  quota: {requests.cpu: 6000m}\n", strings.Replace(base, "  name: acme\n", "  name: acme\n  labels: {tier: gold}\n", 1) + "  quota: {requests.cpu: \"8\"}\n",
			[]string{"+ metadata.labels.tier: gold", "spec.quota.requests.cpu: 6 -> 8"}},
		{"same tenant written differently", base + "  quota: {requests.cpu: 6000m}\n", base + "  quota:\n    requests.cpu: \"6\"\n", nil},
		{"status is not the tenant's", base, base + "status: {phase: Ready}\n", nil},
		{"not a valid Tenant: plain YAML", base + "  plann: x\n", base + "  plann: z\n", []string{"spec.plann: x -> z"}},
		{"not YAML", base, "a: [", []string{"not valid YAML: yaml: line 1: did not find expected node content"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := diffTenant([]byte(tc.before), []byte(tc.after))
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestReadTenantAndPlanNames(t *testing.T) {
	dir, _ := newRepo(t)
	r := openRepo(t, dir)
	if _, err := r.ReadTenant("acme"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadTenant of a missing file: %v, want fs.ErrNotExist", err)
	}
	if names, err := r.PlanNames(); names != nil || err != nil {
		t.Errorf("PlanNames without plans/: %q, %v", names, err)
	}

	entries, err := fs.Glob(examples.Examples, "plans/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		writeFile(t, filepath.Join(dir, e), string(readExample(t, e)))
	}
	writeFile(t, filepath.Join(dir, "plans", "more.yaml"), `apiVersion: tenantry.dev/v1alpha1
kind: TenantPlan
metadata: {name: gold}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: not-a-plan}
`)
	writeFile(t, filepath.Join(dir, "plans", "README.md"), "not YAML: [")
	names, err := r.PlanNames()
	if want := []string{"enterprise", "free", "gold", "pro"}; err != nil || !slices.Equal(names, want) {
		t.Errorf("PlanNames() = %q, %v; want %q", names, err, want)
	}

	writeFile(t, filepath.Join(dir, "plans", "broken.yaml"), "kind: [")
	if _, err := r.PlanNames(); err == nil || !strings.Contains(err.Error(), "broken.yaml") {
		t.Errorf("PlanNames with a broken file: %v, want an error naming it", err)
	}
}

func TestPush(t *testing.T) {
	dir, repo := newRepo(t)
	bare := t.TempDir()
	remote, err := git.PlainInit(bare, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := repo.CreateRemote(&config.RemoteConfig{Name: "origin", URLs: []string{bare}}); err != nil {
		t.Fatal(err)
	}
	r := openRepo(t, dir)
	ctx := context.Background()

	hash, err := r.CommitTenant("acme", readExample(t, "tenants/acme.yaml"), "Add tenant acme")
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Push(ctx, ""); err != nil {
		t.Fatalf("first push: %v", err)
	}
	head, _ := repo.Storer.Reference(plumbing.HEAD)
	pushed, err := remote.Reference(head.Target(), true)
	if err != nil || pushed.Hash().String() != hash {
		t.Errorf("remote %s = %v, %v; want %s", head.Target(), pushed, err, hash)
	}
	if err := r.Push(ctx, "origin"); err != nil {
		t.Errorf("push when up to date: %v", err)
	}

	if err := r.Push(ctx, "upstream"); err == nil || !strings.Contains(err.Error(), `no remote "upstream"`) {
		t.Errorf("push to a missing remote: %v", err)
	}
	gone := filepath.Join(t.TempDir(), "gone")
	if _, err := repo.CreateRemote(&config.RemoteConfig{Name: "broken", URLs: []string{gone}}); err != nil {
		t.Fatal(err)
	}
	if err := r.Push(ctx, "broken"); err == nil || !strings.Contains(err.Error(), "broken ("+gone+")") {
		t.Errorf("push to a broken remote: %v, want an error naming the remote and its URL", err)
	}
}

func readExample(t *testing.T, name string) []byte {
	t.Helper()
	data, err := examples.Examples.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func headHash(t *testing.T, repo *git.Repository) string {
	t.Helper()
	head, err := repo.Head()
	if err != nil {
		t.Fatal(err)
	}
	return head.Hash().String()
}

// gitFsck checks the objects CommitTenant wrote with git itself, when it is
// installed: go-git reads some malformed trees that git refuses.
func gitFsck(t *testing.T, dir string) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Log("git not installed: objects not checked with git fsck")
		return
	}
	cmd := exec.Command("git", "fsck", "--strict", "--no-dangling")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("git fsck: %v\n%s", err, out)
	}
}

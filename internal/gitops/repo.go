package gitops

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/go-git/go-billy/v5/osfs"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/gitignore"
	"github.com/go-git/go-git/v5/plumbing/format/index"
	"github.com/go-git/go-git/v5/plumbing/object"
	yaml "go.yaml.in/yaml/v3"

	"github.com/tenantry/tenantry/api/v1alpha1"
)

// Repo is a Git working copy holding a GitOps folder (tenants/, plans/).
// The folder may be the repository's root or a folder inside it (gitops/ in
// a larger repository), as platform teams keep both layouts.
type Repo struct {
	repo *git.Repository
	wt   *git.Worktree
	root string // the working copy's top folder, absolute
	dir  string // the GitOps folder, absolute
}

// ErrNotARepository is wrapped by Open's error when dir is in no Git
// working copy.
var ErrNotARepository = errors.New("not a Git repository")

// ErrNoChange is wrapped by CommitTenant's error when the file is already
// committed as asked, so that callers can report "nothing to do" rather than
// fail.
var ErrNoChange = errors.New("no change to commit")

// tenantName is what the Tenant CRD admits as a name. Checking it here also
// keeps a name like ../x from writing outside tenants/.
var tenantName = regexp.MustCompile(`^[a-z]([-a-z0-9]*[a-z0-9])?$`)

// Open opens the working copy containing dir, looking for .git in dir and
// its parents as git does. When there is none, the error wraps
// ErrNotARepository and says how to get one.
func Open(dir string) (*Repo, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	fi, err := os.Stat(abs)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("%s: no such directory", dir)
	case err != nil:
		return nil, err
	case !fi.IsDir():
		return nil, fmt.Errorf("%s: not a directory", dir)
	}

	repo, err := git.PlainOpenWithOptions(abs, &git.PlainOpenOptions{DetectDotGit: true, EnableDotGitCommonDir: true})
	if errors.Is(err, git.ErrRepositoryNotExists) {
		return nil, fmt.Errorf("%s: %w (run \"git init\" there, or point --gitops at a clone of your GitOps repository)", dir, ErrNotARepository)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	wt, err := repo.Worktree()
	if errors.Is(err, git.ErrIsBareRepository) {
		return nil, fmt.Errorf("%s: a bare Git repository has no files to edit; point --gitops at a clone of it", dir)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	// go-git reads the repository's .gitignore files and .git/info/exclude
	// itself; add the user's and the system's excludes, as git does, so that
	// Dirty does not list an editor's backup files.
	root := osfs.New("/")
	if ps, err := gitignore.LoadSystemPatterns(root); err == nil {
		wt.Excludes = append(wt.Excludes, ps...)
	}
	if ps, err := gitignore.LoadGlobalPatterns(root); err == nil {
		wt.Excludes = append(wt.Excludes, ps...)
	}
	return &Repo{repo: repo, wt: wt, root: wt.Filesystem.Root(), dir: abs}, nil
}

// Dir is the GitOps folder Open was given, absolute.
func (r *Repo) Dir() string { return r.dir }

// TenantPath is the absolute path of the tenant's file, Dir/tenants/<name>.yaml.
func (r *Repo) TenantPath(name string) string {
	return filepath.Join(r.dir, "tenants", name+".yaml")
}

// RelPath converts an absolute path under the working copy to the path git
// shows (relative to the working copy's top, with slashes).
func (r *Repo) RelPath(abs string) (string, error) {
	rel, err := filepath.Rel(r.root, abs)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", fmt.Errorf("%s is outside the Git working copy %s", abs, r.root)
	}
	return filepath.ToSlash(rel), nil
}

// Dirty lists the paths (relative to the working copy's top) with
// uncommitted changes: modified, staged, or untracked and not ignored,
// sorted. Empty means clean, so that the CLI can refuse to mix its commit
// with someone's work in progress.
//
// Ignored folders (a bin/ in .gitignore) are neither listed nor entered.
func (r *Repo) Dirty() ([]string, error) {
	wt, err := r.withoutIgnoredFolders()
	if err != nil {
		return nil, fmt.Errorf("git status in %s: %w", r.root, err)
	}
	status, err := wt.Status()
	if err != nil {
		return nil, fmt.Errorf("git status in %s: %w", r.root, err)
	}
	var paths []string
	for p, s := range status {
		if s.Staging != git.Unmodified || s.Worktree != git.Unmodified {
			paths = append(paths, p)
		}
	}
	slices.Sort(paths)
	return paths, nil
}

// ReadTenant returns the tenant's file as it is in the working copy, or an
// error wrapping fs.ErrNotExist when there is none.
func (r *Repo) ReadTenant(name string) ([]byte, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(r.TenantPath(name))
	if err != nil {
		return nil, fmt.Errorf("tenant %s: %w", name, err)
	}
	return data, nil
}

// PlanNames lists the names of the TenantPlans in Dir/plans/*.yaml, sorted,
// so that the CLI can check a plan exists before committing a tenant that
// the operator would refuse. It returns nil, nil when there is no plans
// folder.
func (r *Repo) PlanNames() ([]string, error) {
	files, err := filepath.Glob(filepath.Join(r.dir, "plans", "*.yaml"))
	if err != nil {
		return nil, err
	}
	var names []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		for {
			var doc struct {
				APIVersion string `yaml:"apiVersion"`
				Kind       string `yaml:"kind"`
				Metadata   struct {
					Name string `yaml:"name"`
				} `yaml:"metadata"`
			}
			err := dec.Decode(&doc)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("%s: %w", f, err)
			}
			if doc.Kind == planKind && doc.APIVersion == v1alpha1.GroupVersion.String() && doc.Metadata.Name != "" {
				names = append(names, doc.Metadata.Name)
			}
		}
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}

// CommitTenant writes data to tenants/<name>.yaml (creating tenants/ if
// needed), stages that file and commits it alone with message, as
// `git commit --only` does: other staged changes stay staged and out of the
// commit, so the CLI never commits someone's unrelated work. data == nil
// deletes the file (git rm). It returns the new commit's full hash.
//
// The author and committer come from git config (the repository's, then the
// user's, then the system's), falling back to the OS user name and
// <user>@<hostname>, so that a first run on a fresh machine still commits.
// When the file is already committed as asked, nothing is written and the
// error wraps ErrNoChange.
func (r *Repo) CommitTenant(name string, data []byte, message string) (string, error) {
	if err := checkName(name); err != nil {
		return "", err
	}
	if strings.TrimSpace(message) == "" {
		return "", fmt.Errorf("commit tenant %s: empty commit message", name)
	}
	abs := r.TenantPath(name)
	rel, err := r.RelPath(abs)
	if err != nil {
		return "", err
	}
	branch, parent, err := r.head()
	if err != nil {
		return "", err
	}
	committed, err := fileAt(parent, rel)
	if err != nil {
		return "", err
	}
	if (data == nil && committed == nil) || (data != nil && committed != nil && bytes.Equal(data, committed)) {
		return "", fmt.Errorf("%w for tenant %s", ErrNoChange, name)
	}

	entry, err := r.stage(abs, rel, data)
	if err != nil {
		return "", err
	}
	var tree *object.Tree
	if parent != nil {
		if tree, err = parent.Tree(); err != nil {
			return "", err
		}
	}
	treeHash, _, err := writeTree(r.repo.Storer, tree, strings.Split(rel, "/"), entry)
	if err != nil {
		return "", fmt.Errorf("commit tenant %s: %w", name, err)
	}
	author, committer, err := r.signatures()
	if err != nil {
		return "", err
	}
	commit := &object.Commit{Author: author, Committer: committer, Message: message, TreeHash: treeHash}
	var old *plumbing.Reference
	if parent != nil {
		commit.ParentHashes = []plumbing.Hash{parent.Hash}
		old = plumbing.NewHashReference(branch, parent.Hash)
	}
	hash, err := store(r.repo.Storer, commit)
	if err != nil {
		return "", fmt.Errorf("commit tenant %s: %w", name, err)
	}
	// Compare-and-set, so that a commit made meanwhile by someone else on
	// this branch is not silently dropped.
	if err := r.repo.Storer.CheckAndSetReference(plumbing.NewHashReference(branch, hash), old); err != nil {
		return "", fmt.Errorf("commit tenant %s: update %s: %w", name, branch, err)
	}
	return hash.String(), nil
}

// stage writes data to the tenant file at abs (rel in the repository) and
// adds it to the index, returning its tree entry; nil data removes the
// file, and the entry is nil.
func (r *Repo) stage(abs, rel string, data []byte) (*object.TreeEntry, error) {
	if data == nil {
		return nil, r.unstage(abs, rel)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(abs, data, 0o644); err != nil {
		return nil, err
	}
	if _, err := r.wt.Add(rel); err != nil {
		return nil, fmt.Errorf("git add %s: %w", rel, err)
	}
	// The index entry has the blob and the mode git add saw on disk.
	idx, err := r.repo.Storer.Index()
	if err != nil {
		return nil, err
	}
	e, err := idx.Entry(rel)
	if err != nil {
		return nil, fmt.Errorf("git add %s: %w", rel, err)
	}
	return &object.TreeEntry{Mode: e.Mode, Hash: e.Hash}, nil
}

// Push pushes the current branch to the branch of the same name on remote
// ("origin" when empty). A remote already up to date is not an error.
//
// Authentication is go-git's: the SSH agent for ssh:// and scp-like URLs;
// git's credential helpers are not used.
func (r *Repo) Push(ctx context.Context, remote string) error {
	if remote == "" {
		remote = git.DefaultRemoteName
	}
	rem, err := r.repo.Remote(remote)
	if errors.Is(err, git.ErrRemoteNotFound) {
		return fmt.Errorf("push: no remote %q in %s (add one with: git remote add %s <url>)", remote, r.root, remote)
	}
	if err != nil {
		return fmt.Errorf("push to %s: %w", remote, err)
	}
	url := strings.Join(rem.Config().URLs, ", ")
	head, err := r.repo.Storer.Reference(plumbing.HEAD)
	if err != nil {
		return fmt.Errorf("push to %s (%s): %w", remote, url, err)
	}
	if head.Type() != plumbing.SymbolicReference {
		return fmt.Errorf("push to %s (%s): HEAD is detached; check out a branch first", remote, url)
	}
	branch := head.Target()
	err = r.repo.PushContext(ctx, &git.PushOptions{
		RemoteName: remote,
		RefSpecs:   []config.RefSpec{config.RefSpec(branch + ":" + branch)},
	})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return fmt.Errorf("push %s to %s (%s): %w", branch.Short(), remote, url, err)
	}
	return nil
}

// Change is one commit touching a tenant file.
type Change struct {
	Hash    string    // short (ShortHash)
	Author  string    // "Name <email>"
	When    time.Time // author time
	Subject string    // first line of the message
	Body    string    // rest of the message, trimmed
	// Diff is what changed in the Tenant, one line per field:
	// "spec.plan: free -> pro", "spec.environments: + qa",
	// "+ spec.suspended: true", "- spec.quota.requests.cpu (was 6)",
	// or just "created" or "deleted".
	Diff []string
}

// History lists the commits that changed the tenant's file, newest first,
// each with what changed in the Tenant, so that "who moved acme to the free
// plan, and when" has an answer without reading YAML diffs.
//
// A commit is listed when its file differs from the file in each of its
// parents (a merge that took one side's file is not; the commit on that side
// is), and it is compared with its first parent. A shallow clone's history
// ends at its boundary.
func (r *Repo) History(name string) ([]Change, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	rel, err := r.RelPath(r.TenantPath(name))
	if err != nil {
		return nil, err
	}
	_, head, err := r.head()
	if err != nil || head == nil {
		return nil, err
	}
	var changes []Change
	err = walk(r.repo, head, func(c *object.Commit, parents []*object.Commit) error {
		blob := blobHash(c, rel)
		for _, p := range parents {
			if blobHash(p, rel) == blob {
				return nil
			}
		}
		if len(parents) == 0 && blob.IsZero() {
			return nil
		}
		var parent *object.Commit
		if len(parents) > 0 {
			parent = parents[0]
		}
		before, err := fileAt(parent, rel)
		if err != nil {
			return err
		}
		after, err := fileAt(c, rel)
		if err != nil {
			return err
		}
		subject, body, _ := strings.Cut(strings.TrimSpace(c.Message), "\n")
		changes = append(changes, Change{
			Hash:    ShortHash(c.Hash.String()),
			Author:  fmt.Sprintf("%s <%s>", c.Author.Name, c.Author.Email),
			When:    c.Author.When,
			Subject: strings.TrimSpace(subject),
			Body:    strings.TrimSpace(body),
			Diff:    diffTenant(before, after),
		})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("history of tenant %s: %w", name, err)
	}
	return changes, nil
}

func checkName(name string) error {
	if len(name) > 63 || !tenantName.MatchString(name) {
		return fmt.Errorf("%q is not a tenant name: use lower-case letters, digits and '-', starting with a letter, at most 63 characters", name)
	}
	return nil
}

// head returns the reference a new commit moves (the current branch, or
// HEAD itself when detached) and the commit it points at, nil on a branch
// with no commit yet.
func (r *Repo) head() (plumbing.ReferenceName, *object.Commit, error) {
	ref, err := r.repo.Storer.Reference(plumbing.HEAD)
	if err != nil {
		return "", nil, fmt.Errorf("read HEAD: %w", err)
	}
	name := plumbing.HEAD
	if ref.Type() == plumbing.SymbolicReference {
		name = ref.Target()
	}
	resolved, err := r.repo.Reference(name, true)
	if errors.Is(err, plumbing.ErrReferenceNotFound) {
		return name, nil, nil
	}
	if err != nil {
		return "", nil, fmt.Errorf("read %s: %w", name, err)
	}
	c, err := r.repo.CommitObject(resolved.Hash())
	if err != nil {
		return "", nil, fmt.Errorf("read %s: %w", name, err)
	}
	return name, c, nil
}

// unstage deletes the file from the working copy and the index.
func (r *Repo) unstage(abs, rel string) error {
	if err := os.Remove(abs); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	idx, err := r.repo.Storer.Index()
	if err != nil {
		return err
	}
	if _, err := idx.Remove(rel); err != nil && !errors.Is(err, index.ErrEntryNotFound) {
		return err
	}
	return r.repo.Storer.SetIndex(idx)
}

// signatures reads the author and committer from git config, as git does.
// go-git's ConfigScoped(config.SystemScope) merges the repository's config
// over the user's over the system's (GlobalScope leaves the system's out).
func (r *Repo) signatures() (author, committer object.Signature, err error) {
	cfg, err := r.repo.ConfigScoped(config.SystemScope)
	if err != nil {
		return author, committer, fmt.Errorf("read git config: %w", err)
	}
	now := time.Now()
	osName, osEmail := osIdentity()
	sign := func(name, email string) object.Signature {
		name = cmp.Or(name, cfg.User.Name, osName)
		email = cmp.Or(email, cfg.User.Email, osEmail)
		return object.Signature{Name: name, Email: email, When: now}
	}
	return sign(cfg.Author.Name, cfg.Author.Email), sign(cfg.Committer.Name, cfg.Committer.Email), nil
}

// osIdentity is the OS user name and <user>@<hostname>, git's own fallback
// when no user.name or user.email is configured.
func osIdentity() (name, email string) {
	name = os.Getenv("USER")
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	if name == "" {
		name = "tenantry"
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	return name, name + "@" + host
}

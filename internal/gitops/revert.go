package gitops

import (
	"context"
	"errors"
	"fmt"
	"path"
	"regexp"
	"strings"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/storage/memory"
)

// RevertRequest names the change to undo: the newest commit that touched an
// app's path.
type RevertRequest struct {
	// RepoURL is the app's repository: git://, https://, ssh://, file:// or
	// a local path.
	RepoURL string
	// Branch is the branch Argo CD follows (the app's targetRevision), as a
	// name ("main") or a reference ("refs/heads/main"); "" or "HEAD" is the
	// remote's default branch.
	Branch string
	// Path is the app's folder in the repository, relative to its top ("" or
	// "." is the whole repository).
	Path string
	// Revision is the commit Argo CD synced when the rollout aborted, a hash
	// (full, or abbreviated as long as it is unique).
	Revision string
	// Released, when set, is a commit the app was last released from
	// successfully: a change it already holds is not what failed (the
	// release came from elsewhere, e.g. values set outside the path), so
	// it is not reverted.
	Released string
	// Reason says why, e.g. "rollout shop aborted: analysis success-rate
	// failed"; it is the revert commit's body.
	Reason string
	// AuthorName and AuthorEmail are the revert commit's author and
	// committer.
	AuthorName, AuthorEmail string
	// Auth authenticates the clone, fetch and push (go-git's
	// plumbing/transport); nil is anonymous. CredentialsFor builds it.
	Auth transport.AuthMethod
	// CABundle, when set, are the PEM certificates trusted for an HTTPS
	// repository (Credentials.CABundle).
	CABundle []byte
}

// RevertResult is what Revert did: Commit is empty when it refused, and
// Skipped says why.
type RevertResult struct {
	Reverted string // the commit undone (full hash)
	Subject  string // its subject line
	Commit   string // the new revert commit (full hash)
	Skipped  string // non-empty when nothing was committed, saying why in a sentence a person can act on
}

// revertTrailer marks the commits Revert makes, with the hash of the commit
// undone, so that it never reverts its own revert.
const revertTrailer = "Tenantry-Reverts"

var revertTrailerLine = regexp.MustCompile(`(?m)^` + revertTrailer + `:[ \t]*([0-9a-f]{4,64})[ \t]*$`)

// Revert commits to req.Branch the revert of the newest commit that changed
// req.Path, so that after an app's rollout aborted Git again describes what
// runs, and Argo CD's auto-sync does not deploy the bad version again.
//
// It clones the branch into memory (no worktree, nothing on disk; the whole
// history, which the checks below need) and takes C, the newest commit on the
// branch's first-parent line whose content under Path differs from its first
// parent's. Following first parents, as `git log --first-parent` does, makes
// C the change that made Path what the branch's head holds (a change brought
// in by a merge is the merge's), so the revert always applies cleanly. The
// revert commit's parent is the head, and its tree is the head's with every
// file under Path that C added, modified or deleted as it was in C's parent;
// nothing outside Path is touched. Its message is
//
//	Revert "<C's subject>"
//
//	<Reason>
//
//	This reverts commit <C>.
//	Tenantry-Reverts: <C>
//
// Revert is deliberately narrow: it only ever undoes the one change the
// failed rollout deployed. It refuses, returning no error and a result whose
// Skipped says why, when
//   - no commit on the branch changed Path;
//   - C is itself a revert made by Revert (its message has the trailer
//     "Tenantry-Reverts: <hash>"): Git already holds the previous version,
//     and a revert of that would redeploy what failed. This also makes a
//     second call for the same failure a no-op;
//   - C is not Revision or one of its ancestors (or Revision is not on the
//     branch): the rollout that failed did not deploy C, a newer change is
//     already in Git and Argo CD will sync it;
//   - C is a merge or the repository's first commit, which have no single
//     previous version to go back to;
//   - C also changed files outside Path: reverting only Path's part would
//     leave the change half undone, so a person reverts it.
//
// The push is a plain fast-forward push that also requires the remote branch
// to still be at the head the revert was built on. When the branch moved
// meanwhile, Revert fetches it again and decides again, once, since the new
// head may have changed Path or reverted C already; a second rejection is an
// error. Errors are for what failed: an invalid request, the clone, the
// fetch, the push, or ctx.
func Revert(ctx context.Context, req RevertRequest) (RevertResult, error) {
	return revert(ctx, req, (*git.Repository).PushContext)
}

// pushFunc pushes from a repository; the tests' own lands a commit on the
// remote first, as someone pushing at the same moment would.
type pushFunc func(*git.Repository, context.Context, *git.PushOptions) error

func revert(ctx context.Context, req RevertRequest, push pushFunc) (RevertResult, error) {
	rel, err := req.check()
	if err != nil {
		return RevertResult{}, err
	}
	repo, branch, err := cloneBranch(ctx, req)
	if errors.Is(err, transport.ErrEmptyRemoteRepository) {
		return RevertResult{Skipped: fmt.Sprintf("Repository %s has no commits: there is nothing to revert.", req.RepoURL)}, nil
	}
	if err != nil {
		return RevertResult{}, err
	}
	ref, err := repo.Reference(branch, true)
	if err != nil {
		return RevertResult{}, fmt.Errorf("clone %s: read %s: %w", req.RepoURL, branch, err)
	}
	base := ref.Hash()
	for attempt := 1; ; attempt++ {
		head, err := repo.CommitObject(base)
		if err != nil {
			return RevertResult{}, fmt.Errorf("read %s of %s: %w", branch.Short(), req.RepoURL, err)
		}
		res, err := revertOnto(ctx, repo, head, branch, rel, req)
		if err != nil || res.Commit == "" {
			return res, err
		}
		err = push(repo, ctx, &git.PushOptions{
			RemoteName: git.DefaultRemoteName,
			RefSpecs:   []config.RefSpec{config.RefSpec(res.Commit + ":" + branch.String())},
			// Compare-and-set: the revert was decided on base.
			RequireRemoteRefs: []config.RefSpec{config.RefSpec(base.String() + ":" + branch.String())},
			Auth:              req.Auth,
			CABundle:          req.CABundle,
		})
		if err == nil {
			return res, nil
		}
		err = fmt.Errorf("push the revert of %s to %s of %s: %w", ShortHash(res.Reverted), branch.Short(), req.RepoURL, err)
		if attempt > 1 {
			return RevertResult{}, fmt.Errorf("%w (retried once, after %s moved)", err, branch.Short())
		}
		if ctx.Err() != nil {
			return RevertResult{}, err
		}
		moved, ferr := fetchBranch(ctx, repo, branch, req)
		if ferr != nil {
			return RevertResult{}, fmt.Errorf("%w (fetching %s again: %w)", err, branch.Short(), ferr)
		}
		if moved == base {
			return RevertResult{}, err
		}
		base = moved
	}
}

// check validates the request and returns its path cleaned ("" for the
// whole repository).
func (req RevertRequest) check() (string, error) {
	var missing []string
	for _, f := range []struct{ name, value string }{
		{"RepoURL", req.RepoURL}, {"Revision", req.Revision},
		{"AuthorName", req.AuthorName}, {"AuthorEmail", req.AuthorEmail},
	} {
		if strings.TrimSpace(f.value) == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return "", fmt.Errorf("revert: %s required", strings.Join(missing, ", "))
	}
	switch rel := path.Clean(req.Path); {
	case rel == ".":
		return "", nil
	case path.IsAbs(rel) || rel == ".." || strings.HasPrefix(rel, "../"):
		return "", fmt.Errorf("revert: path %q is not a folder inside the repository", req.Path)
	default:
		return rel, nil
	}
}

// cloneBranch clones the branch req names into memory, and returns the
// clone and the branch's reference (refs/heads/...).
func cloneBranch(ctx context.Context, req RevertRequest) (*git.Repository, plumbing.ReferenceName, error) {
	name := plumbing.HEAD
	switch b := strings.TrimSpace(req.Branch); {
	case b == "" || b == "HEAD":
	case strings.HasPrefix(b, "refs/heads/"):
		name = plumbing.ReferenceName(b)
	case strings.HasPrefix(b, "refs/"):
		return nil, "", fmt.Errorf("revert in %s: %s is not a branch; a revert can only be pushed to a branch", req.RepoURL, b)
	default:
		name = plumbing.NewBranchReferenceName(b)
	}
	repo, err := git.CloneContext(ctx, memory.NewStorage(), nil, &git.CloneOptions{
		URL:           req.RepoURL,
		Auth:          req.Auth,
		CABundle:      req.CABundle,
		ReferenceName: name,
		SingleBranch:  true,
		Tags:          git.NoTags,
	})
	if err != nil {
		return nil, "", fmt.Errorf("clone %s of %s: %w", name.Short(), req.RepoURL, err)
	}
	head, err := repo.Storer.Reference(plumbing.HEAD)
	if err != nil {
		return nil, "", fmt.Errorf("clone %s of %s: %w", name.Short(), req.RepoURL, err)
	}
	if head.Type() != plumbing.SymbolicReference || !head.Target().IsBranch() {
		return nil, "", fmt.Errorf("clone %s: its HEAD names no branch; set the app's targetRevision to the branch to revert on", req.RepoURL)
	}
	return repo, head.Target(), nil
}

// fetchBranch fetches branch again and returns the commit it is at now.
func fetchBranch(ctx context.Context, repo *git.Repository, branch plumbing.ReferenceName, req RevertRequest) (plumbing.Hash, error) {
	tracking := plumbing.NewRemoteReferenceName(git.DefaultRemoteName, branch.Short())
	err := repo.FetchContext(ctx, &git.FetchOptions{
		RemoteName: git.DefaultRemoteName,
		RefSpecs:   []config.RefSpec{config.RefSpec("+" + branch.String() + ":" + tracking.String())},
		Auth:       req.Auth,
		CABundle:   req.CABundle,
		Tags:       git.NoTags,
	})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return plumbing.ZeroHash, err
	}
	ref, err := repo.Reference(tracking, true)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	return ref.Hash(), nil
}

func revertMessage(reverted plumbing.Hash, subject, reason string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Revert \"%s\"\n\n", subject)
	if reason = strings.TrimSpace(reason); reason != "" {
		b.WriteString(reason + "\n\n")
	}
	fmt.Fprintf(&b, "This reverts commit %s.\n%s: %s\n", reverted, revertTrailer, reverted)
	return b.String()
}

func subjectOf(c *object.Commit) string {
	subject, _, _ := strings.Cut(strings.TrimSpace(c.Message), "\n")
	return strings.TrimSpace(subject)
}

// ShortHash is a commit hash as people read it: its first 12 characters,
// unambiguous in repositories far larger than a tenant's. Every message,
// status and view of Tenantry shortens hashes with it.
func ShortHash(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// listOf names up to three paths, and how many more there are.
func listOf(paths []string) string {
	if len(paths) <= 3 {
		return strings.Join(paths, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(paths[:3], ", "), len(paths)-3)
}

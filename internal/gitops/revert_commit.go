package gitops

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// revertOnto decides whether to revert the newest change to rel below head
// and, when it does, stores the revert commit (not yet pushed).
func revertOnto(ctx context.Context, repo *git.Repository, head *object.Commit, branch plumbing.ReferenceName, rel string, req RevertRequest) (RevertResult, error) {
	r := reverter{repo: repo, head: head, branch: branch.Short(), rel: rel, req: req, where: rel}
	if r.where == "" {
		r.where = "the repository"
	}
	c, skip, err := r.changeToUndo(ctx)
	if err != nil || skip != "" {
		return RevertResult{Skipped: skip}, err
	}
	if skip, err := r.deployedNotReleased(ctx, c); err != nil || skip != "" {
		return RevertResult{Skipped: skip}, err
	}
	changes, skip, err := r.confined(ctx, c)
	if err != nil || skip != "" {
		return RevertResult{Skipped: skip}, err
	}
	return r.commit(c, changes)
}

// reverter undoes the newest change to rel on a branch whose head is head.
// Each step returns why it refuses, if it does, as Skipped says it.
type reverter struct {
	repo   *git.Repository
	head   *object.Commit
	branch string
	rel    string
	req    RevertRequest
	// where names rel for people.
	where string
}

// what names a commit for people: its short hash and subject.
func what(c *object.Commit) string {
	return fmt.Sprintf("%s \"%s\"", ShortHash(c.Hash.String()), subjectOf(c))
}

// changeToUndo finds the change to undo, C: the newest to rel, unless it is
// Tenantry's own revert.
func (r reverter) changeToUndo(ctx context.Context) (*object.Commit, string, error) {
	c, err := lastChange(ctx, r.repo.Storer, r.head, r.rel)
	if err != nil {
		return nil, "", fmt.Errorf("find the last change to %s on %s: %w", r.where, r.branch, err)
	}
	if c == nil {
		return nil, fmt.Sprintf("No commit on %s changed %s: there is nothing to revert.", r.branch, r.where), nil
	}
	if m := revertTrailerLine.FindStringSubmatch(c.Message); m != nil {
		return nil, fmt.Sprintf("The last change to %s on %s, %s, is already Tenantry's revert of %s: Git holds the version from before that change; if it fails too, fix %s by hand.",
			r.where, r.branch, what(c), ShortHash(m[1]), r.where), nil
	}
	return c, "", nil
}

// deployedNotReleased checks that C is in the revision that failed, and
// not in the last one released successfully: else the failure came from
// elsewhere.
func (r reverter) deployedNotReleased(ctx context.Context, c *object.Commit) (string, error) {
	notOnBranch := fmt.Sprintf("Revision %s is not on %s of %s (was the branch rewritten?): find the change to undo and revert it by hand.", r.req.Revision, r.branch, r.req.RepoURL)
	deployed, err := r.repo.ResolveRevision(plumbing.Revision(r.req.Revision))
	if errors.Is(err, plumbing.ErrReferenceNotFound) {
		return notOnBranch, nil
	}
	if err != nil {
		return "", fmt.Errorf("resolve revision %s: %w", r.req.Revision, err)
	}
	rev, err := r.repo.CommitObject(*deployed)
	if errors.Is(err, plumbing.ErrObjectNotFound) {
		return notOnBranch, nil
	}
	if err != nil {
		return "", fmt.Errorf("read revision %s: %w", r.req.Revision, err)
	}
	in, err := contains(ctx, r.repo, rev, c.Hash)
	if err != nil {
		return "", fmt.Errorf("is %s in revision %s: %w", ShortHash(c.Hash.String()), r.req.Revision, err)
	}
	if !in {
		return fmt.Sprintf("The last change to %s on %s, %s, is newer than the revision that failed (%s): it was not deployed, so it is left for Argo CD to sync.",
			r.where, r.branch, what(c), ShortHash(r.req.Revision)), nil
	}
	if r.req.Released == "" {
		return "", nil
	}
	good, err := r.repo.ResolveRevision(plumbing.Revision(r.req.Released))
	if err != nil {
		return "", nil // a released revision the branch lost proves nothing
	}
	released, err := r.repo.CommitObject(*good)
	if err != nil {
		return "", nil
	}
	wasReleased, err := contains(ctx, r.repo, released, c.Hash)
	if err != nil {
		return "", fmt.Errorf("is %s in revision %s: %w", ShortHash(c.Hash.String()), r.req.Released, err)
	}
	if wasReleased {
		return fmt.Sprintf("The last change to %s on %s, %s, was already released successfully at %s: the failed release came from elsewhere (e.g. values set outside %s), so it is left alone; undo that change by hand.",
			r.where, r.branch, what(c), ShortHash(r.req.Released), r.where), nil
	}
	return "", nil
}

// confined returns C's changes, which must all be below rel: a commit with
// no parent or a merge, or one that changed more, is left to a person.
func (r reverter) confined(ctx context.Context, c *object.Commit) (object.Changes, string, error) {
	switch len(c.ParentHashes) {
	case 0:
		return nil, fmt.Sprintf("The last change to %s on %s, %s, is the repository's first commit: there is no earlier version to go back to; fix %s by hand.",
			r.where, r.branch, what(c), r.where), nil
	case 1:
	default:
		return nil, fmt.Sprintf("The last change to %s on %s, %s, is a merge: revert it by hand (git revert -m 1 %s), choosing what to keep.",
			r.where, r.branch, what(c), ShortHash(c.Hash.String())), nil
	}
	parent, err := object.GetCommit(r.repo.Storer, c.ParentHashes[0])
	if err != nil {
		return nil, "", fmt.Errorf("read the parent of %s: %w", ShortHash(c.Hash.String()), err)
	}
	changes, err := changesOf(ctx, parent, c)
	if err != nil {
		return nil, "", fmt.Errorf("diff %s: %w", ShortHash(c.Hash.String()), err)
	}
	if outside := outsideOf(changes, r.rel); len(outside) > 0 {
		return nil, fmt.Sprintf("The last change to %s on %s, %s, also changed %s outside %s: revert it by hand (git revert %s) so that those changes are looked at too.",
			r.where, r.branch, what(c), listOf(outside), r.where, ShortHash(c.Hash.String())), nil
	}
	return changes, "", nil
}

// commit stores the commit that undoes changes on top of head.
func (r reverter) commit(c *object.Commit, changes object.Changes) (RevertResult, error) {
	s := r.repo.Storer
	tree, err := revertTree(s, r.head, changes)
	if err != nil {
		return RevertResult{}, fmt.Errorf("revert %s: %w", ShortHash(c.Hash.String()), err)
	}
	if tree == r.head.TreeHash {
		// Cannot happen: head holds C's version of rel, C's parent another.
		return RevertResult{Skipped: fmt.Sprintf("Reverting %s would change nothing on %s.", what(c), r.branch)}, nil
	}
	sig := object.Signature{Name: r.req.AuthorName, Email: r.req.AuthorEmail, When: time.Now()}
	hash, err := store(s, &object.Commit{
		Author:       sig,
		Committer:    sig,
		Message:      revertMessage(c.Hash, subjectOf(c), r.req.Reason),
		TreeHash:     tree,
		ParentHashes: []plumbing.Hash{r.head.Hash},
	})
	if err != nil {
		return RevertResult{}, fmt.Errorf("revert %s: %w", ShortHash(c.Hash.String()), err)
	}
	return RevertResult{Reverted: c.Hash.String(), Subject: subjectOf(c), Commit: hash.String()}, nil
}

// lastChange returns the newest commit on head's first-parent line whose
// content at rel differs from its first parent's (a root commit: has any),
// nil when there is none.
func lastChange(ctx context.Context, s storer.EncodedObjectStorer, head *object.Commit, rel string) (*object.Commit, error) {
	c := head
	h, err := pathHash(s, c, rel)
	if err != nil {
		return nil, err
	}
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if len(c.ParentHashes) == 0 {
			if h.IsZero() {
				return nil, nil
			}
			return c, nil
		}
		p, err := object.GetCommit(s, c.ParentHashes[0])
		if err != nil {
			return nil, err
		}
		ph, err := pathHash(s, p, rel)
		if err != nil {
			return nil, err
		}
		if ph != h {
			return c, nil
		}
		c, h = p, ph
	}
}

// contains says whether commit h is tip or one of its ancestors.
func contains(ctx context.Context, repo *git.Repository, tip *object.Commit, h plumbing.Hash) (bool, error) {
	err := walk(repo, tip, func(c *object.Commit, _ []*object.Commit) error {
		if c.Hash == h {
			return storer.ErrStop
		}
		return ctx.Err()
	})
	if errors.Is(err, storer.ErrStop) {
		return true, nil
	}
	return false, err
}

// changesOf lists the files c changed, compared with parent. Renames are not
// detected: a rename is the deletion of one file and the addition of another.
func changesOf(ctx context.Context, parent, c *object.Commit) (object.Changes, error) {
	from, err := parent.Tree()
	if err != nil {
		return nil, err
	}
	to, err := c.Tree()
	if err != nil {
		return nil, err
	}
	return object.DiffTreeContext(ctx, from, to)
}

// outsideOf lists the paths changes touch that are not rel or under it.
func outsideOf(changes object.Changes, rel string) []string {
	var outside []string
	for _, ch := range changes {
		for _, name := range []string{ch.From.Name, ch.To.Name} {
			if name != "" && !under(name, rel) {
				outside = append(outside, name)
				break
			}
		}
	}
	return outside
}

func under(name, rel string) bool {
	return rel == "" || name == rel || strings.HasPrefix(name, rel+"/")
}

// revertTree stores the tree that is head's with every path in changes as
// it was before them, and returns its hash. What the changes added is
// removed first, so that a path they turned from a file into a folder (or
// back) ends as it was.
func revertTree(s storer.EncodedObjectStorer, head *object.Commit, changes object.Changes) (plumbing.Hash, error) {
	tree, err := head.Tree()
	if err != nil {
		return plumbing.ZeroHash, err
	}
	set := func(name string, leaf *object.TreeEntry) error {
		hash, _, err := writeTree(s, tree, strings.Split(name, "/"), leaf)
		if err != nil {
			return err
		}
		tree, err = object.GetTree(s, hash)
		return err
	}
	for _, ch := range changes {
		if ch.To.Name != "" && ch.To.Name != ch.From.Name {
			if err := set(ch.To.Name, nil); err != nil {
				return plumbing.ZeroHash, err
			}
		}
	}
	for _, ch := range changes {
		if ch.From.Name != "" {
			if err := set(ch.From.Name, &ch.From.TreeEntry); err != nil {
				return plumbing.ZeroHash, err
			}
		}
	}
	return tree.Hash, nil
}

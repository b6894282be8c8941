package gitops

import (
	"errors"
	"slices"
	"strings"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// fileAt returns the content of the file at rel in commit c, or nil when c
// is nil or has no such file.
func fileAt(c *object.Commit, rel string) ([]byte, error) {
	if c == nil {
		return nil, nil
	}
	f, err := c.File(rel)
	if errors.Is(err, object.ErrFileNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	s, err := f.Contents()
	if err != nil {
		return nil, err
	}
	return []byte(s), nil
}

// blobHash is the hash of the file at rel in commit c, zero when it has
// none: comparing hashes finds the commits that changed a file without
// reading it.
func blobHash(c *object.Commit, rel string) plumbing.Hash {
	tree, err := c.Tree()
	if err != nil {
		return plumbing.ZeroHash
	}
	e, err := tree.FindEntry(rel)
	if err != nil || e.Mode == filemode.Dir {
		return plumbing.ZeroHash
	}
	return e.Hash
}

// pathHash is the hash of what is at rel in commit c, a file's blob or a
// folder's tree (c's whole tree when rel is ""), zero when there is nothing
// (or a file where rel needs a folder): two commits have the same content
// under rel when the hashes are equal. Unlike Tree.FindEntry, it fails when
// an object is missing rather than take that for "nothing there".
func pathHash(s storer.EncodedObjectStorer, c *object.Commit, rel string) (plumbing.Hash, error) {
	hash := c.TreeHash
	if rel == "" {
		return hash, nil
	}
	parts := strings.Split(rel, "/")
	for i, name := range parts {
		tree, err := object.GetTree(s, hash)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		j := slices.IndexFunc(tree.Entries, func(e object.TreeEntry) bool { return e.Name == name })
		if j < 0 || (i < len(parts)-1 && tree.Entries[j].Mode != filemode.Dir) {
			return plumbing.ZeroHash, nil
		}
		hash = tree.Entries[j].Hash
	}
	return hash, nil
}

// writeTree stores in s the tree that is tree with the entry at path parts
// set to leaf (removed when leaf is nil), writing the subtrees on the way,
// and returns its hash and number of entries. A subtree left empty is
// dropped, as git has no empty folders.
//
// Building the commit's tree from its parent's, instead of from the index as
// go-git's Worktree.Commit does, is what keeps other staged changes out of
// the commit; Revert builds its tree the same way in a clone with no
// worktree at all.
func writeTree(s storer.EncodedObjectStorer, tree *object.Tree, parts []string, leaf *object.TreeEntry) (plumbing.Hash, int, error) {
	var entries []object.TreeEntry
	if tree != nil {
		entries = slices.Clone(tree.Entries)
	}
	name := parts[0]
	i := slices.IndexFunc(entries, func(e object.TreeEntry) bool { return e.Name == name })

	var next *object.TreeEntry
	if len(parts) == 1 {
		if leaf != nil {
			e := *leaf
			e.Name = name
			next = &e
		}
	} else {
		var sub *object.Tree
		if i >= 0 && entries[i].Mode == filemode.Dir {
			var err error
			if sub, err = object.GetTree(s, entries[i].Hash); err != nil {
				return plumbing.ZeroHash, 0, err
			}
		}
		hash, n, err := writeTree(s, sub, parts[1:], leaf)
		if err != nil {
			return plumbing.ZeroHash, 0, err
		}
		if n > 0 {
			next = &object.TreeEntry{Name: name, Mode: filemode.Dir, Hash: hash}
		}
	}

	switch {
	case i >= 0 && next != nil:
		entries[i] = *next
	case i >= 0:
		entries = slices.Delete(entries, i, i+1)
	case next != nil:
		entries = append(entries, *next)
	}
	// Git orders a tree's entries by name, a folder's name as if it ended
	// in "/"; a tree in another order is corrupt for git fsck.
	slices.SortFunc(entries, func(a, b object.TreeEntry) int {
		return strings.Compare(treeSortName(a), treeSortName(b))
	})
	hash, err := store(s, &object.Tree{Entries: entries})
	return hash, len(entries), err
}

func treeSortName(e object.TreeEntry) string {
	if e.Mode == filemode.Dir {
		return e.Name + "/"
	}
	return e.Name
}

// store writes a Git object (tree or commit) to s.
func store(s storer.EncodedObjectStorer, o interface {
	Encode(plumbing.EncodedObject) error
}) (plumbing.Hash, error) {
	obj := s.NewEncodedObject()
	if err := o.Encode(obj); err != nil {
		return plumbing.ZeroHash, err
	}
	return s.SetEncodedObject(obj)
}

// walk visits the commits reachable from head once each, newest committer
// time first as git log does, with their parents. A commit whose parents are
// missing (the boundary of a shallow clone) is not visited, since what it
// changed cannot be known; go-git's own log iterators fail there instead.
func walk(repo *git.Repository, head *object.Commit, visit func(c *object.Commit, parents []*object.Commit) error) error {
	seen := map[plumbing.Hash]bool{head.Hash: true}
	queue := []*object.Commit{head}
	for len(queue) > 0 {
		// The queue is as long as the history has branches side by side,
		// so a scan for the newest is cheap.
		i := 0
		for j, c := range queue {
			if c.Committer.When.After(queue[i].Committer.When) {
				i = j
			}
		}
		c := queue[i]
		queue = slices.Delete(queue, i, i+1)

		var parents []*object.Commit
		for _, h := range c.ParentHashes {
			p, err := repo.CommitObject(h)
			if errors.Is(err, plumbing.ErrObjectNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			parents = append(parents, p)
			if !seen[h] {
				seen[h] = true
				queue = append(queue, p)
			}
		}
		if len(parents) < len(c.ParentHashes) {
			continue
		}
		if err := visit(c, parents); err != nil {
			return err
		}
	}
	return nil
}

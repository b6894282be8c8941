package gitops

import (
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/go-git/go-billy/v5"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/format/gitignore"
)

// withoutIgnoredFolders returns a copy of the worktree whose file system
// hides the ignored folders that hold no tracked file. go-git's status walks
// every folder and drops ignored paths only afterwards (a third of a second
// for 50,000 files in an ignored node_modules, against a millisecond
// without); git itself does not enter them, and neither does this.
func (r *Repo) withoutIgnoredFolders() (*git.Worktree, error) {
	patterns, err := gitignore.ReadPatterns(r.wt.Filesystem, nil)
	if err != nil {
		return nil, err
	}
	patterns = append(patterns, r.wt.Excludes...)
	idx, err := r.repo.Storer.Index()
	if err != nil {
		return nil, err
	}
	// A tracked file under an ignored folder (added with git add -f) is
	// still git's business: keep its folders visible.
	tracked := make(map[string]bool)
	for _, e := range idx.Entries {
		for d := path.Dir(e.Name); d != "." && !tracked[d]; d = path.Dir(d) {
			tracked[d] = true
		}
	}
	wt := *r.wt
	wt.Filesystem = &unignoredFS{Filesystem: r.wt.Filesystem, ignored: gitignore.NewMatcher(patterns), tracked: tracked}
	return &wt, nil
}

// unignoredFS lists no ignored, untracked folder.
type unignoredFS struct {
	billy.Filesystem
	ignored gitignore.Matcher
	tracked map[string]bool
}

func (f *unignoredFS) ReadDir(dir string) ([]os.FileInfo, error) {
	entries, err := f.Filesystem.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	dir = filepath.ToSlash(dir)
	var parts []string
	if dir != "" && dir != "." {
		parts = strings.Split(strings.Trim(dir, "/"), "/")
	}
	kept := entries[:0]
	for _, e := range entries {
		p := path.Join(dir, e.Name())
		if e.IsDir() && !f.tracked[p] && f.ignored.Match(append(parts[:len(parts):len(parts)], e.Name()), true) {
			continue
		}
		kept = append(kept, e)
	}
	return kept, nil
}

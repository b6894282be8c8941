package gitops

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

const (
	reason    = "rollout shop aborted: analysis success-rate failed"
	botName   = "Tenantry"
	botEmail  = "tenantry@example.com"
	shopPath  = "apps/shop"
	shopValue = "apps/shop/values.yaml"
)

func tag(v string) string { return "image:\n  tag: " + v + "\n" }

// origin is a bare repository standing for an app's Git server, which the
// test writes commits to directly, as other people pushing would.
type origin struct {
	t    *testing.T
	dir  string
	repo *git.Repository
	n    int // commits written, to give each a later time
}

func newOrigin(t *testing.T) *origin {
	t.Helper()
	dir := t.TempDir()
	repo, err := git.PlainInitWithOptions(dir, &git.PlainInitOptions{
		Bare:        true,
		InitOptions: git.InitOptions{DefaultBranch: plumbing.Main},
	})
	if err != nil {
		t.Fatal(err)
	}
	return &origin{t: t, dir: dir, repo: repo}
}

// seeded is an origin whose main has two apps, shop at image tag v2 (the
// second commit) and other at v7. It returns the two commits.
func seeded(t *testing.T) (o *origin, base, v2 plumbing.Hash) {
	o = newOrigin(t)
	base = o.commit("Add apps", map[string]string{
		"README.md":                    "# apps\n",
		"apps/shop/values.yaml":        tag("v1"),
		"apps/shop/kustomization.yaml": "resources: [rollout.yaml]\n",
		"apps/shop/pdb.yaml":           "kind: PodDisruptionBudget\n",
		"apps/other/values.yaml":       tag("v7"),
	})
	v2 = o.commit("shop: v2", map[string]string{shopValue: tag("v2")})
	return o, base, v2
}

// write stores a commit with parents whose tree is the first parent's (empty
// without one) with files set, "" deleting a file, and moves no branch.
func (o *origin) write(parents []plumbing.Hash, msg string, files map[string]string) plumbing.Hash {
	o.t.Helper()
	s := o.repo.Storer
	var tree *object.Tree
	if len(parents) > 0 {
		c, err := o.repo.CommitObject(parents[0])
		if err != nil {
			o.t.Fatal(err)
		}
		if tree, err = c.Tree(); err != nil {
			o.t.Fatal(err)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		var leaf *object.TreeEntry
		if content := files[name]; content != "" {
			obj := s.NewEncodedObject()
			obj.SetType(plumbing.BlobObject)
			w, err := obj.Writer()
			if err != nil {
				o.t.Fatal(err)
			}
			if _, err := w.Write([]byte(content)); err != nil {
				o.t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				o.t.Fatal(err)
			}
			h, err := s.SetEncodedObject(obj)
			if err != nil {
				o.t.Fatal(err)
			}
			leaf = &object.TreeEntry{Mode: filemode.Regular, Hash: h}
		}
		h, _, err := writeTree(s, tree, strings.Split(name, "/"), leaf)
		if err != nil {
			o.t.Fatal(err)
		}
		if tree, err = object.GetTree(s, h); err != nil {
			o.t.Fatal(err)
		}
	}
	if tree == nil {
		o.t.Fatal("write: a root commit needs files")
	}
	o.n++
	sig := object.Signature{Name: "Dev", Email: "dev@example.com", When: time.Date(2026, 1, 1, 0, o.n, 0, 0, time.UTC)}
	h, err := store(s, &object.Commit{Author: sig, Committer: sig, Message: msg, TreeHash: tree.Hash, ParentHashes: parents})
	if err != nil {
		o.t.Fatal(err)
	}
	return h
}

// commit adds a commit to main with files set ("" deletes) and returns it.
func (o *origin) commit(msg string, files map[string]string) plumbing.Hash {
	o.t.Helper()
	var parents []plumbing.Hash
	if head := o.ref("main"); !head.IsZero() {
		parents = append(parents, head)
	}
	h := o.write(parents, msg, files)
	o.setRef("main", h)
	return h
}

// ref is the commit branch is at, zero when there is no such branch.
func (o *origin) ref(branch string) plumbing.Hash {
	o.t.Helper()
	ref, err := o.repo.Reference(plumbing.NewBranchReferenceName(branch), true)
	if errors.Is(err, plumbing.ErrReferenceNotFound) {
		return plumbing.ZeroHash
	}
	if err != nil {
		o.t.Fatal(err)
	}
	return ref.Hash()
}

func (o *origin) setRef(branch string, h plumbing.Hash) {
	o.t.Helper()
	if err := o.repo.Storer.SetReference(plumbing.NewHashReference(plumbing.NewBranchReferenceName(branch), h)); err != nil {
		o.t.Fatal(err)
	}
}

// files is every file of commit h: path → content.
func (o *origin) files(h plumbing.Hash) map[string]string {
	o.t.Helper()
	c, err := o.repo.CommitObject(h)
	if err != nil {
		o.t.Fatal(err)
	}
	files := map[string]string{}
	iter, err := c.Files()
	if err != nil {
		o.t.Fatal(err)
	}
	err = iter.ForEach(func(f *object.File) error {
		content, err := f.Contents()
		files[f.Name] = content
		return err
	})
	if err != nil {
		o.t.Fatal(err)
	}
	return files
}

func (o *origin) request(revision plumbing.Hash) RevertRequest {
	return RevertRequest{
		RepoURL:     o.dir,
		Branch:      "main",
		Path:        shopPath,
		Revision:    revision.String(),
		Reason:      reason,
		AuthorName:  botName,
		AuthorEmail: botEmail,
	}
}

func TestRevert(t *testing.T) {
	tests := []struct {
		name string
		// setup adds commits to a seeded origin and returns the commit the
		// revert undoes (zero when Revert must refuse) and the revision
		// deployed; it may change the request.
		setup func(o *origin, v2 plumbing.Hash, req *RevertRequest) (c, revision plumbing.Hash)
		// want is what the new head holds where it differs from the old:
		// path → content, "" for no file.
		want        map[string]string
		wantSkipped string // a fragment of Skipped
		abbrev      bool   // request revision abbreviated to 7 hex digits
	}{{
		name: "reverts the newest change to the path",
		setup: func(o *origin, _ plumbing.Hash, req *RevertRequest) (plumbing.Hash, plumbing.Hash) {
			c := o.commit("shop: v3", map[string]string{shopValue: tag("v3")})
			return c, c
		},
		want: map[string]string{shopValue: tag("v2")},
	}, {
		name: "an abbreviated revision",
		setup: func(o *origin, _ plumbing.Hash, req *RevertRequest) (plumbing.Hash, plumbing.Hash) {
			c := o.commit("shop: v3", map[string]string{shopValue: tag("v3")})
			return c, c
		},
		abbrev: true,
		want:   map[string]string{shopValue: tag("v2")},
	}, {
		name: "keeps a later change to another path",
		setup: func(o *origin, _ plumbing.Hash, req *RevertRequest) (plumbing.Hash, plumbing.Hash) {
			c := o.commit("shop: v3", map[string]string{shopValue: tag("v3")})
			later := o.commit("other: v8", map[string]string{"apps/other/values.yaml": tag("v8")})
			return c, later
		},
		want: map[string]string{shopValue: tag("v2")},
	}, {
		name: "on the remote's default branch, by file:// URL",
		setup: func(o *origin, _ plumbing.Hash, req *RevertRequest) (plumbing.Hash, plumbing.Hash) {
			req.Branch, req.RepoURL = "", "file://"+o.dir
			c := o.commit("shop: v3", map[string]string{shopValue: tag("v3")})
			return c, c
		},
		want: map[string]string{shopValue: tag("v2")},
	}, {
		name: "on another branch, leaving main alone",
		setup: func(o *origin, v2 plumbing.Hash, req *RevertRequest) (plumbing.Hash, plumbing.Hash) {
			req.Branch = "refs/heads/staging"
			c := o.write([]plumbing.Hash{v2}, "shop: v3", map[string]string{shopValue: tag("v3")})
			o.setRef("staging", c)
			return c, c
		},
		want: map[string]string{shopValue: tag("v2")},
	}, {
		name: "deletes a file and a folder the change added",
		setup: func(o *origin, _ plumbing.Hash, req *RevertRequest) (plumbing.Hash, plumbing.Hash) {
			c := o.commit("shop: v3 with autoscaling", map[string]string{
				shopValue:                  tag("v3"),
				"apps/shop/hpa.yaml":       "kind: HorizontalPodAutoscaler\n",
				"apps/shop/extra/cm.yaml":  "kind: ConfigMap\n",
				"apps/shop/extra/sub/a.md": "a\n",
			})
			return c, c
		},
		want: map[string]string{
			shopValue:                  tag("v2"),
			"apps/shop/hpa.yaml":       "",
			"apps/shop/extra/cm.yaml":  "",
			"apps/shop/extra/sub/a.md": "",
		},
	}, {
		name: "restores a file the change deleted",
		setup: func(o *origin, _ plumbing.Hash, req *RevertRequest) (plumbing.Hash, plumbing.Hash) {
			c := o.commit("shop: drop the PDB", map[string]string{"apps/shop/pdb.yaml": ""})
			return c, c
		},
		want: map[string]string{"apps/shop/pdb.yaml": "kind: PodDisruptionBudget\n"},
	}, {
		name: "undoes a file turned into a folder",
		setup: func(o *origin, _ plumbing.Hash, req *RevertRequest) (plumbing.Hash, plumbing.Hash) {
			c := o.commit("shop: split the PDB", map[string]string{
				"apps/shop/pdb.yaml":      "",
				"apps/shop/pdb.yaml/a.md": "a\n",
			})
			return c, c
		},
		want: map[string]string{"apps/shop/pdb.yaml": "kind: PodDisruptionBudget\n", "apps/shop/pdb.yaml/a.md": ""},
	}, {
		name: "path written ./apps/shop/",
		setup: func(o *origin, _ plumbing.Hash, req *RevertRequest) (plumbing.Hash, plumbing.Hash) {
			req.Path = "./apps/shop/"
			c := o.commit("shop: v3", map[string]string{shopValue: tag("v3")})
			return c, c
		},
		want: map[string]string{shopValue: tag("v2")},
	}, {
		name: "the whole repository",
		setup: func(o *origin, _ plumbing.Hash, req *RevertRequest) (plumbing.Hash, plumbing.Hash) {
			req.Path = ""
			c := o.commit("shop: v3, other: v8", map[string]string{shopValue: tag("v3"), "apps/other/values.yaml": tag("v8")})
			return c, c
		},
		want: map[string]string{shopValue: tag("v2"), "apps/other/values.yaml": tag("v7")},
	}, {
		name: "skips a change newer than the deployed revision",
		setup: func(o *origin, v2 plumbing.Hash, req *RevertRequest) (plumbing.Hash, plumbing.Hash) {
			o.commit("shop: v3", map[string]string{shopValue: tag("v3")})
			return plumbing.ZeroHash, v2
		},
		wantSkipped: `"shop: v3", is newer than the revision that failed`,
	}, {
		name: "skips a change already released successfully",
		setup: func(o *origin, v2 plumbing.Hash, req *RevertRequest) (plumbing.Hash, plumbing.Hash) {
			// shop's v2 released well at v2; a later failure came from
			// elsewhere (another path's commit, or values outside Git).
			req.Released = v2.String()
			later := o.commit("other: v8", map[string]string{"apps/other/values.yaml": tag("v8")})
			return plumbing.ZeroHash, later
		},
		wantSkipped: "was already released successfully",
	}, {
		name: "reverts a change made after the last good release",
		setup: func(o *origin, v2 plumbing.Hash, req *RevertRequest) (plumbing.Hash, plumbing.Hash) {
			req.Released = v2.String()
			c := o.commit("shop: v3", map[string]string{shopValue: tag("v3")})
			return c, c
		},
		want: map[string]string{shopValue: tag("v2")},
	}, {
		name: "skips a revert",
		setup: func(o *origin, v2 plumbing.Hash, req *RevertRequest) (plumbing.Hash, plumbing.Hash) {
			c := o.commit("Revert \"shop: v2\"\n\nbad\n\nTenantry-Reverts: "+v2.String()+"\n", map[string]string{shopValue: tag("v1")})
			return plumbing.ZeroHash, c
		},
		wantSkipped: "is already Tenantry's revert of",
	}, {
		name: "skips a change to files outside the path",
		setup: func(o *origin, _ plumbing.Hash, req *RevertRequest) (plumbing.Hash, plumbing.Hash) {
			c := o.commit("shop: v3, other: v8", map[string]string{shopValue: tag("v3"), "apps/other/values.yaml": tag("v8")})
			return plumbing.ZeroHash, c
		},
		wantSkipped: "also changed apps/other/values.yaml outside apps/shop: revert it by hand",
	}, {
		name: "skips a merge",
		setup: func(o *origin, v2 plumbing.Hash, req *RevertRequest) (plumbing.Hash, plumbing.Hash) {
			side := o.write([]plumbing.Hash{v2}, "shop: v3", map[string]string{shopValue: tag("v3")})
			m := o.write([]plumbing.Hash{v2, side}, "Merge branch 'v3'", map[string]string{shopValue: tag("v3")})
			o.setRef("main", m)
			return plumbing.ZeroHash, m
		},
		wantSkipped: "is a merge: revert it by hand (git revert -m 1",
	}, {
		name: "skips a path no commit changed",
		setup: func(o *origin, v2 plumbing.Hash, req *RevertRequest) (plumbing.Hash, plumbing.Hash) {
			req.Path = "apps/none"
			return plumbing.ZeroHash, v2
		},
		wantSkipped: "No commit on main changed apps/none",
	}, {
		name: "skips the first commit",
		setup: func(o *origin, v2 plumbing.Hash, req *RevertRequest) (plumbing.Hash, plumbing.Hash) {
			req.Path = "README.md"
			return plumbing.ZeroHash, v2
		},
		wantSkipped: "is the repository's first commit",
	}, {
		name: "skips a revision not on the branch",
		setup: func(o *origin, v2 plumbing.Hash, req *RevertRequest) (plumbing.Hash, plumbing.Hash) {
			// On the server, but on no branch: not cloned.
			return plumbing.ZeroHash, o.write([]plumbing.Hash{v2}, "shop: v3", map[string]string{shopValue: tag("v3")})
		},
		wantSkipped: "is not on main of",
	}, {
		name: "skips an unknown revision",
		setup: func(o *origin, v2 plumbing.Hash, req *RevertRequest) (plumbing.Hash, plumbing.Hash) {
			return plumbing.ZeroHash, plumbing.NewHash("0123456789abcdef0123456789abcdef01234567")
		},
		wantSkipped: "Revision 0123456789abcdef0123456789abcdef01234567 is not on main",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o, _, v2 := seeded(t)
			req := o.request(plumbing.ZeroHash)
			c, revision := tt.setup(o, v2, &req)
			req.Revision = revision.String()
			if tt.abbrev {
				req.Revision = req.Revision[:7]
			}
			branch := strings.TrimPrefix(cmp.Or(req.Branch, "main"), "refs/heads/")
			before := o.ref(branch)
			mainBefore := o.ref("main")

			res, err := Revert(context.Background(), req)
			if err != nil {
				t.Fatalf("Revert: %v", err)
			}
			if tt.wantSkipped != "" {
				t.Log(res.Skipped)
				if !strings.Contains(res.Skipped, tt.wantSkipped) || res.Commit != "" || res.Reverted != "" {
					t.Errorf("Revert = %+v, want skipped with %q", res, tt.wantSkipped)
				}
				if after := o.ref(branch); after != before {
					t.Errorf("refused, yet %s moved from %s to %s", branch, before, after)
				}
				return
			}
			if res.Skipped != "" || res.Reverted != c.String() {
				t.Fatalf("Revert = %+v, want %s reverted", res, c)
			}
			if head := o.ref(branch); head.String() != res.Commit {
				t.Fatalf("%s is at %s, want the revert %s", branch, head, res.Commit)
			}
			if branch != "main" && o.ref("main") != mainBefore {
				t.Errorf("main moved, though the revert was on %s", branch)
			}
			checkRevert(t, o, res, before, c)
			want := o.files(before)
			for name, content := range tt.want {
				if content == "" {
					delete(want, name)
				} else {
					want[name] = content
				}
			}
			if got := o.files(plumbing.NewHash(res.Commit)); !maps.Equal(got, want) {
				t.Errorf("files after the revert:\n%v\nwant\n%v", got, want)
			}
			gitFsck(t, o.dir)
		})
	}
}

// checkRevert checks the revert commit's parent, signatures and message.
func checkRevert(t *testing.T, o *origin, res RevertResult, parent, reverted plumbing.Hash) {
	t.Helper()
	commit, err := o.repo.CommitObject(plumbing.NewHash(res.Commit))
	if err != nil {
		t.Fatal(err)
	}
	c, err := o.repo.CommitObject(reverted)
	if err != nil {
		t.Fatal(err)
	}
	if res.Subject != subjectOf(c) {
		t.Errorf("Subject = %q, want %q", res.Subject, subjectOf(c))
	}
	if !slices.Equal(commit.ParentHashes, []plumbing.Hash{parent}) {
		t.Errorf("revert's parents = %v, want [%s]", commit.ParentHashes, parent)
	}
	for _, sig := range []object.Signature{commit.Author, commit.Committer} {
		if sig.Name != botName || sig.Email != botEmail || time.Since(sig.When) > time.Minute {
			t.Errorf("revert signed %s <%s> at %s, want %s <%s> now", sig.Name, sig.Email, sig.When, botName, botEmail)
		}
	}
	want := fmt.Sprintf("Revert \"%s\"\n\n%s\n\nThis reverts commit %s.\nTenantry-Reverts: %s\n", subjectOf(c), reason, reverted, reverted)
	if commit.Message != want {
		t.Errorf("revert's message:\n%s\nwant\n%s", commit.Message, want)
	}
}

func TestRevertTwice(t *testing.T) {
	o, _, v2 := seeded(t)
	c := o.commit("shop: v3", map[string]string{shopValue: tag("v3")})
	ctx := context.Background()

	first, err := Revert(ctx, o.request(c))
	if err != nil || first.Commit == "" {
		t.Fatalf("first Revert = %+v, %v", first, err)
	}
	for _, revision := range []plumbing.Hash{c, plumbing.NewHash(first.Commit)} {
		again, err := Revert(ctx, o.request(revision))
		want := fmt.Sprintf("is already Tenantry's revert of %s", ShortHash(c.String()))
		if err != nil || again.Commit != "" || !strings.Contains(again.Skipped, want) {
			t.Errorf("Revert again at %s = %+v, %v; want skipped with %q", revision.String()[:7], again, err, want)
		}
	}
	if head := o.ref("main"); head.String() != first.Commit {
		t.Errorf("main = %s, want the first revert %s", head, first.Commit)
	}
	if got := o.files(o.ref("main"))[shopValue]; got != o.files(v2)[shopValue] {
		t.Errorf("values after two calls = %q, want v2's", got)
	}
}

func TestRevertPushRace(t *testing.T) {
	tests := []struct {
		name  string
		races int // pushes that someone else's commit beats
		// race is their commit; nil lands none.
		race        map[string]string
		want        map[string]string // files at main after Revert, besides the old ones
		wantSkipped string
		wantErr     string
	}{{
		name:  "another path changed: reverted on top of it",
		races: 1,
		race:  map[string]string{"apps/other/values.yaml": tag("v8")},
		want:  map[string]string{"apps/other/values.yaml": tag("v8"), shopValue: tag("v2")},
	}, {
		name:        "the path changed again: skipped",
		races:       1,
		race:        map[string]string{shopValue: tag("v4")},
		want:        map[string]string{shopValue: tag("v4")},
		wantSkipped: `"race", is newer than the revision that failed`,
	}, {
		name:    "the branch keeps moving: an error",
		races:   2,
		race:    map[string]string{"README.md": "# apps, again\n"},
		wantErr: "retried once, after main moved",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o, _, _ := seeded(t)
			c := o.commit("shop: v3", map[string]string{shopValue: tag("v3")})
			before := o.files(c)
			pushes := 0
			push := func(r *git.Repository, ctx context.Context, opts *git.PushOptions) error {
				pushes++
				if pushes <= tt.races {
					o.commit("race", tt.race)
				}
				return r.PushContext(ctx, opts)
			}

			res, err := revert(context.Background(), o.request(c), push)
			switch {
			case tt.wantErr != "":
				t.Log(err)
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Revert = %+v, %v; want an error with %q", res, err, tt.wantErr)
				}
				if pushes != 2 {
					t.Errorf("pushed %d times, want 2", pushes)
				}
				return
			case err != nil:
				t.Fatalf("Revert: %v", err)
			case tt.wantSkipped != "":
				if !strings.Contains(res.Skipped, tt.wantSkipped) || res.Commit != "" {
					t.Errorf("Revert = %+v, want skipped with %q", res, tt.wantSkipped)
				}
			default:
				head := o.ref("main")
				if res.Commit != head.String() || res.Reverted != c.String() {
					t.Fatalf("Revert = %+v; main at %s, want %s reverted on it", res, head, c)
				}
				commit, err := o.repo.CommitObject(head)
				if err != nil {
					t.Fatal(err)
				}
				checkRevert(t, o, res, commit.ParentHashes[0], c)
				raced, err := o.repo.CommitObject(commit.ParentHashes[0])
				if err != nil || subjectOf(raced) != "race" {
					t.Errorf("revert's parent = %v, %v; want the commit that raced it", raced, err)
				}
				gitFsck(t, o.dir)
			}
			want := maps.Clone(before)
			maps.Copy(want, tt.want)
			if got := o.files(o.ref("main")); !maps.Equal(got, want) {
				t.Errorf("files at main:\n%v\nwant\n%v", got, want)
			}
		})
	}
}

func TestRevertRefuses(t *testing.T) {
	o, _, v2 := seeded(t)
	empty := newOrigin(t)
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name        string
		ctx         context.Context
		edit        func(*RevertRequest)
		wantErr     string
		wantSkipped string
	}{
		{name: "no revision", edit: func(r *RevertRequest) { r.Revision = "" }, wantErr: "revert: Revision required"},
		{name: "no author", edit: func(r *RevertRequest) { r.AuthorName, r.AuthorEmail = "", " " }, wantErr: "revert: AuthorName, AuthorEmail required"},
		{name: "path outside", edit: func(r *RevertRequest) { r.Path = "apps/../../etc" }, wantErr: `path "apps/../../etc" is not a folder inside the repository`},
		{name: "absolute path", edit: func(r *RevertRequest) { r.Path = "/apps/shop" }, wantErr: "is not a folder inside the repository"},
		{name: "a tag", edit: func(r *RevertRequest) { r.Branch = "refs/tags/v1" }, wantErr: "refs/tags/v1 is not a branch"},
		{name: "no such branch", edit: func(r *RevertRequest) { r.Branch = "nope" }, wantErr: "clone nope of " + o.dir},
		{name: "no such repository", edit: func(r *RevertRequest) { r.RepoURL = o.dir + "-gone" }, wantErr: "clone main of " + o.dir + "-gone"},
		{name: "canceled", ctx: canceled, wantErr: context.Canceled.Error()},
		{name: "empty repository", edit: func(r *RevertRequest) { r.RepoURL = empty.dir }, wantSkipped: "has no commits"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := o.request(v2)
			if tt.edit != nil {
				tt.edit(&req)
			}
			ctx := cmp.Or(tt.ctx, context.Background())
			res, err := Revert(ctx, req)
			if tt.wantSkipped != "" {
				if err != nil || !strings.Contains(res.Skipped, tt.wantSkipped) {
					t.Errorf("Revert = %+v, %v; want skipped with %q", res, err, tt.wantSkipped)
				}
				return
			}
			t.Log(err)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Revert = %+v, %v; want an error with %q", res, err, tt.wantErr)
			}
			if tt.ctx != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("Revert's error %v does not wrap context.Canceled", err)
			}
		})
	}
	if head := o.ref("main"); head != v2 {
		t.Errorf("main moved to %s", head)
	}
}

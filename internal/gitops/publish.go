package gitops

import (
	"fmt"
	"os"
	"path/filepath"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
)

// Publish makes dir a new working copy whose origin is remoteURL (an empty
// repository), writes files (path: content) into it, commits them as
// name <email> and pushes main. The demo and the GitOps tests seed their
// repositories with it; later changes go through Repo, as the CLI's do.
func Publish(dir, remoteURL string, files map[string][]byte, message, name, email string) error {
	r, err := git.PlainInitWithOptions(dir, &git.PlainInitOptions{InitOptions: git.InitOptions{DefaultBranch: plumbing.Main}})
	if err != nil {
		return fmt.Errorf("creating a working copy in %s: %w", dir, err)
	}
	cfg, err := r.Config()
	if err != nil {
		return err
	}
	cfg.User.Name, cfg.User.Email = name, email
	cfg.Remotes["origin"] = &config.RemoteConfig{Name: "origin", URLs: []string{remoteURL}}
	if err := r.SetConfig(cfg); err != nil {
		return err
	}
	for path, content := range files {
		full := filepath.Join(dir, filepath.FromSlash(path))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(full, content, 0o644); err != nil {
			return err
		}
	}
	wt, err := r.Worktree()
	if err != nil {
		return err
	}
	if err := wt.AddGlob("."); err != nil {
		return err
	}
	if _, err := wt.Commit(message, &git.CommitOptions{}); err != nil {
		return fmt.Errorf("committing in %s: %w", dir, err)
	}
	err = r.Push(&git.PushOptions{RemoteName: "origin", RefSpecs: []config.RefSpec{"refs/heads/main:refs/heads/main"}})
	if err != nil {
		return fmt.Errorf("pushing %s to %s: %w", dir, remoteURL, err)
	}
	return nil
}

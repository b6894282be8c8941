package localcluster

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeBinDir makes dir hold an empty file for each name.
func fakeBinDir(t *testing.T, dir string, names ...string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestKubeBinDir: the Kubernetes binaries come from KubeBinDir (the option,
// else $TENANTRY_KUBE_BIN_DIR, else BinDir); etcd, kwok and the add-ons
// always from BinDir.
func TestKubeBinDir(t *testing.T) {
	root := t.TempDir()
	binDir := fakeBinDir(t, filepath.Join(root, "bin"), Binaries...)
	oldest := fakeBinDir(t, filepath.Join(root, "bin", "kube-v1.33.13"), KubeBinaries...)
	other := fakeBinDir(t, filepath.Join(root, "other"), KubeBinaries...)
	empty := fakeBinDir(t, filepath.Join(root, "empty"))

	tests := []struct {
		name    string
		env     string
		option  string
		wantDir string
		wantErr string
	}{
		{name: "default", wantDir: binDir},
		{name: "environment", env: oldest, wantDir: oldest},
		{name: "option wins", env: oldest, option: other, wantDir: other},
		{name: "missing", env: empty, wantErr: "kube-apiserver not found in " + empty + " (KubeBinDir"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("TENANTRY_KUBE_BIN_DIR", tt.env)
			opts, err := withDefaults(Options{BinDir: binDir, KubeBinDir: tt.option})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("withDefaults() error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, name := range KubeBinaries {
				if got, want := opts.bin(name), filepath.Join(tt.wantDir, name); got != want {
					t.Errorf("bin(%s) = %s, want %s", name, got, want)
				}
			}
			for _, name := range []string{"etcd", "kwok", kwokStagesFile, "argocd"} {
				if got, want := opts.bin(name), filepath.Join(binDir, name); got != want {
					t.Errorf("bin(%s) = %s, want %s", name, got, want)
				}
			}
		})
	}
}

func TestBinaryVersion(t *testing.T) {
	dir := t.TempDir()
	script := func(name, output string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte("#!/bin/sh\necho '"+output+"'\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		return path
	}
	got, err := binaryVersion(context.Background(), script("kube-apiserver", "Kubernetes v1.33.13"))
	if err != nil || got != "v1.33.13" {
		t.Errorf("binaryVersion() = %q, %v; want v1.33.13", got, err)
	}
	if got, err := binaryVersion(context.Background(), script("etcd", "etcd Version: 3.7.0")); err == nil {
		t.Errorf("binaryVersion() = %q for a binary that is not Kubernetes'; want an error", got)
	}
}

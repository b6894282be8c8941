package images

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestBuildGo(t *testing.T) {
	// A module of its own, so the failure is a compile error and not a
	// missing package.
	broken := t.TempDir()
	for name, content := range map[string]string{
		"go.mod":  "module broken\n\ngo 1.26\n",
		"main.go": "package main\n\nfunc main() { notDeclared() }\n",
	} {
		if err := os.WriteFile(filepath.Join(broken, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	tests := []struct {
		name, dir, pkg string
		wantErr        string // a fragment of the compiler output; empty for success
	}{
		{name: "the pause program", dir: "../..", pkg: "./hack/pause"},
		{name: "a compile error comes with the compiler's output", dir: broken, pkg: ".", wantErr: "undefined: notDeclared"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "app")
			err := BuildGo(context.Background(), GoBuild{Dir: tt.dir, Package: tt.pkg, GOARCH: runtime.GOARCH, Out: out, Reproducible: true})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("BuildGo error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			info, err := os.Stat(out)
			if err != nil {
				t.Fatal(err)
			}
			if info.Size() == 0 || info.Mode().Perm()&0o100 == 0 {
				t.Errorf("%s: size %d, mode %v, want an executable file", out, info.Size(), info.Mode())
			}
		})
	}
}

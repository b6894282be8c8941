package localcluster

import (
	"os"
	"path/filepath"
	"testing"
)

func TestEmptyDataDir(t *testing.T) {
	tests := []struct {
		name    string
		files   []string
		wantErr bool
	}{
		{name: "missing"},
		{name: "empty", files: []string{}},
		{name: "earlier cluster", files: []string{dataDirMarker, "etcd/member"}},
		{name: "someone else's", files: []string{"thesis.tex"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			if tt.files != nil {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			for _, f := range tt.files {
				path := filepath.Join(dir, f)
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, nil, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			err := emptyDataDir(dir)
			if (err != nil) != tt.wantErr {
				t.Fatalf("emptyDataDir() error = %v, wantErr %v", err, tt.wantErr)
			}
			_, statErr := os.Stat(filepath.Join(dir, "thesis.tex"))
			if tt.wantErr && statErr != nil {
				t.Errorf("refused, but removed the content anyway: %v", statErr)
			}
		})
	}
}

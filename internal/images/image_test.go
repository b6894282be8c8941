package images

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// writeBinary writes a stand-in for a binary: FromBinary only copies bytes.
func writeBinary(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func mustImage(t *testing.T, binary string, opts Options) v1.Image {
	t.Helper()
	img, err := FromBinary(binary, opts)
	if err != nil {
		t.Fatalf("FromBinary: %v", err)
	}
	return img
}

func mustDigest(t *testing.T, img v1.Image) v1.Hash {
	t.Helper()
	digest, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return digest
}

func TestFromBinaryDigest(t *testing.T) {
	tests := []struct {
		name             string
		binA, binB       string
		optsA, optsB     Options
		wantSameDigest   bool
		differentFolders bool
	}{
		{name: "same binary twice", binA: "app v1", binB: "app v1", wantSameDigest: true},
		// Only the bytes count, not where the binary was built or its mode.
		{name: "same bytes in another folder", binA: "app v1", binB: "app v1", differentFolders: true, wantSameDigest: true},
		{name: "changed binary", binA: "app v1", binB: "app v2"},
		{name: "other architecture", binA: "app v1", binB: "app v1", optsA: Options{Arch: "amd64"}, optsB: Options{Arch: "arm64"}},
		{name: "other version label", binA: "app v1", binB: "app v1", optsA: Options{Version: "0.1.0"}, optsB: Options{Version: "0.2.0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pathA := writeBinary(t, "app", tt.binA)
			pathB := pathA
			if tt.binB != tt.binA || tt.differentFolders {
				pathB = writeBinary(t, "other", tt.binB)
				if err := os.Chmod(pathB, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			a := mustDigest(t, mustImage(t, pathA, tt.optsA))
			b := mustDigest(t, mustImage(t, pathB, tt.optsB))
			if (a == b) != tt.wantSameDigest {
				t.Errorf("digests %s and %s: same = %v, want %v", a, b, a == b, tt.wantSameDigest)
			}
		})
	}
}

func TestFromBinaryConfig(t *testing.T) {
	tests := []struct {
		name       string
		opts       Options
		wantUser   string
		wantArch   string
		wantCmd    []string
		wantLabels map[string]string
	}{
		{
			name:     "defaults: non-root, this machine's architecture, no labels",
			wantUser: "65532:65532",
			wantArch: runtime.GOARCH,
		},
		{
			name:     "the pause image: its own user and arguments",
			opts:     Options{Arch: "arm64", User: 65535, Args: []string{"-v"}},
			wantUser: "65535:65535",
			wantArch: "arm64",
			wantCmd:  []string{"-v"},
		},
		{
			name:     "labels",
			opts:     Options{Title: "demo-app", Version: "0.1.0", Source: "https://github.com/tenantry/tenantry"},
			wantUser: "65532:65532",
			wantArch: runtime.GOARCH,
			wantLabels: map[string]string{
				LabelTitle:   "demo-app",
				LabelVersion: "0.1.0",
				LabelSource:  "https://github.com/tenantry/tenantry",
			},
		},
		{
			name:       "only the labels given",
			opts:       Options{Title: "demo-app"},
			wantUser:   "65532:65532",
			wantArch:   runtime.GOARCH,
			wantLabels: map[string]string{LabelTitle: "demo-app"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img := mustImage(t, writeBinary(t, "app", "binary"), tt.opts)
			cfg, err := img.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			want := v1.Config{
				Entrypoint: []string{"/app"},
				Cmd:        tt.wantCmd,
				User:       tt.wantUser,
				Env:        []string{"PATH=/usr/local/bin:/usr/bin:/bin"},
				WorkingDir: "/",
				Labels:     tt.wantLabels,
			}
			if !reflect.DeepEqual(cfg.Config, want) {
				t.Errorf("config:\n got %+v\nwant %+v", cfg.Config, want)
			}
			if cfg.OS != "linux" || cfg.Architecture != tt.wantArch {
				t.Errorf("platform %s/%s, want linux/%s", cfg.OS, cfg.Architecture, tt.wantArch)
			}
			if !cfg.Created.IsZero() {
				t.Errorf("created %v, want the zero time", cfg.Created)
			}
			if len(cfg.RootFS.DiffIDs) != 1 || len(cfg.History) != 1 {
				t.Errorf("%d diff IDs and %d history entries, want one layer", len(cfg.RootFS.DiffIDs), len(cfg.History))
			}
		})
	}
}

func TestFromBinaryMediaTypes(t *testing.T) {
	img := mustImage(t, writeBinary(t, "app", "binary"), Options{})
	manifest, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	got := []types.MediaType{manifest.MediaType, manifest.Config.MediaType}
	for _, l := range manifest.Layers {
		got = append(got, l.MediaType)
	}
	want := []types.MediaType{types.OCIManifestSchema1, types.OCIConfigJSON, types.OCILayer}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("media types %v, want %v", got, want)
	}
}

// entry is what the layer's tar says of a file.
type entry struct {
	name     string
	typ      byte
	mode     int64
	uid, gid int
}

func TestFromBinaryLayer(t *testing.T) {
	const binary = "\x7fELF a static binary"
	img := mustImage(t, writeBinary(t, "app", binary), Options{})
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()

	var got []entry
	contents := map[string]string{}
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if hdr.ModTime.Unix() != 0 {
			t.Errorf("%s: mtime %v, want the Unix epoch", hdr.Name, hdr.ModTime)
		}
		got = append(got, entry{hdr.Name, hdr.Typeflag, hdr.Mode, hdr.Uid, hdr.Gid})
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		contents[hdr.Name] = string(body)
	}

	// Sorted by name, as written.
	want := []entry{
		{"app", tar.TypeReg, 0o755, 0, 0},
		{"etc/", tar.TypeDir, 0o755, 0, 0},
		{"etc/group", tar.TypeReg, 0o644, 0, 0},
		{"etc/passwd", tar.TypeReg, 0o644, 0, 0},
		{"home/", tar.TypeDir, 0o755, 0, 0},
		{"home/nonroot/", tar.TypeDir, 0o700, 65532, 65532},
		{"tmp/", tar.TypeDir, 0o1777, 0, 0},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("layer entries:\n got %v\nwant %v", got, want)
	}
	if contents["app"] != binary {
		t.Errorf("/app holds %q, want the binary %q", contents["app"], binary)
	}
	for file, line := range map[string]string{
		"etc/passwd": "nonroot:x:65532:65532:nonroot:/home/nonroot:",
		"etc/group":  "nonroot:x:65532:",
	} {
		if !strings.Contains(contents[file], line) || !strings.HasPrefix(contents[file], "root:x:0:") {
			t.Errorf("/%s = %q, want root and a line starting %q", file, contents[file], line)
		}
	}
}

package images

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseLDD(t *testing.T) {
	tests := []struct {
		name, output string
		want         []string
		wantErr      string
	}{
		{
			name: "glibc binary: the vDSO skipped, libc and the loader kept in order",
			output: "\tlinux-vdso.so.1 (0x00007ffd6a1f5000)\n" +
				"\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f1c2a000000)\n" +
				"\t/lib64/ld-linux-x86-64.so.2 (0x00007f1c2a3f0000)\n",
			want: []string{"/lib/x86_64-linux-gnu/libc.so.6", "/lib64/ld-linux-x86-64.so.2"},
		},
		{
			name: "cgo binary with libseccomp, a library listed twice kept once",
			output: "\tlinux-vdso.so.1 (0x1)\n" +
				"\tlibseccomp.so.2 => /lib/x86_64-linux-gnu/libseccomp.so.2 (0x2)\n" +
				"\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x3)\n" +
				"\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x3)\n" +
				"\t/lib64/ld-linux-x86-64.so.2 (0x4)\n",
			want: []string{"/lib/x86_64-linux-gnu/libseccomp.so.2", "/lib/x86_64-linux-gnu/libc.so.6", "/lib64/ld-linux-x86-64.so.2"},
		},
		{
			name:    "a library missing on this machine is named",
			output:  "\tlibfoo.so.1 => not found\n\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x3)\n",
			wantErr: "ldd finds no libfoo.so.1 on this machine",
		},
		{
			name:    "nothing listed",
			output:  "\tstatically linked\n",
			wantErr: "for a static binary leave SharedLibraries off",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseLDD(tt.output)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseLDD error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("parseLDD = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestLibraryEntries(t *testing.T) {
	base := []tarEntry{
		{tar.Header{Name: "etc/", Typeflag: tar.TypeDir}, nil},
		{tar.Header{Name: "tmp/", Typeflag: tar.TypeDir}, nil},
	}
	libs := []file{
		{"/lib/x86_64-linux-gnu/libc.so.6", []byte("libc")},
		{"/lib/x86_64-linux-gnu/libseccomp.so.2", []byte("seccomp")},
		{"/lib64/ld-linux-x86-64.so.2", []byte("ld")},
		{"/etc/ld.so.cache", []byte("cache")}, // under a directory the base has
	}
	var got []entry
	for _, e := range libraryEntries(base, libs) {
		got = append(got, entry{e.hdr.Name, e.hdr.Typeflag, e.hdr.Mode, e.hdr.Uid, e.hdr.Gid})
	}
	want := []entry{
		{"lib/", tar.TypeDir, 0o755, 0, 0},
		{"lib/x86_64-linux-gnu/", tar.TypeDir, 0o755, 0, 0},
		{"lib/x86_64-linux-gnu/libc.so.6", tar.TypeReg, 0o755, 0, 0},
		{"lib/x86_64-linux-gnu/libseccomp.so.2", tar.TypeReg, 0o755, 0, 0},
		{"lib64/", tar.TypeDir, 0o755, 0, 0},
		{"lib64/ld-linux-x86-64.so.2", tar.TypeReg, 0o755, 0, 0},
		{"etc/ld.so.cache", tar.TypeReg, 0o755, 0, 0},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("entries:\n got %v\nwant %v", got, want)
	}
}

// TestFromBinarySharedLibraries builds the image of a dynamically linked
// binary of this machine: every file ldd lists is in the layer, at its path
// and with its content (a symbolic link's target), and the digest is stable.
func TestFromBinarySharedLibraries(t *testing.T) {
	binary, err := exec.LookPath("true")
	if err != nil {
		t.Skip("no true(1) on this machine")
	}
	out, err := exec.Command("ldd", binary).Output()
	if err != nil {
		t.Skipf("ldd %s: %v (no ldd, or a static true)", binary, err)
	}
	libs, err := parseLDD(string(out))
	if err != nil {
		t.Fatal(err)
	}
	img := mustImage(t, binary, Options{SharedLibraries: true})
	if a, b := mustDigest(t, img), mustDigest(t, mustImage(t, binary, Options{SharedLibraries: true})); a != b {
		t.Errorf("two builds: digests %s and %s, want the same", a, b)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	contents := map[string][]byte{}
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if contents[hdr.Name], err = io.ReadAll(tr); err != nil {
			t.Fatal(err)
		}
	}
	for _, lib := range libs {
		body, ok := contents[strings.TrimPrefix(lib, "/")]
		if !ok {
			t.Errorf("%s (listed by ldd) is not in the image", lib)
			continue
		}
		real, err := filepath.EvalSymlinks(lib)
		if err != nil {
			t.Fatal(err)
		}
		if want := mustRead(t, real); string(body) != string(want) {
			t.Errorf("%s in the image: %d bytes, want %s's %d", lib, len(body), real, len(want))
		}
	}
	t.Logf("%s: %d files ldd lists, all in the image", binary, len(libs))

	if _, err := FromBinary(writeBinary(t, "static", "not an ELF"), Options{SharedLibraries: true}); err == nil ||
		!strings.Contains(err.Error(), "leave SharedLibraries off") {
		t.Errorf("FromBinary of a non-dynamic file: %v, want the advice to leave SharedLibraries off", err)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	body, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

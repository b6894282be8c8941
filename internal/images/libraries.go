package images

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"slices"
	"strings"
)

// file is a file of the image: its absolute path there and its content.
type file struct {
	path string
	body []byte
}

// sharedLibraries returns the libraries binary is dynamically linked to and
// its dynamic loader, read from this machine at the paths ldd resolves them
// to. A library that is a symbolic link here becomes a regular file with its
// target's content, at the link's path: the path is what the loader looks
// for, and the image needs no link farm.
func sharedLibraries(binary string) ([]file, error) {
	out, err := exec.Command("ldd", binary).CombinedOutput()
	if err != nil {
		// ldd exits non-zero for a static binary ("not a dynamic
		// executable") and when it cannot run.
		return nil, fmt.Errorf("images: Options.SharedLibraries: ldd %s: %w: %s (for a static binary leave SharedLibraries off)",
			binary, err, strings.TrimSpace(string(out)))
	}
	paths, err := parseLDD(string(out))
	if err != nil {
		return nil, fmt.Errorf("images: Options.SharedLibraries: %s: %w", binary, err)
	}
	libs := make([]file, 0, len(paths))
	for _, p := range paths {
		body, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("images: reading shared library %s of %s: %w", p, binary, err)
		}
		libs = append(libs, file{path: p, body: body})
	}
	return libs, nil
}

// parseLDD returns the absolute paths ldd's output names, in its order:
// "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)" gives the library,
// "/lib64/ld-linux-x86-64.so.2 (0x…)" the loader. The vDSO (no file: the
// kernel maps it) is skipped; a library ldd did not find is an error that
// names it, since the binary would not start without it.
func parseLDD(output string) ([]string, error) {
	var paths, missing []string
	for line := range strings.Lines(output) {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		name, target, linked := strings.Cut(line, " => ")
		if linked {
			if strings.HasPrefix(target, "not found") {
				missing = append(missing, name)
				continue
			}
			line = target
		}
		p, _, _ := strings.Cut(line, " (")
		if !path.IsAbs(p) {
			continue // linux-vdso.so.1, linux-gate.so.1
		}
		if !slices.Contains(paths, p) {
			paths = append(paths, p)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("ldd finds no %s on this machine; install the package that ships it", strings.Join(missing, ", "))
	}
	if len(paths) == 0 {
		return nil, errors.New("ldd lists no shared library; for a static binary leave SharedLibraries off")
	}
	return paths, nil
}

// libraryEntries returns the tar entries of libs: each file, executable and
// read-only to others as in a distribution, and every directory above it
// that base (the image's other entries) and earlier libraries lack.
func libraryEntries(base []tarEntry, libs []file) []tarEntry {
	have := map[string]bool{}
	for _, e := range base {
		have[e.hdr.Name] = true
	}
	var entries []tarEntry
	for _, lib := range libs {
		name := strings.TrimPrefix(path.Clean(lib.path), "/")
		var dirs []string // innermost first
		for dir := path.Dir(name); dir != "." && !have[dir+"/"]; dir = path.Dir(dir) {
			have[dir+"/"] = true
			dirs = append(dirs, dir+"/")
		}
		for _, dir := range slices.Backward(dirs) {
			entries = append(entries, tarEntry{tar.Header{Name: dir, Typeflag: tar.TypeDir, Mode: 0o755}, nil})
		}
		if !have[name] {
			have[name] = true
			entries = append(entries, tarEntry{tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o755}, bytes.Clone(lib.body)})
		}
	}
	return entries
}

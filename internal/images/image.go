// Package images builds Tenantry's container images without a container
// engine: a static Go binary becomes a one-layer, distroless-style, non-root
// OCI image with go-containerregistry, and is pushed to any registry,
// including the in-memory one this package serves on loopback for the local
// cluster's real node. A dynamically linked binary (a distribution's build,
// a cgo program) gets the shared libraries it needs beside it
// (Options.SharedLibraries).
//
// Images are reproducible: the same binary and options give the same digest
// on any machine (with SharedLibraries, any machine with the same
// libraries), because nothing in the image depends on the clock, the file
// system it was built on or the order files were listed in.
package images

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"strconv"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// NonRootUID is the user (and group) images run as unless Options.User says
// otherwise: distroless's "nonroot", the user the chart's securityContext
// names, so Pod Security "restricted" admits the pods.
const NonRootUID = 65532

// OCI labels set from Options, read by registries and scanners
// (https://github.com/opencontainers/image-spec/blob/main/annotations.md).
const (
	LabelSource  = "org.opencontainers.image.source"
	LabelTitle   = "org.opencontainers.image.title"
	LabelVersion = "org.opencontainers.image.version"
)

// Options tune the image FromBinary builds. The zero value is a valid choice.
type Options struct {
	// Arch is the GOARCH the binary was built for; it becomes the config's
	// architecture, which is what an index's platform and a node's pull
	// match on. Empty means runtime.GOARCH.
	Arch string
	// Args are the default arguments (the config's Cmd) after the /app
	// entrypoint, for images whose binary needs flags to be useful; a
	// Pod's args replace them.
	Args []string
	// Title, Version and Source become the OCI labels of the same name, so
	// a pulled image says what it is, which release and where its code is.
	Title, Version, Source string
	// User is the UID and GID the image runs as. Zero means NonRootUID;
	// root cannot be chosen, every image runs non-root. The pause image
	// sets 65535, as the upstream registry.k8s.io/pause does.
	User int
	// SharedLibraries puts the shared libraries the binary is dynamically
	// linked to (as ldd lists them on this machine) and its dynamic loader
	// into the image, each at the path the binary looks for it: what a cgo
	// or distribution-built binary (Debian's prometheus, a cgo controller)
	// needs to start without a libc in the image. Leave it off for static
	// binaries; ldd refuses them.
	SharedLibraries bool
}

// FromBinary returns the image of the Linux binary at path binary: one layer
// with the binary at /app, the passwd and group files of a distroless image,
// /tmp and the non-root user's home, and with Options.SharedLibraries the
// libraries it links to.
func FromBinary(binary string, opts Options) (v1.Image, error) {
	app, err := os.ReadFile(binary)
	if err != nil {
		return nil, fmt.Errorf("reading the binary of the image: %w", err)
	}
	var libs []file
	if opts.SharedLibraries {
		if libs, err = sharedLibraries(binary); err != nil {
			return nil, err
		}
	}
	layerTar, err := rootFS(app, libs)
	if err != nil {
		return nil, fmt.Errorf("writing the layer of %s: %w", binary, err)
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, fmt.Errorf("compressing the layer of %s: %w", binary, err)
	}

	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{
		Layer:     layer,
		MediaType: types.OCILayer,
		History:   v1.History{CreatedBy: "tenantry internal/images: static binary at /app"},
	})
	if err != nil {
		return nil, err
	}
	// The config is read back after Append, which filled in the layer's
	// diff ID and history, and completed with how the image runs.
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	applyOptions(cfg, opts)
	return mutate.ConfigFile(img, cfg)
}

// applyOptions sets how the image runs. Created stays the zero time, so the
// digest does not change with the day it was built.
func applyOptions(cfg *v1.ConfigFile, opts Options) {
	arch := opts.Arch
	if arch == "" {
		arch = runtime.GOARCH
	}
	user := opts.User
	if user == 0 {
		user = NonRootUID
	}
	labels := map[string]string{}
	for key, value := range map[string]string{LabelSource: opts.Source, LabelTitle: opts.Title, LabelVersion: opts.Version} {
		if value != "" {
			labels[key] = value
		}
	}
	if len(labels) == 0 {
		labels = nil
	}
	cfg.OS = "linux"
	cfg.Architecture = arch
	cfg.Created = v1.Time{}
	cfg.Config = v1.Config{
		Entrypoint: []string{"/app"},
		Cmd:        opts.Args,
		User:       strconv.Itoa(user) + ":" + strconv.Itoa(user),
		Env:        []string{"PATH=/usr/local/bin:/usr/bin:/bin"},
		WorkingDir: "/",
		Labels:     labels,
	}
}

// Users and groups as distroless ships them: programs that look up their
// user (Go's os/user, glibc-free) find a name and a home.
const (
	passwd = "root:x:0:0:root:/root:/sbin/nologin\n" +
		"nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
	group = "root:x:0:\nnonroot:x:65532:\n"
)

// tarEntry is one file or directory of the layer.
type tarEntry struct {
	hdr  tar.Header
	body []byte
}

// rootFS returns the uncompressed tar of the image's only layer. Every entry
// has a fixed mtime (the Unix epoch), owner and mode, and entries are sorted
// by name, so the tar's bytes depend on the binary and libs alone. Each
// library comes with the directories above it that the base does not have.
func rootFS(app []byte, libs []file) ([]byte, error) {
	entries := []tarEntry{
		{tar.Header{Name: "app", Typeflag: tar.TypeReg, Mode: 0o755}, app},
		{tar.Header{Name: "etc/", Typeflag: tar.TypeDir, Mode: 0o755}, nil},
		{tar.Header{Name: "etc/group", Typeflag: tar.TypeReg, Mode: 0o644}, []byte(group)},
		{tar.Header{Name: "etc/passwd", Typeflag: tar.TypeReg, Mode: 0o644}, []byte(passwd)},
		{tar.Header{Name: "home/", Typeflag: tar.TypeDir, Mode: 0o755}, nil},
		// 0700 as in distroless: the home is the non-root user's alone.
		{tar.Header{Name: "home/nonroot/", Typeflag: tar.TypeDir, Mode: 0o700, Uid: NonRootUID, Gid: NonRootUID}, nil},
		// World-writable and sticky, as /tmp is everywhere: programs that
		// write temporary files run as any user.
		{tar.Header{Name: "tmp/", Typeflag: tar.TypeDir, Mode: 0o1777}, nil},
	}
	entries = append(entries, libraryEntries(entries, libs)...)
	sort.Slice(entries, func(i, j int) bool { return entries[i].hdr.Name < entries[j].hdr.Name })

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		hdr := e.hdr
		hdr.Size = int64(len(e.body))
		hdr.ModTime = time.Unix(0, 0)
		// Pinned rather than chosen per entry by the writer: every
		// field set here fits USTAR, and it has no extended records.
		hdr.Format = tar.FormatUSTAR
		if err := tw.WriteHeader(&hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.body); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

package images

import (
	"context"
	"reflect"
	"sort"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

func startRegistry(t *testing.T) *Registry {
	t.Helper()
	reg, err := StartRegistry("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := reg.Close(); err != nil {
			t.Errorf("closing the registry: %v", err)
		}
	})
	return reg
}

// loopbackRef parses a reference to the test registry, which speaks plain
// HTTP.
func loopbackRef(t *testing.T, ref string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestPushPull(t *testing.T) {
	reg := startRegistry(t)
	img := mustImage(t, writeBinary(t, "app", "binary"), Options{Title: "demo-app"})
	ref := reg.Addr + "/demo-app:test"

	digest, err := Push(context.Background(), img, ref)
	if err != nil {
		t.Fatal(err)
	}
	if want := mustDigest(t, img).String(); digest != want {
		t.Errorf("Push returned %s, want the image's digest %s", digest, want)
	}
	pulled, err := remote.Image(loopbackRef(t, ref))
	if err != nil {
		t.Fatal(err)
	}
	if got := mustDigest(t, pulled).String(); got != digest {
		t.Errorf("pulled digest %s, want the pushed %s", got, digest)
	}
}

func TestPushIndex(t *testing.T) {
	reg := startRegistry(t)
	binary := writeBinary(t, "app", "binary")
	amd64 := mustImage(t, binary, Options{Arch: "amd64"})
	arm64 := mustImage(t, binary, Options{Arch: "arm64"})
	idx, err := Index(amd64, arm64)
	if err != nil {
		t.Fatal(err)
	}
	ref := reg.Addr + "/demo-app:multi"
	digest, err := Push(context.Background(), idx, ref)
	if err != nil {
		t.Fatal(err)
	}

	r := loopbackRef(t, ref)
	pulled, err := remote.Index(r)
	if err != nil {
		t.Fatal(err)
	}
	manifest, err := pulled.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var platforms []string
	for _, m := range manifest.Manifests {
		platforms = append(platforms, m.Platform.String())
	}
	sort.Strings(platforms)
	if want := []string{"linux/amd64", "linux/arm64"}; !reflect.DeepEqual(platforms, want) {
		t.Errorf("index platforms %v, want %v", platforms, want)
	}
	if pulledDigest, err := pulled.Digest(); err != nil || pulledDigest.String() != digest {
		t.Errorf("pulled index digest %s (%v), want the pushed %s", pulledDigest, err, digest)
	}

	// A node pulls the image of its own platform through the tag.
	img, err := remote.Image(r, remote.WithPlatform(v1.Platform{OS: "linux", Architecture: "arm64"}))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := mustDigest(t, img), mustDigest(t, arm64); got != want {
		t.Errorf("linux/arm64 pull gave %s, want the arm64 image %s", got, want)
	}
}

func TestParseReferenceScheme(t *testing.T) {
	tests := []struct {
		ref, wantScheme string
	}{
		{"127.0.0.1:5000/demo-app:v1", "http"},
		{"localhost:5000/demo-app:v1", "http"},
		{"[::1]:5000/demo-app:v1", "http"},
		// Beyond ggcr's own guess: any loopback address, localhost without a port.
		{"127.0.0.2:5000/demo-app:v1", "http"},
		{"localhost/demo-app:v1", "http"},
		{"ghcr.io/tenantry/demo-app:v1", "https"},
		{"registry.tenantry.dev/demo-app:v1", "https"},
		{"demo-app", "https"}, // Docker Hub
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			r, err := parseReference(tt.ref)
			if err != nil {
				t.Fatal(err)
			}
			if got := r.Context().Registry.Scheme(); got != tt.wantScheme {
				t.Errorf("scheme %s, want %s", got, tt.wantScheme)
			}
		})
	}
}

package images

import (
	"context"
	"fmt"
	"net"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Pushable is what Push writes: an image (FromBinary) or a multi-platform
// index of images (Index).
type Pushable interface {
	remote.Taggable
	Digest() (v1.Hash, error)
}

// Push writes t to the registry as ref (registry/repository:tag), an
// index's images and then the index itself, and returns its digest
// ("sha256:…"), which names exactly what was pushed even when the tag moves
// later. Credentials come from the Docker config and credential helpers,
// as `docker push` would use them.
func Push(ctx context.Context, t Pushable, ref string) (string, error) {
	r, err := parseReference(ref)
	if err != nil {
		return "", err
	}
	if err := remote.Push(r, t, remoteOptions(ctx)...); err != nil {
		return "", fmt.Errorf("pushing %s: %w", ref, err)
	}
	digest, err := t.Digest()
	if err != nil {
		return "", err
	}
	return digest.String(), nil
}

func remoteOptions(ctx context.Context) []remote.Option {
	return []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)}
}

// parseReference parses ref and, when its registry is on loopback, allows
// plain HTTP to it: a registry there (StartRegistry's, the local cluster's)
// has no certificate. ggcr guesses as much for localhost:<port> and
// 127.0.0.1 only; this covers every loopback address.
func parseReference(ref string) (name.Reference, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return nil, fmt.Errorf("image reference %q: %w", ref, err)
	}
	if !isLoopback(r.Context().RegistryStr()) {
		return r, nil
	}
	return name.ParseReference(ref, name.Insecure)
}

// isLoopback reports whether a registry host[:port] is localhost or a
// loopback address (127.0.0.1, [::1]).
func isLoopback(registry string) bool {
	host := registry
	if h, _, err := net.SplitHostPort(registry); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

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

// Push writes img to the registry as ref (registry/repository:tag) and
// returns its digest ("sha256:…"), which names exactly what was pushed even
// when the tag moves later. Credentials come from the Docker config and
// credential helpers, as `docker push` would use them.
func Push(ctx context.Context, img v1.Image, ref string) (string, error) {
	r, err := parseReference(ref)
	if err != nil {
		return "", err
	}
	if err := remote.Write(r, img, remoteOptions(ctx)...); err != nil {
		return "", fmt.Errorf("pushing %s: %w", ref, err)
	}
	digest, err := img.Digest()
	if err != nil {
		return "", err
	}
	return digest.String(), nil
}

// PushIndex is Push for a multi-platform image index: it writes every image
// the index lists, then the index itself, and returns the index's digest.
func PushIndex(ctx context.Context, idx v1.ImageIndex, ref string) (string, error) {
	r, err := parseReference(ref)
	if err != nil {
		return "", err
	}
	if err := remote.WriteIndex(r, idx, remoteOptions(ctx)...); err != nil {
		return "", fmt.Errorf("pushing %s: %w", ref, err)
	}
	digest, err := idx.Digest()
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

package images

import (
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
)

// Registry is an in-memory OCI registry on a local address, for tests and
// the local cluster: images pushed to it are pulled by containerd over plain
// HTTP, with no daemon to install and nothing left on disk when it closes.
type Registry struct {
	// Addr is the host:port it listens on, the registry part of the
	// references of images pushed to it ("127.0.0.1:41234/demo-app:v1").
	Addr string

	server *http.Server
	served chan error
}

// StartRegistry serves a registry on addr ("127.0.0.1:0" picks a free port)
// until Close.
func StartRegistry(addr string) (*Registry, error) {
	listener, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	r := &Registry{
		Addr: listener.Addr().String(),
		server: &http.Server{
			// The registry logs every request; a test or the local
			// cluster would drown in them.
			Handler:           registry.New(registry.Logger(log.New(io.Discard, "", 0))),
			ReadHeaderTimeout: 10 * time.Second,
		},
		served: make(chan error, 1),
	}
	go func() { r.served <- r.server.Serve(listener) }()
	return r, nil
}

// Close stops the registry, dropping its images, and returns once it no
// longer serves.
func (r *Registry) Close() error {
	err := r.server.Close()
	if serveErr := <-r.served; !errors.Is(serveErr, http.ErrServerClosed) {
		return errors.Join(err, serveErr)
	}
	return err
}

package localcluster

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cgi"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// The servers below serve bare repositories (see InitBareRepository) the
// way a real Git host does, with authentication, so tests prove the
// operator's credentials rather than StartGitServer's anonymous git://. They
// run in this process on loopback and end with Close.

// GitHTTPSServer serves the repositories under a folder over HTTPS with
// basic authentication, through `git http-backend`: the repository
// <folder>/<name> is URL + "/" + name.
type GitHTTPSServer struct {
	// URL is https://127.0.0.1:<port>.
	URL string
	// CA is the PEM certificate of the throwaway CA that signed the
	// server's certificate: clients trust it as a CA bundle.
	CA []byte

	srv *http.Server
}

// ServeGitHTTPS serves the repositories under baseDir over HTTPS to the one
// user with password, who may clone and push; anyone else gets 401. git
// must be on PATH.
func ServeGitHTTPS(baseDir, user, password string) (*GitHTTPSServer, error) {
	gitBinary, err := exec.LookPath("git")
	if err != nil {
		return nil, fmt.Errorf("the HTTPS Git server needs git: %w", err)
	}
	if baseDir, err = filepath.Abs(baseDir); err != nil {
		return nil, err
	}
	caPEM, cert, err := loopbackCertificate()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || subtle.ConstantTimeCompare([]byte(u), []byte(user)) != 1 || subtle.ConstantTimeCompare([]byte(p), []byte(password)) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		// http-backend allows pushes only from an authenticated REMOTE_USER.
		(&cgi.Handler{
			Path: gitBinary,
			Args: []string{"http-backend"},
			Env:  []string{"GIT_PROJECT_ROOT=" + baseDir, "GIT_HTTP_EXPORT_ALL=1", "REMOTE_USER=" + u},
			// git finds its helpers (upload-pack, receive-pack) on PATH.
			InheritEnv: []string{"PATH"},
		}).ServeHTTP(w, r)
	})
	s := &GitHTTPSServer{
		URL: "https://" + ln.Addr().String(),
		CA:  caPEM,
		srv: &http.Server{
			Handler:           handler,
			TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
			ReadHeaderTimeout: 10 * time.Second,
		},
	}
	go func() { _ = s.srv.ServeTLS(ln, "", "") }()
	return s, nil
}

// Close stops the server.
func (s *GitHTTPSServer) Close() error { return s.srv.Close() }

// loopbackCertificate issues a serving certificate for 127.0.0.1 from a
// throwaway CA, and returns the CA's PEM with it.
func loopbackCertificate() ([]byte, tls.Certificate, error) {
	ca, err := newCA("tenantry-git-ca")
	if err != nil {
		return nil, tls.Certificate{}, err
	}
	certPEM, keyPEM, err := ca.issue(servingTemplate())
	if err != nil {
		return nil, tls.Certificate{}, err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	return ca.caPEM, cert, err
}

// GitSSHServer serves the repositories under a folder over SSH to one
// public key, running git-upload-pack and git-receive-pack as a Git host's
// SSH server does: the repository <folder>/<name> is URL + "/" + name.
type GitSSHServer struct {
	// URL is ssh://git@127.0.0.1:<port>.
	URL string
	// KnownHosts is the known_hosts line of the server's host key.
	KnownHosts []byte

	ln   net.Listener
	wg   sync.WaitGroup
	mu   sync.Mutex
	conn map[net.Conn]bool
}

// ServeGitSSH serves the repositories under baseDir over SSH to the holder
// of the private key of authorized (any user name); every other key is
// refused. git must be on PATH.
func ServeGitSSH(baseDir string, authorized ssh.PublicKey) (*GitSSHServer, error) {
	gitBinary, err := exec.LookPath("git")
	if err != nil {
		return nil, fmt.Errorf("the SSH Git server needs git: %w", err)
	}
	if baseDir, err = filepath.Abs(baseDir); err != nil {
		return nil, err
	}
	_, hostKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	signer, err := ssh.NewSignerFromKey(hostKey)
	if err != nil {
		return nil, err
	}
	want := authorized.Marshal()
	cfg := &ssh.ServerConfig{
		PublicKeyCallback: func(_ ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if bytes.Equal(key.Marshal(), want) {
				return nil, nil
			}
			return nil, errors.New("unknown public key")
		},
	}
	cfg.AddHostKey(signer)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &GitSSHServer{
		URL:        "ssh://git@" + ln.Addr().String(),
		KnownHosts: []byte(knownhosts.Line([]string{ln.Addr().String()}, signer.PublicKey()) + "\n"),
		ln:         ln,
		conn:       map[net.Conn]bool{},
	}
	s.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.track(c, true)
			s.wg.Go(func() {
				defer s.track(c, false)
				serveSSH(c, cfg, gitBinary, baseDir)
			})
		}
	})
	return s, nil
}

// Close stops the server and ends its connections.
func (s *GitSSHServer) Close() error {
	err := s.ln.Close()
	s.mu.Lock()
	for c := range s.conn {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

func (s *GitSSHServer) track(c net.Conn, open bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if open {
		s.conn[c] = true
	} else {
		delete(s.conn, c)
		_ = c.Close()
	}
}

// serveSSH runs one SSH connection: each session may exec
// git-upload-pack or git-receive-pack on a repository under baseDir.
func serveSSH(c net.Conn, cfg *ssh.ServerConfig, gitBinary, baseDir string) {
	_, channels, requests, err := ssh.NewServerConn(c, cfg)
	if err != nil {
		return
	}
	go ssh.DiscardRequests(requests)
	for nc := range channels {
		if nc.ChannelType() != "session" {
			_ = nc.Reject(ssh.UnknownChannelType, "only sessions")
			continue
		}
		ch, reqs, err := nc.Accept()
		if err != nil {
			return
		}
		go serveSession(ch, reqs, gitBinary, baseDir)
	}
}

// serveSession answers the session's exec request with the Git command,
// and reports its exit status.
func serveSession(ch ssh.Channel, reqs <-chan *ssh.Request, gitBinary, baseDir string) {
	defer func() { _ = ch.Close() }()
	for req := range reqs {
		if req.Type != "exec" {
			// go-git sends env requests (GIT_PROTOCOL); they are optional.
			_ = req.Reply(false, nil)
			continue
		}
		var payload struct{ Command string }
		if err := ssh.Unmarshal(req.Payload, &payload); err != nil {
			_ = req.Reply(false, nil)
			return
		}
		cmd, err := gitCommand(payload.Command, gitBinary, baseDir)
		if err != nil {
			_ = req.Reply(false, nil)
			fmt.Fprintln(ch.Stderr(), err)
			return
		}
		_ = req.Reply(true, nil)
		// Stdin is copied by hand: the client closes its side only after
		// the command's output, so exec's Wait would wait for it forever.
		stdin, err := cmd.StdinPipe()
		if err != nil {
			return
		}
		cmd.Stdout, cmd.Stderr = ch, ch.Stderr()
		status := uint32(1)
		if err := cmd.Start(); err == nil {
			go func() {
				_, _ = io.Copy(stdin, ch)
				_ = stdin.Close()
			}()
			if cmd.Wait() == nil {
				status = 0
			}
		}
		_, _ = ch.SendRequest("exit-status", false, binary.BigEndian.AppendUint32(nil, status))
		return
	}
}

// gitCommand is the Git command an SSH exec request asks for, as Git hosts
// accept it: git-upload-pack or git-receive-pack with one quoted
// repository path, which must be under baseDir.
func gitCommand(command, gitBinary, baseDir string) (*exec.Cmd, error) {
	name, arg, _ := strings.Cut(command, " ")
	var sub string
	switch name {
	case "git-upload-pack":
		sub = "upload-pack"
	case "git-receive-pack":
		sub = "receive-pack"
	default:
		return nil, fmt.Errorf("only git-upload-pack and git-receive-pack are served, not %q", name)
	}
	repo := path.Clean("/" + strings.Trim(strings.TrimSpace(arg), "'"))
	if repo == "/" {
		return nil, fmt.Errorf("%s: no repository named", name)
	}
	return exec.Command(gitBinary, sub, filepath.Join(baseDir, filepath.FromSlash(repo))), nil
}

package gitops

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing/transport"
	"golang.org/x/crypto/ssh/knownhosts"
	corev1 "k8s.io/api/core/v1"

	"github.com/tenantry/tenantry/internal/localcluster"
)

// Revert against Git servers that require credentials, as real hosts do:
// HTTPS with basic auth behind a private CA, and SSH with one deploy key.
// The credentials come from Secrets through CredentialsFor, as the
// operator's do. Only git on PATH is needed, so the fast tier runs them.
func TestRevertAuthenticated(t *testing.T) {
	key, pub := sshKey(t, "")
	otherKey, _ := sshKey(t, "")
	tests := []struct {
		name string
		ssh  bool
		// secret is the credentials Secret's data (url is added).
		secret func(*localcluster.GitHTTPSServer, *localcluster.GitSSHServer) map[string]string
		// wantErr is "" for a pushed revert, else a fragment of the error,
		// which must also be one IsAuthError recognises.
		wantErr string
	}{
		{name: "HTTPS with the password", secret: func(h *localcluster.GitHTTPSServer, _ *localcluster.GitSSHServer) map[string]string {
			return map[string]string{"username": "bot", "password": "s3cret", "caBundle": string(h.CA)}
		}},
		{name: "HTTPS with a wrong password", secret: func(h *localcluster.GitHTTPSServer, _ *localcluster.GitSSHServer) map[string]string {
			return map[string]string{"username": "bot", "password": "guess", "caBundle": string(h.CA)}
		}, wantErr: "authentication required"},
		{name: "HTTPS without the server's CA", secret: func(h *localcluster.GitHTTPSServer, _ *localcluster.GitSSHServer) map[string]string {
			return map[string]string{"username": "bot", "password": "s3cret"}
		}, wantErr: "certificate signed by unknown authority"},
		{name: "SSH with the deploy key", ssh: true, secret: func(_ *localcluster.GitHTTPSServer, s *localcluster.GitSSHServer) map[string]string {
			return map[string]string{"sshPrivateKey": key, "knownHosts": string(s.KnownHosts)}
		}},
		{name: "SSH with another key", ssh: true, secret: func(_ *localcluster.GitHTTPSServer, s *localcluster.GitSSHServer) map[string]string {
			return map[string]string{"sshPrivateKey": otherKey, "knownHosts": string(s.KnownHosts)}
		}, wantErr: "ssh: unable to authenticate"},
		{name: "SSH to a server with another host key", ssh: true, secret: func(_ *localcluster.GitHTTPSServer, s *localcluster.GitSSHServer) map[string]string {
			_, impostor := sshKey(t, "")
			host, _, _ := strings.Cut(strings.TrimPrefix(s.URL, "ssh://git@"), "/")
			return map[string]string{"sshPrivateKey": key, "knownHosts": knownhosts.Line([]string{host}, impostor)}
		}, wantErr: "knownhosts: key mismatch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o, _, v2 := seeded(t)
			c := o.commit("shop: v3", map[string]string{shopValue: tag("v3")})
			base, name := filepath.Split(o.dir)
			https, err := localcluster.ServeGitHTTPS(base, "bot", "s3cret")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = https.Close() })
			sshd, err := localcluster.ServeGitSSH(base, pub)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = sshd.Close() })

			server := https.URL
			if tt.ssh {
				server = sshd.URL
			}
			data := tt.secret(https, sshd)
			data["url"] = server + "/"
			creds, err := CredentialsFor([]corev1.Secret{credSecret("git", data)}, server+"/"+name)
			if err != nil {
				t.Fatal(err)
			}
			req := o.request(c)
			req.RepoURL, req.Auth, req.CABundle = server+"/"+name, creds.Auth, creds.CABundle
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			res, err := Revert(ctx, req)

			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !IsAuthError(err) {
					t.Fatalf("Revert = %+v, %v; want an authentication error with %q", res, err, tt.wantErr)
				}
				if head := o.ref("main"); head != c {
					t.Errorf("main = %s after a refused revert, want %s", head, c)
				}
				return
			}
			if err != nil || res.Commit == "" {
				t.Fatalf("Revert = %+v, %v; want a pushed revert", res, err)
			}
			if head := o.ref("main"); head.String() != res.Commit {
				t.Errorf("main = %s, want the revert %s", head, res.Commit)
			}
			checkRevert(t, o, res, c, c)
			if got := o.files(o.ref("main"))[shopValue]; got != o.files(v2)[shopValue] {
				t.Errorf("values after the revert = %q, want v2's", got)
			}
		})
	}
}

// Without credentials an HTTPS server that wants them answers with go-git's
// ErrAuthenticationRequired: what the operator reports as missing
// credentials.
func TestRevertAnonymousHTTPS(t *testing.T) {
	o, _, _ := seeded(t)
	c := o.commit("shop: v3", map[string]string{shopValue: tag("v3")})
	base, name := filepath.Split(o.dir)
	https, err := localcluster.ServeGitHTTPS(base, "bot", "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = https.Close() }()
	req := o.request(c)
	req.RepoURL, req.CABundle = https.URL+"/"+name, https.CA
	_, err = Revert(t.Context(), req)
	if !errors.Is(err, transport.ErrAuthenticationRequired) {
		t.Fatalf("Revert = %v, want %v", err, transport.ErrAuthenticationRequired)
	}
}

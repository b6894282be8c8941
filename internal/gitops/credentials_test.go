package gitops

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// credSecret is a Git credentials Secret in the operator's namespace.
func credSecret(name string, data map[string]string) corev1.Secret {
	s := corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "tenantry-system", Name: name}, Data: map[string][]byte{}}
	for k, v := range data {
		s.Data[k] = []byte(v)
	}
	return s
}

// sshKey is a new ed25519 key pair: the private key in PEM (encrypted
// when passphrase is set) and the public key.
func sshKey(t *testing.T, passphrase string) (string, ssh.PublicKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var block *pem.Block
	if passphrase == "" {
		block, err = ssh.MarshalPrivateKey(priv, "")
	} else {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(priv, "", []byte(passphrase))
	}
	if err != nil {
		t.Fatal(err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(block)), sshPub
}

func TestCredentialsFor(t *testing.T) {
	key, _ := sshKey(t, "")
	encrypted, _ := sshKey(t, "secret")
	_, hostKey := sshKey(t, "")
	known := knownhosts.Line([]string{"git.example.com"}, hostKey)
	knownOther := knownhosts.Line([]string{"other.example.com"}, hostKey)
	ca := localCA(t)

	https := func(name, url string) corev1.Secret {
		return credSecret(name, map[string]string{"url": url, "username": "bot", "password": "token-" + name})
	}
	sshSecret := func(data map[string]string) corev1.Secret {
		d := map[string]string{"url": "ssh://git@git.example.com/", "sshPrivateKey": key}
		for k, v := range data {
			d[k] = v
		}
		return credSecret("deploy-key", d)
	}
	tests := []struct {
		name    string
		secrets []corev1.Secret
		url     string
		// wantSecret is the Secret used, "" for anonymous access.
		wantSecret string
		// wantErr is the error's kind and a fragment of its message.
		wantErr      error
		wantFragment string
		check        func(*testing.T, Credentials)
	}{
		{name: "git:// takes no credentials", url: "git://127.0.0.1:9418/apps",
			secrets: []corev1.Secret{https("any", "git://")}},
		{name: "a local path takes no credentials", url: "/srv/git/apps"},
		{name: "HTTPS without a Secret is anonymous", url: "https://git.example.com/acme/apps.git"},
		{name: "a Secret for another prefix does not apply", url: "https://git.example.com/acme/apps.git",
			secrets: []corev1.Secret{https("globex", "https://git.example.com/globex/")}},
		{name: "HTTPS uses username and password", url: "https://git.example.com/acme/apps.git",
			secrets: []corev1.Secret{https("acme", "https://git.example.com/acme/")}, wantSecret: "tenantry-system/acme",
			check: func(t *testing.T, c Credentials) {
				if a, ok := c.Auth.(*githttp.BasicAuth); !ok || a.Username != "bot" || a.Password != "token-acme" {
					t.Errorf("Auth = %#v, want basic auth bot/token-acme", c.Auth)
				}
			}},
		{name: "the longest prefix wins", url: "https://git.example.com/acme/apps.git",
			secrets: []corev1.Secret{
				https("host", "https://git.example.com/"),
				https("acme", "https://git.example.com/acme/"),
				https("everything", "https://"),
			}, wantSecret: "tenantry-system/acme"},
		{name: "two Secrets with the same url are ambiguous", url: "https://git.example.com/acme/apps.git",
			secrets: []corev1.Secret{https("b", "https://git.example.com/"), https("a", "https://git.example.com/")},
			wantErr: ErrCredentialsInvalid, wantFragment: `tenantry-system/a and tenantry-system/b all have url "https://git.example.com/"`},
		{name: "HTTPS without a password", url: "https://git.example.com/acme/apps.git",
			secrets: []corev1.Secret{credSecret("acme", map[string]string{"url": "https://git.example.com/", "username": "bot"})},
			wantErr: ErrCredentialsInvalid, wantFragment: "Secret tenantry-system/acme (for https://git.example.com/acme/apps.git): the URL is HTTPS but the Secret has no password"},
		{name: "HTTPS with a token and no username", url: "https://git.example.com/acme/apps.git",
			secrets: []corev1.Secret{credSecret("acme", map[string]string{"url": "https://git.example.com/", "password": "t"})},
			wantErr: ErrCredentialsInvalid, wantFragment: "password is set but username is not"},
		{name: "HTTPS with a CA bundle", url: "https://git.example.com/acme/apps.git",
			secrets:    []corev1.Secret{credSecret("acme", map[string]string{"url": "https://git.example.com/", "username": "bot", "password": "t", "caBundle": ca})},
			wantSecret: "tenantry-system/acme",
			check: func(t *testing.T, c Credentials) {
				if string(c.CABundle) != ca {
					t.Errorf("CABundle = %q, want the Secret's", c.CABundle)
				}
			}},
		{name: "a CA bundle that is not PEM", url: "https://git.example.com/acme/apps.git",
			secrets: []corev1.Secret{credSecret("acme", map[string]string{"url": "https://git.example.com/", "username": "bot", "password": "t", "caBundle": "nope"})},
			wantErr: ErrCredentialsInvalid, wantFragment: "caBundle holds no PEM certificate"},
		{name: "SSH without a Secret", url: "ssh://git@git.example.com/acme/apps.git",
			wantErr: ErrCredentialsMissing, wantFragment: "no Secret labelled tenantry.dev/git-credentials=true has a url that is a prefix of ssh://git@git.example.com/acme/apps.git"},
		{name: "SSH with a username and password Secret", url: "ssh://git@git.example.com/acme/apps.git",
			secrets: []corev1.Secret{https("acme", "ssh://git@git.example.com/")},
			wantErr: ErrCredentialsInvalid, wantFragment: "(for ssh://git@git.example.com/acme/apps.git): the URL is SSH but the Secret has no sshPrivateKey"},
		{name: "SSH checks the host key against knownHosts", url: "ssh://git@git.example.com/acme/apps.git",
			secrets: []corev1.Secret{sshSecret(map[string]string{"knownHosts": knownOther + "\n" + known + "\n"})}, wantSecret: "tenantry-system/deploy-key",
			check: func(t *testing.T, c Credentials) {
				a, ok := c.Auth.(*gitssh.PublicKeys)
				if !ok || a.User != "git" || a.HostKeyCallback == nil {
					t.Fatalf("Auth = %#v, want public keys as git with a host key check", c.Auth)
				}
				if !slices.Equal(a.HostKeyAlgorithms, []string{ssh.KeyAlgoED25519}) {
					t.Errorf("HostKeyAlgorithms = %v, want [%s]", a.HostKeyAlgorithms, ssh.KeyAlgoED25519)
				}
				addr := &net.TCPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 22}
				if err := a.HostKeyCallback("git.example.com:22", addr, hostKey); err != nil {
					t.Errorf("the known host key is refused: %v", err)
				}
				_, other := sshKey(t, "")
				if err := a.HostKeyCallback("git.example.com:22", addr, other); err == nil {
					t.Error("another host key is accepted")
				}
			}},
		{name: "scp-like URLs are SSH, with their user", url: "deploy@git.example.com:acme/apps.git",
			secrets:    []corev1.Secret{sshSecret(map[string]string{"url": "deploy@git.example.com:acme", "insecureIgnoreHostKey": "true"})},
			wantSecret: "tenantry-system/deploy-key",
			check: func(t *testing.T, c Credentials) {
				if a, ok := c.Auth.(*gitssh.PublicKeys); !ok || a.User != "deploy" {
					t.Errorf("Auth = %#v, want public keys as deploy", c.Auth)
				}
			}},
		{name: "SSH without knownHosts is refused", url: "ssh://git@git.example.com/acme/apps.git",
			secrets: []corev1.Secret{sshSecret(nil)},
			wantErr: ErrCredentialsInvalid, wantFragment: `no knownHosts, so the SSH server cannot be checked; add its keys (ssh-keyscan -p 22 git.example.com), or set insecureIgnoreHostKey: "true"`},
		{name: "knownHosts without the host", url: "ssh://git@git.example.com:2222/acme/apps.git",
			secrets: []corev1.Secret{sshSecret(map[string]string{"url": "ssh://git@git.example.com:2222/", "knownHosts": known})},
			wantErr: ErrCredentialsInvalid, wantFragment: "knownHosts: no line for [git.example.com]:2222; add the server's keys (ssh-keyscan -p 2222 git.example.com)"},
		{name: "knownHosts that is not known_hosts", url: "ssh://git@git.example.com/acme/apps.git",
			secrets: []corev1.Secret{sshSecret(map[string]string{"knownHosts": "git.example.com ssh-ed25519 !!!"})},
			wantErr: ErrCredentialsInvalid, wantFragment: "knownHosts: not known_hosts lines"},
		{name: "an encrypted key", url: "ssh://git@git.example.com/acme/apps.git",
			secrets: []corev1.Secret{sshSecret(map[string]string{"sshPrivateKey": encrypted, "insecureIgnoreHostKey": "true"})},
			wantErr: ErrCredentialsInvalid, wantFragment: "sshPrivateKey is encrypted with a passphrase; store an unencrypted key"},
		{name: "a key that is not PEM", url: "ssh://git@git.example.com/acme/apps.git",
			secrets: []corev1.Secret{sshSecret(map[string]string{"sshPrivateKey": "ssh-ed25519 AAAA", "insecureIgnoreHostKey": "true"})},
			wantErr: ErrCredentialsInvalid, wantFragment: "sshPrivateKey is not a private key in PEM"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := CredentialsFor(tt.secrets, tt.url)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.wantFragment) {
					t.Fatalf("CredentialsFor = %v, want %v with %q", err, tt.wantErr, tt.wantFragment)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Secret != tt.wantSecret {
				t.Errorf("Secret = %q, want %q", got.Secret, tt.wantSecret)
			}
			if (got.Auth == nil) != (tt.wantSecret == "") {
				t.Errorf("Auth = %v for Secret %q", got.Auth, tt.wantSecret)
			}
			if tt.check != nil {
				tt.check(t, got)
			}
		})
	}
}

// localCA is a self-signed certificate in PEM, standing for a private CA.
func localCA(t *testing.T) string {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	template := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "private CA"},
		NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, template, template, pub, priv)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func TestIsAuthError(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("push: %w", transport.ErrAuthenticationRequired), true},
		{errors.New("ssh: handshake failed: ssh: unable to authenticate, attempted methods [none publickey], no supported methods remain"), true},
		{fmt.Errorf("dial: %w", &knownhosts.KeyError{}), true},
		{errors.New("connection refused"), false},
		{nil, false},
	} {
		if got := IsAuthError(tt.err); got != tt.want {
			t.Errorf("IsAuthError(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

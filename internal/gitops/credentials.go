package gitops

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
	corev1 "k8s.io/api/core/v1"

	"github.com/tenantry/tenantry/api/v1alpha1"
)

// Keys of a Git credentials Secret. They are Argo CD's repository-credential
// keys, so a platform engineer can copy an Argo CD repo-creds Secret, plus
// caBundle: Argo CD keeps custom CAs in a ConfigMap, the operator reads
// them from the same Secret.
const (
	// CredentialURL is the URL prefix the credentials apply to
	// ("https://github.com/acme/"); the longest matching prefix wins.
	CredentialURL = "url"
	// CredentialUsername and CredentialPassword authenticate HTTPS; a token
	// goes in password.
	CredentialUsername = "username"
	CredentialPassword = "password"
	// CredentialSSHPrivateKey is an unencrypted private key (PEM) for ssh://
	// and user@host:path URLs.
	CredentialSSHPrivateKey = "sshPrivateKey"
	// CredentialKnownHosts holds known_hosts lines for the SSH server (the
	// output of ssh-keyscan).
	CredentialKnownHosts = "knownHosts"
	// CredentialInsecureIgnoreHostKey "true" skips the SSH host key check
	// when knownHosts is absent; without either the operator refuses.
	CredentialInsecureIgnoreHostKey = "insecureIgnoreHostKey"
	// CredentialCABundle holds PEM certificates trusted for an HTTPS server
	// whose certificate a public CA did not sign.
	CredentialCABundle = "caBundle"
)

// Errors of CredentialsFor, to tell apart with errors.Is.
var (
	// ErrCredentialsMissing: no Secret applies to an SSH repository, whose
	// server needs a key.
	ErrCredentialsMissing = errors.New("no Git credentials")
	// ErrCredentialsInvalid: the Secret that applies cannot be used as it is.
	ErrCredentialsInvalid = errors.New("invalid Git credentials")
)

// Credentials authenticate the operator's Git operations on one repository.
type Credentials struct {
	// Secret is the namespace/name of the Secret they come from, "" when
	// none applies (anonymous access).
	Secret string
	// Auth is go-git's authentication; nil is anonymous.
	Auth transport.AuthMethod
	// CABundle, when set, are the certificates trusted for HTTPS.
	CABundle []byte
}

// CredentialsFor picks, among secrets (those labelled
// tenantry.dev/git-credentials in the operator's namespace), the one whose
// url is the longest prefix of repoURL, and turns it into go-git's
// authentication: username and password for http(s)://, sshPrivateKey with
// the host key checked against knownHosts for ssh:// and user@host:path.
//
// Without a matching Secret, HTTP(S) is anonymous (a public repository can
// be cloned; the push will say it needs credentials) while SSH, which has no
// anonymous access, is ErrCredentialsMissing. git:// and file:// URLs take no
// credentials. Every error names the Secret and the key to fix; two Secrets
// with the same url are ambiguous rather than silently one of them.
//
// It reads nothing but its arguments, except that knownHosts goes through a
// temporary file, the only input x/crypto's known_hosts parser takes.
func CredentialsFor(secrets []corev1.Secret, repoURL string) (Credentials, error) {
	ep, err := transport.NewEndpoint(repoURL)
	if err != nil {
		return Credentials{}, fmt.Errorf("repository URL %q: %w", repoURL, err)
	}
	switch ep.Protocol {
	case "http", "https", "ssh":
	default:
		return Credentials{}, nil
	}
	secret, err := matchingSecret(secrets, repoURL)
	if err != nil || secret == nil {
		if err == nil && ep.Protocol == "ssh" {
			err = fmt.Errorf("%w: no Secret labelled %s=true has a %s that is a prefix of %s, and an SSH server needs a key",
				ErrCredentialsMissing, v1alpha1.LabelGitCredentials, CredentialURL, repoURL)
		}
		return Credentials{}, err
	}
	name := secret.Namespace + "/" + secret.Name
	creds := Credentials{Secret: name}
	var problem string
	if ep.Protocol == "ssh" {
		creds.Auth, problem = sshAuth(secret, ep)
	} else {
		creds.Auth, creds.CABundle, problem = httpAuth(secret)
	}
	if problem != "" {
		return Credentials{}, fmt.Errorf("%w: Secret %s (for %s): %s", ErrCredentialsInvalid, name, repoURL, problem)
	}
	return creds, nil
}

// sshAuth is the key and host key check of an SSH repository's Secret,
// or what is wrong with it.
func sshAuth(secret *corev1.Secret, ep *transport.Endpoint) (transport.AuthMethod, string) {
	key := secret.Data[CredentialSSHPrivateKey]
	if len(key) == 0 {
		return nil, fmt.Sprintf("the URL is SSH but the Secret has no %s; add the private key (PEM) of a deploy key with write access", CredentialSSHPrivateKey)
	}
	signer, err := ssh.ParsePrivateKey(key)
	var passphrase *ssh.PassphraseMissingError
	if errors.As(err, &passphrase) {
		return nil, CredentialSSHPrivateKey + " is encrypted with a passphrase; store an unencrypted key"
	}
	if err != nil {
		return nil, fmt.Sprintf("%s is not a private key in PEM: %v", CredentialSSHPrivateKey, err)
	}
	auth := &gitssh.PublicKeys{User: ep.User, Signer: signer}
	if auth.User == "" {
		auth.User = "git"
	}
	port := portOr(ep.Port, 22)
	switch known := secret.Data[CredentialKnownHosts]; {
	case len(known) > 0:
		auth.HostKeyCallback, auth.HostKeyAlgorithms, err = hostKeyCheck(known, net.JoinHostPort(ep.Host, fmt.Sprint(port)))
		if err != nil {
			return nil, fmt.Sprintf("%s: %v; add the server's keys (ssh-keyscan -p %d %s)", CredentialKnownHosts, err, port, ep.Host)
		}
	case string(secret.Data[CredentialInsecureIgnoreHostKey]) == "true":
		auth.HostKeyCallback = ssh.InsecureIgnoreHostKey() // the Secret asks for it, as an Argo CD one may
	default:
		return nil, fmt.Sprintf("no %s, so the SSH server cannot be checked; add its keys (ssh-keyscan -p %d %s), or set %s: \"true\" to skip the check",
			CredentialKnownHosts, port, ep.Host, CredentialInsecureIgnoreHostKey)
	}
	return auth, ""
}

// httpAuth is the basic auth and CA bundle of an HTTP(S) repository's
// Secret, or what is wrong with it.
func httpAuth(secret *corev1.Secret) (transport.AuthMethod, []byte, string) {
	user, password := string(secret.Data[CredentialUsername]), string(secret.Data[CredentialPassword])
	if password == "" {
		return nil, nil, fmt.Sprintf("the URL is HTTPS but the Secret has no %s; add the password or an access token with write access", CredentialPassword)
	}
	if user == "" {
		return nil, nil, fmt.Sprintf("%s is set but %s is not; add the user name (any non-empty name with a token, e.g. x-access-token on GitHub, oauth2 on GitLab)",
			CredentialPassword, CredentialUsername)
	}
	ca := secret.Data[CredentialCABundle]
	if len(ca) > 0 && !x509.NewCertPool().AppendCertsFromPEM(ca) {
		return nil, nil, CredentialCABundle + " holds no PEM certificate"
	}
	return &githttp.BasicAuth{Username: user, Password: password}, ca, ""
}

// matchingSecret is the Secret whose url is the longest prefix of repoURL,
// nil when none is.
func matchingSecret(secrets []corev1.Secret, repoURL string) (*corev1.Secret, error) {
	var best []*corev1.Secret
	for i := range secrets {
		s := &secrets[i]
		prefix := strings.TrimSpace(string(s.Data[CredentialURL]))
		if prefix == "" || !strings.HasPrefix(repoURL, prefix) {
			continue
		}
		switch {
		case len(best) == 0 || len(prefix) > len(best[0].Data[CredentialURL]):
			best = []*corev1.Secret{s}
		case len(prefix) == len(best[0].Data[CredentialURL]):
			best = append(best, s)
		}
	}
	switch len(best) {
	case 0:
		return nil, nil
	case 1:
		return best[0], nil
	}
	names := make([]string, len(best))
	for i, s := range best {
		names[i] = s.Namespace + "/" + s.Name
	}
	slices.Sort(names)
	return nil, fmt.Errorf("%w: Secrets %s all have %s %q: delete all but one, or make one's %s longer",
		ErrCredentialsInvalid, strings.Join(names, " and "), CredentialURL, best[0].Data[CredentialURL], CredentialURL)
}

// hostKeyCheck checks host keys against known_hosts lines, and lists the
// key algorithms they know for hostPort, so that the server is asked for a
// key the lines can check (a server offering ed25519 and RSA would
// otherwise send ed25519 even when only its RSA key is known).
func hostKeyCheck(knownHosts []byte, hostPort string) (ssh.HostKeyCallback, []string, error) {
	f, err := os.CreateTemp("", "known_hosts")
	if err != nil {
		return nil, nil, err
	}
	defer func() { _ = os.Remove(f.Name()) }()
	_, err = f.Write(knownHosts)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, nil, err
	}
	check, err := knownhosts.New(f.Name())
	if err != nil {
		return nil, nil, errors.New("not known_hosts lines: " + strings.ReplaceAll(err.Error(), f.Name(), "line"))
	}
	// Asking with a key no line holds returns the keys the lines hold for
	// the host: the only way x/crypto tells.
	var keyErr *knownhosts.KeyError
	if err := check(hostPort, &net.TCPAddr{IP: net.IPv4zero}, unknownKey{}); !errors.As(err, &keyErr) || len(keyErr.Want) == 0 {
		return nil, nil, fmt.Errorf("no line for %s", knownhosts.Normalize(hostPort))
	}
	var algorithms []string
	for _, k := range keyErr.Want {
		switch t := k.Key.Type(); t {
		case ssh.KeyAlgoRSA:
			algorithms = append(algorithms, ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, t)
		default:
			algorithms = append(algorithms, t)
		}
	}
	return check, slices.Compact(algorithms), nil
}

// unknownKey is a host key no known_hosts line holds.
type unknownKey struct{}

func (unknownKey) Type() string                        { return "tenantry-unknown" }
func (unknownKey) Marshal() []byte                     { return []byte("tenantry-unknown") }
func (unknownKey) Verify([]byte, *ssh.Signature) error { return errors.New("not a key") }

func portOr(port, def int) int {
	if port == 0 {
		return def
	}
	return port
}

// IsAuthError reports whether err says a Git server refused the
// operator's credentials (or wanted some), or the operator refused the
// server's identity (host key, certificate): what a credentials Secret
// fixes, as opposed to a network or repository problem.
func IsAuthError(err error) bool {
	var keyErr *knownhosts.KeyError
	var revoked *knownhosts.RevokedError
	var unknownCA x509.UnknownAuthorityError
	var hostname x509.HostnameError
	switch {
	case errors.Is(err, transport.ErrAuthenticationRequired), errors.Is(err, transport.ErrAuthorizationFailed),
		errors.As(err, &keyErr), errors.As(err, &revoked), errors.As(err, &unknownCA), errors.As(err, &hostname):
		return true
	}
	// x/crypto/ssh's refusal of every key offered has no type of its own.
	return err != nil && strings.Contains(err.Error(), "ssh: unable to authenticate")
}

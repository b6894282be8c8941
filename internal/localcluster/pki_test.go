package localcluster

import (
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"slices"
	"testing"
)

func TestPKIServingCertificateNames(t *testing.T) {
	p, err := newPKI(t.TempDir(), net.IPv4(10, 0, 0, 1))
	if err != nil {
		t.Fatal(err)
	}
	serving := readCert(t, p.servingCertFile())
	for _, name := range []string{"127.0.0.1", "localhost", "10.0.0.1", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"} {
		t.Run(name, func(t *testing.T) {
			_, err := serving.Verify(x509.VerifyOptions{DNSName: name, Roots: roots(p)})
			if err != nil {
				t.Errorf("serving certificate not valid for %s: %v", name, err)
			}
		})
	}
	for _, path := range []string{p.caKeyFile(), p.servingKeyFile(), p.saKeyFile()} {
		info, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if mode := info.Mode().Perm(); mode != 0o600 {
			t.Errorf("%s has mode %o; keys must be 0600", path, mode)
		}
	}
}

func TestPKIClientCertificates(t *testing.T) {
	p, err := newPKI(t.TempDir(), net.IPv4(10, 0, 0, 1))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		user   string
		groups []string
	}{
		{user: "alice", groups: []string{"acme-admins"}},
		{user: "bob", groups: []string{"acme-developers", "acme-viewers"}},
		{user: "system:serviceaccount:acme:deployer"},
	}
	for _, tt := range tests {
		t.Run(tt.user, func(t *testing.T) {
			certPEM, _, err := p.clientCert(tt.user, tt.groups...)
			if err != nil {
				t.Fatal(err)
			}
			cert := parseCert(t, certPEM)
			if _, err := cert.Verify(x509.VerifyOptions{Roots: roots(p), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
				t.Errorf("client certificate does not chain to the CA: %v", err)
			}
			// Organization is an ASN.1 SET: its order is not kept.
			groups := slices.Sorted(slices.Values(cert.Subject.Organization))
			if cert.Subject.CommonName != tt.user || !slices.Equal(groups, tt.groups) {
				t.Errorf("subject = %q %q; want user %q groups %q", cert.Subject.CommonName, cert.Subject.Organization, tt.user, tt.groups)
			}
		})
	}
}

func roots(p *pki) *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(p.caCert)
	return pool
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return parseCert(t, data)
}

func parseCert(t *testing.T, certPEM []byte) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(certPEM)
	if block == nil {
		t.Fatal("no PEM block")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

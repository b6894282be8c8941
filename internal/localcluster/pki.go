package localcluster

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// certValidity is long enough for any test run or demo session and short
// enough that a leaked data dir is useless after a day.
const certValidity = 24 * time.Hour

// pki is the cluster's certificate authority and the keys the control plane
// needs. Everything is generated in memory at start-up and written to dir.
type pki struct {
	dir    string
	caCert *x509.Certificate
	caKey  crypto.Signer
	// caPEM is the CA certificate in PEM form, for kubeconfigs and --client-ca-file.
	caPEM []byte
}

// Paths of the files newPKI writes; components read them through flags.
func (p *pki) caCertFile() string      { return filepath.Join(p.dir, "ca.crt") }
func (p *pki) caKeyFile() string       { return filepath.Join(p.dir, "ca.key") }
func (p *pki) servingCertFile() string { return filepath.Join(p.dir, "apiserver.crt") }
func (p *pki) servingKeyFile() string  { return filepath.Join(p.dir, "apiserver.key") }
func (p *pki) saKeyFile() string       { return filepath.Join(p.dir, "sa.key") }
func (p *pki) saPubFile() string       { return filepath.Join(p.dir, "sa.pub") }

// The API server's client certificate for kubelets (logs, exec, port-forward).
func (p *pki) kubeletClientCertFile() string {
	return filepath.Join(p.dir, "apiserver-kubelet-client.crt")
}
func (p *pki) kubeletClientKeyFile() string {
	return filepath.Join(p.dir, "apiserver-kubelet-client.key")
}

// writeKubeletClientCert issues the API server's kubelet client
// certificate. Its group, system:masters, is what the kubelet's webhook
// authorization allows everything.
func (p *pki) writeKubeletClientCert() error {
	certPEM, keyPEM, err := p.clientCert("kube-apiserver-kubelet-client", "system:masters")
	if err != nil {
		return err
	}
	return writeFiles(map[string][]byte{p.kubeletClientCertFile(): certPEM, p.kubeletClientKeyFile(): keyPEM})
}

// newPKI creates the CA, the kube-apiserver serving certificate (valid for
// loopback and the in-cluster service names) and the service-account
// signing key pair, and writes them to dir.
func newPKI(dir string, apiServerIPs ...net.IP) (*pki, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	p, err := newCA("tenantry-localcluster-ca")
	if err != nil {
		return nil, err
	}
	p.dir = dir

	apiserverTemplate := servingTemplate()
	apiserverTemplate.DNSNames = append(apiserverTemplate.DNSNames, "kubernetes", "kubernetes.default",
		"kubernetes.default.svc", "kubernetes.default.svc.cluster.local")
	apiserverTemplate.IPAddresses = append(apiserverTemplate.IPAddresses, apiServerIPs...)
	servingCert, servingKey, err := p.issue(apiserverTemplate)
	if err != nil {
		return nil, fmt.Errorf("issuing apiserver serving certificate: %w", err)
	}

	// Service-account tokens are signed with RSA: every Kubernetes client and
	// OIDC consumer accepts RS256.
	saKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("generating service-account key: %w", err)
	}
	saPub, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err != nil {
		return nil, err
	}
	caKeyPEM, err := keyPEM(p.caKey)
	if err != nil {
		return nil, err
	}
	saKeyPEM, err := keyPEM(saKey)
	if err != nil {
		return nil, err
	}
	return p, writeFiles(map[string][]byte{
		p.caCertFile():      p.caPEM,
		p.caKeyFile():       caKeyPEM,
		p.servingCertFile(): servingCert,
		p.servingKeyFile():  servingKey,
		p.saKeyFile():       saKeyPEM,
		p.saPubFile():       pemBlock("PUBLIC KEY", saPub),
	})
}

// newCA creates a self-signed CA in memory, ready to issue certificates.
func newCA(commonName string) (*pki, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating CA key: %w", err)
	}
	now := time.Now()
	template := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(certValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, caKey.Public(), caKey)
	if err != nil {
		return nil, fmt.Errorf("self-signing CA %s: %w", commonName, err)
	}
	caCert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &pki{caCert: caCert, caKey: caKey, caPEM: pemBlock("CERTIFICATE", der)}, nil
}

// servingTemplate is a server certificate for loopback; callers add names.
func servingTemplate() *x509.Certificate {
	return &x509.Certificate{
		Subject:     pkix.Name{CommonName: "localhost"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
}

// writeFiles writes each file readable by its owner only: they hold keys.
func writeFiles(files map[string][]byte) error {
	for path, data := range files {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// clientCert issues a client certificate for user in groups. Kubernetes maps
// the subject's CommonName to the user name and each Organization to a group.
func (p *pki) clientCert(user string, groups ...string) (certPEM, keyPEM []byte, err error) {
	return p.issue(&x509.Certificate{
		Subject:     pkix.Name{CommonName: user, Organization: groups},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
}

// issue signs template with the CA under a fresh ECDSA key and returns the
// certificate and key in PEM form.
func (p *pki) issue(template *x509.Certificate) (certPEM, keyPEMBytes []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	template.SerialNumber = randomSerial()
	template.NotBefore = now.Add(-time.Minute)
	template.NotAfter = now.Add(certValidity)
	template.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, template, p.caCert, key.Public(), p.caKey)
	if err != nil {
		return nil, nil, err
	}
	keyPEMBytes, err = keyPEM(key)
	if err != nil {
		return nil, nil, err
	}
	return pemBlock("CERTIFICATE", der), keyPEMBytes, nil
}

func keyPEM(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pemBlock("PRIVATE KEY", der), nil
}

func pemBlock(kind string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der})
}

func randomSerial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return n
}

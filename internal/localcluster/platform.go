package localcluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tenantry/tenantry/internal/images"
)

// OperatorImage is the operator's image name on the real node, as
// production names it apart from the registry host.
const OperatorImage = LocalRegistry + "/tenantry-operator"

// PlatformOptions configure InstallPlatform. The zero value is usable.
type PlatformOptions struct {
	// Namespace is the release namespace. Default "tenantry-system".
	Namespace string
	// Values are extra `helm install --set` values, as key=value.
	Values []string
	// Timeout bounds the install, image build included. Default 5 minutes.
	Timeout time.Duration
}

// Platform is the Tenantry chart installed on the cluster.
type Platform struct {
	Namespace string
	// ImageDigest is the operator image the pods run (sha256:...).
	ImageDigest string
}

// InstallPlatform installs Tenantry as a platform engineer does, onto the
// real node: it builds the operator's image from this checkout without
// Docker, pushes it to the loopback registry as OperatorImage, creates the
// release namespace with Pod Security restricted enforced (docs/install.md)
// and runs `helm install --wait` of charts/tenantry with the image pinned
// by digest and pulled Always. It returns once the operator's pods are
// Ready.
func (c *Cluster) InstallPlatform(ctx context.Context, opts PlatformOptions) (*Platform, error) {
	if c.node == nil {
		return nil, errors.New("InstallPlatform runs the operator as pods: the cluster needs a real node (Options.RealNode)")
	}
	if opts.Namespace == "" {
		opts.Namespace = "tenantry-system"
	}
	if opts.Timeout == 0 {
		opts.Timeout = 5 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	root := filepath.Dir(c.opts.BinDir)
	binary := filepath.Join(c.DataDir, "images", "tenantry-operator")
	c.progressf("building the operator image")
	if err := images.BuildGo(ctx, images.GoBuild{Dir: root, Package: "./cmd/tenantry-operator", Out: binary}); err != nil {
		return nil, err
	}
	digest, err := c.PushBinaryImage(ctx, "tenantry-operator:dev", binary, images.Options{Title: "tenantry-operator", Version: "dev"})
	if err != nil {
		return nil, err
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name:   opts.Namespace,
		Labels: map[string]string{"pod-security.kubernetes.io/enforce": "restricted"},
	}}
	if _, err := c.client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, err
	}
	args := []string{"install", "tenantry", filepath.Join(root, "charts", "tenantry"),
		"--namespace", opts.Namespace, "--wait", "--timeout", opts.Timeout.String(),
		"--set", "image.repository=" + OperatorImage,
		"--set", "image.digest=" + digest,
		"--set", "image.pullPolicy=Always",
	}
	for _, v := range opts.Values {
		args = append(args, "--set", v)
	}
	c.progressf("helm install tenantry (operator %s@%s)", OperatorImage, digest)
	if err := c.Helm(ctx, args...); err != nil {
		return nil, err
	}
	return &Platform{Namespace: opts.Namespace, ImageDigest: digest}, nil
}

// Helm runs bin/helm against the cluster (its admin kubeconfig) and returns
// an error with helm's output if it fails.
func (c *Cluster) Helm(ctx context.Context, args ...string) error {
	cmd := exec.CommandContext(ctx, c.bin("helm"), args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+c.KubeconfigPath,
		"HELM_CACHE_HOME="+filepath.Join(c.DataDir, "helm", "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(c.DataDir, "helm", "config"),
		"HELM_DATA_HOME="+filepath.Join(c.DataDir, "helm", "data"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("helm %s: %w\n%s", args[0], err, out)
	}
	return nil
}

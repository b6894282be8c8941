// Package localfleet runs a fleet's member clusters on this machine, beside
// a hub: each member is a local control plane (internal/localcluster) with
// the platform installed as the chart installs it on a member, and the
// operator binary running with --fleet-member; each is registered with the
// hub's Argo CD as a platform team registers a cluster, by a cluster
// Secret labelled tenantry.dev/member. The fleet demo and test/fleet use
// it; docs/fleet.md describes the model.
package localfleet

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tenantry/tenantry/api/v1alpha1"
	"github.com/tenantry/tenantry/internal/install"
	"github.com/tenantry/tenantry/internal/localcluster"
)

// ArgoCDConfig are the hub's Argo CD settings a fleet needs: sync
// impersonation (tenants' apps sync as their deployer on their member,
// the platform as each member's fleet-sync ServiceAccount), and the health
// check that tells the hub when a tenant is Ready on its member.
func ArgoCDConfig() map[string]string {
	return map[string]string{
		"application.sync.impersonation.enabled": "true",
		install.TenantHealthCheckKey:             install.TenantHealthCheck,
	}
}

// Hub is a running fleet hub.
type Hub struct {
	Cluster *localcluster.Cluster
	ArgoCD  *localcluster.ArgoCD
	// Admin is a client of the hub as its cluster admin.
	Admin client.Client
	// GitURL serves HubOptions.Repositories.
	GitURL string
}

// HubOptions shape a hub.
type HubOptions struct {
	Cluster localcluster.Options
	// ArgoCD overrides ArgoCDConfig's settings, or adds to them.
	ArgoCD map[string]string
	// Repositories are the bare repositories its Git server serves.
	Repositories []string
	// OperatorArgs are more flags for the hub's operator.
	OperatorArgs []string
}

// StartHub starts a hub: a local control plane, Argo CD (ArgoCDConfig and
// opts.ArgoCD), a Git server, and the platform with the chart's hub objects
// (install.FleetHub), the operator binary running as the chart's
// ServiceAccount with --fleet-hub. The caller stops h.Cluster, also on
// error when h is not nil.
func StartHub(ctx context.Context, operator string, scheme *runtime.Scheme, opts HubOptions) (*Hub, error) {
	c, err := localcluster.Start(ctx, opts.Cluster)
	if err != nil {
		return nil, fmt.Errorf("hub: %w", err)
	}
	h := &Hub{Cluster: c}
	config := ArgoCDConfig()
	maps.Copy(config, opts.ArgoCD)
	if h.ArgoCD, err = c.StartArgoCD(ctx, localcluster.ArgoCDOptions{Config: config}); err != nil {
		return h, err
	}
	if h.GitURL, err = c.ServeGit(ctx, opts.Repositories...); err != nil {
		return h, err
	}
	if h.Admin, err = client.New(c.Config, client.Options{Scheme: scheme}); err != nil {
		return h, err
	}
	operatorConfig, err := install.Platform(ctx, h.Admin, c.Config)
	if err != nil {
		return h, fmt.Errorf("hub: %w", err)
	}
	if err := install.FleetHub(ctx, h.Admin, h.ArgoCD.Namespace); err != nil {
		return h, fmt.Errorf("hub: %w", err)
	}
	args := append([]string{"--metrics-bind-address=0", "--health-probe-bind-address=0", "--argocd-namespace=" + h.ArgoCD.Namespace, "--fleet-hub"},
		opts.OperatorArgs...)
	if err := c.StartAddon("tenantry-operator", operator, operatorConfig, args...); err != nil {
		return h, fmt.Errorf("hub: %w", err)
	}
	return h, nil
}

// Member is a running member cluster.
type Member struct {
	Name    string
	Cluster *localcluster.Cluster
	// Admin is a client of the member as its cluster admin.
	Admin client.Client
}

// StartMember starts a member cluster with opts, installs the platform
// with the chart's member objects (install.FleetMember), and starts the
// operator binary as the chart's ServiceAccount, with --fleet-member and
// without Argo CD. The caller stops m.Cluster, also on error when m is not
// nil.
func StartMember(ctx context.Context, name, operator string, scheme *runtime.Scheme, opts localcluster.Options) (*Member, error) {
	c, err := localcluster.Start(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("member %s: %w", name, err)
	}
	m := &Member{Name: name, Cluster: c}
	if m.Admin, err = client.New(c.Config, client.Options{Scheme: scheme}); err != nil {
		return m, err
	}
	operatorConfig, err := install.Platform(ctx, m.Admin, c.Config)
	if err != nil {
		return m, fmt.Errorf("member %s: %w", name, err)
	}
	if err := install.FleetMember(ctx, m.Admin); err != nil {
		return m, fmt.Errorf("member %s: %w", name, err)
	}
	if err := c.StartAddon("tenantry-operator", operator, operatorConfig,
		"--metrics-bind-address=0", "--health-probe-bind-address=0", "--argocd-namespace=", "--fleet-member"); err != nil {
		return m, fmt.Errorf("member %s: %w", name, err)
	}
	return m, nil
}

// Register adds the member to the hub's Argo CD with its admin
// credentials, as a member of the fleet with the given labels (what
// placement selectors match) and annotations (its bounds,
// v1alpha1.AnnotationMaxTenants and its siblings).
func (m *Member) Register(ctx context.Context, hub client.Client, argoCDNamespace string, labels, annotations map[string]string) error {
	b64 := base64.StdEncoding.EncodeToString
	config, err := json.Marshal(map[string]any{"tlsClientConfig": map[string]any{
		"caData": b64(m.Cluster.Config.CAData), "certData": b64(m.Cluster.Config.CertData), "keyData": b64(m.Cluster.Config.KeyData),
	}})
	if err != nil {
		return err
	}
	return hub.Create(ctx, ClusterSecret(argoCDNamespace, m.Name, m.Cluster.Config.Host, string(config), labels, annotations))
}

// ClusterSecret registers a cluster with Argo CD, as a platform team
// does, and makes it a member of the fleet, with labels and annotations
// of its own.
func ClusterSecret(argoCDNamespace, name, server, config string, labels, annotations map[string]string) *corev1.Secret {
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "cluster-" + name, Namespace: argoCDNamespace, Annotations: annotations,
			Labels: map[string]string{"argocd.argoproj.io/secret-type": "cluster", v1alpha1.LabelMember: name}},
		StringData: map[string]string{"name": name, "server": server, "config": config},
	}
	maps.Copy(s.Labels, labels)
	return s
}

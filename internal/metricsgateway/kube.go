package metricsgateway

import (
	"context"
	"fmt"
	"slices"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/tenantry/tenantry/api/v1alpha1"
)

// TokenReviewer reviews tokens with the API server's TokenReview API (the
// gateway's ServiceAccount needs create on tokenreviews).
type TokenReviewer struct {
	Client kubernetes.Interface
}

// Review implements Reviewer.
func (t TokenReviewer) Review(ctx context.Context, token string, audiences []string) (authenticationv1.TokenReviewStatus, error) {
	review, err := t.Client.AuthenticationV1().TokenReviews().Create(ctx, &authenticationv1.TokenReview{
		Spec: authenticationv1.TokenReviewSpec{Token: token, Audiences: audiences},
	}, metav1.CreateOptions{})
	if err != nil {
		return authenticationv1.TokenReviewStatus{}, fmt.Errorf("creating a TokenReview: %w", err)
	}
	return review.Status, nil
}

const byTenant = "tenant"

// NamespaceIndex answers Tenants from an informer on the namespaces that
// carry the tenant label, so a query costs no API call beyond its
// TokenReview (the gateway's ServiceAccount needs list and watch on
// namespaces).
type NamespaceIndex struct {
	informer cache.SharedIndexInformer
}

// NewNamespaceIndex watches tenant namespaces; Start runs it.
func NewNamespaceIndex(client kubernetes.Interface) (*NamespaceIndex, error) {
	factory := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.LabelSelector = v1alpha1.LabelTenant
	}))
	informer := factory.Core().V1().Namespaces().Informer()
	// Keep only the name and labels: nothing else is read, and a cluster
	// may hold thousands of tenant namespaces.
	if err := informer.SetTransform(func(obj any) (any, error) {
		ns, ok := obj.(*corev1.Namespace)
		if !ok {
			return obj, nil
		}
		return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns.Name, Labels: ns.Labels, ResourceVersion: ns.ResourceVersion}}, nil
	}); err != nil {
		return nil, err
	}
	if err := informer.AddIndexers(cache.Indexers{byTenant: func(obj any) ([]string, error) {
		if ns, ok := obj.(*corev1.Namespace); ok && ns.Labels[v1alpha1.LabelTenant] != "" {
			return []string{ns.Labels[v1alpha1.LabelTenant]}, nil
		}
		return nil, nil
	}}); err != nil {
		return nil, err
	}
	return &NamespaceIndex{informer: informer}, nil
}

// Start runs the informer until ctx ends and waits for its first list.
func (n *NamespaceIndex) Start(ctx context.Context) error {
	go n.informer.Run(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), n.informer.HasSynced) {
		return fmt.Errorf("the namespace index did not sync: %w", context.Cause(ctx))
	}
	return nil
}

// Synced reports whether the first list has arrived, for readiness.
func (n *NamespaceIndex) Synced() bool { return n.informer.HasSynced() }

// TenantOf implements Tenants.
func (n *NamespaceIndex) TenantOf(namespace string) string {
	obj, found, err := n.informer.GetStore().GetByKey(namespace)
	if err != nil || !found {
		return ""
	}
	return obj.(*corev1.Namespace).Labels[v1alpha1.LabelTenant]
}

// Namespaces implements Tenants.
func (n *NamespaceIndex) Namespaces(tenant string) []string {
	objs, err := n.informer.GetIndexer().ByIndex(byTenant, tenant)
	if err != nil {
		return nil
	}
	names := make([]string, 0, len(objs))
	for _, obj := range objs {
		names = append(names, obj.(*corev1.Namespace).Name)
	}
	slices.Sort(names)
	return names
}

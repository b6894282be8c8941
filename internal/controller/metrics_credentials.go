package controller

import (
	"context"
	"fmt"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tenantry/tenantry/api/v1alpha1"
	"github.com/tenantry/tenantry/internal/render"
)

// reasonAnalysisCredentials fails a tenant whose analysis credentials
// Secret (spec.analysis.credentialsSecret) cannot be read.
const reasonAnalysisCredentials = "AnalysisCredentialsNotFound"

// Defaults of the metrics credential the operator mints per tenant namespace.
const (
	// DefaultMetricsTokenAudience is the metrics gateway's audience: the
	// token is good for nothing else, the API server included.
	DefaultMetricsTokenAudience = "tenantry-metrics"
	// DefaultMetricsTokenTTL is a day: renewed after 16 hours, a token
	// copied out of the Secret (a dashboard's data source) works for 8
	// more, and one that leaked stops working within a day.
	DefaultMetricsTokenTTL = 24 * time.Hour
)

// credentials is what the reconcile does about the tenant's metrics
// credentials: the analysis Secrets whose token it mints now (applied after
// the rest, once the namespace, the ServiceAccount and the operator's right
// to mint exist), and when the earliest token it keeps falls due.
type credentials struct {
	mint    []*corev1.Secret
	renewAt time.Time
}

// analysisCredentials fills in the authorization of the tenant's analysis
// Secrets in desired, and returns a problem for the status when that cannot
// be done for a reason the user fixes. Three cases:
//   - spec.analysis.credentialsSecret (the Tenant's own): copied from the
//     operator's namespace, read directly (the operator caches no Secret);
//   - the metrics gateway: the token each Secret holds is kept until it
//     falls due (renewalDue), the others are returned to be minted;
//   - neither: the header stays empty.
//
// Without analysis defaults, it deletes the Secrets of namespaces that had
// them, while the operator still holds the right to (the binding is pruned
// after).
func (r *TenantReconciler) analysisCredentials(ctx context.Context, tenant *v1alpha1.Tenant, plan *v1alpha1.TenantPlan, desired []client.Object, now time.Time) (credentials, string, error) {
	var creds credentials
	analysis := render.Analysis(tenant, plan, r.Options)
	if analysis == nil {
		return creds, "", r.deleteAnalysisSecrets(ctx, tenant)
	}
	secrets := analysisSecretsIn(desired)
	switch {
	case analysis.CredentialsSecret != "":
		authorization, problem, err := r.sharedCredential(ctx, tenant, analysis.CredentialsSecret)
		if err != nil || problem != "" {
			return creds, problem, err
		}
		for _, s := range secrets {
			s.Data[render.AnalysisKeyAuthorization] = authorization
		}
	case render.MintsMetricsCredential(analysis, r.Options):
		for _, s := range secrets {
			current := &corev1.Secret{}
			err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(s), current)
			// Forbidden: the operator may read Secrets in a tenant
			// namespace only through the analysis-writer binding, which
			// this reconcile applies first when it is new (or the
			// namespace itself is). Either way there is no token yet.
			if apierrors.IsNotFound(err) || apierrors.IsForbidden(err) {
				current = nil
			} else if err != nil {
				return creds, "", fmt.Errorf("reading the analysis Secret %s/%s of tenant %s: %w", s.Namespace, s.Name, tenant.Name, err)
			}
			due, renewAt := renewalDue(now, current)
			if due {
				creds.mint = append(creds.mint, s)
				continue
			}
			keepToken(s, current)
			creds.renewAt = earliest(creds.renewAt, renewAt)
		}
	}
	return creds, "", nil
}

// sharedCredential is the Authorization header in the Secret
// spec.analysis.credentialsSecret names, in the operator's namespace.
func (r *TenantReconciler) sharedCredential(ctx context.Context, tenant *v1alpha1.Tenant, name string) ([]byte, string, error) {
	key := client.ObjectKey{Namespace: r.Options.OperatorNamespace, Name: name}
	source := &corev1.Secret{}
	err := r.APIReader.Get(ctx, key, source)
	if apierrors.IsNotFound(err) {
		return nil, fmt.Sprintf("spec.analysis.credentialsSecret: Secret %s does not exist; create it with the key %q (e.g. \"Bearer <token>\"), or remove the reference",
			key, render.AnalysisKeyAuthorization), nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("reading the analysis credentials Secret %s of tenant %s: %w", key, tenant.Name, err)
	}
	authorization, ok := source.Data[render.AnalysisKeyAuthorization]
	if !ok {
		return nil, fmt.Sprintf("spec.analysis.credentialsSecret: Secret %s has no key %q; add it (the Authorization header, e.g. \"Bearer <token>\")",
			key, render.AnalysisKeyAuthorization), nil
	}
	return authorization, "", nil
}

// mintCredentials mints a token for each Secret in creds.mint (a
// TokenRequest for the namespace's metrics ServiceAccount), writes it, and
// returns how long until the earliest token, kept or new, falls due: the
// reconcile is requeued then.
func (r *TenantReconciler) mintCredentials(ctx context.Context, creds credentials, now time.Time) (time.Duration, error) {
	a := applier{client: r.Client, uncached: r.APIReader, metadataOnly: metadataOnlyKinds()}
	renewAt := creds.renewAt
	for _, s := range creds.mint {
		sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: s.Namespace, Name: render.MetricsServiceAccountName}}
		request := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
			Audiences:         []string{r.metricsTokenAudience()},
			ExpirationSeconds: ptr.To(int64(r.metricsTokenTTL().Seconds())),
		}}
		if err := r.SubResource("token").Create(ctx, sa, request); err != nil {
			return 0, fmt.Errorf("minting the metrics token of ServiceAccount %s/%s (the operator needs the chart's tenantry:analysis-writer role there): %w",
				sa.Namespace, sa.Name, err)
		}
		// The API server may shorten or lengthen the lifetime asked for
		// (--service-account-max-token-expiration, its 10-minute minimum):
		// what it says is the truth.
		expires := request.Status.ExpirationTimestamp.Time
		s.Data[render.AnalysisKeyAuthorization] = []byte("Bearer " + request.Status.Token)
		s.Annotations = map[string]string{
			v1alpha1.AnnotationCredentialIssuedAt:  now.UTC().Format(time.RFC3339),
			v1alpha1.AnnotationCredentialExpiresAt: expires.UTC().Format(time.RFC3339),
		}
		if _, err := a.apply(ctx, s); err != nil {
			return 0, err
		}
		ctrl.LoggerFrom(ctx).Info("minted the metrics credential", "namespace", s.Namespace, "expires", expires)
		renewAt = earliest(renewAt, renewalTime(now, expires))
	}
	if renewAt.IsZero() {
		return 0, nil
	}
	// A second late rather than early: the token is then certainly due.
	return max(renewAt.Sub(now), 0) + time.Second, nil
}

// renewalDue decides, at now, whether the analysis Secret current (nil when
// absent) needs a new token, and otherwise when it will. A token is renewed
// once two thirds of its lifetime have passed, so clients that copied it
// (a dashboard's data source) have a third of it to pick up the new one;
// a Secret without a token or with unreadable dates gets one at once.
func renewalDue(now time.Time, current *corev1.Secret) (bool, time.Time) {
	if current == nil || len(current.Data[render.AnalysisKeyAuthorization]) == 0 {
		return true, time.Time{}
	}
	issued, err1 := time.Parse(time.RFC3339, current.Annotations[v1alpha1.AnnotationCredentialIssuedAt])
	expires, err2 := time.Parse(time.RFC3339, current.Annotations[v1alpha1.AnnotationCredentialExpiresAt])
	if err1 != nil || err2 != nil || !expires.After(issued) {
		return true, time.Time{}
	}
	at := renewalTime(issued, expires)
	if !now.Before(at) {
		return true, time.Time{}
	}
	return false, at
}

// renewalTime is two thirds into a token's lifetime.
func renewalTime(issued, expires time.Time) time.Time {
	return issued.Add(expires.Sub(issued) * 2 / 3)
}

// keepToken carries the token current holds, and its dates, into the
// desired Secret, which then matches the live one: no write.
func keepToken(desired, current *corev1.Secret) {
	desired.Data[render.AnalysisKeyAuthorization] = current.Data[render.AnalysisKeyAuthorization]
	desired.Annotations = map[string]string{
		v1alpha1.AnnotationCredentialIssuedAt:  current.Annotations[v1alpha1.AnnotationCredentialIssuedAt],
		v1alpha1.AnnotationCredentialExpiresAt: current.Annotations[v1alpha1.AnnotationCredentialExpiresAt],
	}
}

// withoutObjects is desired minus the Secrets still waiting for a token.
func withoutObjects(desired []client.Object, drop []*corev1.Secret) []client.Object {
	if len(drop) == 0 {
		return desired
	}
	skip := map[client.Object]bool{}
	for _, s := range drop {
		skip[s] = true
	}
	kept := make([]client.Object, 0, len(desired))
	for _, obj := range desired {
		if !skip[obj] {
			kept = append(kept, obj)
		}
	}
	return kept
}

func analysisSecretsIn(desired []client.Object) []*corev1.Secret {
	var secrets []*corev1.Secret
	for _, obj := range desired {
		if s, ok := obj.(*corev1.Secret); ok && s.Name == render.AnalysisSecretName {
			secrets = append(secrets, s)
		}
	}
	return secrets
}

// earliest is the earlier of two times, ignoring a zero one.
func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// soonest is the shorter of two requeue delays, ignoring a zero one.
func soonest(a, b time.Duration) time.Duration {
	if a == 0 || (b != 0 && b < a) {
		return b
	}
	return a
}

func (r *TenantReconciler) metricsTokenAudience() string {
	if r.MetricsTokenAudience != "" {
		return r.MetricsTokenAudience
	}
	return DefaultMetricsTokenAudience
}

func (r *TenantReconciler) metricsTokenTTL() time.Duration {
	if r.MetricsTokenTTL > 0 {
		return r.MetricsTokenTTL
	}
	return DefaultMetricsTokenTTL
}

// deleteAnalysisSecrets deletes the analysis Secret of each tenant
// namespace that still has the operator's analysis-writer binding.
func (r *TenantReconciler) deleteAnalysisSecrets(ctx context.Context, tenant *v1alpha1.Tenant) error {
	var namespaces corev1.NamespaceList
	if err := r.List(ctx, &namespaces, inTenantIndex(tenant)); err != nil {
		return fmt.Errorf("listing the namespaces of tenant %s: %w", tenant.Name, err)
	}
	for _, ns := range namespaces.Items {
		binding := &metav1.PartialObjectMetadata{}
		binding.SetGroupVersionKind(rbacv1.SchemeGroupVersion.WithKind("RoleBinding"))
		err := r.Get(ctx, client.ObjectKey{Namespace: ns.Name, Name: render.AnalysisWriterBindingName}, binding)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("reading the analysis-writer RoleBinding of %s: %w", ns.Name, err)
		}
		secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: render.AnalysisSecretName}}
		if err := r.Delete(ctx, secret); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("deleting the analysis Secret of %s: %w", ns.Name, err)
		}
	}
	return nil
}

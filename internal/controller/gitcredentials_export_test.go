package controller

import (
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tenantry/tenantry/api/v1alpha1"
	"github.com/tenantry/tenantry/internal/render"
)

// RevertAborted is the revert step of a reconcile, for the control-plane
// tests: it reads Secrets through reader (a client with the operator's
// rights), reverts the aborted apps and returns the GitWriteReady
// condition the reconcile would write. Driving an abort through Argo CD
// and Argo Rollouts is the delivery suite's job.
func RevertAborted(ctx context.Context, reader client.Reader, opts render.Options, tenant *v1alpha1.Tenant, apps []v1alpha1.AppStatus) (*metav1.Condition, error) {
	r := &TenantReconciler{APIReader: reader, Options: opts}
	return r.revertAborted(ctx, tenant, apps)
}

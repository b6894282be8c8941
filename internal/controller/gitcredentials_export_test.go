package controller

import (
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/tenantry/tenantry/api/v1alpha1"
	"github.com/tenantry/tenantry/internal/decide"
	"github.com/tenantry/tenantry/internal/render"
)

// RevertAborted is the revert controller's work short of the status patch,
// for the control-plane tests: with apps as the tenant's status, it decides
// the reverts due, reads Secrets through reader (a client with the
// operator's rights), runs them, sets each app's revert record and returns
// the GitWriteReady condition the controller would write. Driving an abort
// through Argo CD and Argo Rollouts is the delivery suite's job.
func RevertAborted(ctx context.Context, reader client.Reader, opts render.Options, tenant *v1alpha1.Tenant, apps []v1alpha1.AppStatus) (*metav1.Condition, error) {
	r := &RevertReconciler{APIReader: reader, Options: opts}
	withApps := tenant.DeepCopy()
	withApps.Status.Apps = apps
	out, err := r.revert(ctx, decide.RevertsDue(withApps))
	if err != nil {
		return nil, err
	}
	for i := range apps {
		if record, found := out.records[apps[i].Name]; found {
			apps[i].Rollout.Revert = &record
		}
	}
	return out.gitWrite, nil
}

// NewRevertReconciler is the revert controller on c, for the control-plane
// tests: the suite's platform has no Argo CD, so Setup does not start it.
func NewRevertReconciler(c client.Client, recorder events.EventRecorder, opts render.Options) reconcile.Reconciler {
	return &RevertReconciler{Client: c, APIReader: c, Recorder: recorder, Options: opts}
}

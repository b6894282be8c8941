// Package decide is the decision layer of the Tenant reconciler: it turns
// what one reconcile observed into the Tenant's new status, and a status
// change into the events and metrics it implies. It also decides, for the
// revert controller, which aborted releases wait for a Git revert
// (RevertsDue) and the status that records their outcome (Reverted).
//
// A reconcile reads, decides, acts. The controller reads (the Tenant, its
// namespaces and quotas, its Argo CD apps and Rollouts) into an Observed
// value; this package decides (Status, Transition); the controller acts
// (one status patch, then the events and metrics Transition lists). Keeping
// the decisions pure makes every phase, condition and event a table case
// that runs in milliseconds, without a control plane.
//
// Pure means: no client, no clock (the time is passed in), no I/O, no
// metrics registry. The package may import only the standard library,
// api/v1alpha1, k8s.io/api and apimachinery's value packages (meta,
// equality, meta/v1, resource); not internal/render, which pulls in
// client-go: what it needs from render (the namespace names) is observed.
// TestDecideIsPure enforces the client-go and controller-runtime part.
package decide

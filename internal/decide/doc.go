// Package decide is the decision layer of the Tenant reconciler. A
// reconcile reads, decides, acts: the controller reads what the cluster
// holds for a tenant, this package decides what that means, and the
// controller does it. Every decision here is a table case that runs in
// milliseconds, without a control plane:
//
//   - before acting: whether one of the tenant's namespaces belongs to
//     someone else (NamespaceConflict, DomainConflict), the order objects
//     are applied in when a tenant-wide quota shrinks some namespaces
//     (ApplyOrder), what to prune and which removed environments to keep
//     (Prune), and what a suspension or resumption changes (Scale);
//   - after acting: whether the namespaces, quotas and apps are ready
//     (Readiness, Apps), the tenant's new status with one small function
//     per condition (Status), and the events and metrics a status change
//     implies (Transition); while offboarding, what the deletion waits
//     for (Offboarding);
//   - for the revert controller: which aborted releases wait for a Git
//     revert (RevertsDue) and the status that records their outcome
//     (Reverted).
//
// Pure means: no client, no clock (the time is passed in), no I/O, no
// metrics registry. The package may import only the standard library,
// api/v1alpha1, k8s.io/api and apimachinery's value packages (meta,
// equality, meta/v1, resource); not internal/render, which pulls in
// controller-runtime: what it needs from render (the namespace names, the
// desired objects' IDs) is passed in. TestDecideIsPure enforces the
// client-go and controller-runtime part; `go list -deps ./internal/decide`
// shows it to anyone.
package decide

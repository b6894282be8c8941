// Package reachability checks the NetworkPolicies Tenantry renders against
// the isolation model (docs/isolation.md): it renders the objects of a few tenants,
// places pods in their namespaces and in the platform's (ingress controller,
// monitoring, kube-dns) next to addresses outside the cluster, and asks a
// NetworkPolicy engine which pod can reach which, on which ports.
//
// The engine is Cyclonus's matcher (github.com/mattfenwick/cyclonus), which
// implements the Kubernetes semantics: a connection needs the egress policies
// of its source and the ingress policies of its destination to allow it, a
// pod no policy selects is open in that direction, and policies are additive.
// Writing those rules again here would only test our reading of them. Like
// Calico, the engine matches ipBlock peers against pod addresses too; some
// CNIs (Cilium) do not, which only makes them stricter.
//
// Breaches the NetworkPolicies alone would allow, but another layer prevents
// (the operator, the admission policies) or docs/isolation.md lists as a
// limit, show up as skipped cases of TestIsolationEdgeCases, with the reason.
//
// TestMeasuredMatrix then checks the prediction against packets: on a
// local cluster with a real node, where kube-router enforces the same
// rendered NetworkPolicies, it tries every cell of the matrix with a real
// TCP, UDP or DNS connection from a demo-app pod (`demo-app probe`, run by
// exec) and fails where the two disagree or a tenant reaches another. It
// skips under -short and where the host cannot run a real node.
//
// It is a module of its own so that the engine and its dependencies stay out
// of the operator's go.mod. `make test` runs it; alone:
//
//	cd test/reachability && go test -v ./...
//	cd test/reachability && go test -short -v ./...   # the prediction only
package reachability

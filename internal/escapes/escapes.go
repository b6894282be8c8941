// Package escapes is the one catalogue of what a tenant user tries from the
// inside, and what the platform must answer: each escape (a privileged pod,
// another tenant's Secrets, a platform-managed object) with the layer that
// must refuse it and the exact words of the refusal, and each piece of
// self-service a tenant must keep. `tenantry doctor` runs the entries that
// make sense with a tenant owner's own credentials on any cluster (as dry
// runs); the escape suite in test/e2e runs every entry as real users on a
// local control plane, with the fixtures some entries need. Both read one
// list, so what the doctor checks cannot drift from what the suite proves.
package escapes

import (
	"context"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tenantry/tenantry/api/v1alpha1"
)

// Entry is one request a tenant user makes and what must come of it.
type Entry struct {
	// ID is stable: the escape suite's subtest name, the doctor's key.
	ID string
	// Description says in a few words what the user tries; the doctor
	// prints it.
	Description string
	// Needs is what the entry needs beyond a tenant owner's own
	// credentials on a cluster with the platform installed.
	Needs Fixture
	// Skip, when not empty, says why the entry does not apply to the
	// target (a plan that allows NodePort Services cannot be refused one).
	Skip string
	// Try makes the request with c, a client authenticated as the user.
	Try func(ctx context.Context, c client.Client) error
	// Want is the answer the platform must give.
	Want Want
}

// Fixture names what an entry needs beyond a tenant owner on a cluster
// with the platform installed. The escape suite provides each; the doctor
// runs only entries that need none.
type Fixture string

const (
	// NoFixture: a tenant owner's own credentials suffice.
	NoFixture Fixture = ""
	// ClusterObjects: objects the suite creates as the cluster admin: a
	// pod (FixturePod) in the other tenant's namespace, a ClusterRole
	// outside the allowlist (FixtureClusterRole), the Gateway API
	// HTTPRoute kind, and the tenant's analysis Secret.
	ClusterObjects Fixture = "cluster objects created by the admin"
	// RealWrites: the entry acts on an object it or an earlier entry
	// created for real, which a dry run cannot.
	RealWrites Fixture = "writes that are not dry runs"
	// FreePlan: a tenant whose plan allows neither ghcr.io images nor
	// ipBlock egress (globex on free).
	FreePlan Fixture = "a tenant on a plan without ghcr.io or internet egress"
	// NodePool: a tenant whose plan pins a node pool (initech on
	// enterprise).
	NodePool Fixture = "a tenant on a plan with a node pool"
	// NoRegistries: a tenant whose plan lists no registry.
	NoRegistries Fixture = "a tenant on a plan that lists no registry"
	// MistakenRBAC: a tenant user a cluster operator also granted, by
	// mistake, the rights to update the tenant's namespace and quota; the
	// guardrails must stand behind RBAC, not only beside it.
	MistakenRBAC Fixture = "a tenant user granted namespace and quota rights by mistake"
)

// Fixtures lists every fixture, NoFixture first.
func Fixtures() []Fixture {
	return []Fixture{NoFixture, ClusterObjects, RealWrites, FreePlan, NodePool, NoRegistries, MistakenRBAC}
}

// Fixture names the objects ClusterObjects provides.
const (
	// FixturePod runs in the other tenant's namespace, to exec into.
	FixturePod = "globex-web"
	// FixtureClusterRole is a harmless ClusterRole outside the allowlist
	// of bindable roles.
	FixtureClusterRole = "escape-suite:pod-reader"
)

// Target is the tenant the entries act on, and as whom.
type Target struct {
	Tenant *v1alpha1.Tenant
	Plan   *v1alpha1.TenantPlan
	// Namespace is the tenant's namespace the requests go to; empty means
	// the first of the tenant's namespaces.
	Namespace string
	// User is the identity making the requests.
	User string
	// Image is an image the plan's registries admit.
	Image string
	// OtherNamespace is another tenant's namespace (or any the tenant must
	// not reach); Other, when known, is that tenant.
	OtherNamespace string
	Other          *v1alpha1.Tenant
	// Config is the user's REST config, for the requests the
	// controller-runtime client does not make (exec, impersonation).
	Config *rest.Config
	// DryRun makes every write a dry run, so nothing changes.
	DryRun bool
	// NamePrefix prefixes the names of the objects the entries create, so
	// a dry run on a tenant's live namespace does not meet its own objects.
	NamePrefix string
}

func (t Target) ns() string {
	if t.Namespace != "" {
		return t.Namespace
	}
	if len(t.Tenant.Status.Namespaces) > 0 {
		return t.Tenant.Status.Namespaces[0]
	}
	return ""
}

// lastNS is the tenant's last namespace (acme-staging for acme), for the
// requests that cross between the tenant's own namespaces.
func (t Target) lastNS() string {
	if n := len(t.Tenant.Status.Namespaces); n > 0 {
		return t.Tenant.Status.Namespaces[n-1]
	}
	return t.ns()
}

func (t Target) name(base string) string {
	if t.NamePrefix == "" {
		return base
	}
	return t.NamePrefix + "-" + base
}

func (t Target) otherTenant() string {
	if t.Other != nil {
		return t.Other.Name
	}
	return "someone-else"
}

// Catalogue is every entry for target: the escapes first, then the
// self-service. Entries run in this order: some self-service builds on
// the one before (scale the Deployment deploy created).
func Catalogue(t Target) []Entry {
	var all []Entry
	for _, part := range []func(Target) []Entry{podEscapes, networkEscapes, accessEscapes, managedEscapes, selfService} {
		all = append(all, part(t)...)
	}
	return all
}

// Lookup returns the entries with ids, in that order.
func Lookup(entries []Entry, ids ...string) ([]Entry, error) {
	byID := make(map[string]Entry, len(entries))
	for _, e := range entries {
		byID[e.ID] = e
	}
	found := make([]Entry, 0, len(ids))
	for _, id := range ids {
		e, ok := byID[id]
		if !ok {
			return nil, fmt.Errorf("no entry %q in the escape catalogue", id)
		}
		found = append(found, e)
	}
	return found, nil
}

// Layer is what answers a request.
type Layer string

const (
	// Allowed: the request must succeed.
	Allowed Layer = "allowed"
	// RBAC: the API server's authorizer, or its RBAC escalation check.
	RBAC Layer = "RBAC"
	// PodSecurity: Pod Security admission, "restricted".
	PodSecurity Layer = "Pod Security"
	// Guardrail: one of Tenantry's ValidatingAdmissionPolicies.
	Guardrail Layer = "guardrail"
)

// PodSecurityLevel is how Pod Security admission names the level it
// enforces on tenant namespaces, in its refusals.
const PodSecurityLevel = `restricted:v1.37`

// Want is the answer a request must get: allowed, or refused (403) by a
// layer with a message that holds every fragment.
type Want struct {
	Layer Layer
	// Policy is the guardrail's ValidatingAdmissionPolicy.
	Policy string
	// Detail are the fragments that say which rule refused and why.
	Detail []string
}

// Allowed reports whether the request must succeed.
func (w Want) Allowed() bool { return w.Layer == Allowed }

// Fragments are what the refusal's message must hold: the layer's
// telltale text, then the detail.
func (w Want) Fragments() []string {
	var telltale []string
	switch w.Layer {
	case PodSecurity:
		telltale = []string{`violates PodSecurity "` + PodSecurityLevel + `"`}
	case Guardrail:
		telltale = []string{"ValidatingAdmissionPolicy '" + w.Policy + "'"}
	}
	return append(telltale, w.Detail...)
}

// Check returns nil if err is the answer w wants, else what differs.
func (w Want) Check(err error) error {
	if w.Allowed() {
		if err != nil {
			return fmt.Errorf("want it allowed: %w", err)
		}
		return nil
	}
	if err == nil {
		return fmt.Errorf("allowed; want it refused by %s", w.Layer)
	}
	if !apierrors.IsForbidden(err) {
		return fmt.Errorf("refused with the wrong status: %w", err)
	}
	for _, f := range w.Fragments() {
		if !strings.Contains(err.Error(), f) {
			return fmt.Errorf("refusal %q does not mention %q", err.Error(), f)
		}
	}
	return nil
}

func allowed() Want { return Want{Layer: Allowed} }

// rbacDenied is the authorizer's refusal of verb on resource.
func rbacDenied(verb, resource string) Want {
	return Want{Layer: RBAC, Detail: []string{fmt.Sprintf("cannot %s resource %q", verb, resource)}}
}

func podSecurity(control string) Want {
	return Want{Layer: PodSecurity, Detail: []string{control}}
}

func guardrail(policy, rule string) Want {
	return Want{Layer: Guardrail, Policy: policy, Detail: []string{rule}}
}

// Requests, each honouring the target's dry run.

func (t Target) writeOpts() []client.CreateOption {
	if t.DryRun {
		return []client.CreateOption{client.DryRunAll}
	}
	return nil
}

func create(t Target, obj client.Object) func(context.Context, client.Client) error {
	return func(ctx context.Context, c client.Client) error { return c.Create(ctx, obj, t.writeOpts()...) }
}

func deleteObj(t Target, obj client.Object) func(context.Context, client.Client) error {
	return func(ctx context.Context, c client.Client) error {
		if t.DryRun {
			return c.Delete(ctx, obj, client.DryRunAll)
		}
		return c.Delete(ctx, obj)
	}
}

func update(ctx context.Context, t Target, c client.Client, obj client.Object) error {
	if t.DryRun {
		return c.Update(ctx, obj, client.DryRunAll)
	}
	return c.Update(ctx, obj)
}

func patch(ctx context.Context, t Target, c client.Client, obj client.Object, p client.Patch) error {
	if t.DryRun {
		return c.Patch(ctx, obj, p, client.DryRunAll)
	}
	return c.Patch(ctx, obj, p)
}

func list(l client.ObjectList, namespace string) func(context.Context, client.Client) error {
	return func(ctx context.Context, c client.Client) error {
		if namespace == "" {
			return c.List(ctx, l)
		}
		return c.List(ctx, l, client.InNamespace(namespace))
	}
}

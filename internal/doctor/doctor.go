// Package doctor checks a tenant's isolation from the inside: as one of the
// tenant's own identities, it makes the escape catalogue's requests
// (internal/escapes) that need no fixture, as dry runs so nothing changes:
// what the escape suite proves is refused and what a tenant must be able
// to do. It reports which layer answered.
package doctor

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tenantry/tenantry/api/v1alpha1"
	"github.com/tenantry/tenantry/internal/escapes"
)

// Target is the tenant under test and what the checks need to know of it.
type Target struct {
	Tenant *v1alpha1.Tenant
	Plan   *v1alpha1.TenantPlan
	// OtherNamespace is another tenant's namespace (or any the tenant must
	// not read), for the cross-tenant check.
	OtherNamespace string
}

// Result is one check's outcome.
type Result struct {
	Check       string
	WantAllowed bool
	// Got is "allowed", "refused by <layer>" or the unexpected error.
	Got  string
	Pass bool
}

// Checks are the IDs of the escape catalogue's entries the doctor runs, in
// the order it prints them: what a tenant must be able to do, then what
// it must not. Each needs no fixture, only the tenant owner's own
// credentials, and every write is a dry run.
var Checks = []string{
	"self-service/read-own-namespace",
	"self-service/deploy",
	"self-service/cluster-ip-service",
	"self-service/role",
	"self-service/bind-viewer",
	"self-service/network-policy-within-tenant",

	"cross-tenant/list-secrets",
	"cluster-scoped/list-namespaces",
	"managed/update-own-quota",
	"namespace/relabel-to-drop-pod-security",
	"managed/delete-default-deny",
	"pod-security/privileged",
	"registry/foreign",
	"domains/outside",
	"role-bindings/cluster-admin",
	"cluster-scoped/cluster-role-binding",
	// Only where the plan forbids NodePort Services.
	"services/node-port",
}

// Run makes every check with c, a client authenticated (or impersonating)
// as one of the tenant's identities. Writes are dry-run.
func Run(ctx context.Context, c client.Client, target Target) ([]Result, error) {
	t, plan := target.Tenant, target.Plan
	if len(t.Status.Namespaces) == 0 {
		return nil, fmt.Errorf("tenant %s has no namespaces yet (phase %q); run the check once it is Ready", t.Name, t.Status.Phase)
	}
	checks, err := escapes.Lookup(escapes.Catalogue(escapes.Target{
		Tenant: t, Plan: plan, Image: allowedImage(plan), OtherNamespace: target.OtherNamespace,
		DryRun: true, NamePrefix: "doctor",
	}), Checks...)
	if err != nil {
		return nil, err
	}

	results := make([]Result, 0, len(checks))
	for _, ch := range checks {
		if ch.Skip != "" {
			continue
		}
		err := ch.Try(ctx, c)
		wantAllowed := ch.Want.Allowed()
		r := Result{Check: ch.Description, WantAllowed: wantAllowed}
		switch {
		case err == nil:
			r.Got, r.Pass = "allowed", wantAllowed
		case apierrors.IsForbidden(err):
			r.Got, r.Pass = "refused by "+RefusedBy(err), !wantAllowed
		default:
			r.Got = "error: " + firstLine(err.Error(), 120)
		}
		results = append(results, r)
	}
	return results, nil
}

// RefusedBy names the layer that refused a request: a guardrail (its
// rule), Pod Security admission, quota, or RBAC.
func RefusedBy(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "tenantry rule "); i >= 0 {
		rule := msg[i+len("tenantry "):]
		if j := strings.Index(rule, ")"); j >= 0 {
			rule = rule[:j+1]
		}
		return "guardrail " + rule
	}
	switch {
	case strings.Contains(msg, "violates PodSecurity"):
		return "Pod Security"
	case strings.Contains(msg, "exceeded quota"):
		return "quota"
	}
	return "RBAC"
}

// Write prints the results as a table and returns how many failed.
func Write(w io.Writer, results []Result) int {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  CHECK\tWANT\tGOT\tRESULT")
	failed := 0
	for _, r := range results {
		want, mark := "refused", "ok"
		if r.WantAllowed {
			want = "allowed"
		}
		if !r.Pass {
			mark = "FAIL"
			failed++
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", r.Check, want, r.Got, mark)
	}
	_ = tw.Flush()
	return failed
}

func firstLine(s string, max int) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > max {
		s = s[:max] + "..."
	}
	return s
}

// allowedImage is an image the plan's registries admit. A plan with none
// admits no image, and "deploy a workload" reports it.
func allowedImage(plan *v1alpha1.TenantPlan) string {
	if len(plan.Spec.AllowedRegistries) == 0 || plan.Spec.AllowedRegistries[0] == "*" {
		return "registry.k8s.io/pause:3.10"
	}
	return strings.TrimSuffix(plan.Spec.AllowedRegistries[0], "/") + "/doctor/app:1"
}

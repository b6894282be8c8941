// Package doctor checks a tenant's isolation from the inside: as one of the
// tenant's own identities, it asks the API server (dry-run, so nothing
// changes) for what the escape suite proves is refused and for what a
// tenant must be able to do, and reports which layer answered.
package doctor

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tenantry/tenantry/api/v1alpha1"
	"github.com/tenantry/tenantry/internal/render"
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

type check struct {
	name        string
	wantAllowed bool
	try         func(ctx context.Context) error
}

// Run makes every check with c, a client authenticated (or impersonating)
// as one of the tenant's identities. Writes are dry-run.
func Run(ctx context.Context, c client.Client, target Target) ([]Result, error) {
	t, plan := target.Tenant, target.Plan
	if len(t.Status.Namespaces) == 0 {
		return nil, fmt.Errorf("tenant %s has no namespaces yet (phase %q); run the check once it is Ready", t.Name, t.Status.Phase)
	}
	ns := t.Status.Namespaces[0]
	dryRun := client.DryRunAll
	image := allowedImage(plan)
	checks := []check{
		// What the tenant must be able to do.
		{"read its own Tenant", true, func(ctx context.Context) error {
			return c.Get(ctx, client.ObjectKey{Name: t.Name}, &v1alpha1.Tenant{})
		}},
		{"deploy a workload", true, func(ctx context.Context) error {
			return c.Create(ctx, deployment(ns, image, plan), dryRun)
		}},
		{"create a ClusterIP Service", true, func(ctx context.Context) error {
			return c.Create(ctx, service(ns, corev1.ServiceTypeClusterIP), dryRun)
		}},
		{"create its own Role", true, func(ctx context.Context) error {
			return c.Create(ctx, &rbacv1.Role{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "doctor-reader"},
				Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get"}}},
			}, dryRun)
		}},
		{"bind the viewer role to a colleague", true, func(ctx context.Context) error {
			return c.Create(ctx, roleBinding(ns, render.ClusterRoleName(v1alpha1.RoleViewer)), dryRun)
		}},
		{"create a NetworkPolicy within the tenant", true, func(ctx context.Context) error {
			return c.Create(ctx, &networkingv1.NetworkPolicy{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "doctor-allow-same-namespace"},
				Spec: networkingv1.NetworkPolicySpec{
					PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
					Ingress:     []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{}}}}},
				},
			}, dryRun)
		}},

		// What it must not.
		{"read Secrets in " + target.OtherNamespace, false, func(ctx context.Context) error {
			return c.List(ctx, &corev1.SecretList{}, client.InNamespace(target.OtherNamespace))
		}},
		{"list namespaces cluster-wide", false, func(ctx context.Context) error {
			return c.List(ctx, &corev1.NamespaceList{})
		}},
		{"raise its own quota", false, func(ctx context.Context) error {
			return c.Patch(ctx, &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: render.QuotaName}},
				client.RawPatch(types.MergePatchType, []byte(`{"spec":{"hard":{"requests.cpu":"1000"}}}`)), dryRun)
		}},
		{"relabel its namespace", false, func(ctx context.Context) error {
			return c.Patch(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
				client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"labels":{"`+v1alpha1.LabelTenant+`":"someone-else"}}}`)), dryRun)
		}},
		{"delete its default-deny NetworkPolicy", false, func(ctx context.Context) error {
			return c.Delete(ctx, &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: render.PolicyDefaultDeny}}, dryRun)
		}},
		{"run a privileged pod", false, func(ctx context.Context) error {
			p := pod(ns, image, plan)
			p.Spec.Containers[0].SecurityContext.Privileged = ptr.To(true)
			p.Spec.Containers[0].SecurityContext.AllowPrivilegeEscalation = nil // the API refuses both together
			return c.Create(ctx, p, dryRun)
		}},
		{"run an image from a foreign registry", false, func(ctx context.Context) error {
			return c.Create(ctx, pod(ns, "untrusted.example.com/tools/miner:1", plan), dryRun)
		}},
		{"serve a host outside its domains", false, func(ctx context.Context) error {
			return c.Create(ctx, &networkingv1.Ingress{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "doctor"},
				Spec:       networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{Host: "login.not-" + t.Name + ".example"}}},
			}, dryRun)
		}},
		{"bind cluster-admin in its namespace", false, func(ctx context.Context) error {
			return c.Create(ctx, roleBinding(ns, "cluster-admin"), dryRun)
		}},
		{"create a ClusterRoleBinding", false, func(ctx context.Context) error {
			return c.Create(ctx, &rbacv1.ClusterRoleBinding{
				ObjectMeta: metav1.ObjectMeta{Name: "doctor-" + t.Name},
				RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: render.ClusterRoleName(v1alpha1.RoleViewer)},
				Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "doctor@example.com"}},
			}, dryRun)
		}},
	}
	if !slices.Contains(plan.Spec.AllowedServiceTypes, v1alpha1.ServiceType(corev1.ServiceTypeNodePort)) {
		checks = append(checks, check{"create a NodePort Service", false, func(ctx context.Context) error {
			return c.Create(ctx, service(ns, corev1.ServiceTypeNodePort), dryRun)
		}})
	}

	results := make([]Result, 0, len(checks))
	for _, ch := range checks {
		err := ch.try(ctx)
		r := Result{Check: ch.name, WantAllowed: ch.wantAllowed}
		switch {
		case err == nil:
			r.Got, r.Pass = "allowed", ch.wantAllowed
		case apierrors.IsForbidden(err):
			r.Got, r.Pass = "refused by "+RefusedBy(err), !ch.wantAllowed
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

// podSpec passes Pod Security "restricted" and the guardrails (pull
// policy, the plan's node pool).
func podSpec(image string, plan *v1alpha1.TenantPlan) corev1.PodSpec {
	return corev1.PodSpec{
		NodeSelector: plan.Spec.NodeSelector,
		SecurityContext: &corev1.PodSecurityContext{
			RunAsNonRoot:   ptr.To(true),
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
		Containers: []corev1.Container{{
			Name: "app", Image: image, ImagePullPolicy: corev1.PullAlways,
			SecurityContext: &corev1.SecurityContext{
				AllowPrivilegeEscalation: ptr.To(false),
				Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			},
		}},
	}
}

func pod(ns, image string, plan *v1alpha1.TenantPlan) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "doctor"}, Spec: podSpec(image, plan)}
}

func deployment(ns, image string, plan *v1alpha1.TenantPlan) *appsv1.Deployment {
	labels := map[string]string{"app": "doctor"}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "doctor"},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: podSpec(image, plan)},
		},
	}
}

func service(ns string, t corev1.ServiceType) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "doctor-" + strings.ToLower(string(t))},
		Spec:       corev1.ServiceSpec{Type: t, Selector: map[string]string{"app": "doctor"}, Ports: []corev1.ServicePort{{Port: 80}}},
	}
}

func roleBinding(ns, clusterRole string) *rbacv1.RoleBinding {
	return &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "doctor-" + strings.ReplaceAll(clusterRole, ":", "-")},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: clusterRole},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "colleague@example.com"}},
	}
}

package escapes

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tenantry/tenantry/api/v1alpha1"
	"github.com/tenantry/tenantry/internal/render"
)

// selfService is what a tenant must still be able to do under the
// guardrails.
func selfService(t Target) []Entry {
	ns := t.ns()
	ok := func(id, description string, try func(context.Context, client.Client) error) Entry {
		return Entry{ID: "self-service/" + id, Description: description, Try: try, Want: allowed()}
	}
	web := t.name("web")
	jobSpec := PodSpec(t.Image, t.nodeSelector())
	jobSpec.RestartPolicy = corev1.RestartPolicyNever

	class := "standard"
	if classes := t.Plan.Spec.StorageClasses; len(classes) > 0 {
		class = classes[0]
	}
	claim := ok("claim-storage", "claim storage of an allowed class", create(t, t.pvc("data", class)))
	if len(t.Plan.Spec.StorageClasses) == 0 {
		claim.Skip = "plan " + t.Plan.Name + " allows no StorageClass"
	}
	ingress := t.ingress("shop", "shop."+t.domain())
	ingress.Spec.TLS = []networkingv1.IngressTLS{{Hosts: []string{"shop." + t.domain(), t.domain()}, SecretName: "shop-tls"}}
	route := ok("httproute", "route an HTTPRoute on its domain", create(t, t.httpRoute("api", "api."+t.domain())))
	route.Needs = ClusterObjects
	if len(t.domains()) == 0 {
		route.Skip = "tenant " + t.Tenant.Name + " has no domain"
	}
	internet := func(id, description, name string, block networkingv1.IPBlock) Entry {
		e := ok(id, description, create(t, t.networkPolicy(ns, name, []networkingv1.NetworkPolicyPeer{{IPBlock: &block}})))
		if !t.Plan.Spec.AllowInternetEgress {
			e.Skip = "plan " + t.Plan.Name + " allows no internet egress"
		}
		return e
	}
	scale := ok("scale", "scale its Deployment", func(ctx context.Context, c client.Client) error {
		d := &appsv1.Deployment{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: web}, d); err != nil {
			return err
		}
		d.Spec.Replicas = ptr.To[int32](2)
		return update(ctx, t, c, d)
	})
	scale.Needs = RealWrites
	debug := ok("debug-pod", "debug a pod with an allowed image", debugPod(t, "debuggable", t.Image))
	debug.Needs = RealWrites
	freePlan := ok("deploy-on-free-plan", "deploy on the free plan from its registry", create(t, t.deployment(ns, web, t.Image)))
	freePlan.Needs = FreePlan
	pooled := ok("node-pool", "run a pod on its plan's node pool", create(t, t.pod("pooled", t.Image)))
	pooled.Needs = NodePool
	if len(t.nodeSelector()) == 0 {
		pooled.Skip = "plan " + t.Plan.Name + " has no node pool"
	}

	return []Entry{
		ok("deploy", "deploy a workload", deploy(t, t.deployment(ns, web, t.Image))),
		scale,
		ok("cluster-ip-service", "create a ClusterIP Service", func(ctx context.Context, c client.Client) error {
			s := t.service("web")
			s.Spec.Type = corev1.ServiceTypeClusterIP
			return c.Create(ctx, s, t.writeOpts()...)
		}),
		ok("read-quota", "read its own quota and limit range", func(ctx context.Context, c client.Client) error {
			if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: render.QuotaName}, &corev1.ResourceQuota{}); err != nil {
				return err
			}
			return c.List(ctx, &corev1.LimitRangeList{}, client.InNamespace(t.lastNS()))
		}),
		ok("config-map", "create a ConfigMap", create(t, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: t.name("settings")}, Data: map[string]string{"mode": "prod"}})),
		ok("secret", "create a Secret", create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: t.name("db")}, StringData: map[string]string{"password": "s3cret"}})),
		claim,
		ok("job", "run a Job", create(t, &batchv1.Job{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: t.name("migrate")},
			Spec:       batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: jobSpec}},
		})),
		ok("cron-job", "schedule a CronJob", create(t, &batchv1.CronJob{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: t.name("nightly")},
			Spec: batchv1.CronJobSpec{Schedule: "0 3 * * *", JobTemplate: batchv1.JobTemplateSpec{
				Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: jobSpec}},
			}},
		})),
		ok("hpa", "autoscale with an HPA", create(t, &autoscalingv2.HorizontalPodAutoscaler{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: web},
			Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
				ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: web},
				MinReplicas:    ptr.To[int32](1), MaxReplicas: 3,
			},
		})),
		ok("pdb", "protect with a PDB", create(t, &policyv1.PodDisruptionBudget{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: web},
			Spec: policyv1.PodDisruptionBudgetSpec{
				MinAvailable: ptr.To(intstr.FromInt32(1)),
				Selector:     &metav1.LabelSelector{MatchLabels: map[string]string{"app": web}},
			},
		})),
		ok("ingress", "publish an Ingress on its domain", create(t, ingress)),
		route,
		ok("role", "create its own Role", create(t, &rbacv1.Role{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: t.name("reader")},
			Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get"}}},
		})),
		ok("role-and-binding", "create its own Role and RoleBinding", func(ctx context.Context, c client.Client) error {
			role := &rbacv1.Role{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: t.name("config-reader")},
				Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list"}}},
			}
			if err := c.Create(ctx, role, t.writeOpts()...); err != nil {
				return err
			}
			return c.Create(ctx, roleBinding(ns, role.Name,
				rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
				rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: "default", Namespace: t.lastNS()},
				user(colleague)), t.writeOpts()...)
		}),
		ok("bind-viewer", "bind the viewer role to a colleague", create(t, roleBinding(ns, t.name("colleague-viewer"),
			clusterRole(render.ClusterRoleName(v1alpha1.RoleViewer)), user(colleague)))),
		ok("bind-view", "bind the view ClusterRole", create(t, roleBinding(ns, t.name("auditors"), clusterRole("view"),
			rbacv1.Subject{APIGroup: rbacv1.GroupName, Kind: rbacv1.GroupKind, Name: t.Tenant.Name + "-auditors"}))),
		ok("network-policy-within-tenant", "create a NetworkPolicy within the tenant", create(t, &networkingv1.NetworkPolicy{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: t.name("allow-same-namespace")},
			Spec: networkingv1.NetworkPolicySpec{
				PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
				Ingress:     []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{}}}}},
			},
		})),
		ok("network-policy-to-own-tenant", "add a NetworkPolicy towards its own tenant", create(t, t.networkPolicy(ns, "to-staging",
			[]networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{v1alpha1.LabelTenant: t.Tenant.Name}}}}))),
		internet("ip-block-egress", "add an ipBlock egress on a plan with internet egress", "to-payments-api",
			networkingv1.IPBlock{CIDR: "198.51.100.0/24"}),
		internet("internet-egress", "open the IPv4 internet minus private ranges", "to-internet", networkingv1.IPBlock{CIDR: "0.0.0.0/0",
			Except: []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16", "127.0.0.0/8"}}),
		ok("read-events", "read events", list(&corev1.EventList{}, ns)),
		ok("read-pod-logs", "read pod logs (RBAC review)", func(ctx context.Context, c client.Client) error {
			// Simulated pods have no log stream; ask the API server
			// whether the request would be authorized instead.
			review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
				ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: ns, Verb: "get", Resource: "pods", Subresource: "log"},
			}}
			if err := c.Create(ctx, review); err != nil {
				return err
			}
			if !review.Status.Allowed {
				return fmt.Errorf("not allowed: %s", review.Status.Reason)
			}
			return nil
		}),
		debug,
		ok("read-own-namespace", "read its own namespace", func(ctx context.Context, c client.Client) error {
			namespace := &corev1.Namespace{}
			if err := c.Get(ctx, client.ObjectKey{Name: ns}, namespace); err != nil {
				return err
			}
			if got := namespace.Annotations[v1alpha1.AnnotationPlan]; got != t.Tenant.Spec.Plan {
				return fmt.Errorf("namespace %s names plan %q, want %q", ns, got, t.Tenant.Spec.Plan)
			}
			return nil
		}),
		freePlan,
		pooled,
	}
}

// deploy creates d and, unless it is a dry run, waits until its replica is
// available: the workload must run, not only be admitted.
func deploy(t Target, d *appsv1.Deployment) func(context.Context, client.Client) error {
	return func(ctx context.Context, c client.Client) error {
		if err := c.Create(ctx, d, t.writeOpts()...); err != nil || t.DryRun {
			return err
		}
		var last error
		err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
			if last = c.Get(ctx, client.ObjectKeyFromObject(d), d); last != nil {
				return false, nil
			}
			if d.Status.AvailableReplicas != 1 {
				last = fmt.Errorf("%d of 1 replicas available: %+v", d.Status.AvailableReplicas, d.Status.Conditions)
				return false, nil
			}
			return true, nil
		})
		if err != nil && last != nil {
			return last
		}
		return err
	}
}

package e2e

import (
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tenantry/tenantry/api/v1alpha1"
	"github.com/tenantry/tenantry/internal/install"
	"github.com/tenantry/tenantry/internal/render"
	"github.com/tenantry/tenantry/internal/testutil"
)

//go:embed testdata/*.yaml
var testdata embed.FS

// The example tenants' admins and their images (from registries their plans allow).
const (
	acmeAdmin     = "alice@acme.com"
	globexAdmin   = "hank@globex.com"
	initechAdmin  = "ivy@initech.com"
	initechGroup  = "initech-platform"
	acmeProd      = "acme-prod"
	acmeStaging   = "acme-staging"
	globexNS      = "globex"
	initechProd   = "initech-prod"
	acmeImage     = "ghcr.io/acme/web:1.0"
	globexImage   = "registry.tenantry.dev/globex/web:1.0"
	initechImage  = "ghcr.io/initech/app:1.0"
	initechPool   = "node.tenantry.dev/pool"
	initechPoolOn = "enterprise"
	// opsUser holds, beyond acme's admin role, RBAC rights a cluster
	// operator might grant by mistake (update acme-prod's namespace and
	// quota), to show the guardrails stand behind RBAC, not only beside it.
	opsUser = "ops@acme.com"
	// hooli is on a plan that lists no registry: no image may run there.
	hooliAdmin = "gavin@hooli.com"
	hooliNS    = "hooli"
)

// tryFunc is one request made as a tenant user.
type tryFunc func(ctx context.Context, c client.Client) error

// attempt is an escape a tenant user tries and the exact refusal expected.
type attempt struct {
	name      string
	as        string // a key of the actors map
	try       tryFunc
	is        func(error) bool
	fragments []string
}

// TestTenantEscapeSuite makes every escape attempt as a real
// certificate-authenticated tenant user against the onboarded example
// tenants and asserts each exact refusal; then proves the self-service a
// tenant needs still works. It prints a summary line.
func TestTenantEscapeSuite(t *testing.T) {
	testutil.NeedsCluster(t)
	ctx := t.Context()
	prepareEscapeFixtures(t)
	actors := map[string]client.Client{
		"alice": userClient(t, acmeAdmin),
		"hank":  userClient(t, globexAdmin),
		"ivy":   userClient(t, initechAdmin, initechGroup),
		"ops":   userClient(t, opsUser),
		"gavin": userClient(t, hooliAdmin),
	}

	attempts := escapeAttempts()
	refused, allowed := 0, 0
	for _, a := range attempts {
		t.Run(a.name, func(t *testing.T) {
			err := a.try(ctx, actors[a.as])
			if err == nil {
				allowed++
				t.Errorf("%s: allowed; the platform must refuse it", a.as)
				return
			}
			refused++
			testutil.WantRefusal(t, err, a.is, a.fragments...)
		})
	}

	positives := selfService()
	done := 0
	for _, p := range positives {
		t.Run("self-service/"+p.name, func(t *testing.T) {
			if err := p.try(ctx, actors[p.as]); err != nil {
				t.Errorf("%s cannot %s: %v", p.as, p.name, err)
				return
			}
			done++
		})
	}
	summary := fmt.Sprintf("escape suite: %d attempts, %d refused, %d allowed that should not be; self-service: %d of %d allowed",
		len(attempts), refused, allowed, done, len(positives))
	t.Log(summary)
	fmt.Println(summary)
	// go test hides a passing package's output; `make test` shows this file.
	if path := os.Getenv("TENANTRY_ESCAPE_SUMMARY"); path != "" {
		if err := os.WriteFile(path, []byte(summary+"\n"), 0o644); err != nil {
			t.Error(err)
		}
	}
	if len(attempts) < 40 {
		t.Errorf("only %d escape attempts; the suite promises at least 40", len(attempts))
	}
}

// prepareEscapeFixtures creates, as the cluster admin, what the attempts
// need: a pod in globex to exec into, a harmless non-allowlisted
// ClusterRole, the Gateway API HTTPRoute kind, and the ops user's extra RBAC.
func prepareEscapeFixtures(t *testing.T) {
	ctx := t.Context()
	apply := func(objs ...client.Object) {
		for _, obj := range objs {
			if err := admin.Create(ctx, obj); err != nil && !apierrors.IsAlreadyExists(err) {
				t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
			}
		}
	}
	if _, err := install.Apply(ctx, admin, testdata, "testdata/httproute-crd.yaml"); err != nil {
		t.Fatal(err)
	}
	apply(
		withNamespace(globexNS, pod("globex-web", globexImage)),
		&rbacv1.ClusterRole{
			ObjectMeta: metav1.ObjectMeta{Name: "escape-suite:pod-reader"},
			Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get"}}},
		},
		&rbacv1.ClusterRole{
			ObjectMeta: metav1.ObjectMeta{Name: "escape-suite:namespace-and-quota-editor"},
			Rules: []rbacv1.PolicyRule{
				{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"get", "update", "patch", "delete"}},
				{APIGroups: []string{""}, Resources: []string{"resourcequotas", "limitranges"}, Verbs: []string{"get", "update", "patch", "delete"}},
			},
		},
		// A RoleBinding in acme-prod that grants namespaces rights covers
		// the acme-prod Namespace object itself.
		&rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "escape-suite:ops", Namespace: acmeProd},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "escape-suite:namespace-and-quota-editor"},
			Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "User", Name: opsUser}},
		},
	)
	testutil.Eventually(t, 30*time.Second, func() error {
		return admin.List(ctx, &unstructured.UnstructuredList{Object: map[string]any{
			"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRouteList"}}, client.InNamespace(acmeProd))
	})
	onboardWithoutRegistries(t)
	// acme's apps inherit analysis defaults: the operator writes the
	// tenantry-analysis Secret, which acme's admins may read but not change.
	tenant := &v1alpha1.Tenant{}
	if err := admin.Get(ctx, client.ObjectKey{Name: "acme"}, tenant); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(tenant.DeepCopy())
	tenant.Spec.Analysis = &v1alpha1.AnalysisDefaults{PrometheusAddress: "http://prometheus.monitoring:9090"}
	if err := admin.Patch(ctx, tenant, patch); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 30*time.Second, func() error {
		return admin.Get(ctx, client.ObjectKey{Namespace: acmeProd, Name: render.AnalysisSecretName}, &corev1.Secret{})
	})
}

// onboardWithoutRegistries onboards hooli on a copy of the free plan whose
// allowedRegistries was forgotten, as a platform team might.
func onboardWithoutRegistries(t *testing.T) {
	ctx := t.Context()
	free := &v1alpha1.TenantPlan{}
	if err := admin.Get(ctx, client.ObjectKey{Name: "free"}, free); err != nil {
		t.Fatal(err)
	}
	plan := &v1alpha1.TenantPlan{ObjectMeta: metav1.ObjectMeta{Name: "no-registries"}, Spec: *free.Spec.DeepCopy()}
	plan.Spec.AllowedRegistries = nil
	tenant := &v1alpha1.Tenant{
		ObjectMeta: metav1.ObjectMeta{Name: "hooli"},
		Spec:       v1alpha1.TenantSpec{Plan: plan.Name, Owners: []v1alpha1.Owner{{Kind: v1alpha1.SubjectUser, Name: hooliAdmin, Role: v1alpha1.RoleAdmin}}},
	}
	for _, obj := range []client.Object{plan, tenant} {
		if err := admin.Create(ctx, obj); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	testutil.Eventually(t, time.Minute, func() error {
		if err := admin.Get(ctx, client.ObjectKeyFromObject(tenant), tenant); err != nil {
			return err
		}
		if tenant.Status.Phase != v1alpha1.PhaseReady {
			return fmt.Errorf("tenant hooli is %s: %+v", tenant.Status.Phase, tenant.Status.Conditions)
		}
		return nil
	})
}

// Refusal matchers: RBAC refusals, Pod Security refusals and guardrail
// (ValidatingAdmissionPolicy) refusals, each with its telltale text.
func rbacDenied(verb, resource string) (func(error) bool, []string) {
	return apierrors.IsForbidden, []string{fmt.Sprintf("cannot %s resource %q", verb, resource)}
}

func podSecurity(control string) (func(error) bool, []string) {
	return apierrors.IsForbidden, []string{`violates PodSecurity "restricted:v1.37"`, control}
}

func guardrail(policy, rule string) (func(error) bool, []string) {
	return apierrors.IsForbidden, []string{"ValidatingAdmissionPolicy '" + policy + "'", rule}
}

// refusal is an attempt expected to be refused as the matcher says.
func refusal(name, as string, try tryFunc, is func(error) bool, fragments []string) attempt {
	return attempt{name: name, as: as, try: try, is: is, fragments: fragments}
}

func escapeAttempts() []attempt {
	var attempts []attempt
	add := func(at ...attempt) { attempts = append(attempts, at...) }

	// Pod Security "restricted": every control a tenant could use to reach the node.
	psa := func(name, control string, mutate func(*corev1.PodSpec)) attempt {
		is, frags := podSecurity(control)
		p := pod("psa-"+name, acmeImage)
		mutate(&p.Spec)
		return refusal("pod-security/"+name, "alice", create(withNamespace(acmeProd, p)), is, frags)
	}
	app := func(s *corev1.PodSpec) *corev1.SecurityContext { return s.Containers[0].SecurityContext }
	add(
		psa("privileged", "privileged", func(s *corev1.PodSpec) {
			app(s).Privileged, app(s).AllowPrivilegeEscalation = ptr.To(true), ptr.To(true)
		}),
		psa("host-network", "host namespaces", func(s *corev1.PodSpec) { s.HostNetwork = true }),
		psa("host-pid", "host namespaces", func(s *corev1.PodSpec) { s.HostPID = true }),
		psa("host-ipc", "host namespaces", func(s *corev1.PodSpec) { s.HostIPC = true }),
		psa("host-path", "hostPath", func(s *corev1.PodSpec) {
			s.Volumes = []corev1.Volume{{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}}}
		}),
		psa("host-port", "hostPort", func(s *corev1.PodSpec) {
			s.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 8080, HostPort: 8080}}
		}),
		psa("added-capability", `"NET_ADMIN"`, func(s *corev1.PodSpec) {
			app(s).Capabilities.Add = []corev1.Capability{"NET_ADMIN"}
		}),
		psa("run-as-root", "runAsUser=0", func(s *corev1.PodSpec) { s.SecurityContext.RunAsUser = ptr.To[int64](0) }),
		psa("run-as-non-root-false", "runAsNonRoot", func(s *corev1.PodSpec) { s.SecurityContext.RunAsNonRoot = ptr.To(false) }),
		psa("privilege-escalation", "allowPrivilegeEscalation", func(s *corev1.PodSpec) { app(s).AllowPrivilegeEscalation = ptr.To(true) }),
		psa("unsafe-sysctl", "forbidden sysctls", func(s *corev1.PodSpec) {
			s.SecurityContext.Sysctls = []corev1.Sysctl{{Name: "kernel.msgmax", Value: "65536"}}
		}),
		psa("seccomp-unconfined", "seccompProfile", func(s *corev1.PodSpec) {
			s.SecurityContext.SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined}
		}),
		psa("apparmor-unconfined", "AppArmor", func(s *corev1.PodSpec) {
			s.SecurityContext.AppArmorProfile = &corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeUnconfined}
		}),
		psa("proc-mount-unmasked", "procMount", func(s *corev1.PodSpec) {
			s.HostUsers = ptr.To(false) // the API refuses Unmasked otherwise, before admission
			app(s).ProcMount = ptr.To(corev1.UnmaskedProcMount)
		}),
	)

	// Rules 4, 5 and 9: images, pull policy, nodes.
	podRule := func(name, as, ns, image, rule string, mutate func(*corev1.PodSpec)) attempt {
		is, frags := guardrail("tenantry-pods", rule)
		p := pod(strings.ReplaceAll(name, "/", "-"), image)
		if mutate != nil {
			mutate(&p.Spec)
		}
		return refusal(name, as, create(withNamespace(ns, p)), is, frags)
	}
	add(
		podRule("registry/foreign", "alice", acmeProd, "evil.example.com/miner:1", "tenantry rule 4 (registries): evil.example.com/miner:1", nil),
		podRule("registry/lookalike-prefix", "alice", acmeProd, "ghcr.io.evil.io/acme/web:1", "tenantry rule 4", nil),
		podRule("registry/docker-hub-shorthand", "alice", acmeProd, "nginx:1.27", "tenantry rule 4 (registries): nginx:1.27", nil),
		podRule("registry/other-plans-registry", "hank", globexNS, "ghcr.io/globex/web:1", "tenantry rule 4", nil),
		podRule("registry/init-container", "alice", acmeProd, acmeImage, "tenantry rule 4 (registries): evil.example.com/init:1", func(s *corev1.PodSpec) {
			init := s.Containers[0]
			init.Name, init.Image = "init", "evil.example.com/init:1"
			s.InitContainers = []corev1.Container{init}
		}),
		podRule("registry/plan-lists-none", "gavin", hooliNS, "registry.tenantry.dev/hooli/web:1",
			"tenantry rule 4 (registries): plan no-registries allows no registry (its spec.allowedRegistries is empty), so registry.tenantry.dev/hooli/web:1 cannot run", nil),
		// IfNotPresent, the API's default for a tagged image, becomes Always
		// where the pod defaults run (defaults_test.go); Never is kept.
		podRule("pull-policy/never", "alice", acmeProd, acmeImage, "tenantry rule 5 (image pull policy): container app", func(s *corev1.PodSpec) {
			s.Containers[0].ImagePullPolicy = corev1.PullNever
		}),
		podRule("nodes/tolerate-control-plane", "alice", acmeProd, acmeImage, "node-role.kubernetes.io/control-plane", func(s *corev1.PodSpec) {
			s.Tolerations = []corev1.Toleration{{Key: "node-role.kubernetes.io/control-plane", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}
		}),
		podRule("nodes/tolerate-every-taint", "alice", acmeProd, acmeImage, "every taint", func(s *corev1.PodSpec) {
			s.Tolerations = []corev1.Toleration{{Operator: corev1.TolerationOpExists}}
		}),
		podRule("nodes/node-name", "alice", acmeProd, acmeImage, "spec.nodeName bypasses the scheduler", func(s *corev1.PodSpec) {
			s.NodeName = "kwok-node-0"
		}),
		podRule("nodes/outside-node-pool", "ivy", initechProd, initechImage, "runs on the node pool "+initechPool+"="+initechPoolOn, func(s *corev1.PodSpec) {
			s.NodeSelector = map[string]string{initechPool: "shared"}
		}),
	)
	{
		// Argo CD syncs the tenant's apps as tenantry-deployer, with the
		// admins' rights: no workload may borrow them. (A bare pod naming
		// an account that does not exist, as here without Argo CD, is
		// refused by the ServiceAccount admission plugin first.)
		is, frags := guardrail("tenantry-pods", "tenantry rule 12 (deployer)")
		d := testutil.Deployment("escape-deployer", 1)
		d.Spec.Template.Spec.Containers[0].Image = acmeImage
		d.Spec.Template.Spec.ServiceAccountName = "tenantry-deployer"
		add(refusal("deployer/deployment-as-deployer", "alice", create(withNamespace(acmeProd, d)), is, frags))
	}
	{
		is, frags := guardrail("tenantry-pods", "tenantry rule 4 (registries): evil.example.com/web:1")
		d := testutil.Deployment("escape-deploy", 1)
		d.Spec.Template.Spec.Containers[0].Image = "evil.example.com/web:1"
		add(refusal("registry/deployment-template", "alice", create(withNamespace(acmeProd, d)), is, frags))
	}
	{
		is, frags := guardrail("tenantry-pods", "tenantry rule 4 (registries): evil.example.com/debug:1")
		add(refusal("registry/ephemeral-debug-container", "alice", debugPod("debug-target", "evil.example.com/debug:1"), is, frags))
	}

	// Rule 3: Service types and external IPs.
	svcRule := func(name, rule string, mutate func(*corev1.Service)) attempt {
		is, frags := guardrail("tenantry-services", rule)
		s := service(name)
		mutate(s)
		return refusal("services/"+name, "alice", create(withNamespace(acmeProd, s)), is, frags)
	}
	add(
		svcRule("node-port", "type NodePort is not allowed by plan pro", func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeNodePort }),
		svcRule("load-balancer", "type LoadBalancer is not allowed by plan pro", func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeLoadBalancer }),
		svcRule("external-ips", "spec.externalIPs is not allowed", func(s *corev1.Service) { s.Spec.ExternalIPs = []string{"203.0.113.7"} }),
	)

	// Rule 6: hosts within the tenant's domains.
	ingRule := func(name string, host string, rule string) attempt {
		is, frags := guardrail("tenantry-ingress-domains", rule)
		return refusal("domains/"+name, "alice", create(withNamespace(acmeProd, ingress(name, host))), is, frags)
	}
	add(
		ingRule("other-tenants-domain", "www.globex.example.com", "tenantry rule 6 (domains): www.globex.example.com is outside your tenant's domains (acme.example.com)"),
		ingRule("lookalike-domain", "evilacme.example.com", "evilacme.example.com is outside"),
		ingRule("no-host", "", "(a rule without host)"),
	)
	{
		is, frags := guardrail("tenantry-ingress-domains", "www.globex.example.com is outside")
		add(refusal("domains/httproute-other-tenants-domain", "alice", create(httpRoute(acmeProd, "steal", "www.globex.example.com")), is, frags))
	}

	// Rule 7: role bindings.
	rbRule := func(name string, roleRef rbacv1.RoleRef, subject rbacv1.Subject, rule string) attempt {
		is, frags := guardrail("tenantry-role-bindings", rule)
		return refusal("role-bindings/"+name, "alice", create(roleBinding(acmeProd, name, roleRef, subject)), is, frags)
	}
	user := func(name string) rbacv1.Subject {
		return rbacv1.Subject{APIGroup: rbacv1.GroupName, Kind: "User", Name: name}
	}
	clusterRole := func(name string) rbacv1.RoleRef {
		return rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name}
	}
	add(
		rbRule("non-allowlisted-cluster-role", clusterRole("escape-suite:pod-reader"), user("bob@acme.com"), "ClusterRole escape-suite:pod-reader cannot be bound"),
		rbRule("other-tenants-service-account", clusterRole("view"), rbacv1.Subject{Kind: "ServiceAccount", Name: "default", Namespace: globexNS}, "ServiceAccount globex/default is outside your tenant"),
		rbRule("system-group", clusterRole("view"), rbacv1.Subject{APIGroup: rbacv1.GroupName, Kind: "Group", Name: "system:authenticated"}, "Group system:authenticated is outside your tenant"),
		rbRule("service-account-as-user", clusterRole("view"), user("system:serviceaccount:globex:default"), "User system:serviceaccount:globex:default is outside"),
	)
	{
		is, frags := rbacDenied("create", "rolebindings")
		add(refusal("role-bindings/grant-self-in-other-tenant", "alice", create(roleBinding(globexNS, "peek", clusterRole("view"), user(acmeAdmin))), is, frags))
		is, frags = apierrors.IsForbidden, []string{"is attempting to grant RBAC permissions not currently held"}
		add(refusal("role-bindings/cluster-admin", "alice", create(roleBinding(acmeProd, "root", clusterRole("cluster-admin"), user(acmeAdmin))), is, frags))
	}

	// Rule 8: storage.
	pvcRule := func(name, rule string, mutate func(*corev1.PersistentVolumeClaim)) attempt {
		is, frags := guardrail("tenantry-storage", rule)
		c := pvc(name, "standard")
		mutate(c)
		return refusal("storage/"+name, "alice", create(withNamespace(acmeProd, c)), is, frags)
	}
	add(
		pvcRule("class-outside-plan", "storage class premium-ssd is not allowed by plan pro", func(c *corev1.PersistentVolumeClaim) {
			c.Spec.StorageClassName = ptr.To("premium-ssd")
		}),
		pvcRule("named-volume", "spec.volumeName claims a specific PersistentVolume", func(c *corev1.PersistentVolumeClaim) {
			c.Spec.VolumeName = "pv-of-another-tenant"
		}),
	)
	{
		is, frags := rbacDenied("create", "persistentvolumes")
		pv := &corev1.PersistentVolume{
			ObjectMeta: metav1.ObjectMeta{Name: "escape-host-root"},
			Spec: corev1.PersistentVolumeSpec{
				Capacity:               corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
				AccessModes:            []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}},
			},
		}
		add(refusal("storage/persistent-volume", "alice", create(pv), is, frags))
	}

	// Rule 10: the tenant's own NetworkPolicies cannot open egress beyond it.
	{
		is, frags := guardrail("tenantry-network-policies", "egress may go only to pods of tenant acme")
		add(refusal("network-policies/egress-to-every-namespace", "alice", create(networkPolicy(acmeProd, "escape-all-namespaces",
			[]networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{}}})), is, frags))
		is, frags = guardrail("tenantry-network-policies", "an ipBlock must leave out the private and link-local ranges")
		for _, cidr := range []string{"10.0.0.0/8", "169.254.169.254/32", "0.0.0.0/0"} {
			add(refusal("network-policies/ip-block-"+cidr, "alice", create(networkPolicy(acmeProd, "escape-"+strings.NewReplacer(".", "-", "/", "-").Replace(cidr),
				[]networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: cidr}}})), is, frags))
		}
		is, frags = guardrail("tenantry-network-policies", "this plan allows no ipBlock egress")
		add(refusal("network-policies/ip-block-without-internet-plan", "hank", create(networkPolicy(globexNS, "escape-internet",
			[]networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "0.0.0.0/0"}}})), is, frags))
	}

	// Rule 1: what the platform manages.
	managed := func(rule string) (func(error) bool, []string) { return guardrail("tenantry-managed-objects", rule) }
	{
		is, frags := managed("NetworkPolicy tenantry-default-deny is managed by the platform and only the Tenantry operator may update it")
		add(refusal("managed/update-network-policy", "alice", func(ctx context.Context, c client.Client) error {
			np := &networkingv1.NetworkPolicy{}
			if err := c.Get(ctx, client.ObjectKey{Namespace: acmeProd, Name: "tenantry-default-deny"}, np); err != nil {
				return fmt.Errorf("reading it: %w", err)
			}
			np.Spec.PolicyTypes = []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}
			return c.Update(ctx, np)
		}, is, frags))
		is, frags = managed("only the Tenantry operator may delete it")
		add(refusal("managed/delete-network-policy", "alice", deleteObj(&networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: acmeProd, Name: "tenantry-allow-same-tenant"}}), is, frags))
		add(refusal("managed/delete-role-binding", "alice", deleteObj(&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: acmeProd, Name: "tenantry:tenant-admin"}}), is, frags))
		add(refusal("managed/delete-analysis-secret", "alice", deleteObj(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: acmeProd, Name: render.AnalysisSecretName}}), is, frags))
		is, frags = managed("Secret tenantry-analysis is managed by the platform and only the Tenantry operator may update it")
		add(refusal("managed/point-analysis-elsewhere", "alice", func(ctx context.Context, c client.Client) error {
			secret := &corev1.Secret{}
			if err := c.Get(ctx, client.ObjectKey{Namespace: acmeProd, Name: render.AnalysisSecretName}, secret); err != nil {
				return fmt.Errorf("reading it: %w", err)
			}
			secret.Data[render.AnalysisKeyPrometheusAddress] = []byte("http://always-healthy.acme-prod.svc")
			return c.Update(ctx, secret)
		}, is, frags))
		is, frags = managed("the label app.kubernetes.io/managed-by=tenantry is reserved")
		forged := networkPolicy(acmeProd, "forged", []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{}}})
		forged.Labels = map[string]string{v1alpha1.LabelManagedBy: v1alpha1.ManagedByValue, v1alpha1.LabelTenant: "globex"}
		add(refusal("managed/forge-platform-label", "alice", create(forged), is, frags))
		is, frags = managed("ResourceQuota tenantry-quota is managed by the platform")
		add(refusal("managed/quota-with-rbac-granted", "ops", updateQuota(acmeProd), is, frags))
		is, frags = managed("Namespace acme-prod is managed by the platform and only the Tenantry operator may delete it")
		add(refusal("managed/delete-namespace-with-rbac-granted", "ops", deleteObj(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: acmeProd}}), is, frags))
		is, frags = guardrail("tenantry-namespace-metadata", "tenantry rule 2 (namespace metadata): pod-security.kubernetes.io/enforce")
		add(refusal("namespace/drop-pod-security-with-rbac-granted", "ops", relabelNamespace(acmeProd, v1alpha1.LabelPSSEnforce, ""), is, frags))
		is, frags = guardrail("tenantry-namespace-metadata", "tenantry.dev/allowed-registries")
		add(refusal("namespace/widen-registries-with-rbac-granted", "ops", func(ctx context.Context, c client.Client) error {
			ns := &corev1.Namespace{}
			if err := c.Get(ctx, client.ObjectKey{Name: acmeProd}, ns); err != nil {
				return err
			}
			ns.Annotations[v1alpha1.AnnotationAllowedRegistries] = "docker.io/"
			return c.Update(ctx, ns)
		}, is, frags))
	}
	{
		is, frags := rbacDenied("patch", "resourcequotas")
		add(refusal("managed/update-own-quota", "alice", updateQuota(acmeProd), is, frags))
		is, frags = rbacDenied("delete", "limitranges")
		add(refusal("managed/delete-own-limit-range", "alice", deleteObj(&corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Namespace: acmeProd, Name: "tenantry-limits"}}), is, frags))
		is, frags = rbacDenied("patch", "namespaces")
		add(refusal("namespace/relabel-to-drop-pod-security", "alice", relabelNamespace(acmeProd, v1alpha1.LabelPSSEnforce, "privileged"), is, frags))
		is, frags = rbacDenied("delete", "namespaces")
		add(refusal("namespace/delete-own", "alice", deleteObj(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: acmeProd}}), is, frags))
	}

	// Cross-tenant reads and writes.
	cross := func(name, verb, resource string, try tryFunc) attempt {
		is, frags := rbacDenied(verb, resource)
		return refusal("cross-tenant/"+name, "alice", try, is, frags)
	}
	add(
		cross("read-secret", "get", "secrets", func(ctx context.Context, c client.Client) error {
			return c.Get(ctx, client.ObjectKey{Namespace: globexNS, Name: "anything"}, &corev1.Secret{})
		}),
		cross("list-secrets", "list", "secrets", list(&corev1.SecretList{}, globexNS)),
		cross("list-pods", "list", "pods", list(&corev1.PodList{}, globexNS)),
		cross("list-config-maps", "list", "configmaps", list(&corev1.ConfigMapList{}, globexNS)),
		cross("read-quota", "list", "resourcequotas", list(&corev1.ResourceQuotaList{}, globexNS)),
		cross("create-deployment", "create", "deployments", create(withNamespace(globexNS, testutil.Deployment("intruder", 1)))),
		cross("delete-service", "delete", "services", deleteObj(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: globexNS, Name: "web"}})),
		cross("exec-into-pod", "create", "pods/exec", func(ctx context.Context, _ client.Client) error {
			// Exec is a streaming subresource: make the request as kubectl does.
			cs, err := aliceClientset(rest.ImpersonationConfig{})
			if err != nil {
				return err
			}
			return cs.CoreV1().RESTClient().Post().Namespace(globexNS).Resource("pods").Name("globex-web").SubResource("exec").
				VersionedParams(&corev1.PodExecOptions{Container: "app", Command: []string{"cat", "/etc/secret"}, Stdout: true}, clientgoscheme.ParameterCodec).
				Do(ctx).Error()
		}),
		cross("token-for-service-account", "create", "serviceaccounts/token", func(ctx context.Context, c client.Client) error {
			sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: globexNS, Name: "default"}}
			return c.SubResource("token").Create(ctx, sa, &authenticationv1.TokenRequest{})
		}),
		cross("read-tenant", "get", "tenants", func(ctx context.Context, c client.Client) error {
			return c.Get(ctx, client.ObjectKey{Name: "globex"}, &v1alpha1.Tenant{})
		}),
		cross("list-tenants", "list", "tenants", list(&v1alpha1.TenantList{}, "")),
		cross("pods-in-kube-system", "create", "pods", create(withNamespace("kube-system", pod("intruder", acmeImage)))),
	)

	// Cluster-scoped objects and cluster powers.
	clusterScoped := func(name, resource string, obj client.Object) attempt {
		is, frags := rbacDenied("create", resource)
		return refusal("cluster-scoped/"+name, "alice", create(obj), is, frags)
	}
	add(
		clusterScoped("cluster-role", "clusterroles", &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "escape"}}),
		clusterScoped("cluster-role-binding", "clusterrolebindings", &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "escape"}, RoleRef: clusterRole("cluster-admin"), Subjects: []rbacv1.Subject{user(acmeAdmin)},
		}),
		clusterScoped("namespace", "namespaces", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "acme-shadow"}}),
		clusterScoped("crd", "customresourcedefinitions", &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
			"metadata": map[string]any{"name": "escapes.acme.example.com"},
		}}),
		clusterScoped("priority-class", "priorityclasses", &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "escape"}, Value: 1000000}),
		clusterScoped("storage-class", "storageclasses", &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "escape"}, Provisioner: "example.com/x"}),
		clusterScoped("admission-policy", "validatingadmissionpolicies", &admissionregistrationv1.ValidatingAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: "escape"}}),
		clusterScoped("webhook", "validatingwebhookconfigurations", &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "escape"}}),
		clusterScoped("mutating-webhook", "mutatingwebhookconfigurations", &admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "escape"}}),
	)
	{
		is, frags := rbacDenied("delete", "validatingadmissionpolicybindings")
		add(refusal("cluster-scoped/delete-guardrail-binding", "alice", deleteObj(&admissionregistrationv1.ValidatingAdmissionPolicyBinding{ObjectMeta: metav1.ObjectMeta{Name: "tenantry-pods"}}), is, frags))
		is, frags = rbacDenied("list", "nodes")
		add(refusal("cluster-scoped/list-nodes", "alice", list(&corev1.NodeList{}, ""), is, frags))
		is, frags = rbacDenied("update", "tenants")
		add(refusal("cluster-scoped/upgrade-own-plan", "alice", func(ctx context.Context, c client.Client) error {
			tenant := &v1alpha1.Tenant{}
			if err := c.Get(ctx, client.ObjectKey{Name: "acme"}, tenant); err != nil {
				return fmt.Errorf("reading own tenant: %w", err)
			}
			tenant.Spec.Plan = "enterprise"
			return c.Update(ctx, tenant)
		}, is, frags))
		is, frags = apierrors.IsForbidden, []string{`User "alice@acme.com" cannot impersonate`}
		add(refusal("impersonate-other-tenants-admin", "alice", func(ctx context.Context, _ client.Client) error {
			cs, err := aliceClientset(rest.ImpersonationConfig{UserName: globexAdmin})
			if err != nil {
				return err
			}
			_, err = cs.CoreV1().Secrets(globexNS).List(ctx, metav1.ListOptions{})
			return err
		}, is, frags))
	}
	return attempts
}

// selfService is what a tenant must still be able to do under the guardrails.
func selfService() []attempt {
	var positives []attempt
	add := func(name, as string, try tryFunc) {
		positives = append(positives, attempt{name: name, as: as, try: try})
	}

	add("deploy and run a Deployment", "alice", func(ctx context.Context, c client.Client) error {
		d := withNamespace(acmeProd, testutil.Deployment("web", 1))
		d.Spec.Template.Spec.Containers[0].Image = acmeImage
		if err := c.Create(ctx, d); err != nil {
			return err
		}
		return poll(ctx, func() error {
			if err := c.Get(ctx, client.ObjectKeyFromObject(d), d); err != nil {
				return err
			}
			if d.Status.AvailableReplicas != 1 {
				return fmt.Errorf("%d of 1 replicas available: %+v", d.Status.AvailableReplicas, d.Status.Conditions)
			}
			return nil
		})
	})
	add("scale the Deployment", "alice", func(ctx context.Context, c client.Client) error {
		d := &appsv1.Deployment{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: acmeProd, Name: "web"}, d); err != nil {
			return err
		}
		d.Spec.Replicas = ptr.To[int32](2)
		return c.Update(ctx, d)
	})
	add("create a ClusterIP Service", "alice", create(withNamespace(acmeProd, service("web"))))
	add("read its own quota and limit range", "alice", func(ctx context.Context, c client.Client) error {
		if err := c.Get(ctx, client.ObjectKey{Namespace: acmeProd, Name: "tenantry-quota"}, &corev1.ResourceQuota{}); err != nil {
			return err
		}
		return c.List(ctx, &corev1.LimitRangeList{}, client.InNamespace(acmeStaging))
	})
	add("create a ConfigMap", "alice", create(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: acmeProd, Name: "settings"}, Data: map[string]string{"mode": "prod"}}))
	add("create a Secret", "alice", create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: acmeProd, Name: "db"}, StringData: map[string]string{"password": "s3cret"}}))
	add("claim storage of an allowed class", "alice", create(withNamespace(acmeProd, pvc("data", "standard"))))
	add("run a Job", "alice", create(&batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Namespace: acmeProd, Name: "migrate"},
		Spec:       batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: jobPodSpec()}},
	}))
	add("schedule a CronJob", "alice", create(&batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Namespace: acmeProd, Name: "nightly"},
		Spec: batchv1.CronJobSpec{Schedule: "0 3 * * *", JobTemplate: batchv1.JobTemplateSpec{
			Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: jobPodSpec()}},
		}},
	}))
	add("autoscale with an HPA", "alice", create(&autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Namespace: acmeProd, Name: "web"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
			MinReplicas:    ptr.To[int32](1), MaxReplicas: 3,
		},
	}))
	add("protect with a PDB", "alice", create(&policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Namespace: acmeProd, Name: "web"},
		Spec: policyv1.PodDisruptionBudgetSpec{
			MinAvailable: ptr.To(intstr.FromInt32(1)),
			Selector:     &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
		},
	}))
	add("publish an Ingress on its domain", "alice", func(ctx context.Context, c client.Client) error {
		ing := withNamespace(acmeProd, ingress("shop", "shop.acme.example.com"))
		ing.Spec.TLS = []networkingv1.IngressTLS{{Hosts: []string{"shop.acme.example.com", "acme.example.com"}, SecretName: "shop-tls"}}
		return c.Create(ctx, ing)
	})
	add("route an HTTPRoute on its domain", "alice", create(httpRoute(acmeProd, "api", "api.acme.example.com")))
	add("create its own Role and RoleBinding", "alice", func(ctx context.Context, c client.Client) error {
		role := &rbacv1.Role{
			ObjectMeta: metav1.ObjectMeta{Namespace: acmeProd, Name: "config-reader"},
			Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list"}}},
		}
		if err := c.Create(ctx, role); err != nil {
			return err
		}
		return c.Create(ctx, roleBinding(acmeProd, "config-reader",
			rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "config-reader"},
			rbacv1.Subject{Kind: "ServiceAccount", Name: "default", Namespace: acmeStaging},
			rbacv1.Subject{APIGroup: rbacv1.GroupName, Kind: "User", Name: "bob@acme.com"}))
	})
	add("bind the view ClusterRole", "alice", create(roleBinding(acmeProd, "auditors",
		rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"},
		rbacv1.Subject{APIGroup: rbacv1.GroupName, Kind: "Group", Name: "acme-auditors"})))
	add("add a NetworkPolicy towards its own tenant", "alice", create(networkPolicy(acmeProd, "to-staging",
		[]networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{v1alpha1.LabelTenant: "acme"}}}})))
	add("add an ipBlock egress on a plan with internet egress", "alice", create(networkPolicy(acmeProd, "to-payments-api",
		[]networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "198.51.100.0/24"}}})))
	add("open the IPv4 internet minus private ranges", "alice", create(networkPolicy(acmeProd, "to-internet",
		[]networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "0.0.0.0/0",
			Except: []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16", "127.0.0.0/8"}}}})))
	add("read events", "alice", list(&corev1.EventList{}, acmeProd))
	add("read pod logs (RBAC review)", "alice", func(ctx context.Context, c client.Client) error {
		// kwok's simulated pods have no log stream; ask the API server
		// whether the request would be authorized instead.
		review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
			ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: acmeProd, Verb: "get", Resource: "pods", Subresource: "log"},
		}}
		if err := c.Create(ctx, review); err != nil {
			return err
		}
		if !review.Status.Allowed {
			return fmt.Errorf("not allowed: %s", review.Status.Reason)
		}
		return nil
	})
	add("debug a pod with an allowed image", "alice", debugPod("debuggable", "ghcr.io/acme/debug:1"))
	add("read its own Tenant and status", "alice", func(ctx context.Context, c client.Client) error {
		tenant := &v1alpha1.Tenant{}
		if err := c.Get(ctx, client.ObjectKey{Name: "acme"}, tenant); err != nil {
			return err
		}
		if tenant.Status.Phase != v1alpha1.PhaseReady {
			return fmt.Errorf("phase %q", tenant.Status.Phase)
		}
		return nil
	})
	add("deploy on the free plan from its registry", "hank", func(ctx context.Context, c client.Client) error {
		d := withNamespace(globexNS, testutil.Deployment("web", 1))
		d.Spec.Template.Spec.Containers[0].Image = globexImage
		return c.Create(ctx, d)
	})
	add("run a pod on its plan's node pool", "ivy", func(ctx context.Context, c client.Client) error {
		p := withNamespace(initechProd, pod("pooled", initechImage))
		p.Spec.NodeSelector = map[string]string{initechPool: initechPoolOn}
		return c.Create(ctx, p)
	})
	return positives
}

// Request builders.

// aliceClientset is a client-go clientset for acme's admin, for requests the
// controller-runtime client does not make (streaming subresources, and
// impersonation without its discovery calls).
func aliceClientset(impersonate rest.ImpersonationConfig) (kubernetes.Interface, error) {
	cfg, err := cluster.UserConfig(acmeAdmin)
	if err != nil {
		return nil, err
	}
	cfg.Impersonate = impersonate
	return kubernetes.NewForConfig(cfg)
}

func create(obj client.Object) tryFunc {
	return func(ctx context.Context, c client.Client) error { return c.Create(ctx, obj) }
}

func deleteObj(obj client.Object) tryFunc {
	return func(ctx context.Context, c client.Client) error { return c.Delete(ctx, obj) }
}

func list(l client.ObjectList, namespace string) tryFunc {
	return func(ctx context.Context, c client.Client) error {
		if namespace == "" {
			return c.List(ctx, l)
		}
		return c.List(ctx, l, client.InNamespace(namespace))
	}
}

// debugPod creates a pod in acme-prod and attaches a debug container with
// image to it, as kubectl debug does.
func debugPod(name, image string) tryFunc {
	return func(ctx context.Context, c client.Client) error {
		p := withNamespace(acmeProd, pod(name, acmeImage))
		if err := c.Create(ctx, p); err != nil {
			return fmt.Errorf("creating the pod to debug: %w", err)
		}
		debug := corev1.EphemeralContainer{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
			Name: "debug", Image: image, ImagePullPolicy: corev1.PullAlways,
			SecurityContext: p.Spec.Containers[0].SecurityContext,
		}}
		// The scheduler and kwok update the new pod meanwhile.
		return retry.RetryOnConflict(retry.DefaultRetry, func() error {
			if err := c.Get(ctx, client.ObjectKeyFromObject(p), p); err != nil {
				return err
			}
			p.Spec.EphemeralContainers = []corev1.EphemeralContainer{debug}
			return c.SubResource("ephemeralcontainers").Update(ctx, p)
		})
	}
}

// updateQuota raises the pods quota of a namespace with a merge patch.
func updateQuota(namespace string) tryFunc {
	return func(ctx context.Context, c client.Client) error {
		q := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "tenantry-quota"}}
		return c.Patch(ctx, q, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"hard":{"pods":"1000"}}}`)))
	}
}

// relabelNamespace sets (or, with value "", removes) a label on a namespace
// with a merge patch.
func relabelNamespace(name, key, value string) tryFunc {
	return func(ctx context.Context, c client.Client) error {
		patch := map[string]any{"metadata": map[string]any{"labels": map[string]any{key: nil}}}
		if value != "" {
			patch["metadata"].(map[string]any)["labels"].(map[string]any)[key] = value
		}
		data, err := json.Marshal(patch)
		if err != nil {
			return err
		}
		return c.Patch(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, client.RawPatch(types.MergePatchType, data))
	}
}

func poll(ctx context.Context, check func() error) error {
	deadline := time.Now().Add(time.Minute)
	for {
		err := check()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Object builders.

func withNamespace[T client.Object](namespace string, obj T) T {
	obj.SetNamespace(namespace)
	return obj
}

func pod(name, image string) *corev1.Pod {
	p := testutil.RestrictedPod(name)
	p.Spec.Containers[0].Image = image
	return p
}

func jobPodSpec() corev1.PodSpec {
	spec := testutil.RestrictedPodSpec()
	spec.Containers[0].Image = acmeImage
	spec.RestartPolicy = corev1.RestartPolicyNever
	return spec
}

func service(name string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": name},
			Ports:    []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}},
		},
	}
}

func ingress(name, host string) *networkingv1.Ingress {
	backend := networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "web", Port: networkingv1.ServiceBackendPort{Number: 80}}}
	return &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{
			Host: host,
			IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{
				Path: "/", PathType: ptr.To(networkingv1.PathTypePrefix), Backend: backend,
			}}}},
		}}},
	}
}

func httpRoute(namespace, name, hostname string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
		"metadata": map[string]any{"namespace": namespace, "name": name},
		"spec": map[string]any{
			"hostnames":  []any{hostname},
			"parentRefs": []any{map[string]any{"name": "public", "namespace": "gateway"}},
		},
	}}
}

func roleBinding(namespace, name string, roleRef rbacv1.RoleRef, subjects ...rbacv1.Subject) *rbacv1.RoleBinding {
	return &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		RoleRef:    roleRef,
		Subjects:   subjects,
	}
}

func pvc(name, class string) *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PersistentVolumeClaimSpec{
			StorageClassName: ptr.To(class),
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}
}

// networkPolicy allows egress from every pod of the namespace to peers.
func networkPolicy(namespace, name string, peers []networkingv1.NetworkPolicyPeer) *networkingv1.NetworkPolicy {
	return &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec: networkingv1.NetworkPolicySpec{
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
			Egress:      []networkingv1.NetworkPolicyEgressRule{{To: peers}},
		},
	}
}

package escapes

import (
	"context"
	"fmt"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tenantry/tenantry/api/v1alpha1"
)

// colleague is a user a tenant admin may grant rights to.
const colleague = "colleague@example.com"

// accessEscapes widen the tenant's rights: role bindings outside the
// tenant (rule 7, and RBAC's escalation check), storage outside the plan
// (rule 8), another tenant's objects, and cluster-scoped objects and
// powers.
func accessEscapes(t Target) []Entry {
	ns, other := t.ns(), t.OtherNamespace
	rbRule := func(id, description string, roleRef rbacv1.RoleRef, subject rbacv1.Subject, rule string) Entry {
		return Entry{ID: "role-bindings/" + id, Description: description,
			Try: create(t, roleBinding(ns, t.name(id), roleRef, subject)), Want: guardrail("tenantry-role-bindings", rule)}
	}
	nonAllowlisted := rbRule("non-allowlisted-cluster-role", "bind a ClusterRole outside the allowlist", clusterRole(FixtureClusterRole), user(colleague),
		"ClusterRole "+FixtureClusterRole+" cannot be bound")
	nonAllowlisted.Needs = ClusterObjects
	entries := []Entry{
		nonAllowlisted,
		rbRule("other-tenants-service-account", "grant rights to another tenant's ServiceAccount", clusterRole("view"),
			rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: "default", Namespace: other}, "ServiceAccount "+other+"/default is outside your tenant"),
		rbRule("system-group", "grant rights to every authenticated user", clusterRole("view"),
			rbacv1.Subject{APIGroup: rbacv1.GroupName, Kind: rbacv1.GroupKind, Name: "system:authenticated"}, "Group system:authenticated is outside your tenant"),
		rbRule("service-account-as-user", "grant rights to another tenant's ServiceAccount named as a user", clusterRole("view"),
			user("system:serviceaccount:"+other+":default"), "User system:serviceaccount:"+other+":default is outside"),
		{ID: "role-bindings/grant-self-in-other-tenant", Description: "grant itself rights in " + other,
			Try: create(t, roleBinding(other, t.name("peek"), clusterRole("view"), user(t.self()))), Want: rbacDenied("create", "rolebindings")},
		{ID: "role-bindings/cluster-admin", Description: "bind cluster-admin in its namespace",
			Try:  create(t, roleBinding(ns, t.name("root"), clusterRole("cluster-admin"), user(t.self()))),
			Want: Want{Layer: RBAC, Detail: []string{"is attempting to grant RBAC permissions not currently held"}}},
	}

	classOutside := t.pvc("class-outside-plan", "premium-ssd")
	named := t.pvc("named-volume", "standard")
	named.Spec.VolumeName = "pv-of-another-tenant"
	outside := Entry{ID: "storage/class-outside-plan", Description: "claim storage of a class outside its plan",
		Try: create(t, classOutside), Want: guardrail("tenantry-storage", "storage class premium-ssd is not allowed by plan "+t.Plan.Name)}
	for _, c := range t.Plan.Spec.StorageClasses {
		if c == "premium-ssd" {
			outside.Skip = "plan " + t.Plan.Name + " allows premium-ssd"
		}
	}
	entries = append(entries,
		outside,
		Entry{ID: "storage/named-volume", Description: "claim a specific PersistentVolume",
			Try: create(t, named), Want: guardrail("tenantry-storage", "spec.volumeName claims a specific PersistentVolume")},
		Entry{ID: "storage/persistent-volume", Description: "create a hostPath PersistentVolume", Try: create(t, &corev1.PersistentVolume{
			ObjectMeta: metav1.ObjectMeta{Name: t.name("escape-host-root")},
			Spec: corev1.PersistentVolumeSpec{
				Capacity:               corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
				AccessModes:            []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}},
			},
		}), Want: rbacDenied("create", "persistentvolumes")},
	)
	return append(append(entries, crossTenant(t)...), clusterPowers(t)...)
}

// crossTenant reads and writes another tenant's objects.
func crossTenant(t Target) []Entry {
	other := t.OtherNamespace
	cross := func(id, description, verb, resource string, try func(context.Context, client.Client) error) Entry {
		return Entry{ID: "cross-tenant/" + id, Description: description, Try: try, Want: rbacDenied(verb, resource)}
	}
	exec := cross("exec-into-pod", "exec into a pod of "+other, "create", "pods/exec", func(ctx context.Context, _ client.Client) error {
		// Exec is a streaming subresource: make the request as kubectl does.
		cs, err := t.clientset(rest.ImpersonationConfig{})
		if err != nil {
			return err
		}
		return cs.CoreV1().RESTClient().Post().Namespace(other).Resource("pods").Name(FixturePod).SubResource("exec").
			VersionedParams(&corev1.PodExecOptions{Container: "app", Command: []string{"cat", "/etc/secret"}, Stdout: true}, clientgoscheme.ParameterCodec).
			Do(ctx).Error()
	})
	exec.Needs = ClusterObjects
	return []Entry{
		cross("read-secret", "read a Secret in "+other, "get", "secrets", func(ctx context.Context, c client.Client) error {
			return c.Get(ctx, client.ObjectKey{Namespace: other, Name: "anything"}, &corev1.Secret{})
		}),
		cross("list-secrets", "read Secrets in "+other, "list", "secrets", list(&corev1.SecretList{}, other)),
		cross("list-pods", "list pods in "+other, "list", "pods", list(&corev1.PodList{}, other)),
		cross("list-config-maps", "list ConfigMaps in "+other, "list", "configmaps", list(&corev1.ConfigMapList{}, other)),
		cross("read-quota", "read the quota of "+other, "list", "resourcequotas", list(&corev1.ResourceQuotaList{}, other)),
		cross("create-deployment", "deploy into "+other, "create", "deployments", create(t, t.deployment(other, t.name("intruder"), t.Image))),
		cross("delete-service", "delete a Service in "+other, "delete", "services",
			deleteObj(t, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: other, Name: "web"}})),
		exec,
		cross("token-for-service-account", "mint a token for a ServiceAccount of "+other, "create", "serviceaccounts/token", func(ctx context.Context, c client.Client) error {
			sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: other, Name: "default"}}
			return c.SubResource("token").Create(ctx, sa, &authenticationv1.TokenRequest{})
		}),
		cross("read-tenant", "read another Tenant", "get", "tenants", func(ctx context.Context, c client.Client) error {
			return c.Get(ctx, client.ObjectKey{Name: t.otherTenant()}, &v1alpha1.Tenant{})
		}),
		cross("list-tenants", "list every Tenant", "list", "tenants", list(&v1alpha1.TenantList{}, "")),
		cross("pods-in-kube-system", "run a pod in kube-system", "create", "pods",
			create(t, Pod("kube-system", t.name("intruder"), t.Image))),
	}
}

// clusterPowers creates cluster-scoped objects and uses cluster powers.
func clusterPowers(t Target) []Entry {
	clusterScoped := func(id, description, resource string, obj client.Object) Entry {
		return Entry{ID: "cluster-scoped/" + id, Description: description, Try: create(t, obj), Want: rbacDenied("create", resource)}
	}
	named := func(name string) metav1.ObjectMeta { return metav1.ObjectMeta{Name: t.name(name)} }
	return []Entry{
		clusterScoped("cluster-role", "create a ClusterRole", "clusterroles", &rbacv1.ClusterRole{ObjectMeta: named("escape")}),
		clusterScoped("cluster-role-binding", "create a ClusterRoleBinding", "clusterrolebindings", &rbacv1.ClusterRoleBinding{
			ObjectMeta: named("escape"), RoleRef: clusterRole("cluster-admin"), Subjects: []rbacv1.Subject{user(t.self())},
		}),
		clusterScoped("namespace", "create a namespace", "namespaces", &corev1.Namespace{ObjectMeta: named(t.Tenant.Name + "-shadow")}),
		clusterScoped("crd", "create a CustomResourceDefinition", "customresourcedefinitions", &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
			"metadata": map[string]any{"name": "escapes." + t.Tenant.Name + ".example.com"},
		}}),
		clusterScoped("priority-class", "create a PriorityClass", "priorityclasses", &schedulingv1.PriorityClass{ObjectMeta: named("escape"), Value: 1000000}),
		clusterScoped("storage-class", "create a StorageClass", "storageclasses", &storagev1.StorageClass{ObjectMeta: named("escape"), Provisioner: "example.com/x"}),
		clusterScoped("admission-policy", "create a ValidatingAdmissionPolicy", "validatingadmissionpolicies",
			&admissionregistrationv1.ValidatingAdmissionPolicy{ObjectMeta: named("escape")}),
		clusterScoped("webhook", "create a validating webhook", "validatingwebhookconfigurations",
			&admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: named("escape")}),
		clusterScoped("mutating-webhook", "create a mutating webhook", "mutatingwebhookconfigurations",
			&admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: named("escape")}),
		{ID: "cluster-scoped/delete-guardrail-binding", Description: "delete a guardrail's binding",
			Try:  deleteObj(t, &admissionregistrationv1.ValidatingAdmissionPolicyBinding{ObjectMeta: metav1.ObjectMeta{Name: "tenantry-pods"}}),
			Want: rbacDenied("delete", "validatingadmissionpolicybindings")},
		{ID: "cluster-scoped/list-nodes", Description: "list nodes", Try: list(&corev1.NodeList{}, ""), Want: rbacDenied("list", "nodes")},
		{ID: "cluster-scoped/list-namespaces", Description: "list namespaces cluster-wide", Try: list(&corev1.NamespaceList{}, ""), Want: rbacDenied("list", "namespaces")},
		{ID: "cluster-scoped/upgrade-own-plan", Description: "upgrade its own plan", Want: rbacDenied("update", "tenants"),
			Try: func(ctx context.Context, c client.Client) error {
				tenant := t.Tenant.DeepCopy()
				tenant.Spec.Plan = "enterprise"
				return update(ctx, t, c, tenant)
			}},
		{ID: "cluster-scoped/read-own-tenant", Description: "read its own Tenant (its namespaces say what owners need)",
			Want: rbacDenied("get", "tenants"), Try: func(ctx context.Context, c client.Client) error {
				return c.Get(ctx, client.ObjectKey{Name: t.Tenant.Name}, &v1alpha1.Tenant{})
			}},
		{ID: "impersonate-other-tenants-admin", Description: "impersonate another tenant's admin",
			Want: Want{Layer: RBAC, Detail: []string{`User "` + t.User + `" cannot impersonate`}},
			Try: func(ctx context.Context, _ client.Client) error {
				cs, err := t.clientset(rest.ImpersonationConfig{UserName: t.otherOwner()})
				if err != nil {
					return err
				}
				_, err = cs.CoreV1().Secrets(t.OtherNamespace).List(ctx, metav1.ListOptions{})
				return err
			}},
	}
}

// self is the user making the requests, for the bindings it grants itself.
func (t Target) self() string {
	if t.User != "" {
		return t.User
	}
	return colleague
}

func (t Target) otherOwner() string {
	if t.Other != nil && len(t.Other.Spec.Owners) > 0 {
		return t.Other.Spec.Owners[0].Name
	}
	return "admin@" + t.otherTenant() + ".example"
}

// clientset is a client-go clientset for the user, for the requests the
// controller-runtime client does not make (streaming subresources, and
// impersonation without its discovery calls).
func (t Target) clientset(impersonate rest.ImpersonationConfig) (kubernetes.Interface, error) {
	if t.Config == nil {
		return nil, fmt.Errorf("the request needs the user's REST config (Target.Config)")
	}
	cfg := rest.CopyConfig(t.Config)
	cfg.Impersonate = impersonate
	return kubernetes.NewForConfig(cfg)
}

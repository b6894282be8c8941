package chart

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/kube"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tenantry/tenantry/api/v1alpha1"
	"github.com/tenantry/tenantry/gitops"
	"github.com/tenantry/tenantry/internal/install"
	"github.com/tenantry/tenantry/internal/localcluster"
	"github.com/tenantry/tenantry/internal/testutil"
)

// The release this test installs differs from the defaults where a wrong
// template would show: another namespace and ServiceAccount name.
const (
	releaseNamespace = "platform-system"
	operatorAccount  = "tenantry-controller"
)

// TestHelmInstallOnControlPlane installs the chart with the Helm SDK, as
// `helm install` does, on a real control plane; shows its pods pass Pod
// Security `restricted`; runs the operator binary authenticated as the
// chart's ServiceAccount (a TokenRequest token), which onboards the example
// tenants with nothing but the chart's RBAC and through the guardrails; and
// shows that identity is refused what it does not need.
func TestHelmInstallOnControlPlane(t *testing.T) {
	testutil.NeedsCluster(t)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	operatorBinary := buildOperator(t)
	cluster, err := localcluster.Start(ctx, localcluster.Options{Progress: os.Stderr})
	if err != nil {
		t.Fatalf("starting the local control plane: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			cluster.DumpLogs(os.Stderr, 30)
		}
		if err := cluster.Stop(); err != nil {
			t.Error(err)
		}
	})
	scheme, err := install.NewScheme()
	if err != nil {
		t.Fatal(err)
	}
	admin, err := client.New(cluster.Config, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}

	// What docs/install.md asks before `helm install`: the namespace, with
	// Pod Security `restricted` enforced.
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: releaseNamespace, Labels: map[string]string{
		"pod-security.kubernetes.io/enforce": "restricted",
	}}}
	if err := admin.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	helmInstall(t, ctx, cluster.KubeconfigPath, map[string]any{
		"serviceAccount": map[string]any{"name": operatorAccount},
		"plans":          map[string]any{"create": true},
	})

	t.Run("operator pods pass Pod Security restricted", func(t *testing.T) {
		// Helm waited for the Deployment; its ReplicaSet's pods were admitted
		// in a namespace enforcing `restricted`, or there would be none.
		deploy := &appsv1.Deployment{}
		if err := admin.Get(ctx, client.ObjectKey{Namespace: releaseNamespace, Name: "tenantry-operator"}, deploy); err != nil {
			t.Fatal(err)
		}
		if deploy.Status.ReadyReplicas != 2 {
			t.Errorf("%d of 2 operator pods ready: %+v", deploy.Status.ReadyReplicas, deploy.Status.Conditions)
		}
		pods := &corev1.PodList{}
		if err := admin.List(ctx, pods, client.InNamespace(releaseNamespace)); err != nil {
			t.Fatal(err)
		}
		if len(pods.Items) != 2 {
			t.Errorf("%d operator pods, want 2", len(pods.Items))
		}
		// The namespace does enforce it: a pod running as root is refused.
		root := testutil.RestrictedPod("root")
		root.Namespace = releaseNamespace
		root.Spec.SecurityContext.RunAsNonRoot = nil
		err := admin.Create(ctx, root, client.DryRunAll)
		testutil.WantRefusal(t, err, apierrors.IsForbidden, `violates PodSecurity "restricted`, "runAsNonRoot")
	})

	// kwok only pretends to run the Deployment's pods; the real operator
	// runs here, with a token of the chart's ServiceAccount.
	operatorConfig, err := install.ServiceAccountConfig(ctx, admin, cluster.Config, releaseNamespace, operatorAccount)
	if err != nil {
		t.Fatal(err)
	}
	if err := cluster.StartAddon("tenantry-operator", operatorBinary, operatorConfig,
		"--leader-elect", "--leader-election-namespace="+releaseNamespace,
		"--metrics-bind-address=0", "--health-probe-bind-address=0"); err != nil {
		t.Fatal(err)
	}

	t.Run("the chart's RBAC is enough to onboard", func(t *testing.T) {
		// The plans come from the chart (plans.create), the tenants from gitops/.
		tenants, err := install.Apply(ctx, admin, examples.Examples, "tenants/*.yaml")
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range tenants {
			tenant := &v1alpha1.Tenant{}
			testutil.Eventually(t, time.Minute, func() error {
				if err := admin.Get(ctx, client.ObjectKey{Name: u.GetName()}, tenant); err != nil {
					return err
				}
				if tenant.Status.Phase != v1alpha1.PhaseReady {
					return fmt.Errorf("tenant %s is %s: %+v", tenant.Name, tenant.Status.Phase, tenant.Status.Conditions)
				}
				return nil
			})
			t.Logf("tenant %s Ready in %s: %v", tenant.Name, tenant.Status.OnboardingDuration.Duration, tenant.Status.Namespaces)
		}
	})

	t.Run("the chart's RBAC is not more than enough", func(t *testing.T) {
		operator, err := client.New(operatorConfig, client.Options{Scheme: scheme})
		if err != nil {
			t.Fatal(err)
		}
		refusals := []struct {
			name string
			try  func() error
		}{
			{"list Secrets cluster-wide", func() error {
				return operator.List(ctx, &corev1.SecretList{})
			}},
			{"read a Secret in kube-system", func() error {
				return operator.Get(ctx, client.ObjectKey{Namespace: "kube-system", Name: "any"}, &corev1.Secret{})
			}},
			{"bind cluster-admin", func() error {
				return operator.Create(ctx, &rbacv1.ClusterRoleBinding{
					ObjectMeta: metav1.ObjectMeta{Name: "stolen-admin"},
					RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "cluster-admin"},
					Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "mallory"}},
				}, client.DryRunAll)
			}},
			{"create a ClusterRole granting everything", func() error {
				return operator.Create(ctx, &rbacv1.ClusterRole{
					ObjectMeta: metav1.ObjectMeta{Name: "everything"},
					Rules:      []rbacv1.PolicyRule{{APIGroups: []string{"*"}, Resources: []string{"*"}, Verbs: []string{"*"}}},
				}, client.DryRunAll)
			}},
			{"widen the tenant admin role (escalate)", func() error {
				role := &rbacv1.ClusterRole{}
				if err := operator.Get(ctx, client.ObjectKey{Name: "tenantry:tenant-admin"}, role); err != nil {
					return err
				}
				role.Rules = append(role.Rules, rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"nodes"}, Verbs: []string{"get"}})
				return operator.Update(ctx, role, client.DryRunAll)
			}},
			{"run a pod in a tenant namespace", func() error {
				pod := testutil.RestrictedPod("intruder")
				pod.Namespace = "acme-prod"
				return operator.Create(ctx, pod, client.DryRunAll)
			}},
			{"delete a guardrail", func() error {
				return operator.Delete(ctx, &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
					ObjectMeta: metav1.ObjectMeta{Name: "tenantry-pods"}}, client.DryRunAll)
			}},
			// Its own namespace's Secrets it lists (Git credentials are
			// found by label there); no other namespace's.
			{"list the default namespace's Secrets", func() error {
				return operator.List(ctx, &corev1.SecretList{}, client.InNamespace("default"))
			}},
			{"edit a Node", func() error {
				return operator.Patch(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: localcluster.NodeName(0)}},
					client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"labels":{"pwned":"true"}}}`)), client.DryRunAll)
			}},
		}
		for _, r := range refusals {
			err := r.try()
			if !apierrors.IsForbidden(err) {
				t.Errorf("%s: got %v, want Forbidden", r.name, err)
			} else {
				t.Logf("%s: refused", r.name)
			}
		}
	})
}

// helmInstall runs `helm install tenantry charts/tenantry -n platform-system
// --wait` through the Helm SDK.
func helmInstall(t *testing.T, ctx context.Context, kubeconfig string, values map[string]any) {
	t.Helper()
	flags := genericclioptions.NewConfigFlags(false)
	namespace := releaseNamespace
	flags.KubeConfig, flags.Namespace = &kubeconfig, &namespace
	cfg := action.NewConfiguration()
	if err := cfg.Init(flags, releaseNamespace, "secret"); err != nil {
		t.Fatal(err)
	}
	chrt, err := loader.Load(Dir())
	if err != nil {
		t.Fatal(err)
	}
	helm := action.NewInstall(cfg)
	helm.ReleaseName, helm.Namespace = "tenantry", releaseNamespace
	helm.WaitStrategy = kube.StatusWatcherStrategy
	helm.Timeout = 2 * time.Minute
	start := time.Now()
	if _, err := helm.RunWithContext(ctx, chrt, values); err != nil {
		t.Fatalf("helm install: %v", err)
	}
	t.Logf("helm install --wait took %s", time.Since(start).Round(time.Millisecond))
}

// buildOperator builds cmd/tenantry-operator from this checkout.
func buildOperator(t *testing.T) string {
	t.Helper()
	binary := filepath.Join(t.TempDir(), "tenantry-operator")
	build := exec.Command("go", "build", "-C", filepath.Join(Dir(), "..", ".."), "-o", binary, "./cmd/tenantry-operator")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the operator: %v\n%s", err, out)
	}
	return binary
}

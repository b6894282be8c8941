package e2e

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tenantry/tenantry/internal/install"
	"github.com/tenantry/tenantry/internal/localcluster"
	"github.com/tenantry/tenantry/internal/testutil"
)

// TestTenantAdminWithKubectl runs, with kubectl and a kubeconfig of the
// tenant admin's own (a client certificate), the first commands a tenant
// types: reading its limits, trying to change them, and deploying an image
// with nothing but its name.
func TestTenantAdminWithKubectl(t *testing.T) {
	testutil.NeedsCluster(t)
	alice := kubectlAs(t, acmeAdmin)

	out, err := alice("get", "resourcequota,limitrange", "-n", acmeProd)
	if err != nil {
		t.Fatalf("kubectl get resourcequota,limitrange as %s: %v\n%s", acmeAdmin, err, out)
	}
	for _, want := range []string{"resourcequota/tenantry-quota", "limitrange/tenantry-limits"} {
		if !strings.Contains(out, want) {
			t.Errorf("kubectl get resourcequota,limitrange: no %s in\n%s", want, out)
		}
	}
	if out, err := alice("describe", "quota", "-n", acmeStaging); err != nil || !strings.Contains(out, "requests.cpu") {
		t.Errorf("kubectl describe quota: %v\n%s", err, out)
	}
	out, err = alice("patch", "resourcequota", "tenantry-quota", "-n", acmeProd, "--type=merge", `-p={"spec":{"hard":{"pods":"1000"}}}`)
	if err == nil || !strings.Contains(out, `cannot patch resource "resourcequotas"`) {
		t.Errorf("kubectl patch resourcequota: %v, want a refusal by RBAC:\n%s", err, out)
	}
	out, err = alice("delete", "limitrange", "tenantry-limits", "-n", acmeProd)
	if err == nil || !strings.Contains(out, `cannot delete resource "limitranges"`) {
		t.Errorf("kubectl delete limitrange: %v, want a refusal by RBAC:\n%s", err, out)
	}

	out, err = alice("create", "deployment", "web", "--image=registry.tenantry.dev/demo-app:1.0.0", "-n", acmeStaging)
	if !servesPodDefaults(t) {
		// Without the defaults the guardrails refuse it, naming the field.
		if err == nil || !strings.Contains(out, "tenantry rule 5 (image pull policy)") {
			t.Errorf("kubectl create deployment without pod defaults: %v, want rule 5's refusal:\n%s", err, out)
		}
		t.Skipf("the API server serves no MutatingAdmissionPolicy: pod defaults need Kubernetes 1.36+")
	}
	if err != nil {
		t.Fatalf("kubectl create deployment web --image=registry.tenantry.dev/demo-app:1.0.0 as %s: %v\n%s", acmeAdmin, err, out)
	}
	if strings.Contains(out, "Warning") {
		t.Errorf("kubectl create deployment printed a warning (Pod Security?):\n%s", out)
	}
	// Its pod passes Pod Security and the guardrails, and runs.
	testutil.Eventually(t, time.Minute, func() error {
		d := &appsv1.Deployment{}
		if err := admin.Get(t.Context(), client.ObjectKey{Namespace: acmeStaging, Name: "web"}, d); err != nil {
			return err
		}
		if d.Status.AvailableReplicas != 1 {
			return fmt.Errorf("%d of 1 replicas available: %+v", d.Status.AvailableReplicas, d.Status.Conditions)
		}
		return nil
	})
}

// TestPodDefaults checks each field the pod defaults fill in, on pods and
// on every workload kind they cover, and that what a tenant sets is kept.
func TestPodDefaults(t *testing.T) {
	testutil.NeedsCluster(t)
	if !servesPodDefaults(t) {
		t.Skip("the API server serves no MutatingAdmissionPolicy: pod defaults need Kubernetes 1.36+")
	}
	ivy := userClient(t, initechAdmin, initechGroup)
	bare := func() corev1.PodSpec {
		return corev1.PodSpec{
			InitContainers: []corev1.Container{{Name: "init", Image: initechImage}},
			Containers:     []corev1.Container{{Name: "app", Image: initechImage}},
		}
	}
	objMeta := func(name string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Namespace: initechProd, Name: name, Labels: map[string]string{"app": name}}
	}
	template := func(name string) corev1.PodTemplateSpec {
		return corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}}, Spec: bare()}
	}
	selector := func(name string) *metav1.LabelSelector {
		return &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}}
	}
	jobSpec := batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: bare()}}
	jobSpec.Template.Spec.RestartPolicy = corev1.RestartPolicyNever

	tests := []struct {
		name string
		obj  client.Object
		spec func(client.Object) *corev1.PodSpec
	}{
		{"pod", &corev1.Pod{ObjectMeta: objMeta("defaults-pod"), Spec: bare()},
			func(o client.Object) *corev1.PodSpec { return &o.(*corev1.Pod).Spec }},
		{"deployment", &appsv1.Deployment{ObjectMeta: objMeta("defaults-deployment"),
			Spec: appsv1.DeploymentSpec{Selector: selector("defaults-deployment"), Template: template("defaults-deployment")}},
			func(o client.Object) *corev1.PodSpec { return &o.(*appsv1.Deployment).Spec.Template.Spec }},
		{"statefulset", &appsv1.StatefulSet{ObjectMeta: objMeta("defaults-statefulset"),
			Spec: appsv1.StatefulSetSpec{Selector: selector("defaults-statefulset"), Template: template("defaults-statefulset")}},
			func(o client.Object) *corev1.PodSpec { return &o.(*appsv1.StatefulSet).Spec.Template.Spec }},
		{"daemonset", &appsv1.DaemonSet{ObjectMeta: objMeta("defaults-daemonset"),
			Spec: appsv1.DaemonSetSpec{Selector: selector("defaults-daemonset"), Template: template("defaults-daemonset")}},
			func(o client.Object) *corev1.PodSpec { return &o.(*appsv1.DaemonSet).Spec.Template.Spec }},
		{"job", &batchv1.Job{ObjectMeta: objMeta("defaults-job"), Spec: *jobSpec.DeepCopy()},
			func(o client.Object) *corev1.PodSpec { return &o.(*batchv1.Job).Spec.Template.Spec }},
		{"cronjob", &batchv1.CronJob{ObjectMeta: objMeta("defaults-cronjob"), Spec: batchv1.CronJobSpec{
			Schedule: "0 3 * * *", JobTemplate: batchv1.JobTemplateSpec{Spec: *jobSpec.DeepCopy()}}},
			func(o client.Object) *corev1.PodSpec {
				return &o.(*batchv1.CronJob).Spec.JobTemplate.Spec.Template.Spec
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A dry run goes through admission, mutating and validating, as a
			// real create does, and returns the object as it would be stored.
			if err := ivy.Create(t.Context(), tt.obj, client.DryRunAll); err != nil {
				t.Fatalf("a %s with nothing but its images, as %s: %v", tt.name, initechAdmin, err)
			}
			wantDefaults(t, tt.spec(tt.obj))
		})
	}

	t.Run("what the tenant sets is kept", func(t *testing.T) {
		spec := bare()
		spec.NodeSelector = map[string]string{initechPool: initechPoolOn, "zone": "b"}
		spec.SecurityContext = &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To[int64](1000),
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeLocalhost, LocalhostProfile: ptr.To("profiles/app.json")}}
		spec.Containers[0].SecurityContext = &corev1.SecurityContext{AllowPrivilegeEscalation: ptr.To(false),
			Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}, Add: []corev1.Capability{"NET_BIND_SERVICE"}}}
		pod := &corev1.Pod{ObjectMeta: objMeta("defaults-kept"), Spec: spec}
		if err := ivy.Create(t.Context(), pod, client.DryRunAll); err != nil {
			t.Fatal(err)
		}
		got := pod.Spec
		if got.NodeSelector["zone"] != "b" || got.NodeSelector[initechPool] != initechPoolOn || len(got.NodeSelector) != 2 {
			t.Errorf("nodeSelector = %v, want the tenant's own", got.NodeSelector)
		}
		if sc := got.SecurityContext; sc.SeccompProfile.Type != corev1.SeccompProfileTypeLocalhost || *sc.RunAsUser != 1000 {
			t.Errorf("pod securityContext = %+v, want the tenant's Localhost profile and user", sc)
		}
		if caps := got.Containers[0].SecurityContext.Capabilities; len(caps.Add) != 1 || len(caps.Drop) != 1 {
			t.Errorf("capabilities = %+v, want the tenant's own", caps)
		}
	})

	// An explicit value the rules refuse is not "fixed": it is refused.
	refused := []struct {
		name   string
		mutate func(*corev1.PodSpec)
		frags  []string
	}{
		{"another node pool", func(s *corev1.PodSpec) { s.NodeSelector = map[string]string{initechPool: "shared"} },
			[]string{"tenantry rule 9 (nodes)"}},
		{"pull policy Never", func(s *corev1.PodSpec) { s.Containers[0].ImagePullPolicy = corev1.PullNever },
			[]string{"tenantry rule 5 (image pull policy)"}},
		{"root", func(s *corev1.PodSpec) { s.SecurityContext = &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(false)} },
			[]string{`violates PodSecurity "restricted:v1.37"`, "runAsNonRoot"}},
		{"privilege escalation", func(s *corev1.PodSpec) {
			s.Containers[0].SecurityContext = &corev1.SecurityContext{AllowPrivilegeEscalation: ptr.To(true)}
		}, []string{`violates PodSecurity "restricted:v1.37"`, "allowPrivilegeEscalation"}},
		// allowPrivilegeEscalation false next to privileged would make the
		// pod invalid: it is left unset, for Pod Security to refuse.
		{"privileged", func(s *corev1.PodSpec) {
			s.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: ptr.To(true)}
		}, []string{`violates PodSecurity "restricted:v1.37"`, "privileged"}},
		{"capabilities kept", func(s *corev1.PodSpec) {
			s.Containers[0].SecurityContext = &corev1.SecurityContext{Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"NET_RAW"}}}
		}, []string{`violates PodSecurity "restricted:v1.37"`, "capabilities.drop=[\"ALL\"]"}},
	}
	for _, tt := range refused {
		t.Run("refused/"+tt.name, func(t *testing.T) {
			spec := bare()
			tt.mutate(&spec)
			err := ivy.Create(t.Context(), &corev1.Pod{ObjectMeta: objMeta("defaults-refused"), Spec: spec}, client.DryRunAll)
			testutil.WantRefusal(t, err, apierrors.IsForbidden, tt.frags...)
		})
	}
}

// wantDefaults checks every field the pod defaults set on a bare pod spec
// in initech-prod (enterprise: node pool pool=enterprise).
func wantDefaults(t *testing.T, spec *corev1.PodSpec) {
	t.Helper()
	if spec.NodeSelector[initechPool] != initechPoolOn {
		t.Errorf("nodeSelector = %v, want the plan's pool %s=%s", spec.NodeSelector, initechPool, initechPoolOn)
	}
	sc := spec.SecurityContext
	if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod securityContext = %+v, want runAsNonRoot and seccomp RuntimeDefault", sc)
	}
	for _, c := range append(spec.InitContainers, spec.Containers...) {
		if c.ImagePullPolicy != corev1.PullAlways {
			t.Errorf("container %s: imagePullPolicy %q, want Always", c.Name, c.ImagePullPolicy)
		}
		csc := c.SecurityContext
		if csc == nil || csc.AllowPrivilegeEscalation == nil || *csc.AllowPrivilegeEscalation ||
			csc.Capabilities == nil || len(csc.Capabilities.Drop) != 1 || csc.Capabilities.Drop[0] != "ALL" {
			t.Errorf("container %s: securityContext %+v, want allowPrivilegeEscalation false and drop ALL", c.Name, csc)
		}
	}
}

// servesPodDefaults reports whether the API server serves what the pod
// defaults need (Kubernetes 1.36+).
func servesPodDefaults(t *testing.T) bool {
	t.Helper()
	served, err := install.ServesPodDefaults(admin)
	if err != nil {
		t.Fatal(err)
	}
	return served
}

// kubectlAs returns a function running kubectl as user (a client
// certificate in a kubeconfig of its own), with its combined output.
func kubectlAs(t *testing.T, user string, groups ...string) func(args ...string) (string, error) {
	t.Helper()
	bin, err := exec.LookPath("kubectl")
	if err != nil {
		t.Fatalf("kubectl, which these checks run as a tenant would, is not on PATH: %v", err)
	}
	cfg, err := cluster.UserConfig(user, groups...)
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := localcluster.WriteKubeconfig(cfg, user, kubeconfig); err != nil {
		t.Fatal(err)
	}
	return func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, bin, append([]string{"--kubeconfig=" + kubeconfig}, args...)...).CombinedOutput()
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			t.Fatalf("running kubectl %v: %v", args, err)
		}
		return string(out), err
	}
}

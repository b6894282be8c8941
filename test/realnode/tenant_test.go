package realnode

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tenantry/tenantry/internal/images"
	"github.com/tenantry/tenantry/internal/localcluster"
	"github.com/tenantry/tenantry/internal/testutil"
)

// The tenant of these tests: globex, on the free plan (registry
// registry.tenantry.dev/ only, requests.cpu 1), and its admin.
const (
	tenantNS    = "globex"
	tenantAdmin = "hank@globex.com"
	demoAppTag  = "demo-app:dev"
)

// testTenantUser acts as the tenant's admin: a restricted pod of the demo
// app from the platform's registry starts and answers HTTP, through its
// Service name, to another pod of the tenant; a privileged pod, an image
// from a registry outside the plan and a pod over quota are refused, each
// with its exact message.
func (e *env) testTenantUser(t *testing.T) {
	if e.platform == nil {
		t.Skip("needs the platform")
	}
	binary := filepath.Join(e.cluster.DataDir, "images", "demo-app")
	if err := images.BuildGo(e.ctx, images.GoBuild{Dir: "../..", Package: "./cmd/demo-app", Out: binary}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.cluster.PushBinaryImage(e.ctx, demoAppTag, binary, images.Options{Title: "demo-app", Version: "dev"}); err != nil {
		t.Fatal(err)
	}
	image := localcluster.LocalRegistry + "/" + demoAppTag
	hank := testutil.UserClient(t, e.cluster, e.scheme, tenantAdmin)

	web := webPod(image)
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: tenantNS, Name: "web"},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "web"},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}},
		},
	}
	for _, obj := range []client.Object{web, svc} {
		if err := hank.Create(e.ctx, obj); err != nil {
			t.Fatalf("as %s, creating %s: %v", tenantAdmin, obj.GetName(), err)
		}
	}
	started := time.Now()
	testutil.Eventually(t, 2*time.Minute, func() error {
		if err := hank.Get(e.ctx, client.ObjectKeyFromObject(web), web); err != nil {
			return err
		}
		if !podReady(web) {
			return fmt.Errorf("pod web is %s: %+v", web.Status.Phase, web.Status.ContainerStatuses)
		}
		return nil
	})
	t.Logf("pod web Running and Ready on %s in %.1fs (image pulled from the loopback registry)", web.Spec.NodeName, time.Since(started).Seconds())

	// Another pod of the tenant asks the Service by name: cluster DNS
	// (CoreDNS) resolves it, kube-proxy routes it to the pod.
	hankCS, err := kubernetes.NewForConfig(e.userConfig(t, tenantAdmin))
	if err != nil {
		t.Fatal(err)
	}
	body, err := localcluster.ProbeHTTP(e.ctx, hankCS, tenantNS, "probe", image, "http://web/")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(body, `"message":"hello from globex"`) {
		t.Errorf("probe got %q, want the app's hello", body)
	}
	t.Logf("probe pod got, from http://web/ through CoreDNS and kube-proxy: %s", body)

	e.testRefusals(t, hank, image)
}

// testRefusals checks the three refusals a tenant meets most, each message
// in full: Pod Security, the registry guardrail and the quota.
func (e *env) testRefusals(t *testing.T, hank client.Client, image string) {
	// The quota's usage settles once the finished probe pod stops counting:
	// only web's 50m is left, and the quota message quotes it.
	var quota corev1.ResourceQuota
	testutil.Eventually(t, time.Minute, func() error {
		if err := e.admin.Get(e.ctx, client.ObjectKey{Namespace: tenantNS, Name: "tenantry-quota"}, &quota); err != nil {
			return err
		}
		if used := quota.Status.Used[corev1.ResourceRequestsCPU]; used.Cmp(resource.MustParse("50m")) != 0 {
			return fmt.Errorf("quota tenantry-quota uses requests.cpu=%s, want web's 50m", used.String())
		}
		return nil
	})
	hard := quota.Status.Hard[corev1.ResourceRequestsCPU]

	privileged := webPod(image)
	privileged.Name = "privileged"
	privileged.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: ptr.To(true)}

	foreign := webPod("ghcr.io/globex/web:1")
	foreign.Name = "foreign"

	greedy := webPod(image)
	greedy.Name = "greedy"
	// As much as the plan's limit range lets one container ask, which the
	// quota cannot fit next to web.
	greedy.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: hard}
	greedy.Spec.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceCPU: hard}

	tests := []struct {
		pod  *corev1.Pod
		want string
	}{
		{privileged, `pods "privileged" is forbidden: violates PodSecurity "restricted:v1.37": privileged (container "app" must not set securityContext.privileged=true), allowPrivilegeEscalation != false (container "app" must set securityContext.allowPrivilegeEscalation=false)`},
		{foreign, `pods "foreign" is forbidden: ValidatingAdmissionPolicy 'tenantry-pods' with binding 'tenantry-pods' denied request: tenantry rule 4 (registries): ghcr.io/globex/web:1 is not from a registry plan free allows (registry.tenantry.dev/); push the image to one of them and use its full name`},
		{greedy, fmt.Sprintf(`pods "greedy" is forbidden: exceeded quota: tenantry-quota, requested: requests.cpu=%s, used: requests.cpu=50m, limited: requests.cpu=%s`, hard.String(), hard.String())},
	}
	for _, tt := range tests {
		t.Run(tt.pod.Name, func(t *testing.T) {
			err := hank.Create(e.ctx, tt.pod)
			if err == nil {
				t.Fatalf("pod %s was admitted", tt.pod.Name)
			}
			if !apierrors.IsForbidden(err) || err.Error() != tt.want {
				t.Errorf("refused with\n  %v\nwant\n  %s", err, tt.want)
			}
		})
	}
}

// webPod is the demo app as a tenant runs it: Pod Security restricted,
// from the platform's registry, pulled Always (the guardrails require it).
func webPod(image string) *corev1.Pod {
	spec := testutil.RestrictedPodSpec()
	c := &spec.Containers[0]
	c.Image = image
	c.Env = []corev1.EnvVar{{Name: "TENANT", Value: tenantNS}, {Name: "SHUTDOWN_DELAY", Value: "0s"}}
	c.Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}
	c.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{
		HTTPGet: &corev1.HTTPGetAction{Path: "/readyz", Port: intstr.FromString("http")},
	}}
	c.Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m")}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: tenantNS, Name: "web", Labels: map[string]string{"app": "web"}},
		Spec:       spec,
	}
}

// userConfig is a client configuration for a tenant's user.
func (e *env) userConfig(t *testing.T, user string) *rest.Config {
	t.Helper()
	cfg, err := e.cluster.UserConfig(user)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

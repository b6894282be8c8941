package localcluster

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
)

// Argo CD runs from files `make testbin` builds into bin/: its multi-call
// binary (the component it plays is chosen by ARGOCD_BINARY_NAME), an
// in-memory Redis for its caches, its CRDs copied from the pinned module,
// and the helm CLI its repo server runs to render Helm charts.
const (
	argocdBinary   = "argocd"
	argocdRedis    = "argocd-redis"
	argocdCRDsFile = "argocd-crds.yaml"
	helmBinary     = "helm"
)

// ArgoCDBinaries are the files StartArgoCD needs in BinDir.
var ArgoCDBinaries = []string{argocdBinary, argocdRedis, argocdCRDsFile, helmBinary}

// Argo CD's resources, used as unstructured objects so that the operator's
// module does not depend on Argo CD's.
var (
	ApplicationGVR = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "applications"}
	AppProjectGVR  = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "appprojects"}
)

// ControllerServiceAccount is the application controller's ServiceAccount
// in Argo CD's namespace, as Argo CD's install manifests name it.
const ControllerServiceAccount = "argocd-application-controller"

// RefreshAnnotation on an Application makes Argo CD compare it with Git at
// once, bypassing its cache of branch heads; Argo CD removes it when done.
const RefreshAnnotation = "argocd.argoproj.io/refresh"

// InClusterServer is the destination server that means "the cluster Argo CD
// runs in". Out of cluster, Argo CD maps it to its kubeconfig's server.
const InClusterServer = "https://kubernetes.default.svc"

// ArgoCDOptions configure StartArgoCD. The zero value is usable.
type ArgoCDOptions struct {
	// Namespace holds Argo CD's settings, its AppProjects and Applications.
	// Default "argocd". Several instances may run side by side in different
	// namespaces; each reconciles only the Applications in its own.
	Namespace string
	// Config is extra argocd-cm data, such as
	// "application.sync.impersonation.enabled": "true". By default
	// "timeout.reconciliation" is "10s" and "timeout.reconciliation.jitter"
	// "0s" (Argo CD's are 120s and 60s), so that tests see Git changes
	// within seconds; as in a real installation, these two also reach the
	// controllers as ARGOCD_RECONCILIATION_TIMEOUT and ARGOCD_RECONCILIATION_JITTER.
	Config map[string]string
}

// ArgoCD is Argo CD running out of cluster against a local control plane:
// application controller, repo server, ApplicationSet controller and Redis,
// as processes on loopback. It has no API server or UI: tests and the demo
// drive it through its Application and AppProject objects.
type ArgoCD struct {
	// Namespace is where its settings, AppProjects and Applications live.
	Namespace string
	// RepoServerAddr and RedisAddr are the loopback host:port of the repo
	// server (plaintext gRPC) and of Redis.
	RepoServerAddr string
	RedisAddr      string

	cluster   *Cluster
	client    dynamic.Interface
	processes []*process
	// pollInterval is timeout.reconciliation: how often Argo CD compares
	// each Application with Git, and how long the repo server trusts the
	// branch heads it resolved.
	pollInterval string
}

// argocdDefaults are the argocd-cm settings that make Argo CD quick enough
// for tests; ArgoCDOptions.Config overrides them.
var argocdDefaults = map[string]string{
	"timeout.reconciliation":        "10s",
	"timeout.reconciliation.jitter": "0s",
}

// argocdEnvFromConfig maps argocd-cm keys to the environment variables
// Argo CD's install manifests fill from them: the controllers read these
// settings from their environment, not from the ConfigMap.
var argocdEnvFromConfig = map[string]string{
	"timeout.reconciliation":        "ARGOCD_RECONCILIATION_TIMEOUT",
	"timeout.reconciliation.jitter": "ARGOCD_RECONCILIATION_JITTER",
	"timeout.hard.reconciliation":   "ARGOCD_HARD_RECONCILIATION_TIMEOUT",
}

// partOfArgoCD is the label Argo CD's settings manager selects its
// ConfigMaps and Secrets by; without it they are ignored.
var partOfArgoCD = map[string]any{"app.kubernetes.io/part-of": "argocd"}

// fieldManager owns what localcluster applies.
const fieldManager = "localcluster"

// StartArgoCD installs Argo CD's CRDs and settings and runs its
// controllers until ArgoCD.Stop or Cluster.Stop. It creates the namespace; the ConfigMaps argocd-cm
// (with opts.Config) and argocd-rbac-cm; the Secret argocd-secret with a
// random server.secretkey; and the "default" AppProject, which allows any
// source, any destination and any kind, as Argo CD's own install does. Then
// it starts Redis, the repo server, the application controller and the
// ApplicationSet controller, each logging to LogDir/<namespace>-<component>.log,
// and waits until each answers on its port.
//
// Argo CD acts as the cluster admin (KubeconfigPath), where a real
// installation uses its own ServiceAccounts; the in-cluster destination
// InClusterServer reaches this control plane (ARGOCD_FAKE_IN_CLUSTER). With
// "application.sync.impersonation.enabled": "true" in opts.Config, syncs run
// as the ServiceAccount that the AppProject's destinationServiceAccounts
// name for the destination instead, and an AppProject without a matching
// entry (the "default" one included) cannot sync at all.
//
// Start-up is bounded by Options.StartTimeout, like Start.
func (c *Cluster) StartArgoCD(ctx context.Context, opts ArgoCDOptions) (_ *ArgoCD, err error) {
	if opts.Namespace == "" {
		opts.Namespace = "argocd"
	}
	ctx, cancel := context.WithTimeout(ctx, c.opts.StartTimeout)
	defer cancel()
	settings := maps.Clone(argocdDefaults)
	maps.Copy(settings, opts.Config)
	env, err := c.argocdEnv(opts.Namespace, settings)
	if err != nil {
		return nil, err
	}
	if err := c.needBinaries("Argo CD", ArgoCDBinaries); err != nil {
		return nil, err
	}
	client, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		return nil, err
	}
	a := &ArgoCD{Namespace: opts.Namespace, cluster: c, client: client, pollInterval: settings["timeout.reconciliation"]}
	defer func() {
		if err != nil {
			_ = a.Stop()
			err = fmt.Errorf("starting Argo CD in namespace %s: %w", opts.Namespace, err)
		}
	}()

	step := c.progressSteps()
	if err := installCRDs(ctx, client, c.bin(argocdCRDsFile), "argo cd", step); err != nil {
		return nil, err
	}
	if err := a.applySettings(ctx, settings); err != nil {
		return nil, err
	}
	step("argo cd settings applied")
	if err := a.startRedis(ctx); err != nil {
		return nil, err
	}
	step("argo cd redis ready")
	if err := a.startRepoServer(ctx, env); err != nil {
		return nil, err
	}
	step("argo cd repo server ready")
	if err := a.startApplicationController(ctx, env); err != nil {
		return nil, err
	}
	step("argo cd app controller ready")
	if err := a.startApplicationSetController(ctx, env); err != nil {
		return nil, err
	}
	step("argo cd appset ctrl ready")
	return a, nil
}

// argocdEnv is the environment every Argo CD component gets. Paths Argo CD
// would otherwise share through /tmp (its clones and the Git askpass
// socket) are per instance, so that several clusters and instances can run
// at once.
func (c *Cluster) argocdEnv(namespace string, settings map[string]string) ([]string, error) {
	dir := filepath.Join(c.DataDir, "argocd-"+namespace)
	tmp := filepath.Join(dir, "tmp")
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return nil, err
	}
	env := []string{
		"KUBECONFIG=" + c.KubeconfigPath,
		// Maps the destination https://kubernetes.default.svc to KUBECONFIG.
		"ARGOCD_FAKE_IN_CLUSTER=true",
		// No GnuPG keyring to verify commit signatures with.
		"ARGOCD_GPG_ENABLED=false",
		"ARGOCD_ASK_PASS_SOCK=" + filepath.Join(dir, "askpass.sock"),
		"TMPDIR=" + tmp,
	}
	for key, name := range argocdEnvFromConfig {
		value, ok := settings[key]
		if !ok {
			continue
		}
		// Argo CD silently falls back to its default for a value it cannot
		// parse; refuse it here instead.
		if _, err := time.ParseDuration(value); err != nil {
			return nil, fmt.Errorf("argocd-cm %s: %w", key, err)
		}
		env = append(env, name+"="+value)
	}
	return env, nil
}

// applySettings creates the namespace and what Argo CD reads from it.
func (a *ArgoCD) applySettings(ctx context.Context, settings map[string]string) error {
	secretKey := make([]byte, 32)
	if _, err := rand.Read(secretKey); err != nil {
		return err
	}
	data := make(map[string]any, len(settings))
	for k, v := range settings {
		data[k] = v
	}
	ns := a.Namespace
	objects := []struct {
		gvr schema.GroupVersionResource
		obj map[string]any
	}{
		{schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}, map[string]any{
			"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": ns},
		}},
		{schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}, map[string]any{
			"apiVersion": "v1", "kind": "ConfigMap",
			"metadata": map[string]any{"name": "argocd-cm", "namespace": ns, "labels": partOfArgoCD},
			"data":     data,
		}},
		{schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}, map[string]any{
			"apiVersion": "v1", "kind": "ConfigMap",
			"metadata": map[string]any{"name": "argocd-rbac-cm", "namespace": ns, "labels": partOfArgoCD},
		}},
		{schema.GroupVersionResource{Version: "v1", Resource: "secrets"}, map[string]any{
			"apiVersion": "v1", "kind": "Secret",
			"metadata": map[string]any{"name": "argocd-secret", "namespace": ns, "labels": partOfArgoCD},
			"data": map[string]any{
				// Secret data is base64 on the wire; the key itself is base64 text.
				"server.secretkey": base64.StdEncoding.EncodeToString([]byte(base64.StdEncoding.EncodeToString(secretKey))),
			},
		}},
		// The identity a real install gives the application controller,
		// bound to every right as Argo CD's own ClusterRole does. Syncs
		// impersonate it where an AppProject says so (the platform's do).
		{schema.GroupVersionResource{Version: "v1", Resource: "serviceaccounts"}, map[string]any{
			"apiVersion": "v1", "kind": "ServiceAccount",
			"metadata": map[string]any{"name": ControllerServiceAccount, "namespace": ns},
		}},
		{schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterrolebindings"}, map[string]any{
			"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
			"metadata": map[string]any{"name": ns + "-" + ControllerServiceAccount},
			"roleRef":  map[string]any{"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
			"subjects": []any{map[string]any{"kind": "ServiceAccount", "name": ControllerServiceAccount, "namespace": ns}},
		}},
		{AppProjectGVR, map[string]any{
			"apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject",
			"metadata": map[string]any{"name": "default", "namespace": ns},
			"spec": map[string]any{
				"sourceRepos":              []any{"*"},
				"destinations":             []any{map[string]any{"server": "*", "namespace": "*"}},
				"clusterResourceWhitelist": []any{map[string]any{"group": "*", "kind": "*"}},
			},
		}},
	}
	for _, o := range objects {
		obj := &unstructured.Unstructured{Object: o.obj}
		var err error
		if obj.GetNamespace() == "" {
			_, err = a.client.Resource(o.gvr).Apply(ctx, obj.GetName(), obj, metav1.ApplyOptions{FieldManager: fieldManager, Force: true})
		} else {
			_, err = a.client.Resource(o.gvr).Namespace(ns).Apply(ctx, obj.GetName(), obj, metav1.ApplyOptions{FieldManager: fieldManager, Force: true})
		}
		if err != nil {
			return fmt.Errorf("applying %s %s: %w", obj.GetKind(), obj.GetName(), err)
		}
	}
	return nil
}

// processName is a component's process and log name: argocd-repo-server
// and so on in the default namespace, <namespace>-repo-server in another.
func (a *ArgoCD) processName(component string) string { return a.Namespace + "-" + component }

// start runs one component on fresh loopback ports and waits until it is up.
func (a *ArgoCD) start(ctx context.Context, component string, ports int, start func(name string, ports []int) (*process, func() error, error)) ([]int, error) {
	name := a.processName(component)
	got, p, err := a.cluster.startOnFreePorts(ctx, name, ports, func(ports []int) (*process, func() error, error) {
		return start(name, ports)
	})
	if err != nil {
		return nil, err
	}
	a.processes = append(a.processes, p)
	return got, nil
}

func (a *ArgoCD) startRedis(ctx context.Context) error {
	ports, err := a.start(ctx, "redis", 1, func(name string, ports []int) (*process, func() error, error) {
		p, err := a.cluster.startTracked(name, a.cluster.bin(argocdRedis), []string{"-addr", loopback(ports[0])}, nil)
		return p, func() error { return dialOK(ports[0]) }, err
	})
	if err != nil {
		return err
	}
	a.RedisAddr = loopback(ports[0])
	return nil
}

// startRepoServer runs the repo server, which clones repositories and
// renders manifests, with plaintext gRPC on loopback. It finds helm on its
// PATH, as in Argo CD's image: bin/ comes first there, so the pinned helm
// renders charts whether or not the machine has another one.
func (a *ArgoCD) startRepoServer(ctx context.Context, env []string) error {
	path := a.cluster.opts.BinDir + string(os.PathListSeparator) + os.Getenv("PATH")
	env = slices.Concat(env, []string{"PATH=" + path})
	ports, err := a.start(ctx, "repo-server", 2, func(name string, ports []int) (*process, func() error, error) {
		p, err := a.cluster.startTracked(name, a.cluster.bin(argocdBinary), []string{
			"--address=127.0.0.1",
			"--port=" + strconv.Itoa(ports[0]),
			"--metrics-address=127.0.0.1",
			"--metrics-port=" + strconv.Itoa(ports[1]),
			"--disable-tls",
			"--redis=" + a.RedisAddr,
			// Its default of 3 minutes would hide a push from every
			// comparison in between; a real install relies on webhooks.
			"--revision-cache-expiration=" + a.pollInterval,
			"--parallelismlimit=2",
			"--logformat=text",
		}, slices.Concat(env, []string{"ARGOCD_BINARY_NAME=argocd-repo-server"}))
		// ?full=true makes it call its own gRPC health service.
		healthz := fmt.Sprintf("http://127.0.0.1:%d/healthz?full=true", ports[1])
		return p, func() error { return httpOK(plainHTTP, healthz) }, err
	})
	if err != nil {
		return err
	}
	a.RepoServerAddr = loopback(ports[0])
	return nil
}

// startApplicationController runs the controller that compares and syncs
// Applications. Worker counts suit a 2-core machine; self-heal backs off
// to at most 10 s (Argo CD: 5 min) and forgets earlier attempts after 30 s
// in sync (Argo CD: 330 s), so tests that break an app repeatedly stay quick.
func (a *ArgoCD) startApplicationController(ctx context.Context, env []string) error {
	_, err := a.start(ctx, "application-controller", 1, func(name string, ports []int) (*process, func() error, error) {
		p, err := a.cluster.startTracked(name, a.cluster.bin(argocdBinary), []string{
			"--namespace=" + a.Namespace,
			"--repo-server=" + a.RepoServerAddr,
			"--repo-server-plaintext",
			"--redis=" + a.RedisAddr,
			// Argo CD binds its metrics port on every interface, not only loopback.
			"--metrics-port=" + strconv.Itoa(ports[0]),
			"--status-processors=2",
			"--operation-processors=2",
			"--kubectl-parallelism-limit=4",
			"--self-heal-backoff-cap-seconds=10",
			"--self-heal-backoff-cooldown-seconds=30",
			"--logformat=text",
		}, slices.Concat(env, []string{"ARGOCD_BINARY_NAME=argocd-application-controller"}))
		healthz := fmt.Sprintf("http://127.0.0.1:%d/healthz", ports[0])
		return p, func() error { return httpOK(plainHTTP, healthz) }, err
	})
	return err
}

// startApplicationSetController runs the controller that generates
// Applications from ApplicationSets in Argo CD's namespace.
func (a *ArgoCD) startApplicationSetController(ctx context.Context, env []string) error {
	_, err := a.start(ctx, "applicationset-controller", 3, func(name string, ports []int) (*process, func() error, error) {
		p, err := a.cluster.startTracked(name, a.cluster.bin(argocdBinary), []string{
			"--namespace=" + a.Namespace,
			"--argocd-repo-server=" + a.RepoServerAddr,
			"--repo-server-plaintext",
			"--metrics-addr=" + loopback(ports[0]),
			"--probe-addr=" + loopback(ports[1]),
			"--webhook-addr=" + loopback(ports[2]),
			"--concurrent-reconciliations=2",
			"--logformat=text",
		}, slices.Concat(env, []string{"ARGOCD_BINARY_NAME=argocd-applicationset-controller"}))
		// It registers no health checks; metrics answer once the manager runs.
		metrics := fmt.Sprintf("http://127.0.0.1:%d/metrics", ports[0])
		return p, func() error { return httpOK(plainHTTP, metrics) }, err
	})
	return err
}

// Stop ends this Argo CD's processes (Cluster.Stop does too). Its CRDs,
// namespace and Applications stay.
func (a *ArgoCD) Stop() error {
	ps := a.processes
	a.processes = nil
	return a.cluster.stopProcesses(ps)
}

// Refresh asks Argo CD to compare the Application with Git now, as the UI's
// Refresh button does. After a push, Argo CD otherwise keeps using the
// branch head it cached for up to timeout.reconciliation.
func (a *ArgoCD) Refresh(ctx context.Context, app string) error {
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:"normal"}}}`, RefreshAnnotation)
	_, err := a.client.Resource(ApplicationGVR).Namespace(a.Namespace).Patch(ctx, app, types.MergePatchType, []byte(patch), metav1.PatchOptions{})
	if err != nil {
		return fmt.Errorf("refreshing Application %s/%s: %w", a.Namespace, app, err)
	}
	return nil
}

// AppStatus is what an Application's status says about its last
// comparison and sync.
type AppStatus struct {
	// Sync is Synced, OutOfSync or Unknown; Health is Healthy, Progressing,
	// Degraded, Missing...; Revision is the commit compared with.
	Sync, Health, Revision string
	// OperationPhase (Running, Succeeded, Failed, Error) and
	// OperationMessage are the last sync operation's.
	OperationPhase, OperationMessage string
	// Conditions are the Application's conditions ("Type: message"), such
	// as ComparisonError or SyncError.
	Conditions []string
}

func (s AppStatus) String() string {
	out := fmt.Sprintf("sync %s, health %s, revision %.7s", or(s.Sync, "?"), or(s.Health, "?"), or(s.Revision, "?"))
	if s.OperationPhase != "" {
		out += fmt.Sprintf(", last operation %s: %s", s.OperationPhase, s.OperationMessage)
	}
	if len(s.Conditions) > 0 {
		out += "; conditions: " + strings.Join(s.Conditions, "; ")
	}
	return out
}

// Status reads an Application's status.
func (a *ArgoCD) Status(ctx context.Context, app string) (AppStatus, error) {
	obj, err := a.client.Resource(ApplicationGVR).Namespace(a.Namespace).Get(ctx, app, metav1.GetOptions{})
	if err != nil {
		return AppStatus{}, fmt.Errorf("reading Application %s/%s: %w", a.Namespace, app, err)
	}
	str := func(fields ...string) string {
		s, _, _ := unstructured.NestedString(obj.Object, fields...)
		return s
	}
	s := AppStatus{
		Sync:             str("status", "sync", "status"),
		Health:           str("status", "health", "status"),
		Revision:         str("status", "sync", "revision"),
		OperationPhase:   str("status", "operationState", "phase"),
		OperationMessage: str("status", "operationState", "message"),
	}
	conditions, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	for _, c := range conditions {
		if m, ok := c.(map[string]any); ok {
			s.Conditions = append(s.Conditions, fmt.Sprintf("%v: %v", m["type"], m["message"]))
		}
	}
	return s, nil
}

// conditionStatus is the status of the condition of type t in obj's
// status.conditions, or "".
func conditionStatus(obj *unstructured.Unstructured, t string) string {
	conditions, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	for _, c := range conditions {
		if m, ok := c.(map[string]any); ok && m["type"] == t {
			s, _ := m["status"].(string)
			return s
		}
	}
	return ""
}

func loopback(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }

func or(s, fallback string) string {
	if s == "" {
		return fallback
	}
	return s
}

package localcluster

import (
	"context"
	"fmt"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
)

// Argo Rollouts runs from files `make testbin` builds into bin/: its
// controller and its CRDs copied from the pinned module.
const (
	rolloutsBinary   = "rollouts-controller"
	rolloutsCRDsFile = "rollouts-crds.yaml"
)

// RolloutsBinaries are the files StartRollouts needs in BinDir.
var RolloutsBinaries = []string{rolloutsBinary, rolloutsCRDsFile}

// Argo Rollouts' resources, used as unstructured objects so that the
// operator's module does not depend on Argo Rollouts'.
var (
	RolloutGVR          = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "rollouts"}
	AnalysisTemplateGVR = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "analysistemplates"}
	AnalysisRunGVR      = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "analysisruns"}
)

// RolloutsOptions configure StartRollouts. The zero value is usable.
type RolloutsOptions struct {
	// Namespace is the controller's own: where it would run in a real
	// installation (POD_NAMESPACE) and reads its settings, such as
	// argo-rollouts-notification-configmap. Default "argo-rollouts". The
	// controller acts on Rollouts in every namespace, so run one per cluster.
	Namespace string
	// OutOfCluster runs the controller as a process on this host even when
	// the cluster has a real node, for analyses that ask endpoints on this
	// host's loopback (internal/analysisstub). In cluster, the controller
	// resolves Service names and reaches Service IPs as in production, which
	// the chart's AnalysisTemplates need (http://prometheus.monitoring.svc,
	// http://<canary service>.<namespace>.svc/healthz).
	OutOfCluster bool
}

// Rollouts is the Argo Rollouts controller running against a local control
// plane: as a pod on the real node when the cluster has one, else as one
// process on this host. Tests and the demo drive it through Rollout,
// AnalysisTemplate and AnalysisRun objects.
type Rollouts struct {
	// Namespace is the controller's own namespace.
	Namespace string
	// InCluster is true when the controller runs as a pod (Deployment
	// argo-rollouts in Namespace).
	InCluster bool
	// MetricsAddr and HealthzAddr are the host:port of its Prometheus
	// metrics and of its /healthz: on loopback for the host process, the
	// pod's IP in cluster (reachable from this host).
	MetricsAddr, HealthzAddr string

	cluster   *Cluster
	client    dynamic.Interface
	processes []*process
}

// StartRollouts installs Argo Rollouts' CRDs, creates its namespace and
// runs its controller until Rollouts.Stop or Cluster.Stop; it returns once
// the controller answers on /healthz. With a real node (and not
// opts.OutOfCluster) the controller runs as a pod there, from an image of
// bin/rollouts-controller with its shared libraries, under its own
// ServiceAccount with Argo Rollouts' ClusterRole (rollouts_incluster.go).
// Otherwise it runs on this host, logging to
// LogDir/<namespace>-controller.log, as the cluster admin (KubeconfigPath).
//
// Start-up is bounded by Options.StartTimeout, like Start.
func (c *Cluster) StartRollouts(ctx context.Context, opts RolloutsOptions) (_ *Rollouts, err error) {
	if opts.Namespace == "" {
		opts.Namespace = "argo-rollouts"
	}
	ctx, cancel := context.WithTimeout(ctx, c.opts.StartTimeout)
	defer cancel()
	if err := c.needBinaries("Argo Rollouts", RolloutsBinaries); err != nil {
		return nil, err
	}
	client, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		return nil, err
	}
	r := &Rollouts{Namespace: opts.Namespace, cluster: c, client: client}
	defer func() {
		if err != nil {
			_ = r.Stop()
			err = fmt.Errorf("starting Argo Rollouts in namespace %s: %w", opts.Namespace, err)
		}
	}()

	step := c.progressSteps()
	if err := installCRDs(ctx, client, c.bin(rolloutsCRDsFile), "rollouts", step); err != nil {
		return nil, err
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: opts.Namespace}}
	if _, err := c.client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{FieldManager: fieldManager}); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, err
	}
	if c.node != nil && !opts.OutOfCluster {
		err = r.startInCluster(ctx)
	} else {
		err = r.startController(ctx)
	}
	if err != nil {
		return nil, err
	}
	step("rollouts controller ready")
	return r, nil
}

// startController runs the controller with its metrics and health
// endpoints on fresh ports. It binds them on every interface, not only
// loopback: Argo Rollouts has no flag for the address.
func (r *Rollouts) startController(ctx context.Context) error {
	c := r.cluster
	name := r.Namespace + "-controller"
	ports, p, err := c.startOnFreePorts(ctx, name, 2, func(ports []int) (*process, func() error, error) {
		p, err := c.startTracked(name, c.bin(rolloutsBinary), []string{
			"--kubeconfig=" + c.KubeconfigPath,
			"--metricsPort=" + strconv.Itoa(ports[0]),
			"--healthzPort=" + strconv.Itoa(ports[1]),
			// One controller per cluster: an election would only add a
			// Lease write to start-up, and after a restart a wait of up
			// to 15 s for the lease the previous process held.
			"--leader-elect=false",
			"--logformat=text",
		}, []string{"POD_NAMESPACE=" + r.Namespace})
		// /healthz answers as soon as the process runs; the controllers
		// start right after (no election) and pick up every Rollout they
		// list, so nothing created after this is missed.
		healthz := fmt.Sprintf("http://127.0.0.1:%d/healthz", ports[1])
		return p, func() error { return httpOK(plainHTTP, healthz) }, err
	})
	if err != nil {
		return err
	}
	r.processes = append(r.processes, p)
	r.MetricsAddr, r.HealthzAddr = loopback(ports[0]), loopback(ports[1])
	return nil
}

// Stop ends the controller (Cluster.Stop does too). Its CRDs, namespace and
// Rollouts stay.
func (r *Rollouts) Stop() error {
	if r.InCluster {
		return r.stopInCluster()
	}
	ps := r.processes
	r.processes = nil
	return r.cluster.stopProcesses(ps)
}

// RolloutStatus is what a Rollout's status says about its progress.
type RolloutStatus struct {
	// Phase is Healthy, Progressing, Paused or Degraded; Message says why.
	Phase, Message string
	// Current is true once the controller has seen the Rollout's latest
	// spec: until then Phase may still describe the previous one.
	Current bool
	// Aborted is true when the update was aborted (by a failed analysis or
	// by a user) and the stable ReplicaSet took over again.
	Aborted bool
	// StableHash and CurrentHash are the pod-template-hash of the stable
	// ReplicaSet and of the latest spec's; they are equal once an update
	// is complete.
	StableHash, CurrentHash string
	// Replicas, UpdatedReplicas and AvailableReplicas count the pods of
	// every revision, of the latest one, and those available.
	Replicas, UpdatedReplicas, AvailableReplicas int64
}

func (s RolloutStatus) String() string {
	out := fmt.Sprintf("phase %s, stable %s, current %s, %d replicas (%d updated, %d available)",
		or(s.Phase, "?"), or(s.StableHash, "?"), or(s.CurrentHash, "?"), s.Replicas, s.UpdatedReplicas, s.AvailableReplicas)
	if s.Aborted {
		out += ", aborted"
	}
	if !s.Current {
		out += ", latest spec not observed yet"
	}
	if s.Message != "" {
		out += ": " + s.Message
	}
	return out
}

// Status reads a Rollout's status.
func (r *Rollouts) Status(ctx context.Context, namespace, name string) (RolloutStatus, error) {
	obj, err := r.client.Resource(RolloutGVR).Namespace(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return RolloutStatus{}, fmt.Errorf("reading Rollout %s/%s: %w", namespace, name, err)
	}
	str := func(fields ...string) string {
		s, _, _ := unstructured.NestedString(obj.Object, fields...)
		return s
	}
	num := func(fields ...string) int64 {
		n, _, _ := unstructured.NestedInt64(obj.Object, fields...)
		return n
	}
	aborted, _, _ := unstructured.NestedBool(obj.Object, "status", "abort")
	return RolloutStatus{
		Phase:   str("status", "phase"),
		Message: str("status", "message"),
		// Argo Rollouts keeps observedGeneration as a string.
		Current:           str("status", "observedGeneration") == strconv.FormatInt(obj.GetGeneration(), 10),
		Aborted:           aborted,
		StableHash:        str("status", "stableRS"),
		CurrentHash:       str("status", "currentPodHash"),
		Replicas:          num("status", "replicas"),
		UpdatedReplicas:   num("status", "updatedReplicas"),
		AvailableReplicas: num("status", "availableReplicas"),
	}, nil
}

// AnalysisMetric is one metric of an AnalysisRun's status, as the tests
// and the demo report it.
type AnalysisMetric struct {
	Name, Phase                         string
	Failed, Inconclusive, Errors, Count int64
	Measurements                        []AnalysisMeasurement
}

// AnalysisMeasurement is one measurement: its value (as Argo Rollouts
// stores it, e.g. "[0.49]"), its phase, and the message of one that erred.
type AnalysisMeasurement struct {
	Value, Phase, Message string
}

// AnalysisMetrics reads the metric results of an AnalysisRun.
func AnalysisMetrics(run *unstructured.Unstructured) []AnalysisMetric {
	results, _, _ := unstructured.NestedSlice(run.Object, "status", "metricResults")
	metrics := make([]AnalysisMetric, 0, len(results))
	for _, r := range results {
		m, _ := r.(map[string]any)
		metric := AnalysisMetric{}
		metric.Name, _, _ = unstructured.NestedString(m, "name")
		metric.Phase, _, _ = unstructured.NestedString(m, "phase")
		metric.Failed, _, _ = unstructured.NestedInt64(m, "failed")
		metric.Inconclusive, _, _ = unstructured.NestedInt64(m, "inconclusive")
		metric.Errors, _, _ = unstructured.NestedInt64(m, "error")
		metric.Count, _, _ = unstructured.NestedInt64(m, "count")
		measurements, _, _ := unstructured.NestedSlice(m, "measurements")
		for _, ms := range measurements {
			mm, _ := ms.(map[string]any)
			var a AnalysisMeasurement
			a.Value, _, _ = unstructured.NestedString(mm, "value")
			a.Phase, _, _ = unstructured.NestedString(mm, "phase")
			a.Message, _, _ = unstructured.NestedString(mm, "message")
			metric.Measurements = append(metric.Measurements, a)
		}
		metrics = append(metrics, metric)
	}
	return metrics
}

package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tenantry/tenantry/api/v1alpha1"
	"github.com/tenantry/tenantry/gitops"
	"github.com/tenantry/tenantry/internal/install"
	"github.com/tenantry/tenantry/internal/localcluster"
	"github.com/tenantry/tenantry/internal/render"
	"github.com/tenantry/tenantry/internal/testutil"
)

// plan is the example plan every benchmark tenant is on.
const plan = "pro"

// startCluster starts a control plane with the platform installed (CRDs,
// guardrails, RBAC, as the chart renders them) and the example plans. It
// returns a fast admin client and the operator's identity.
func startCluster(ctx context.Context, dataDir string) (*localcluster.Cluster, client.WithWatch, *rest.Config, error) {
	cluster, err := localcluster.Start(ctx, localcluster.Options{DataDir: dataDir, Progress: os.Stderr, QuotaResyncPeriod: quotaResync})
	if err != nil {
		return nil, nil, nil, err
	}
	scheme, err := install.NewScheme()
	if err != nil {
		return cluster, nil, nil, err
	}
	cfg := rest.CopyConfig(cluster.Config)
	cfg.QPS, cfg.Burst = 2000, 4000
	admin, err := client.NewWithWatch(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return cluster, nil, nil, err
	}
	operatorConfig, err := install.Platform(ctx, admin, cluster.Config)
	if err != nil {
		return cluster, nil, nil, err
	}
	if _, err := install.Apply(ctx, admin, examples.Examples, "plans/*.yaml"); err != nil {
		return cluster, nil, nil, err
	}
	// Onboarding is measured without the example PriceList, as it was
	// before cost showback, so the figures compare with earlier runs; what
	// the cost series add to a scrape is BenchmarkScrape10000Tenants's.
	prices := &v1alpha1.PriceList{ObjectMeta: metav1.ObjectMeta{Name: v1alpha1.PriceListName}}
	if err := admin.Delete(ctx, prices); err != nil {
		return cluster, nil, nil, fmt.Errorf("deleting the example PriceList: %w", err)
	}
	return cluster, admin, operatorConfig, nil
}

func tenantNamed(name string, envs int) *v1alpha1.Tenant {
	t := &v1alpha1.Tenant{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: "Tenant"},
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1alpha1.TenantSpec{
			Plan:   plan,
			Owners: []v1alpha1.Owner{{Kind: v1alpha1.SubjectUser, Name: name + "-admin@example.com", Role: v1alpha1.RoleAdmin}},
		},
	}
	for i := range envs {
		t.Spec.Environments = append(t.Spec.Environments, fmt.Sprintf("env%d", i))
	}
	return t
}

// ceilingMethod is one way of writing the tenants' objects with no
// operator: which of render's objects, and how.
type ceilingMethod struct {
	name string
	// in is where the report keeps this ceiling.
	in func(*report) *ceiling
	// keep selects the objects written.
	keep func(client.Object) bool
	// write sends one object.
	write func(ctx context.Context, c client.Client, obj client.Object) error
	// tenantWrites adds the writes of the Tenant object itself that any
	// operator driven by it makes: its create, a finalizer, one status
	// write and one event.
	tenantWrites bool
}

// ceilingMethods are the two ceilings the onboarding is measured against:
//   - "minimal": the fewest objects that give a tenant the same isolation,
//     each created with one plain POST (protobuf, as client-go encodes
//     built-in kinds): per namespace the namespace (with its Pod Security
//     labels), the quota, the limit range, the two NetworkPolicies and the
//     owners' RoleBindings, which is all render returns for a tenant
//     without Argo CD.
//   - "tenant": the minimal set, and the Tenant's own writes around it,
//     as an operator reconciling a Tenant object must make them.
//   - "apply": exactly what render returns, server-side applied, as the
//     operator writes it.
var ceilingMethods = []ceilingMethod{
	{
		name:  "minimal",
		in:    func(r *report) *ceiling { return &r.MinimalCeiling },
		keep:  minimalSet,
		write: create,
	},
	{
		name:         "tenant",
		in:           func(r *report) *ceiling { return &r.TenantCeiling },
		keep:         minimalSet,
		write:        create,
		tenantWrites: true,
	},
	{
		name: "apply",
		in:   func(r *report) *ceiling { return &r.Ceiling },
		keep: func(client.Object) bool { return true },
		write: func(ctx context.Context, c client.Client, obj client.Object) error {
			fields, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
			if err != nil {
				return err
			}
			u := &unstructured.Unstructured{Object: fields}
			unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
			delete(u.Object, "status")
			return c.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner("bench"), client.ForceOwnership)
		},
	},
}

// minimalSet keeps the namespaces and what is in them (no Argo CD objects:
// the bench's tenants list no apps).
func minimalSet(obj client.Object) bool {
	_, isNamespace := obj.(*corev1.Namespace)
	return obj.GetNamespace() != "" || isNamespace
}

func create(ctx context.Context, c client.Client, obj client.Object) error {
	return c.Create(ctx, obj)
}

// measureCeilings measures each ceiling method on a control plane of its
// own (stopped after): the most this machine's API server takes, with the
// controller manager, scheduler and kwok running but no operator.
func measureCeilings(ctx context.Context, o options, r *report) error {
	for _, m := range ceilingMethods {
		c, err := measureCeiling(ctx, o, m)
		if err != nil {
			return fmt.Errorf("%s: %w", m.name, err)
		}
		*m.in(r) = c
		step("   %s: %s", m.name, c)
	}
	return nil
}

// measureCeiling writes, with m, render's objects for N tenants from
// o.workers goroutines.
func measureCeiling(ctx context.Context, o options, m ceilingMethod) (ceiling, error) {
	cluster, admin, _, err := startCluster(ctx, "")
	if cluster != nil {
		defer func() { _ = cluster.Stop() }()
	}
	if err != nil {
		return ceiling{}, err
	}
	p := &v1alpha1.TenantPlan{}
	if err := admin.Get(ctx, client.ObjectKey{Name: plan}, p); err != nil {
		return ceiling{}, err
	}
	profileAPIServer(ctx, cluster.Config, 15*time.Second, filepath.Join(o.out, "apiserver-"+m.name+"-cpu.pprof"))
	var objects atomic.Int64
	names := make(chan string)
	errs := make(chan error, o.workers)
	start := time.Now()
	var wg sync.WaitGroup
	for range o.workers {
		wg.Go(func() {
			for name := range names {
				n, err := writeTenant(ctx, admin, tenantNamed(name, o.envs), p, m)
				objects.Add(int64(n))
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	for i := range o.ceilingTenants {
		select {
		case names <- fmt.Sprintf("ceiling-%05d", i):
		case err := <-errs:
			close(names)
			wg.Wait()
			return ceiling{}, err
		}
	}
	close(names)
	wg.Wait()
	select {
	case err := <-errs:
		return ceiling{}, err
	default:
	}
	took := time.Since(start).Seconds()
	c := ceiling{Objects: int(objects.Load()), Seconds: took,
		ObjectsPerSec: float64(objects.Load()) / took, TenantsPerSec: float64(o.ceilingTenants) / took}
	if err := waitUsable(ctx, admin, o.ceilingTenants*o.envs); err != nil {
		return ceiling{}, err
	}
	c.UsableSeconds = time.Since(start).Seconds()
	c.UsableTenantsPerSec = float64(o.ceilingTenants) / c.UsableSeconds
	return c, nil
}

// waitUsable waits until the controller manager has made every namespace
// as usable as the operator's Ready requires (decide.Readiness): its quota
// enforced, that is counted by the quota controller (quota admission
// refuses every pod of a namespace whose quota has no status yet), and its
// default ServiceAccount created.
func waitUsable(ctx context.Context, c client.Client, namespaces int) error {
	return wait.PollUntilContextTimeout(ctx, time.Second, 15*time.Minute, true, func(ctx context.Context) (bool, error) {
		quotas := &corev1.ResourceQuotaList{}
		if err := c.List(ctx, quotas, client.MatchingLabels{v1alpha1.LabelManagedBy: v1alpha1.ManagedByValue}); err != nil {
			return false, err
		}
		enforced := 0
		for _, q := range quotas.Items {
			if len(q.Status.Hard) > 0 {
				enforced++
			}
		}
		accounts := &metav1.PartialObjectMetadataList{}
		accounts.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("ServiceAccountList"))
		if err := c.List(ctx, accounts, client.MatchingFields{"metadata.name": "default"}); err != nil {
			return false, err
		}
		defaults := 0
		for _, sa := range accounts.Items {
			if strings.HasPrefix(sa.Namespace, "ceiling-") {
				defaults++
			}
		}
		return enforced >= namespaces && defaults >= namespaces, nil
	})
}

// writeTenant writes the tenant's objects m keeps, and returns how many.
// They go typed, so built-in kinds are encoded as protobuf, the cheapest
// encoding the API server takes (and the operator's, for its creates).
func writeTenant(ctx context.Context, c client.Client, t *v1alpha1.Tenant, p *v1alpha1.TenantPlan, m ceilingMethod) (int, error) {
	objs, err := render.Tenant(t, p, render.DefaultOptions())
	if err != nil {
		return 0, err
	}
	if m.tenantWrites {
		if err := c.Create(ctx, t); err != nil {
			return 0, fmt.Errorf("creating tenant %s: %w", t.Name, err)
		}
		finalizer := fmt.Appendf(nil, `{"metadata":{"finalizers":[%q]}}`, v1alpha1.Finalizer)
		if err := c.Patch(ctx, t, client.RawPatch(types.MergePatchType, finalizer)); err != nil {
			return 0, fmt.Errorf("adding the finalizer of tenant %s: %w", t.Name, err)
		}
	}
	written := 0
	for _, obj := range objs {
		if !m.keep(obj) {
			continue
		}
		// No Tenant owns them here: garbage collection would take them.
		obj.SetOwnerReferences(nil)
		if err := m.write(ctx, c, obj); err != nil {
			return written, fmt.Errorf("writing %s %s: %w", obj.GetObjectKind().GroupVersionKind().Kind, obj.GetName(), err)
		}
		written++
	}
	if m.tenantWrites {
		return written, tenantReady(ctx, c, t)
	}
	return written, nil
}

// tenantReady writes what an operator writes once a tenant is onboarded:
// its status, and an event about it.
func tenantReady(ctx context.Context, c client.Client, t *v1alpha1.Tenant) error {
	status := fmt.Appendf(nil, `{"status":{"phase":%q,"observedGeneration":%d}}`, v1alpha1.PhaseReady, t.Generation)
	if err := c.Status().Patch(ctx, t, client.RawPatch(types.MergePatchType, status)); err != nil {
		return fmt.Errorf("writing the status of tenant %s: %w", t.Name, err)
	}
	event := &eventsv1.Event{
		// Named as client-go's recorders name events.
		ObjectMeta: metav1.ObjectMeta{Namespace: metav1.NamespaceDefault, Name: fmt.Sprintf("%s.%x", t.Name, time.Now().UnixNano())},
		EventTime:  metav1.NowMicro(), Type: corev1.EventTypeNormal, Reason: "Ready", Action: "Onboard",
		Note:                "the tenant is ready",
		ReportingController: "bench", ReportingInstance: "bench",
		Regarding: corev1.ObjectReference{APIVersion: v1alpha1.GroupVersion.String(), Kind: "Tenant", Name: t.Name, UID: t.UID},
	}
	if err := c.Create(ctx, event); err != nil {
		return fmt.Errorf("an event for tenant %s: %w", t.Name, err)
	}
	return nil
}

// bench is the control plane, the operator process and the readiness
// tracker that steps 2 to 7 share.
type bench struct {
	o         options
	cluster   *localcluster.Cluster
	admin     client.WithWatch
	operator  *operator
	ready     *readiness
	bystander *bystander
	tenants   []string
}

func newBench(ctx context.Context, o options) (*bench, error) {
	cluster, admin, operatorConfig, err := startCluster(ctx, o.dataDir)
	b := &bench{o: o, cluster: cluster, admin: admin}
	if err != nil {
		b.stop()
		return nil, err
	}
	if b.operator, err = newOperator(o.operator, operatorConfig, cluster.DataDir, o.operatorArgs...); err != nil {
		b.stop()
		return nil, err
	}
	b.operator.env = o.operatorEnv()
	if err := b.operator.start(ctx); err != nil {
		b.stop()
		return nil, err
	}
	if b.ready, err = trackReadiness(ctx, admin); err != nil {
		b.stop()
		return nil, err
	}
	if b.bystander, err = newBystander(ctx, admin, cluster.Config); err != nil {
		b.stop()
		return nil, err
	}
	return b, nil
}

func (b *bench) stop() {
	if b.operator != nil {
		_ = b.operator.kill()
	}
	if b.cluster != nil {
		_ = b.cluster.Stop()
	}
}

// create creates the named tenants from o.workers goroutines, recording
// each create time.
func (b *bench) create(ctx context.Context, names []string) error {
	work := make(chan string)
	var failed atomic.Pointer[error]
	var wg sync.WaitGroup
	for range b.o.workers {
		wg.Go(func() {
			for name := range work {
				b.ready.created(name)
				if err := b.admin.Create(ctx, tenantNamed(name, b.o.envs)); err != nil {
					failed.Store(&err)
				}
			}
		})
	}
	for _, n := range names {
		work <- n
	}
	close(work)
	wg.Wait()
	b.tenants = append(b.tenants, names...)
	if err := failed.Load(); err != nil {
		return *err
	}
	return nil
}

func (b *bench) onboarding(ctx context.Context, r *report) error {
	names := make([]string, b.o.tenants)
	for i := range names {
		names[i] = fmt.Sprintf("t%05d", i)
	}
	written, err := b.writeCounts(ctx)
	if err != nil {
		return err
	}
	start := time.Now()
	b.operator.profileCPU(ctx, time.Minute, filepath.Join(b.o.out, "onboarding-cpu.pprof"))
	profileAPIServer(ctx, b.cluster.Config, 20*time.Second, filepath.Join(b.o.out, "apiserver-onboarding-cpu.pprof"))
	if err := b.create(ctx, names); err != nil {
		return err
	}
	step("   %d tenants created in %.1f s; waiting until all are Ready", len(names), time.Since(start).Seconds())
	lat, err := b.ready.wait(ctx, names, b.o.readyTimeout)
	if err != nil {
		return err
	}
	took := time.Since(start).Seconds()
	after, err := b.writeCounts(ctx)
	if err != nil {
		return err
	}
	r.Writes.ByResource, r.Writes.Operator = after.since(written, len(names))
	r.Onboarding.Seconds = took
	r.Onboarding.TenantsPerSec = float64(len(names)) / took
	r.Onboarding.FractionOfCeiling = r.Onboarding.TenantsPerSec / r.Ceiling.TenantsPerSec
	r.Onboarding.FractionOfMinimal = r.Onboarding.TenantsPerSec / r.MinimalCeiling.TenantsPerSec
	r.Onboarding.FractionOfUsable = r.Onboarding.TenantsPerSec / r.MinimalCeiling.UsableTenantsPerSec
	r.Onboarding.FractionOfTenantUsable = r.Onboarding.TenantsPerSec / r.TenantCeiling.UsableTenantsPerSec
	r.Onboarding.Latency = percentiles(lat)
	step("   all Ready in %.1f s: %.1f tenants/s, %.0f %% of the minimal ceiling until usable, %.0f %% until written, %.0f %% of the ceiling with the Tenant's writes, %.0f %% of the apply ceiling",
		took, r.Onboarding.TenantsPerSec, 100*r.Onboarding.FractionOfUsable, 100*r.Onboarding.FractionOfMinimal, 100*r.Onboarding.FractionOfTenantUsable, 100*r.Onboarding.FractionOfCeiling)
	return nil
}

// steadyArrival creates tenants at rate for o.steady and records each one's
// create→Ready latency.
func (b *bench) steadyArrival(ctx context.Context, rate float64, r *report) error {
	n := int(rate * b.o.steady.Seconds())
	writesBefore, err := testutil.TenantStatusWrites(ctx, b.cluster.Config)
	if err != nil {
		return err
	}
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer tick.Stop()
	names := make([]string, 0, n)
	var wg sync.WaitGroup
	var failed atomic.Pointer[error]
	for i := range n {
		<-tick.C
		name := fmt.Sprintf("s%d-%04d", len(r.Steady), i)
		names = append(names, name)
		wg.Go(func() {
			b.ready.created(name)
			if err := b.admin.Create(ctx, tenantNamed(name, b.o.envs)); err != nil {
				failed.Store(&err)
			}
		})
	}
	wg.Wait()
	b.tenants = append(b.tenants, names...)
	if err := failed.Load(); err != nil {
		return *err
	}
	lat, err := b.ready.wait(ctx, names, 5*time.Minute)
	if err != nil {
		return err
	}
	writes, err := testutil.TenantStatusWrites(ctx, b.cluster.Config)
	if err != nil {
		return err
	}
	s := steady{Rate: rate, Tenants: n, Latency: percentiles(lat), StatusWritesPerTenant: (writes - writesBefore) / float64(n)}
	r.Steady = append(r.Steady, s)
	step("   create→Ready p50 %.2f s, p99 %.2f s; %.2f status writes per tenant", s.Latency.P50, s.Latency.P99, s.StatusWritesPerTenant)
	return nil
}

func (b *bench) footprint(ctx context.Context, r *report) error {
	rss, cpu, err := b.operator.usage()
	if err != nil {
		return err
	}
	scraped, seconds, err := b.operator.scrape()
	if err != nil {
		return err
	}
	r.Footprint.ScrapeSeconds, r.Footprint.Series = seconds, seriesIn(scraped)
	if r.Footprint.RSSAfterScrape, _, err = b.operator.usage(); err != nil {
		return err
	}
	f := &r.Footprint
	if f.HeapMiB, f.HeapSpansMiB, err = b.operator.heapAfterGC(ctx, filepath.Join(b.o.out, "heap.pprof")); err != nil {
		return err
	}
	families, err := b.operator.metrics()
	if err != nil {
		return err
	}
	requests, _, err := countRequests(families)
	if err != nil {
		return err
	}
	f.Tenants, f.RSSMiB, f.CPUSeconds, f.Requests = len(b.tenants), rss, cpu, requests
	f.RequestsPerTenant = requests / float64(len(b.tenants))
	statusWrites, err := testutil.TenantStatusWrites(ctx, b.cluster.Config)
	if err != nil {
		return err
	}
	f.StatusWritesPerTenant = statusWrites / float64(len(b.tenants))
	f.Objects = map[string]int{}
	managed := client.MatchingLabels{v1alpha1.LabelManagedBy: v1alpha1.ManagedByValue}
	for _, gvk := range []schema.GroupVersionKind{
		corev1.SchemeGroupVersion.WithKind("Namespace"), corev1.SchemeGroupVersion.WithKind("ResourceQuota"),
		corev1.SchemeGroupVersion.WithKind("LimitRange"), networkingv1.SchemeGroupVersion.WithKind("NetworkPolicy"),
		rbacv1.SchemeGroupVersion.WithKind("RoleBinding"), rbacv1.SchemeGroupVersion.WithKind("ClusterRole"),
		rbacv1.SchemeGroupVersion.WithKind("ClusterRoleBinding"),
	} {
		// Metadata only: the counts, without moving every object's spec.
		list := &metav1.PartialObjectMetadataList{}
		list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
		if err := b.admin.List(ctx, list, managed); err != nil {
			return err
		}
		f.Objects[gvk.Kind] = len(list.Items)
	}
	step("   RSS %.0f MiB, live heap %.0f MiB, CPU %.0f s, %.0f API requests (%.1f per tenant, %.2f of them status writes)",
		rss, f.HeapMiB, cpu, requests, f.RequestsPerTenant, f.StatusWritesPerTenant)
	step("   /metrics scrape right after onboarding: %.2f s, %d series; RSS after it %.0f MiB", f.ScrapeSeconds, f.Series, f.RSSAfterScrape)
	return nil
}

// quotaResync is the bench cluster's ResourceQuota resync period: a minute
// rather than Kubernetes' five, so the rest measure need not wait long for
// the quota controller to settle.
const quotaResync = time.Minute

// atRest counts the operator's writes while nothing changes. Right after N
// tenants the controller manager is not done: each new namespace's
// kube-root-ca.crt ConfigMap can race its quota's first count, and only the
// quota controller's full resync corrects the count. The operator rightly
// mirrors each correction into Tenant status, so the rest starts once no
// ResourceQuota has changed for a whole resync period.
func (b *bench) atRest(ctx context.Context, r *report) error {
	settled := time.Now()
	quiet := quotaResync + 15*time.Second
	if err := b.waitQuiet(ctx, &corev1.ResourceQuotaList{}, quiet, 10*time.Minute); err != nil {
		return err
	}
	r.Rest.SettleSeconds = time.Since(settled).Seconds()
	step("   no quota changed for %s (a full quota resync): settled %.0f s after the footprint", quiet, r.Rest.SettleSeconds)

	// What changes at rest, to tell the operator's writes apart: Tenant
	// updates (status) and objects it manages, from watches.
	changes := map[string]int{}
	var mu sync.Mutex
	since := time.Now().Truncate(time.Second) // creation times have one-second resolution
	restCtx, cancel := context.WithTimeout(ctx, b.o.rest)
	defer cancel()
	for _, list := range []client.ObjectList{&v1alpha1.TenantList{}, &corev1.ResourceQuotaList{}, &corev1.NamespaceList{}, &corev1.EventList{}} {
		w, err := b.admin.Watch(restCtx, list)
		if err != nil {
			return err
		}
		go func() {
			defer w.Stop()
			for ev := range w.ResultChan() {
				if obj, ok := ev.Object.(client.Object); !ok || ev.Type == watch.Added && obj.GetCreationTimestamp().Time.Before(since) {
					continue // the initial list
				}
				mu.Lock()
				changes[fmt.Sprintf("%T %s", ev.Object, ev.Type)]++
				mu.Unlock()
			}
		}()
	}
	all0, writes0, err := b.operator.requests()
	if err != nil {
		return err
	}
	<-restCtx.Done()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	mu.Lock()
	r.Rest.Changes = changes
	mu.Unlock()
	all1, writes1, err := b.operator.requests()
	if err != nil {
		return err
	}
	r.Rest.Seconds = b.o.rest.Seconds()
	r.Rest.Writes, r.Rest.Requests = writes1-writes0, all1-all0
	r.Rest.WritesPerMinute = r.Rest.Writes / b.o.rest.Minutes()
	if r.Rest.RSSMiB, _, err = b.operator.usage(); err != nil {
		return err
	}
	step("   %.0f writes, %.0f requests; changes seen: %v; RSS now %.0f MiB", r.Rest.Writes, r.Rest.Requests, r.Rest.Changes, r.Rest.RSSMiB)
	var times []float64
	for range 3 {
		_, seconds, err := b.operator.scrape()
		if err != nil {
			return err
		}
		times = append(times, seconds)
	}
	slices.Sort(times)
	r.Rest.ScrapeSeconds = times[1]
	if r.Rest.RSSAfterScrape, _, err = b.operator.usage(); err != nil {
		return err
	}
	step("   /metrics scrapes at rest: %.2f s (median of %v); RSS after them %.0f MiB", r.Rest.ScrapeSeconds, times, r.Rest.RSSAfterScrape)
	if r.Rest.HeapMiB, r.Rest.HeapSpansMiB, err = b.operator.heapAfterGC(ctx, filepath.Join(b.o.out, "heap-rest.pprof")); err != nil {
		return err
	}
	step("   live heap %.0f MiB in %.0f MiB of spans", r.Rest.HeapMiB, r.Rest.HeapSpansMiB)
	return nil
}

// restart kills the operator and starts it again: it has verified every
// tenant once it has reconciled each and its queue is empty.
func (b *bench) restart(ctx context.Context, r *report) error {
	if err := b.operator.kill(); err != nil {
		return err
	}
	start := time.Now()
	if err := b.operator.start(ctx); err != nil {
		return err
	}
	b.operator.profileCPU(ctx, 30*time.Second, filepath.Join(b.o.out, "restart-cpu.pprof"))
	want := float64(len(b.tenants))
	// Each poll scrapes every tenant's metrics, which costs the operator
	// about 30 µs of CPU per tenant: polling every 300 µs per tenant keeps
	// it to a tenth of a core, so it does not slow what it measures (every
	// 3 s at 10,000 tenants, every quarter second up to 833).
	var families []*dto.MetricFamily
	poll := max(250*time.Millisecond, time.Duration(len(b.tenants))*300*time.Microsecond)
	err := wait.PollUntilContextTimeout(ctx, poll, 5*time.Minute, true, func(context.Context) (bool, error) {
		var err error
		families, err = b.operator.metrics()
		return err == nil && reconciles(families) >= want && queueDepth(families) == 0, nil
	})
	if err != nil {
		return fmt.Errorf("the restarted operator did not reconcile all %d tenants: %w", len(b.tenants), err)
	}
	r.Restart.Seconds, r.Restart.PollSeconds = time.Since(start).Seconds(), poll.Seconds()
	r.Restart.Reconciles = reconciles(families)
	_, r.Restart.Writes, _ = countRequests(families)
	r.Restart.RSSMiB, _, _ = b.operator.usage()
	step("   every tenant verified %.1f s after the start (polled every %s), %.0f writes", r.Restart.Seconds, poll, r.Restart.Writes)
	return nil
}

// driftRepair deletes the default-deny NetworkPolicy of random tenants and
// times, from a watch, until the operator has put each back.
func (b *bench) driftRepair(ctx context.Context, r *report) error {
	w, err := b.admin.Watch(ctx, &networkingv1.NetworkPolicyList{},
		client.MatchingLabels{v1alpha1.LabelManagedBy: v1alpha1.ManagedByValue})
	if err != nil {
		return err
	}
	defer w.Stop()
	// Skip the events of what exists already.
	drain := time.After(2 * time.Second)
	for draining := true; draining; {
		select {
		case <-w.ResultChan():
		case <-drain:
			draining = false
		}
	}
	picked := rand.Perm(len(b.tenants))[:min(b.o.drift, len(b.tenants))]
	deleted := map[string]time.Time{}
	for _, i := range picked {
		ns := b.tenants[i] + "-env0"
		np := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: render.PolicyDefaultDeny}}
		deleted[ns] = time.Now()
		if err := b.admin.Delete(ctx, np); err != nil {
			return err
		}
	}
	var lat []time.Duration
	timeout := time.After(2 * time.Minute)
	for len(deleted) > 0 {
		select {
		case ev := <-w.ResultChan():
			np, ok := ev.Object.(*networkingv1.NetworkPolicy)
			if !ok || ev.Type != watch.Added || np.Name != render.PolicyDefaultDeny {
				continue
			}
			if at, ok := deleted[np.Namespace]; ok {
				lat = append(lat, time.Since(at))
				delete(deleted, np.Namespace)
			}
		case <-timeout:
			return fmt.Errorf("%d of %d NetworkPolicies restored after 2 minutes", len(lat), len(picked))
		}
	}
	r.Drift.Deleted, r.Drift.Latency = len(picked), percentiles(lat)
	step("   restored: p50 %.2f s, p99 %.2f s", r.Drift.Latency.P50, r.Drift.Latency.P99)
	return nil
}

// waitQuiet waits until objects of the list's kind have not changed for
// quiet, or fails after limit. A watch the API server ends (it drops
// watchers that fall behind a busy cache) is opened again; its first
// events, one Added per object, do not count as changes.
func (b *bench) waitQuiet(ctx context.Context, list client.ObjectList, quiet, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	timer := time.NewTimer(quiet)
	defer timer.Stop()
	for {
		w, err := b.admin.Watch(ctx, list)
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("%T still changing after %s", list, limit)
			}
			return err
		}
		settled, err := quietOn(ctx, w, timer, quiet)
		w.Stop()
		if settled || err != nil {
			return err
		}
	}
}

// quietOn follows one watch: true once timer fires, false when the watch
// ends first.
func quietOn(ctx context.Context, w watch.Interface, timer *time.Timer, quiet time.Duration) (bool, error) {
	for {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				return false, nil
			}
			if ev.Type == watch.Modified || ev.Type == watch.Deleted {
				timer.Reset(quiet)
			}
		case <-timer.C:
			return true, nil
		case <-ctx.Done():
			return false, fmt.Errorf("still changing: %w", ctx.Err())
		}
	}
}

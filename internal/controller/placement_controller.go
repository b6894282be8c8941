package controller

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/tenantry/tenantry/api/v1alpha1"
	"github.com/tenantry/tenantry/internal/placement"
	"github.com/tenantry/tenantry/internal/render"
)

// PlacementReconciler is a fleet hub's controller. The hub holds every
// Tenant and TenantPlan, synced from Git, and onboards none of them: it
// places each tenant on a member cluster (internal/placement decides) and
// records the decisions in one PlacementDecision per member, in Argo CD's
// namespace, where an ApplicationSet's clusterDecisionResource generator
// turns each entry into an Application that syncs the tenant to its
// cluster. Decisions depend on each other (a placed tenant fills a member
// for the next), so one reconcile places the whole fleet: every event
// enqueues the same request, and a burst of events costs one pass.
type PlacementReconciler struct {
	client.Client
	// APIReader reads what the cache strips, for server-side apply.
	APIReader client.Reader
	Recorder  events.EventRecorder
	// Namespace is Argo CD's: it holds the members' cluster Secrets and
	// the PlacementDecisions.
	Namespace string
	// probe tells which members answer; nil takes every member as
	// available.
	probe *memberProbe
	now   func() time.Time
}

// fleetRequest is the one request the placement controller handles.
var fleetRequest = reconcile.Request{NamespacedName: types.NamespacedName{Name: "fleet"}}

// memberSecret is the prototype of a member's cluster Secret, watched as
// metadata only: the hub never holds the clusters' credentials.
func memberSecret() *metav1.PartialObjectMetadata {
	s := &metav1.PartialObjectMetadata{}
	s.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	return s
}

// memberApplication is the prototype of the Applications that target
// members, labelled with the tenant (v1alpha1.LabelTenant) and its cluster
// (v1alpha1.LabelMember): those the platform's ApplicationSet makes to
// carry tenants to members, and the hub's own, of the tenants' apps
// (labelled managed-by Tenantry too).
func memberApplication() *unstructured.Unstructured {
	app := &unstructured.Unstructured{}
	app.SetGroupVersionKind(render.ApplicationGVK)
	return app
}

// memberSelector selects the cluster Secrets of the fleet's members, and
// the Applications that carry tenants to them.
func memberSelector() labels.Selector {
	has, err := labels.NewRequirement(v1alpha1.LabelMember, selection.Exists, nil)
	if err != nil {
		panic(err) // a constant key
	}
	return labels.NewSelector().Add(*has)
}

// SetupWithManager watches what placement depends on: Tenants and plans
// (their specs, not the status this controller writes), the members'
// cluster Secrets, the PlacementDecisions, and the health of the
// Applications that carry tenants to members.
func (r *PlacementReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.now == nil {
		r.now = time.Now
	}
	fleet := handler.EnqueueRequestsFromMapFunc(func(context.Context, client.Object) []reconcile.Request {
		return []reconcile.Request{fleetRequest}
	})
	specs := builder.WithPredicates(predicate.GenerationChangedPredicate{})
	b := ctrl.NewControllerManagedBy(mgr)
	if r.probe != nil {
		if err := mgr.Add(r.probe); err != nil {
			return err
		}
		b = b.WatchesRawSource(source.Channel(r.probe.changed, fleet))
	}
	return b.Named("placement").
		Watches(&v1alpha1.Tenant{}, fleet, specs).
		Watches(&v1alpha1.TenantPlan{}, fleet, specs).
		Watches(&v1alpha1.PlacementDecision{}, fleet).
		WatchesMetadata(memberSecret(), fleet).
		Watches(memberApplication(), fleet, builder.WithPredicates(predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
			// Argo CD rewrites an Application's status at every refresh;
			// only a tenant's health on its cluster matters here.
			return synced(e.ObjectOld) != synced(e.ObjectNew)
		}})).
		Complete(r)
}

// +kubebuilder:rbac:groups=tenantry.dev,resources=placementdecisions,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=tenantry.dev,resources=placementdecisions/status,verbs=get;update;patch
// The members' cluster Secrets are read, as metadata, through a Role in
// Argo CD's namespace that the chart renders on a hub only
// (templates/fleet-hub.yaml).

// Reconcile reads the fleet, places every tenant, and writes the
// decisions that changed, then the Tenants' placement status.
func (r *PlacementReconciler) Reconcile(ctx context.Context, _ ctrl.Request) (ctrl.Result, error) {
	fleet, err := r.read(ctx)
	if err != nil {
		return ctrl.Result{}, err
	}
	decisions := append(placement.Place(fleet.members, fleet.inputs), fleet.refused...)
	for i, d := range decisions {
		if d.Reason == placement.ClusterUnavailable {
			decisions[i].Message += " (" + d.Clusters[0] + ": " + fleet.unavailable[d.Clusters[0]] + ")"
		}
	}
	if err := r.writeDecisions(ctx, fleet, decisions); err != nil {
		return ctrl.Result{}, err
	}
	if err := r.writeApps(ctx, fleet, decisions); err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{}, r.writeStatuses(ctx, fleet, decisions)
}

// observedFleet is what one placement pass reads.
type observedFleet struct {
	tenants map[string]*v1alpha1.Tenant
	members []placement.Member
	// inputs are the tenants to place or keep, the oldest first.
	inputs []placement.Tenant
	// refused are decisions made before placing: tenants whose selector
	// does not parse.
	refused []placement.Decision
	// decisions are the PlacementDecisions by member name.
	decisions map[string]*v1alpha1.PlacementDecision
	plans     map[string]*v1alpha1.TenantPlan
	// carried holds "tenant/cluster" for each tenant Ready on a cluster,
	// as the Application that carries it there reports.
	carried map[string]bool
	// apps are the hub's Applications of the tenants' apps by
	// "tenant/cluster"; projects the hub's AppProjects.
	apps     map[string][]*unstructured.Unstructured
	projects []*unstructured.Unstructured
	// unavailable says why, of each member the hub cannot reach.
	unavailable map[string]string
}

// ready says whether the tenant runs on the cluster as Git says: Ready
// there, with each of its apps synced and healthy.
func (f *observedFleet) ready(t *v1alpha1.Tenant, cluster string) bool {
	key := t.Name + "/" + cluster
	if !f.carried[key] || len(f.apps[key]) < len(t.Spec.Apps) {
		return false
	}
	for _, app := range f.apps[key] {
		if !synced(app) {
			return false
		}
	}
	return true
}

func (r *PlacementReconciler) read(ctx context.Context) (*observedFleet, error) {
	var tenants v1alpha1.TenantList
	if err := r.List(ctx, &tenants); err != nil {
		return nil, err
	}
	var plans v1alpha1.TenantPlanList
	if err := r.List(ctx, &plans); err != nil {
		return nil, err
	}
	secrets := &metav1.PartialObjectMetadataList{}
	secrets.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("SecretList"))
	if err := r.List(ctx, secrets, client.InNamespace(r.Namespace), client.MatchingLabelsSelector{Selector: memberSelector()}); err != nil {
		return nil, err
	}
	var decisions v1alpha1.PlacementDecisionList
	if err := r.List(ctx, &decisions, client.InNamespace(r.Namespace)); err != nil {
		return nil, err
	}
	apps := unstructuredList(render.ApplicationGVK)
	if err := r.List(ctx, apps, client.InNamespace(r.Namespace), client.MatchingLabelsSelector{Selector: memberSelector()}); err != nil {
		return nil, err
	}
	projects := unstructuredList(render.AppProjectGVK)
	if err := r.List(ctx, projects, client.InNamespace(r.Namespace), client.MatchingLabels{v1alpha1.LabelManagedBy: v1alpha1.ManagedByValue}); err != nil {
		return nil, err
	}

	f := &observedFleet{tenants: map[string]*v1alpha1.Tenant{}, decisions: map[string]*v1alpha1.PlacementDecision{},
		plans: map[string]*v1alpha1.TenantPlan{}, carried: map[string]bool{}, apps: map[string][]*unstructured.Unstructured{},
		unavailable: map[string]string{}}
	for i := range apps.Items {
		app := &apps.Items[i]
		key := app.GetLabels()[v1alpha1.LabelTenant] + "/" + app.GetLabels()[v1alpha1.LabelMember]
		switch {
		case app.GetLabels()[v1alpha1.LabelManagedBy] == v1alpha1.ManagedByValue:
			f.apps[key] = append(f.apps[key], app)
		case synced(app):
			f.carried[key] = true
		}
	}
	for i := range projects.Items {
		f.projects = append(f.projects, &projects.Items[i])
	}
	for _, s := range secrets.Items {
		available, why := r.available(s.Labels[v1alpha1.LabelMember])
		if !available {
			f.unavailable[s.Labels[v1alpha1.LabelMember]] = why
		}
		m, err := placement.MemberOf(s.ObjectMeta, available)
		if err != nil {
			// Left out until fixed: filling it past a bound nobody meant
			// would be worse than placing nothing there.
			log.FromContext(ctx).Error(err, "left a cluster Secret out of the fleet", "secret", s.Name)
			continue
		}
		f.members = append(f.members, m)
	}
	placedOn := map[string][]string{}
	for i := range decisions.Items {
		d := &decisions.Items[i]
		f.decisions[d.Name] = d
		for _, c := range d.Status.Decisions {
			placedOn[c.Tenant] = append(placedOn[c.Tenant], c.ClusterName)
		}
	}
	for i := range plans.Items {
		f.plans[plans.Items[i].Name] = &plans.Items[i]
	}
	items := tenants.Items
	slices.SortFunc(items, func(a, b v1alpha1.Tenant) int {
		return cmp.Or(a.CreationTimestamp.Compare(b.CreationTimestamp.Time), strings.Compare(a.Name, b.Name))
	})
	for i := range items {
		t := &items[i]
		if t.DeletionTimestamp != nil {
			continue // leaving: its decisions go, and Argo CD offboards it
		}
		f.tenants[t.Name] = t
		in, err := placementInput(t, f.plans[t.Spec.Plan], placedOn[t.Name])
		if err != nil {
			f.refused = append(f.refused, placement.Decision{Tenant: t.Name, Reason: reasonInvalidClusterSelector, Message: err.Error()})
			continue
		}
		in.PinHealthy = in.Pin != "" && f.ready(t, in.Pin)
		f.inputs = append(f.inputs, in)
	}
	return f, nil
}

// available says whether the hub reaches the member, and if not, why.
func (r *PlacementReconciler) available(member string) (bool, string) {
	if r.probe == nil {
		return true, ""
	}
	return r.probe.Available(member)
}

// reasonInvalidClusterSelector: a cluster selector does not parse.
const reasonInvalidClusterSelector placement.Reason = "InvalidClusterSelector"

// placementInput is what placement needs of a tenant: its selectors, its
// pin, its reservation, and where it is placed now.
func placementInput(t *v1alpha1.Tenant, plan *v1alpha1.TenantPlan, placedOn []string) (placement.Tenant, error) {
	in := placement.Tenant{Name: t.Name, Selector: labels.NewSelector()}
	var err error
	if plan != nil {
		if in.Selector, err = narrowed(in.Selector, plan.Spec.ClusterSelector); err != nil {
			return in, fmt.Errorf("plan %s: spec.clusterSelector: %w; fix the plan", plan.Name, err)
		}
		quota := render.ResourceQuota(t, plan, "").Spec.Hard
		in.Requests = placement.Requests(quota, plan.Spec.TenantQuota, len(render.NamespaceNames(t)))
	}
	if p := t.Spec.Placement; p != nil {
		if in.Selector, err = narrowed(in.Selector, p.ClusterSelector); err != nil {
			return in, fmt.Errorf("spec.placement.clusterSelector: %w; fix it in the tenant's file", err)
		}
		in.Pin = p.Cluster
	}
	switch {
	case len(placedOn) == 1:
		in.Current = placedOn[0]
	case len(placedOn) > 1:
		// Moving: the source is the one it is not pinned to.
		in.Current = placedOn[0]
		if in.Current == in.Pin {
			in.Current = placedOn[1]
		}
	}
	return in, nil
}

// narrowed is selector with the requirements of s too (nil adds none).
func narrowed(selector labels.Selector, s *metav1.LabelSelector) (labels.Selector, error) {
	if s == nil {
		return selector, nil
	}
	parsed, err := metav1.LabelSelectorAsSelector(s)
	if err != nil {
		return nil, err
	}
	reqs, _ := parsed.Requirements()
	return selector.Add(reqs...), nil
}

// writeDecisions makes each member's PlacementDecision list the tenants
// placed on it, writing only those that changed. A PlacementDecision of a
// cluster that is no longer a member and holds no tenant is deleted.
func (r *PlacementReconciler) writeDecisions(ctx context.Context, f *observedFleet, decisions []placement.Decision) error {
	want := map[string][]v1alpha1.ClusterDecision{}
	for _, m := range f.members {
		want[m.Name] = nil
	}
	for _, d := range decisions {
		for _, c := range d.Clusters {
			want[c] = append(want[c], v1alpha1.ClusterDecision{ClusterName: c, Tenant: d.Tenant})
		}
	}
	for name, pd := range f.decisions {
		if _, ok := want[name]; !ok {
			if err := r.Delete(ctx, pd); client.IgnoreNotFound(err) != nil {
				return fmt.Errorf("deleting the PlacementDecision of former member %s: %w", name, err)
			}
		}
	}
	for name, entries := range want {
		slices.SortFunc(entries, func(a, b v1alpha1.ClusterDecision) int { return strings.Compare(a.Tenant, b.Tenant) })
		pd, ok := f.decisions[name]
		if ok && slices.Equal(pd.Status.Decisions, entries) {
			continue
		}
		if !ok {
			pd = &v1alpha1.PlacementDecision{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: r.Namespace, Labels: map[string]string{
				v1alpha1.LabelManagedBy: v1alpha1.ManagedByValue, v1alpha1.LabelMember: name,
			}}}
			if err := r.Create(ctx, pd); err != nil && !apierrors.IsAlreadyExists(err) {
				return fmt.Errorf("creating the PlacementDecision of cluster %s: %w", name, err)
			}
		}
		pd.Status = v1alpha1.PlacementDecisionStatus{Decisions: entries, Tenants: int32(len(entries))}
		if err := r.Status().Update(ctx, pd); err != nil {
			return fmt.Errorf("writing the PlacementDecision of cluster %s: %w", name, err)
		}
	}
	return nil
}

// writeApps runs each placed tenant's apps on its cluster through the
// hub's Argo CD: the tenant's AppProject, confined to its namespaces on
// the clusters it is placed on, and its Applications there. A tenant's
// apps go to a cluster once the tenant is Ready there (their namespaces
// and the deployer Argo CD impersonates exist), and stay while the
// placement holds the cluster, whatever the tenant's health there: a
// member that stops answering must not lose its apps. What no placement
// holds any more is deleted (the Applications first: Argo CD needs their
// project to delete them), and Argo CD deletes what those apps deployed.
func (r *PlacementReconciler) writeApps(ctx context.Context, f *observedFleet, decisions []placement.Decision) error {
	opts := render.Options{ArgoCDNamespace: r.Namespace}
	var desired []*unstructured.Unstructured
	for _, d := range decisions {
		t := f.tenants[d.Tenant]
		// No one else writes Applications on the hub: a project serves
		// the tenant's apps only.
		if t == nil || !d.Placed() || len(t.Spec.Apps) == 0 {
			continue
		}
		plan := f.plans[t.Spec.Plan]
		if plan == nil {
			plan = &v1alpha1.TenantPlan{}
		}
		desired = append(desired, render.MemberAppProject(t, plan, opts, d.Clusters))
		for _, c := range d.Clusters {
			if key := t.Name + "/" + c; f.carried[key] || len(f.apps[key]) > 0 {
				desired = append(desired, render.MemberApplications(t, opts, c)...)
			}
		}
	}
	a := applier{client: r.Client, uncached: r.APIReader}
	want := map[string]bool{}
	for _, obj := range desired {
		want[obj.GetKind()+"/"+obj.GetName()] = true
		if _, err := a.apply(ctx, obj); err != nil {
			return err
		}
	}
	stale := []*unstructured.Unstructured{}
	for _, key := range slices.Sorted(maps.Keys(f.apps)) {
		stale = append(stale, f.apps[key]...)
	}
	stale = append(stale, f.projects...)
	for _, obj := range stale {
		if want[obj.GetKind()+"/"+obj.GetName()] {
			continue
		}
		if err := r.Delete(ctx, obj); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("deleting %s %s: %w", obj.GetKind(), obj.GetName(), err)
		}
	}
	return nil
}

// writeStatuses records each tenant's placement in its status, with the
// Placed condition, and an event when it lands somewhere or cannot.
func (r *PlacementReconciler) writeStatuses(ctx context.Context, f *observedFleet, decisions []placement.Decision) error {
	now := metav1.NewTime(r.now())
	for _, d := range decisions {
		t, ok := f.tenants[d.Tenant]
		if !ok {
			continue
		}
		before := t.DeepCopy()
		status := placementStatus(t.Status.Placement, d, now)
		cond := metav1.Condition{Type: v1alpha1.ConditionPlaced, Status: metav1.ConditionFalse, Reason: string(d.Reason),
			Message: d.Message, ObservedGeneration: t.Generation}
		if placedWell(d.Reason) {
			cond.Status = metav1.ConditionTrue
		}
		// A tenant that stays keeps the word of how it got there (Placed,
		// Pinned, Moved): no status write, no event, pass after pass.
		if was := meta.FindStatusCondition(t.Status.Conditions, v1alpha1.ConditionPlaced); d.Reason == placement.Kept && was != nil && was.Status == metav1.ConditionTrue {
			cond.Reason, cond.Message = was.Reason, was.Message
		}
		t.Status.Placement = status
		changed := meta.SetStatusCondition(&t.Status.Conditions, cond)
		if !changed && equalPlacement(before.Status.Placement, status) {
			continue
		}
		if err := r.Status().Patch(ctx, t, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
			return fmt.Errorf("writing the placement of tenant %s: %w", t.Name, err)
		}
		eventType := corev1.EventTypeNormal
		if cond.Status == metav1.ConditionFalse {
			eventType = corev1.EventTypeWarning
		}
		r.Recorder.Eventf(t, nil, eventType, string(d.Reason), "Place", "%s", d.Message)
	}
	return nil
}

// placedWell says whether the tenant runs where the hub means it to.
func placedWell(r placement.Reason) bool {
	switch r {
	case placement.Placed, placement.Pinned, placement.Kept, placement.Moving, placement.Moved:
		return true
	}
	return false
}

// placementStatus is the tenant's placement after d: its cluster (the
// source while it moves), where it moves to, and since when it has been
// on its cluster.
func placementStatus(was *v1alpha1.PlacementStatus, d placement.Decision, now metav1.Time) *v1alpha1.PlacementStatus {
	if !d.Placed() {
		return nil
	}
	s := &v1alpha1.PlacementStatus{Cluster: d.Clusters[0], PlacedAt: &now}
	if len(d.Clusters) > 1 {
		s.MovingTo = d.Clusters[1]
	}
	if was != nil && was.Cluster == s.Cluster && was.PlacedAt != nil {
		s.PlacedAt = was.PlacedAt
	}
	return s
}

func equalPlacement(a, b *v1alpha1.PlacementStatus) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Cluster == b.Cluster && a.MovingTo == b.MovingTo && a.PlacedAt.Equal(b.PlacedAt)
}

// synced says whether an Application that targets a member is synced and
// healthy: for one that carries a tenant to its cluster, the tenant is
// there as Git says, and Ready (Argo CD judges a Tenant by the health check
// docs/fleet.md gives); for a tenant's app, the app runs as its Git says.
func synced(obj client.Object) bool {
	app, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return false
	}
	sync, _, _ := unstructured.NestedString(app.Object, "status", "sync", "status")
	health, _, _ := unstructured.NestedString(app.Object, "status", "health", "status")
	return sync == "Synced" && health == "Healthy"
}

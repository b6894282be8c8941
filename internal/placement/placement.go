// Package placement decides which member cluster of a fleet each tenant
// runs on. It is pure: the hub's controller reads the members and the
// tenants, Place decides, and the controller records the decisions where
// Argo CD's ApplicationSet reads them.
//
// The rules, in order:
//   - A placed tenant stays where it is: adding members, relabelling them
//     or filling them never moves it. Only a pin to another member
//     (spec.placement.cluster, what `tenantry move` commits) does.
//   - A move keeps the tenant on its source until it is healthy on its
//     target; only then does the source drop it.
//   - A new tenant goes to a member its plan's and its own selectors both
//     match, that is available and has room, the one least full; ties go
//     to the member with the fewest tenants, then to the first by name.
//     A pin overrides the selectors and the room (the platform engineer
//     chose in Git), never the member's existence.
//   - A member that is unavailable gets no new tenant, and its tenants
//     are reported, never placed elsewhere behind anyone's back.
package placement

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/tenantry/tenantry/api/v1alpha1"
)

// Member is a cluster tenants may be placed on.
type Member struct {
	// Name is the cluster's name in Argo CD.
	Name   string
	Labels map[string]string
	// MaxTenants is how many tenants it takes; 0 for no limit.
	MaxTenants int
	// MaxRequests bounds the sum of its tenants' reservations, per
	// resource (requests.cpu, requests.memory); a resource absent from it
	// is not bounded.
	MaxRequests corev1.ResourceList
	// Available is false while the hub cannot reach it.
	Available bool
}

// Tenant is a tenant to place, or placed.
type Tenant struct {
	Name string
	// Selector is its plan's cluster selector and its own, together;
	// nil selects every member.
	Selector labels.Selector
	// Pin is the member it must run on (spec.placement.cluster), if any.
	Pin string
	// Requests is what it reserves: its quota's requests.cpu and
	// requests.memory over all its namespaces.
	Requests corev1.ResourceList
	// Current is the member it is placed on; "" for a new tenant.
	Current string
	// PinHealthy is true once the tenant is Ready, its apps healthy, on
	// Pin: a move may then leave Current.
	PinHealthy bool
}

// Reason says why a tenant is where it is, or is nowhere. The words are
// the reasons of the Tenant's Placed condition on the hub.
type Reason string

// The reasons.
const (
	// Placed: a new tenant was placed, by its selectors and the room left.
	Placed Reason = "Placed"
	// Pinned: a new tenant was placed on the member it is pinned to.
	Pinned Reason = "Pinned"
	// Kept: a placed tenant stays.
	Kept Reason = "Kept"
	// Moving: on its source and its target, until healthy on the target.
	Moving Reason = "Moving"
	// Moved: healthy on its target, it has left its source.
	Moved Reason = "Moved"
	// ClusterUnavailable: placed on a member the hub cannot reach.
	ClusterUnavailable Reason = "ClusterUnavailable"
	// ClusterNotFound: pinned to, or placed on, no member of the fleet.
	ClusterNotFound Reason = "ClusterNotFound"
	// NoMatchingCluster: no member matches the tenant's selectors.
	NoMatchingCluster Reason = "NoMatchingCluster"
	// NoCapacity: members match, but none available has room.
	NoCapacity Reason = "NoCapacity"
)

// Decision is where one tenant runs.
type Decision struct {
	Tenant string
	// Clusters are the members the tenant is on: none when it could not
	// be placed, two while it moves (source first).
	Clusters []string
	Reason   Reason
	// Message says what happened and, when the tenant is nowhere or
	// stuck, what to do.
	Message string
}

// Placed says whether the tenant runs somewhere.
func (d Decision) Placed() bool { return len(d.Clusters) > 0 }

// Place decides where each tenant runs, in the order given (the caller
// passes the oldest first, so earlier tenants choose first).
func Place(members []Member, tenants []Tenant) []Decision {
	fleet := newFleet(members)
	// Tenants already placed hold their room before a new one chooses.
	for _, t := range tenants {
		if t.Current != "" {
			fleet.reserve(t.Current, t.Requests)
			if t.Pin != "" && t.Pin != t.Current {
				fleet.reserve(t.Pin, t.Requests)
			}
		}
	}
	decisions := make([]Decision, 0, len(tenants))
	for _, t := range tenants {
		var d Decision
		if t.Current != "" {
			d = fleet.keep(t)
		} else {
			d = fleet.place(t)
		}
		d.Tenant = t.Name
		decisions = append(decisions, d)
	}
	return decisions
}

// fleet is the members and what their tenants reserve.
type fleet struct {
	members map[string]*load
	names   []string
}

type load struct {
	Member
	tenants  int
	requests corev1.ResourceList
}

func newFleet(members []Member) *fleet {
	f := &fleet{members: map[string]*load{}}
	for _, m := range members {
		f.members[m.Name] = &load{Member: m, requests: corev1.ResourceList{}}
		f.names = append(f.names, m.Name)
	}
	slices.Sort(f.names)
	return f
}

func (f *fleet) reserve(name string, requests corev1.ResourceList) {
	m, ok := f.members[name]
	if !ok {
		return
	}
	m.tenants++
	for r, q := range requests {
		sum := m.requests[r]
		sum.Add(q)
		m.requests[r] = sum
	}
}

// keep decides for a placed tenant: it stays, or it moves to its pin.
func (f *fleet) keep(t Tenant) Decision {
	current, ok := f.members[t.Current]
	switch {
	case !ok:
		return Decision{Clusters: []string{t.Current}, Reason: ClusterNotFound,
			Message: fmt.Sprintf("placed on cluster %s, which is no longer a member of the fleet: register it again, or move the tenant (tenantry move %s --to CLUSTER)", t.Current, t.Name)}
	case t.Pin == "" || t.Pin == t.Current:
		if !current.Available {
			return Decision{Clusters: []string{t.Current}, Reason: ClusterUnavailable,
				Message: fmt.Sprintf("placed on cluster %s, which the hub cannot reach: the tenant stays placed there and is not moved automatically; move it on purpose with tenantry move %s --to CLUSTER", t.Current, t.Name)}
		}
		return Decision{Clusters: []string{t.Current}, Reason: Kept, Message: "placed on cluster " + t.Current}
	}
	if _, ok := f.members[t.Pin]; !ok {
		return Decision{Clusters: []string{t.Current}, Reason: ClusterNotFound,
			Message: fmt.Sprintf("spec.placement.cluster names %s, which is not a member of the fleet: the tenant stays on %s; set it to one of %s", t.Pin, t.Current, strings.Join(f.names, ", "))}
	}
	if t.PinHealthy {
		return Decision{Clusters: []string{t.Pin}, Reason: Moved,
			Message: fmt.Sprintf("moved from cluster %s to %s: healthy on %s, offboarded from %s", t.Current, t.Pin, t.Pin, t.Current)}
	}
	return Decision{Clusters: []string{t.Current, t.Pin}, Reason: Moving,
		Message: fmt.Sprintf("moving from cluster %s to %s: it stays on %s until it is Ready with its apps healthy on %s", t.Current, t.Pin, t.Current, t.Pin)}
}

// place decides for a new tenant.
func (f *fleet) place(t Tenant) Decision {
	if t.Pin != "" {
		if _, ok := f.members[t.Pin]; !ok {
			return Decision{Reason: ClusterNotFound,
				Message: fmt.Sprintf("spec.placement.cluster names %s, which is not a member of the fleet: set it to one of %s, or remove it to let the hub choose", t.Pin, strings.Join(f.names, ", "))}
		}
		f.reserve(t.Pin, t.Requests)
		return Decision{Clusters: []string{t.Pin}, Reason: Pinned, Message: "placed on cluster " + t.Pin + ", as spec.placement.cluster asks"}
	}
	var matching, available []*load
	for _, name := range f.names {
		m := f.members[name]
		if t.Selector != nil && !t.Selector.Matches(labels.Set(m.Labels)) {
			continue
		}
		matching = append(matching, m)
		if m.Available && m.fits(t.Requests) {
			available = append(available, m)
		}
	}
	if len(f.names) == 0 {
		return Decision{Reason: NoMatchingCluster,
			Message: "the fleet has no member cluster: register one (label its Argo CD cluster Secret " + v1alpha1.LabelMember + ")"}
	}
	if len(matching) == 0 {
		return Decision{Reason: NoMatchingCluster,
			Message: fmt.Sprintf("no member cluster matches the cluster selectors of the tenant and its plan (%s): label a cluster to match, or change spec.placement.clusterSelector", t.Selector)}
	}
	if len(available) == 0 {
		return Decision{Reason: NoCapacity,
			Message: fmt.Sprintf("clusters %s match, but none is reachable with room for the tenant: raise their capacity, add a member cluster, or pin the tenant (spec.placement.cluster)", strings.Join(namesOf(matching), ", "))}
	}
	best := slices.MinFunc(available, func(a, b *load) int {
		return cmp.Or(cmp.Compare(a.fullness(), b.fullness()), cmp.Compare(a.tenants, b.tenants), strings.Compare(a.Name, b.Name))
	})
	f.reserve(best.Name, t.Requests)
	return Decision{Clusters: []string{best.Name}, Reason: Placed,
		Message: fmt.Sprintf("placed on cluster %s, the least full of %s", best.Name, strings.Join(namesOf(available), ", "))}
}

// fits says whether the member has room for one more tenant reserving
// requests.
func (m *load) fits(requests corev1.ResourceList) bool {
	if m.MaxTenants > 0 && m.tenants+1 > m.MaxTenants {
		return false
	}
	for r, limit := range m.MaxRequests {
		sum := m.requests[r].DeepCopy()
		sum.Add(requests[r])
		if sum.Cmp(limit) > 0 {
			return false
		}
	}
	return true
}

// fullness is the largest share of any bound the member has used, 0 to 1.
func (m *load) fullness() float64 {
	full := 0.0
	if m.MaxTenants > 0 {
		full = float64(m.tenants) / float64(m.MaxTenants)
	}
	for r, limit := range m.MaxRequests {
		if limit.IsZero() {
			continue
		}
		used := m.requests[r]
		full = max(full, used.AsApproximateFloat64()/limit.AsApproximateFloat64())
	}
	return full
}

func namesOf(members []*load) []string {
	names := make([]string, len(members))
	for i, m := range members {
		names[i] = m.Name
	}
	return names
}

// Requests is what a tenant reserves, for placement: requests.cpu and
// requests.memory from its plan's tenant-wide quota when the plan sets
// one, else from its namespaces' quota times their number.
func Requests(namespaceQuota, tenantQuota corev1.ResourceList, namespaces int) corev1.ResourceList {
	out := corev1.ResourceList{}
	for _, r := range []corev1.ResourceName{corev1.ResourceRequestsCPU, corev1.ResourceRequestsMemory} {
		if q, ok := tenantQuota[r]; ok {
			out[r] = q.DeepCopy()
			continue
		}
		if q, ok := namespaceQuota[r]; ok {
			sum := resource.Quantity{Format: q.Format}
			for range namespaces {
				sum.Add(q)
			}
			out[r] = sum
		}
	}
	return out
}

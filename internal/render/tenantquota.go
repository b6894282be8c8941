package render

import (
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// SplitTenantQuota divides a tenant-wide quota between the tenant's
// namespaces so that the API server enforces the total: each namespace's
// quota for a capped resource is what it uses now plus a share of what the
// tenant has left, and the shares add up to no more than what is left, so
// the namespaces together can never admit more than the total.
//
// The free part goes to the namespaces in proportion to what they use, plus
// an equal base (a tenth of an even split), so a namespace that grows gets
// most of the room and an idle one keeps some. The operator recomputes it
// whenever usage moves; the trade-off is that a namespace can take the
// whole free part only in steps, as its use grows and the split follows.
//
// total is the plan's tenantQuota; used is each namespace's current usage;
// perNamespace is each namespace's own quota, which the result never
// exceeds. Resources the total does not cap keep their per-namespace value.
func SplitTenantQuota(total corev1.ResourceList, used, perNamespace map[string]corev1.ResourceList) map[string]corev1.ResourceList {
	namespaces := slices.Sorted(maps.Keys(perNamespace))
	out := make(map[string]corev1.ResourceList, len(namespaces))
	for _, ns := range namespaces {
		out[ns] = perNamespace[ns].DeepCopy()
	}
	if len(namespaces) == 0 {
		return out
	}
	for name, limit := range total {
		var usedSum int64
		for _, ns := range namespaces {
			usedSum += milli(used[ns], name)
		}
		free := max(limit.MilliValue()-usedSum, 0)
		base := limit.MilliValue() / int64(len(namespaces)) / 10
		var weightSum int64
		for _, ns := range namespaces {
			weightSum += milli(used[ns], name) + base
		}
		for _, ns := range namespaces {
			share := free / int64(len(namespaces))
			if weightSum > 0 {
				share = free * (milli(used[ns], name) + base) / weightSum
			}
			hard := milli(used[ns], name) + share
			if own, ok := perNamespace[ns][name]; ok && own.MilliValue() < hard {
				hard = own.MilliValue()
			}
			out[ns][name] = *resource.NewMilliQuantity(hard, limit.Format)
		}
	}
	return out
}

func milli(list corev1.ResourceList, name corev1.ResourceName) int64 {
	q, ok := list[name]
	if !ok {
		return 0
	}
	return q.MilliValue()
}

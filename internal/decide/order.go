package decide

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
)

// Ref is a desired object as the apply order sees it.
type Ref struct {
	Kind, Namespace string
}

// ApplyOrder is the order to apply the desired objects in, as indices into
// refs: namespaces first (what is inside needs them), then the quotas that
// shrink (a limit in next below its value in current), then the rest in
// their rendered order. With a tenant-wide quota split between namespaces,
// this keeps the namespaces' limits from adding up to more than the total,
// even between two writes.
func ApplyOrder(refs []Ref, current, next map[string]corev1.ResourceList) []int {
	rank := func(r Ref) int {
		switch {
		case r.Kind == "Namespace":
			return 0
		case r.Kind == "ResourceQuota" && shrinks(current[r.Namespace], next[r.Namespace]):
			return 1
		}
		return 2
	}
	order := make([]int, len(refs))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return rank(refs[a]) - rank(refs[b]) })
	return order
}

// shrinks reports whether any limit in next is below its value in current.
func shrinks(current, next corev1.ResourceList) bool {
	for name, q := range next {
		if c, ok := current[name]; ok && q.Cmp(c) < 0 {
			return true
		}
	}
	return false
}

package gitops

import (
	yaml "go.yaml.in/yaml/v3"
)

// quoting are the scalar styles that make a value a string.
const quoting = yaml.DoubleQuotedStyle | yaml.SingleQuotedStyle | yaml.LiteralStyle | yaml.FoldedStyle

// merge rewrites old, a node of the file being edited, so that it holds
// after, keeping old's comments, key order and styles wherever it can. It
// returns the node to put in old's place and whether anything changed.
//
// before is the canonical form of old. Comparing before with after, rather
// than old with after, is what leaves alone a value the edit did not touch
// but that the file writes differently from its canonical form (6000m for 6,
// `suspended: false`, an empty list).
func merge(old, before, after *yaml.Node) (*yaml.Node, bool) {
	if equal(before, after) {
		return old, false
	}
	if old.Kind != after.Kind {
		return replace(old, after), true
	}
	switch after.Kind {
	case yaml.ScalarNode:
		return old, setScalar(old, after)
	case yaml.MappingNode:
		mergeMapping(old, before, after)
		return old, true
	case yaml.SequenceNode:
		mergeSequence(old, before, after)
		return old, true
	}
	return replace(old, after), true
}

// setScalar gives old the value of after, keeping its style (quotes) unless
// that would change the value's type, and quoting it when after must be
// quoted (see plainInYAML11).
func setScalar(old, after *yaml.Node) bool {
	if old.Value == after.Value && old.Tag == after.Tag {
		return false
	}
	old.Value, old.Tag = after.Value, after.Tag
	switch {
	case after.Tag != "!!str":
		old.Style &^= quoting
	case old.Style&quoting == 0:
		old.Style |= after.Style & quoting
	}
	return true
}

// mergeMapping keeps old's keys in their order, merging the values of those
// still in after, dropping those the edit removed and keeping those that are
// not in canonical form at all; keys new in after are appended in sorted
// order.
func mergeMapping(old, before, after *yaml.Node) {
	var content []*yaml.Node
	seen := make(map[string]bool)
	for i := 0; i+1 < len(old.Content); i += 2 {
		key, value := old.Content[i], old.Content[i+1]
		seen[key.Value] = true
		a, b := lookup(after, key.Value), lookup(before, key.Value)
		switch {
		case a != nil:
			value, _ = merge(value, b, a)
			content = append(content, key, value)
		case b != nil:
			// Removed by the edit: dropped with its comments.
		default:
			content = append(content, key, value)
		}
	}
	for i := 0; i+1 < len(after.Content); i += 2 {
		if !seen[after.Content[i].Value] {
			content = append(content, after.Content[i], after.Content[i+1])
		}
	}
	old.Content = content
}

// mergeSequence matches the items of before and after that are equal
// (longest common subsequence) and keeps the old items for those, so that
// removing an item from the middle of a list takes its comments with it
// instead of shifting every later comment onto the wrong item. Between
// matches, items are merged by position; old surplus items are dropped and
// new ones take the style of their neighbours (a flow mapping next to flow
// mappings).
func mergeSequence(old, before, after *yaml.Node) {
	var bs []*yaml.Node
	if before != nil && before.Kind == yaml.SequenceNode {
		bs = before.Content
	}
	if len(bs) != len(old.Content) {
		// The file's items do not map onto their canonical form (it has
		// items the canonical form drops): write after's items.
		var content []*yaml.Node
		for _, a := range after.Content {
			content = append(content, newItem(a, old, content))
		}
		old.Content = content
		return
	}

	as := after.Content
	var content []*yaml.Node
	bi, ai := 0, 0
	fill := func(bEnd, aEnd int) {
		for ; bi < bEnd && ai < aEnd; bi, ai = bi+1, ai+1 {
			n, _ := merge(old.Content[bi], bs[bi], as[ai])
			content = append(content, n)
		}
		bi = bEnd
		for ; ai < aEnd; ai++ {
			content = append(content, newItem(as[ai], old, content))
		}
	}
	for _, m := range commonItems(bs, as) {
		fill(m[0], m[1])
		content = append(content, old.Content[m[0]])
		bi, ai = m[0]+1, m[1]+1
	}
	fill(len(bs), len(as))
	old.Content = content
}

// newItem styles n, a new item of seq, like the item before it (or seq's
// first item): a new owner in a list of `{kind: User, ...}` items is written
// the same way.
func newItem(n, seq *yaml.Node, placed []*yaml.Node) *yaml.Node {
	var like *yaml.Node
	switch {
	case len(placed) > 0:
		like = placed[len(placed)-1]
	case len(seq.Content) > 0:
		like = seq.Content[0]
	}
	if like == nil || like.Kind != n.Kind {
		return n
	}
	switch n.Kind {
	case yaml.MappingNode, yaml.SequenceNode:
		n.Style = like.Style & yaml.FlowStyle
	case yaml.ScalarNode:
		if like.Tag == n.Tag && n.Style&quoting == 0 {
			n.Style = like.Style
		}
	}
	return n
}

// replace puts after in old's place when their kinds differ (a null where a
// mapping now is), keeping old's comments.
func replace(old, after *yaml.Node) *yaml.Node {
	after.HeadComment = old.HeadComment
	after.LineComment = old.LineComment
	after.FootComment = old.FootComment
	return after
}

// commonItems returns the index pairs of a longest common subsequence of
// equal items of a and b, in order. Lists in a tenant file are short (at
// most 64 owners), so the quadratic table is fine.
func commonItems(a, b []*yaml.Node) [][2]int {
	n, m := len(a), len(b)
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if equal(a[i], b[j]) {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var pairs [][2]int
	for i, j := 0, 0; i < n && j < m; {
		switch {
		case equal(a[i], b[j]):
			pairs = append(pairs, [2]int{i, j})
			i, j = i+1, j+1
		case lcs[i+1][j] >= lcs[i][j+1]:
			i++
		default:
			j++
		}
	}
	return pairs
}

// equal compares two canonical trees (built by toNode, so keys are in the
// same order in both).
func equal(a, b *yaml.Node) bool {
	if a == nil || b == nil {
		return a == b
	}
	if a.Kind != b.Kind || a.Tag != b.Tag || a.Value != b.Value || len(a.Content) != len(b.Content) {
		return false
	}
	for i := range a.Content {
		if !equal(a.Content[i], b.Content[i]) {
			return false
		}
	}
	return true
}

// lookup returns the value of key in mapping m, or nil.
func lookup(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

package gitops

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	sigsyaml "sigs.k8s.io/yaml"
)

// absent stands for a field that one side of a diff does not have.
type absent struct{}

// diffTenant describes what changed between two versions of a tenant file,
// one line per field, as a reviewer would say it: "spec.plan: free -> pro",
// "spec.environments: + qa", "+ spec.suspended: true",
// "- spec.quota.requests.cpu (was 6)". A nil version is a file that does
// not exist: the file was "created" or "deleted".
func diffTenant(before, after []byte) []string {
	switch {
	case before == nil && after == nil:
		return nil
	case before == nil:
		return []string{"created"}
	case after == nil:
		return []string{"deleted"}
	}
	a, err := fileObject(after)
	if err != nil {
		return []string{"not valid YAML: " + err.Error()}
	}
	b, err := fileObject(before)
	if err != nil {
		b = absent{}
	}
	var lines []string
	diffValue("", b, a, &lines)
	return lines
}

// fileObject is a tenant file as plain data: its canonical form when it
// parses as a Tenant, so that 6000m and 6 compare equal and status is left
// out, or else plain YAML, so that a revision that was broken still shows
// what changed.
func fileObject(data []byte) (any, error) {
	if t, err := UnmarshalTenant(data); err == nil {
		if obj, err := canonical(t); err == nil {
			return obj, nil
		}
	}
	j, err := sigsyaml.YAMLToJSON(data)
	if err != nil {
		return nil, err
	}
	obj, err := decodeJSON(j)
	if err != nil {
		return nil, err
	}
	return prune(obj), nil
}

// diffValue appends the lines that take a to b at path. Mappings are
// compared key by key, lists of scalars as sets (items added and removed),
// other lists item by item.
func diffValue(path string, a, b any, lines *[]string) {
	am, aMap := a.(map[string]any)
	bm, bMap := b.(map[string]any)
	_, aAbsent := a.(absent)
	_, bAbsent := b.(absent)
	al, aList := a.([]any)
	bl, bList := b.([]any)
	switch {
	case (aMap || aAbsent) && (bMap || bAbsent):
		for _, k := range unionKeys(am, bm) {
			diffValue(join(path, k), get(am, k), get(bm, k), lines)
		}
	case (aList || aAbsent) && (bList || bAbsent) && scalars(al) && scalars(bl):
		diffSet(path, al, bl, lines)
	case (aList || aAbsent) && (bList || bAbsent):
		for i := range max(len(al), len(bl)) {
			diffValue(fmt.Sprintf("%s[%d]", path, i), at(al, i), at(bl, i), lines)
		}
	case aAbsent:
		*lines = append(*lines, fmt.Sprintf("+ %s: %s", path, show(b)))
	case bAbsent:
		*lines = append(*lines, fmt.Sprintf("- %s (was %s)", path, show(a)))
	case !reflect.DeepEqual(a, b):
		*lines = append(*lines, fmt.Sprintf("%s: %s -> %s", path, show(a), show(b)))
	}
}

// diffSet appends the items removed from and added to a list of scalars,
// or says it was reordered.
func diffSet(path string, a, b []any, lines *[]string) {
	var removed, added []string
	for _, v := range a {
		if !slices.Contains(b, v) {
			removed = append(removed, fmt.Sprintf("%s: - %s", path, show(v)))
		}
	}
	for _, v := range b {
		if !slices.Contains(a, v) {
			added = append(added, fmt.Sprintf("%s: + %s", path, show(v)))
		}
	}
	*lines = append(*lines, removed...)
	*lines = append(*lines, added...)
	if len(removed) == 0 && len(added) == 0 && !reflect.DeepEqual(a, b) {
		*lines = append(*lines, path+": reordered")
	}
}

func scalars(l []any) bool {
	for _, v := range l {
		switch v.(type) {
		case map[string]any, []any:
			return false
		}
	}
	return true
}

func unionKeys(a, b map[string]any) []string {
	var keys []string
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

func get(m map[string]any, k string) any {
	if v, ok := m[k]; ok {
		return v
	}
	return absent{}
}

func at(l []any, i int) any {
	if i < len(l) {
		return l[i]
	}
	return absent{}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// show writes a value on one line: scalars as they read in YAML (quoted only
// when empty or multi-line), collections as JSON.
func show(v any) string {
	switch v := v.(type) {
	case string:
		if v == "" || strings.ContainsAny(v, "\n\r") {
			return strconv.Quote(v)
		}
		return v
	case nil:
		return "null"
	case map[string]any, []any:
		j, err := json.Marshal(v)
		if err != nil {
			return fmt.Sprint(v)
		}
		return string(j)
	}
	return fmt.Sprint(v)
}

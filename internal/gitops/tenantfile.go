// Package gitops reads and writes Tenant files in a GitOps working copy.
//
// A new tenants/<name>.yaml is rendered in one stable form (sorted keys, no
// server or operator fields) so that files written by different people look
// alike. An existing file is edited in place, keeping its comments, key order
// and styles, so that a pull request shows only the lines that changed.
// Commits are made with go-git, so the CLI needs no git binary.
package gitops

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"

	yaml2 "go.yaml.in/yaml/v2"
	yaml "go.yaml.in/yaml/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	sigsjson "sigs.k8s.io/json"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/tenantry/tenantry/api/v1alpha1"
)

const (
	tenantKind = "Tenant"
	planKind   = "TenantPlan"
)

// serverFields are the metadata fields the API server fills in. A file
// copied from `kubectl get -o yaml` carries them; applied from Git they would
// conflict with the live object (a stale resourceVersion or uid is refused),
// so they are never written.
var serverFields = []string{
	"creationTimestamp", "deletionGracePeriodSeconds", "deletionTimestamp",
	"generation", "managedFields", "resourceVersion", "selfLink", "uid",
}

// tenantFile is the part of a Tenant that belongs in Git: what its provider
// declares, not what the API server or the operator fill in.
type tenantFile struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name        string            `json:"name"`
		Labels      map[string]string `json:"labels,omitempty"`
		Annotations map[string]string `json:"annotations,omitempty"`
	} `json:"metadata"`
	Spec v1alpha1.TenantSpec `json:"spec"`
}

// MarshalTenant renders a new tenant file: apiVersion, kind, metadata (name,
// and labels/annotations only if non-empty) and spec; never status or the
// fields the API server sets, which would make the file unappliable. Keys are
// sorted and sequences indented under their key, so that every new file has
// the same stable, reviewable form. If header is not empty, each of its lines
// is written as a "# " comment at the top of the file.
func MarshalTenant(t *v1alpha1.Tenant, header string) ([]byte, error) {
	obj, err := canonical(t)
	if err != nil {
		return nil, err
	}
	root := toNode(obj)
	if header != "" {
		// On the first key rather than the document, so that no blank line
		// separates the header from the object, as in gitops/tenants/.
		root.Content[0].HeadComment = commentLines(header)
	}
	return encode(&yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{root}})
}

// UnmarshalTenant parses a tenant file. It is strict, as the API server is
// with kubectl's strict validation, so that a typo fails here, before a
// commit, instead of in Argo CD after the merge: the file must hold one Tenant
// of apiVersion tenantry.dev/v1alpha1, and an unknown or duplicate field is an
// error naming the field.
func UnmarshalTenant(data []byte) (*v1alpha1.Tenant, error) {
	if _, err := parseDocument(data); err != nil {
		return nil, err
	}
	j, err := sigsyaml.YAMLToJSONStrict(data)
	if err != nil {
		return nil, fmt.Errorf("tenant file: %w", err)
	}
	var tm metav1.TypeMeta
	if err := json.Unmarshal(j, &tm); err != nil {
		return nil, fmt.Errorf("tenant file: not a YAML mapping: %w", err)
	}
	if tm.Kind != tenantKind || tm.APIVersion != v1alpha1.GroupVersion.String() {
		return nil, fmt.Errorf("tenant file: holds %s; want kind %s of apiVersion %s",
			describeKind(tm), tenantKind, v1alpha1.GroupVersion)
	}
	var t v1alpha1.Tenant
	strict, err := sigsjson.UnmarshalStrict(j, &t)
	if err != nil {
		return nil, fmt.Errorf("tenant file: %w", err)
	}
	if len(strict) > 0 {
		msgs := make([]string, len(strict))
		for i, e := range strict {
			msgs[i] = e.Error()
		}
		return nil, fmt.Errorf("tenant file: %s", strings.Join(msgs, "; "))
	}
	return &t, nil
}

// EditTenant applies edit to the Tenant in data and returns the new file.
//
// It keeps what a reviewer wants kept, so that the diff of a pull request
// shows the edit and nothing else: comments (the file's header, and head,
// line and foot comments on keys and items), the order of existing keys,
// flow or block style of existing collections (`[prod, staging]` stays a flow
// sequence when an item is added), quoting of existing scalars, and values
// written differently from their canonical form (6000m for 6) that the edit
// left alone. New keys go after the existing ones, in sorted order; keys the
// edit removed are dropped with their comments. Status and server-set
// metadata are dropped, as MarshalTenant never writes them.
//
// When nothing changes, data is returned as it is.
func EditTenant(data []byte, edit func(*v1alpha1.Tenant) error) ([]byte, error) {
	doc, err := parseDocument(data)
	if err != nil {
		return nil, err
	}
	t, err := UnmarshalTenant(data)
	if err != nil {
		return nil, err
	}
	before, err := canonical(t)
	if err != nil {
		return nil, err
	}
	if err := edit(t); err != nil {
		return nil, err
	}
	after, err := canonical(t)
	if err != nil {
		return nil, err
	}

	root := doc.Content[0]
	dropped := dropNeverWritten(root)
	merged, changed := merge(root, toNode(before), toNode(after))
	if !dropped && !changed {
		return data, nil
	}
	doc.Content[0] = merged
	out, err := encode(doc)
	if err != nil {
		return nil, err
	}

	// The merge keeps parts of the old file it cannot compare (values not in
	// canonical form); check that what it wrote is what the edit asked for
	// rather than commit a file that says something else.
	got, err := UnmarshalTenant(out)
	if err != nil {
		return nil, fmt.Errorf("edited tenant file does not parse (a bug in gitops.EditTenant): %w", err)
	}
	gotObj, err := canonical(got)
	if err != nil {
		return nil, err
	}
	if !reflect.DeepEqual(gotObj, after) {
		return nil, errors.New("edited tenant file does not hold the edited Tenant (a bug in gitops.EditTenant)")
	}
	return out, nil
}

// canonical is the tenant file's content as plain data (maps, []any,
// strings, bools, json.Number), the form both MarshalTenant and the edit
// merge start from, and what History compares.
func canonical(t *v1alpha1.Tenant) (map[string]any, error) {
	f := tenantFile{APIVersion: v1alpha1.GroupVersion.String(), Kind: tenantKind, Spec: t.Spec}
	f.Metadata.Name = t.Name
	f.Metadata.Labels = t.Labels
	f.Metadata.Annotations = t.Annotations
	j, err := json.Marshal(f)
	if err != nil {
		return nil, fmt.Errorf("tenant %s: %w", t.Name, err)
	}
	obj, err := decodeJSON(j)
	if err != nil {
		return nil, fmt.Errorf("tenant %s: %w", t.Name, err)
	}
	m, _ := prune(obj).(map[string]any)
	return m, nil
}

// decodeJSON decodes j keeping numbers as json.Number, so that an integer
// is written back as it was and never as 1e+06.
func decodeJSON(j []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.UseNumber()
	var v any
	err := dec.Decode(&v)
	return v, err
}

// prune drops nulls and empty collections from maps: encoding/json writes
// `ingress: {}` for an empty struct even with omitempty, and an empty value
// says nothing a reviewer needs to read.
func prune(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			e = prune(e)
			if isEmpty(e) {
				delete(v, k)
			} else {
				v[k] = e
			}
		}
	case []any:
		for i, e := range v {
			v[i] = prune(e)
		}
	}
	return v
}

func isEmpty(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case map[string]any:
		return len(v) == 0
	case []any:
		return len(v) == 0
	}
	return false
}

// toNode builds the YAML tree of v with keys sorted. Strings are tagged
// !!str so that the encoder quotes those that would read as another type:
// a quota of "6" stays the string the CRD wants, not the number 6.
func toNode(v any) *yaml.Node {
	switch v := v.(type) {
	case map[string]any:
		n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			n.Content = append(n.Content, strNode(k), toNode(v[k]))
		}
		return n
	case []any:
		n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		for _, e := range v {
			n.Content = append(n.Content, toNode(e))
		}
		return n
	case string:
		return strNode(v)
	case bool:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: fmt.Sprint(v)}
	case json.Number:
		tag := "!!int"
		if _, err := v.Int64(); err != nil {
			tag = "!!float"
		}
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: v.String()}
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}
}

func strNode(s string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
	if !plainInYAML11(s) {
		n.Style = yaml.DoubleQuotedStyle
	}
	return n
}

// plainInYAML11 reports whether s, written unquoted, reads back as the
// string s in YAML 1.1. yaml.v3 quotes what YAML 1.2 would read as another
// type, but kubectl, Argo CD and Flux read YAML 1.1 (sigs.k8s.io/yaml), where
// an unquoted label value y, on or no is a bool.
func plainInYAML11(s string) bool {
	var v any
	if err := yaml2.Unmarshal([]byte(s), &v); err != nil {
		return false
	}
	got, ok := v.(string)
	return ok && got == s
}

// commentLines turns text into YAML comment lines.
func commentLines(text string) string {
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	for i, l := range lines {
		if l == "" {
			lines[i] = "#"
		} else {
			lines[i] = "# " + l
		}
	}
	return strings.Join(lines, "\n")
}

// encode writes doc with 2-space indentation, the form of gitops/tenants/,
// which yaml.v3 reads and writes back byte for byte.
func encode(doc *yaml.Node) ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// parseDocument parses a tenant file into its YAML tree, refusing more than
// one document: Argo CD or Flux would apply a second one, which the CLI
// would never show.
func parseDocument(data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
		return nil, errors.New("tenant file: empty")
	} else if err != nil {
		return nil, fmt.Errorf("tenant file: %w", err)
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, errors.New("tenant file: not a YAML mapping")
	}
	var next yaml.Node
	if err := dec.Decode(&next); !errors.Is(err, io.EOF) {
		return nil, errors.New("tenant file: holds more than one YAML document; keep one Tenant per file")
	}
	return &doc, nil
}

// dropNeverWritten removes status and server-set metadata from the root of
// a tenant file and reports whether there was any.
func dropNeverWritten(root *yaml.Node) bool {
	dropped := deleteKeys(root, "status")
	if meta := lookup(root, "metadata"); meta != nil && meta.Kind == yaml.MappingNode {
		if deleteKeys(meta, serverFields...) {
			dropped = true
		}
	}
	return dropped
}

func deleteKeys(m *yaml.Node, keys ...string) bool {
	deleted := false
	var content []*yaml.Node
	for i := 0; i+1 < len(m.Content); i += 2 {
		if slices.Contains(keys, m.Content[i].Value) {
			deleted = true
			continue
		}
		content = append(content, m.Content[i], m.Content[i+1])
	}
	m.Content = content
	return deleted
}

func describeKind(tm metav1.TypeMeta) string {
	switch {
	case tm.Kind == "" && tm.APIVersion == "":
		return "no kind or apiVersion"
	case tm.Kind == "":
		return fmt.Sprintf("no kind (apiVersion %s)", tm.APIVersion)
	case tm.APIVersion == "":
		return fmt.Sprintf("kind %s with no apiVersion", tm.Kind)
	}
	return fmt.Sprintf("kind %s of apiVersion %s", tm.Kind, tm.APIVersion)
}

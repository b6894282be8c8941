package gitops

import (
	"fmt"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// SetValues sets scalars in a YAML file (a Helm chart's values.yaml),
// keeping its comments and layout: set maps dotted paths of existing keys
// ("image.tag") to their new values, written as YAML would read them
// ("2.0.0" stays a string, "0.5" a number). A release of a tenant app is
// such a change, committed; so is the demo's and the tests'.
func SetValues(data []byte, set map[string]string) ([]byte, error) {
	doc, err := parseDocument(data)
	if err != nil {
		return nil, err
	}
	for path, value := range set {
		n := doc.Content[0]
		for _, key := range strings.Split(path, ".") {
			if n = lookup(n, key); n == nil {
				return nil, fmt.Errorf("setting %s: the file has no key %s", path, path)
			}
		}
		if n.Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("setting %s: it is not a single value", path)
		}
		var probe yaml.Node
		if err := yaml.Unmarshal([]byte(value), &probe); err != nil || len(probe.Content) != 1 || probe.Content[0].Kind != yaml.ScalarNode {
			n.Value, n.Tag, n.Style = value, "!!str", yaml.DoubleQuotedStyle
			continue
		}
		scalar := probe.Content[0]
		n.Value, n.Tag, n.Style = scalar.Value, scalar.Tag, 0
		if scalar.Tag == "!!str" {
			n.Style = yaml.DoubleQuotedStyle
		}
	}
	return encode(doc)
}

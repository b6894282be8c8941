package gitops

import (
	"strings"
	"testing"
)

func TestSetValues(t *testing.T) {
	const values = `# The image.
image:
  # -- Tag; empty means appVersion.
  tag: ""
faults:
  failureRate: 0
replicas: 2
`
	tests := []struct {
		name    string
		set     map[string]string
		want    []string
		wantErr string
	}{
		{"a version stays a string", map[string]string{"image.tag": "2.0.0"}, []string{`tag: "2.0.0"`, "# -- Tag; empty means appVersion."}, ""},
		{"a number stays a number", map[string]string{"faults.failureRate": "0.5", "replicas": "5"}, []string{"failureRate: 0.5", "replicas: 5"}, ""},
		{"an unknown key", map[string]string{"image.digest": "x"}, nil, "no key image.digest"},
		{"a mapping", map[string]string{"image": "x"}, nil, "not a single value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := SetValues([]byte(values), tt.set)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

package testutil

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// Summary collects the figures an end-to-end test measures, for the file
// `make test` prints (and docs/benchmarks.md quotes).
type Summary struct {
	// Title heads the figures, e.g. "GitOps with Argo CD (test/gitops)".
	Title string
	// Env names the variable that holds the file's path; unset, nothing
	// is written.
	Env   string
	lines []string
}

// Measure logs a figure and keeps it for the summary.
func (s *Summary) Measure(t *testing.T, what string, d time.Duration) {
	t.Helper()
	line := fmt.Sprintf("%-58s %6.1fs", what, d.Seconds())
	t.Log(line)
	s.lines = append(s.lines, line)
}

// Write writes the figures to the file $Env names.
func (s *Summary) Write(t *testing.T) {
	path := os.Getenv(s.Env)
	if path == "" {
		return
	}
	text := s.Title + ":\n  " + strings.Join(s.lines, "\n  ") + "\n"
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Error(err)
	}
}

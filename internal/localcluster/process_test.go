package localcluster

import (
	"errors"
	"testing"
)

func TestProcessExitedEarly(t *testing.T) {
	tests := []struct {
		name      string
		script    string
		portTaken bool
	}{
		{name: "bind failure", script: `echo "listen tcp 127.0.0.1:2379: bind: address already in use" >&2; exit 1`, portTaken: true},
		{name: "other failure", script: `echo "invalid flag" >&2; exit 2`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := startProcess("sh", "/bin/sh", []string{"-c", tt.script}, nil, t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			<-p.exited
			err = p.running()
			if err == nil {
				t.Fatal("running() = nil for an exited process")
			}
			if got := errors.Is(err, errPortTaken); got != tt.portTaken {
				t.Errorf("errors.Is(%v, errPortTaken) = %v, want %v", err, got, tt.portTaken)
			}
		})
	}
}

package demoapp

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

func TestGet(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Not ready on the first call, as a Service just after its pod starts.
		if calls.Add(1) == 1 {
			http.Error(w, "not yet", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte(`{"message":"hello"}`))
	}))
	defer srv.Close()

	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantOut    string
		wantErrOut string
	}{
		{"answers after a retry", []string{srv.URL}, 0, `{"message":"hello"}`, ""},
		{"gives up at the timeout", []string{"--timeout", "300ms", "http://127.0.0.1:1/"}, 1, "", "connection refused"},
		{"no URL", nil, 2, "", "want one URL"},
		{"help", []string{"--help"}, 0, "Usage: demo-app get", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if code := Get(context.Background(), tt.args, &out, &errOut); code != tt.wantCode {
				t.Fatalf("exit code %d, want %d (stderr %q)", code, tt.wantCode, errOut.String())
			}
			if !strings.Contains(out.String(), tt.wantOut) || !strings.Contains(errOut.String(), tt.wantErrOut) {
				t.Errorf("stdout %q, stderr %q; want %q and %q", out.String(), errOut.String(), tt.wantOut, tt.wantErrOut)
			}
		})
	}
}

package controller

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing/transport"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tenantry/tenantry/api/v1alpha1"
	"github.com/tenantry/tenantry/internal/gitops"
)

// One case per way a reconcile's Git writes end.
func TestGitWriteCondition(t *testing.T) {
	const repo = "https://git.example.com/acme/apps.git"
	refused := fmt.Errorf("push the revert of 1234567 to main of %s: %w", repo, transport.ErrAuthenticationRequired)
	tests := []struct {
		name   string
		writes []gitWrite
		// want is "" for no condition, else "Status/Reason: fragment".
		want string
	}{
		{name: "no write", want: ""},
		{name: "nothing to push proves nothing", writes: []gitWrite{{repoURL: repo, secret: "tenantry-system/git"}}, want: ""},
		{name: "a network failure says nothing about credentials",
			writes: []gitWrite{{repoURL: repo, secret: "tenantry-system/git", err: errors.New("dial tcp: connection refused")}}, want: ""},
		{name: "pushed", writes: []gitWrite{{repoURL: repo, secret: "tenantry-system/git", pushed: true}},
			want: "True/GitWritePushed: pushed to " + repo + " with the credentials of Secret tenantry-system/git"},
		{name: "pushed anonymously", writes: []gitWrite{{repoURL: "git://127.0.0.1/apps", pushed: true}},
			want: "True/GitWritePushed: pushed to git://127.0.0.1/apps anonymously"},
		{name: "no Secret for SSH", writes: []gitWrite{{repoURL: "ssh://git@git.example.com/apps", err: fmt.Errorf("%w: none", gitops.ErrCredentialsMissing)}},
			want: "False/GitCredentialsMissing: no Git credentials for ssh://git@git.example.com/apps: create a Secret in namespace tenantry-system labelled tenantry.dev/git-credentials=true with url (a prefix of ssh://git@git.example.com/apps) and username + password (HTTPS; a token goes in password) or sshPrivateKey + knownHosts (SSH)"},
		{name: "no Secret and the server wants one", writes: []gitWrite{{repoURL: repo, err: refused}},
			want: "False/GitCredentialsMissing: could not write to " + repo + " without credentials (push the revert"},
		{name: "an unusable Secret", writes: []gitWrite{{repoURL: repo, secret: "tenantry-system/git", err: fmt.Errorf("%w: Secret tenantry-system/git: no password", gitops.ErrCredentialsInvalid)}},
			want: "False/GitCredentialsInvalid: invalid Git credentials: Secret tenantry-system/git: no password"},
		{name: "refused credentials", writes: []gitWrite{{repoURL: repo, secret: "tenantry-system/git", err: refused}},
			want: "False/GitAuthFailed: writing to " + repo + " with the credentials of Secret tenantry-system/git failed: push the revert"},
		{name: "a failure outweighs a push", writes: []gitWrite{
			{repoURL: "git://127.0.0.1/apps", pushed: true},
			{repoURL: repo, secret: "tenantry-system/git", err: refused},
		}, want: "False/GitAuthFailed: writing to " + repo},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := gitWriteCondition("tenantry-system", tt.writes)
			if tt.want == "" {
				if got != nil {
					t.Fatalf("condition = %+v, want none", got)
				}
				return
			}
			if got == nil {
				t.Fatalf("no condition, want %s", tt.want)
			}
			if s := fmt.Sprintf("%s/%s: %s", got.Status, got.Reason, got.Message); !strings.HasPrefix(s, tt.want) {
				t.Errorf("condition = %s\nwant prefix   %s", s, tt.want)
			}
		})
	}
}

// The condition stays until a write says otherwise, and goes with
// spec.revertOnAbort.
func TestSetGitWriteCondition(t *testing.T) {
	tenant := &v1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Generation: 3}, Spec: v1alpha1.TenantSpec{RevertOnAbort: true}}
	var conditions []metav1.Condition
	failed := &metav1.Condition{Type: v1alpha1.ConditionGitWriteReady, Status: metav1.ConditionFalse, Reason: reasonGitAuthFailed, Message: "m"}
	setGitWriteCondition(&conditions, tenant, failed)
	if c := meta.FindStatusCondition(conditions, v1alpha1.ConditionGitWriteReady); c == nil || c.Reason != reasonGitAuthFailed || c.ObservedGeneration != 3 {
		t.Fatalf("after a failure: %+v", conditions)
	}
	setGitWriteCondition(&conditions, tenant, nil)
	if c := meta.FindStatusCondition(conditions, v1alpha1.ConditionGitWriteReady); c == nil || c.Reason != reasonGitAuthFailed {
		t.Fatalf("a reconcile without writes changed it: %+v", conditions)
	}
	setGitWriteCondition(&conditions, tenant, &metav1.Condition{Type: v1alpha1.ConditionGitWriteReady, Status: metav1.ConditionTrue, Reason: reasonGitWritePushed, Message: "ok"})
	if !meta.IsStatusConditionTrue(conditions, v1alpha1.ConditionGitWriteReady) {
		t.Fatalf("after a push: %+v", conditions)
	}
	tenant.Spec.RevertOnAbort = false
	setGitWriteCondition(&conditions, tenant, nil)
	if len(conditions) != 0 {
		t.Fatalf("without revertOnAbort: %+v", conditions)
	}
}

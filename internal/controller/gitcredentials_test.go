package controller

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing/transport"

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

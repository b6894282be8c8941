package controller

import (
	"context"
	"errors"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tenantry/tenantry/api/v1alpha1"
	"github.com/tenantry/tenantry/internal/gitops"
)

// GitWriteReady reasons.
const (
	reasonGitWritePushed        = "GitWritePushed"
	reasonGitCredentialsMissing = "GitCredentialsMissing"
	reasonGitCredentialsInvalid = "GitCredentialsInvalid"
	reasonGitAuthFailed         = "GitAuthFailed"
)

// gitCredentialSecrets lists the Git credentials Secrets of the operator's
// namespace, read directly: the operator caches no Secret, and tenants'
// Secrets are never candidates, so a tenant cannot point the operator's
// writes at credentials of its own making.
func gitCredentialSecrets(ctx context.Context, reader client.Reader, namespace string) ([]corev1.Secret, error) {
	list := &corev1.SecretList{}
	err := reader.List(ctx, list, client.InNamespace(namespace), client.MatchingLabels{v1alpha1.LabelGitCredentials: "true"})
	if err != nil {
		return nil, fmt.Errorf("listing the Git credentials Secrets (label %s=true) in %s: %w", v1alpha1.LabelGitCredentials, namespace, err)
	}
	return list.Items, nil
}

// gitWrite is one Git write the operator attempted (a revert) and how it
// ended: pushed, refused (err), or nothing to push (neither).
type gitWrite struct {
	repoURL string
	// secret is the namespace/name of the credentials used, "" for none.
	secret string
	pushed bool
	err    error
}

// gitWriteCondition turns one reconcile's Git writes into the
// GitWriteReady condition: false with the fix when a write failed for its
// credentials (missing, unusable, refused), true when one was pushed and
// none failed so. Other failures (network, a branch that moved twice) say
// nothing about the credentials, and a write with nothing to push proves
// nothing: it is nil then, and the condition stays as it was.
func gitWriteCondition(namespace string, writes []gitWrite) *metav1.Condition {
	var reason string
	var problems, pushed []string
	for _, w := range writes {
		why, problem := gitWriteProblem(namespace, w)
		switch {
		case problem != "":
			if reason == "" {
				reason = why
			}
			problems = append(problems, problem)
		case w.pushed:
			via := "anonymously"
			if w.secret != "" {
				via = "with the credentials of Secret " + w.secret
			}
			pushed = append(pushed, fmt.Sprintf("pushed to %s %s", w.repoURL, via))
		}
	}
	switch {
	case len(problems) > 0:
		return &metav1.Condition{Type: v1alpha1.ConditionGitWriteReady, Status: metav1.ConditionFalse, Reason: reason, Message: strings.Join(problems, "; ")}
	case len(pushed) > 0:
		return &metav1.Condition{Type: v1alpha1.ConditionGitWriteReady, Status: metav1.ConditionTrue, Reason: reasonGitWritePushed, Message: strings.Join(pushed, "; ")}
	}
	return nil
}

// gitWriteProblem is the reason and message of a write that failed for its
// credentials, "" otherwise. Each message names the repository, where the
// Secret goes and what it must hold.
func gitWriteProblem(namespace string, w gitWrite) (reason, message string) {
	create := fmt.Sprintf("create a Secret in namespace %s labelled %s=true with %s (a prefix of %s) and %s + %s (HTTPS; a token goes in %s) or %s + %s (SSH); see docs/install.md, \"Git credentials\"",
		namespace, v1alpha1.LabelGitCredentials, gitops.CredentialURL, w.repoURL,
		gitops.CredentialUsername, gitops.CredentialPassword, gitops.CredentialPassword, gitops.CredentialSSHPrivateKey, gitops.CredentialKnownHosts)
	switch {
	case w.err == nil:
		return "", ""
	case errors.Is(w.err, gitops.ErrCredentialsMissing):
		return reasonGitCredentialsMissing, fmt.Sprintf("no Git credentials for %s: %s", w.repoURL, create)
	case errors.Is(w.err, gitops.ErrCredentialsInvalid):
		return reasonGitCredentialsInvalid, w.err.Error()
	case !gitops.IsAuthError(w.err):
		return "", ""
	case w.secret == "":
		return reasonGitCredentialsMissing, fmt.Sprintf("could not write to %s without credentials (%v): %s", w.repoURL, w.err, create)
	}
	return reasonGitAuthFailed, fmt.Sprintf("writing to %s with the credentials of Secret %s failed: %v; give the Secret a %s or %s with write access to the repository, and the server's %s or %s if its identity was refused",
		w.repoURL, w.secret, w.err, gitops.CredentialPassword, gitops.CredentialSSHPrivateKey, gitops.CredentialKnownHosts, gitops.CredentialCABundle)
}

package localcluster

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"github.com/tenantry/tenantry/internal/images"
)

// The harness's own pods (CoreDNS, Prometheus, Traefik, Argo Rollouts, the
// clients) pass Pod Security restricted, as a tenant's must: they run in
// namespaces that enforce it, and they show that the platform's parts need
// no exception.

// restrictedPodSecurity runs every container of a pod as the images'
// non-root user with the runtime's default seccomp profile.
func restrictedPodSecurity() *corev1.PodSecurityContext {
	return &corev1.PodSecurityContext{
		RunAsNonRoot:   ptr.To(true),
		RunAsUser:      ptr.To[int64](images.NonRootUID),
		RunAsGroup:     ptr.To[int64](images.NonRootUID),
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

// restrictedContainerSecurity drops every capability and privilege
// escalation, and keeps the root file system read-only.
func restrictedContainerSecurity() *corev1.SecurityContext {
	return &corev1.SecurityContext{
		AllowPrivilegeEscalation: ptr.To(false),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		ReadOnlyRootFilesystem:   ptr.To(true),
	}
}

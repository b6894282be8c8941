package render

import (
	"strings"

	"github.com/tenantry/tenantry/api/v1alpha1"
)

// DomainsOverlap reports whether two ingress domains share a name: they are
// equal, or one is under the other ("shop.acme.example.com" is under
// "acme.example.com"). Domains are compared label-wise, so "myacme.example.com"
// does not overlap "acme.example.com".
func DomainsOverlap(a, b string) bool {
	return a == b || strings.HasSuffix(a, "."+b) || strings.HasSuffix(b, "."+a)
}

// DomainConflict returns the first domain of t that overlaps a domain of
// another tenant that claimed it first, with that tenant, or "" when t's
// domains are its own. The earlier-created Tenant keeps a contested domain
// (by name when both were created in the same second), so the outcome does
// not depend on which one the operator happens to see first.
func DomainConflict(t *v1alpha1.Tenant, others []v1alpha1.Tenant) (domain, owner, ownerDomain string) {
	for i := range others {
		o := &others[i]
		if o.Name == t.Name || !o.DeletionTimestamp.IsZero() || !claimedBefore(o, t) {
			continue
		}
		for _, d := range t.Spec.Ingress.Domains {
			for _, od := range o.Spec.Ingress.Domains {
				if DomainsOverlap(d, od) {
					return d, o.Name, od
				}
			}
		}
	}
	return "", "", ""
}

func claimedBefore(a, b *v1alpha1.Tenant) bool {
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	}
	return a.Name < b.Name
}

package render

import (
	"slices"
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

// DomainConflict returns the first domain of t that overlaps a domain
// another tenant has a better claim to, with that tenant and its domain, or
// three empty strings when t's domains are its own. A domain in force
// (status.ingressDomains) is never taken from its holder; between two fresh
// claims the earlier-created Tenant wins (by name within the same second),
// so the outcome does not depend on which one the operator sees first.
func DomainConflict(t *v1alpha1.Tenant, others []v1alpha1.Tenant) (domain, owner, ownerDomain string) {
	for i := range others {
		o := &others[i]
		if o.Name == t.Name || !o.DeletionTimestamp.IsZero() {
			continue
		}
		for _, d := range t.Spec.Ingress.Domains {
			for _, od := range o.Spec.Ingress.Domains {
				if DomainsOverlap(d, od) && outranks(o, od, t, d) {
					return d, o.Name, od
				}
			}
		}
	}
	return "", "", ""
}

// outranks reports whether tenant a's claim on domain ad beats tenant b's
// claim on the overlapping domain bd.
func outranks(a *v1alpha1.Tenant, ad string, b *v1alpha1.Tenant, bd string) bool {
	aHolds, bHolds := slices.Contains(a.Status.IngressDomains, ad), slices.Contains(b.Status.IngressDomains, bd)
	if aHolds != bHolds {
		return aHolds
	}
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	}
	return a.Name < b.Name
}

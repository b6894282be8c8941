// Module traefik pins Traefik v3, built into bin/traefik: the local cluster's
// ingress controller and the traffic router of Argo Rollouts' canaries
// (internal/localcluster StartTraefik). hack/traefik-build.sh builds it.
//
// A dependency's replace directives do not apply to the module that requires
// it, so Traefik's are restated here, with two changes where the module
// proxy serves nothing: its extension module (a directory of Traefik's
// repository, left out of its module zip) comes from ./ext, and basic and
// digest auth use upstream go-http-auth v0.4.0 in place of containous's
// fork. overlay/ drops lego's ACME DNS-01 providers, some of whose SDKs the
// proxy does not serve either.
module github.com/tenantry/tenantry/tools/traefik

go 1.26.0

require github.com/traefik/traefik/v3 v3.7.13

replace (
	github.com/abbot/go-http-auth => github.com/abbot/go-http-auth v0.4.0
	github.com/gorilla/mux => github.com/containous/mux v0.0.0-20250523120546-41b6ec3aed59
	github.com/traefik/traefik/dynamic/ext => ./ext
)

// Traefik excludes it: tencentcloud's monorepo makes its packages ambiguous.
exclude github.com/tencentcloud/tencentcloud-sdk-go v3.0.83+incompatible

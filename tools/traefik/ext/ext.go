// Package ext holds the extension points Traefik embeds in its dynamic
// configuration (dynamic.HTTPConfiguration and dynamic.Router). Open-source
// Traefik leaves them empty, as here; only Traefik's commercial builds fill
// them in. These are the only two names Traefik v3.7 uses from it.
package ext

// HTTP is embedded in dynamic.HTTPConfiguration.
type HTTP struct{}

// Router is embedded in dynamic.Router.
type Router struct{}

#!/usr/bin/env bash
# Builds bin/traefik from tools/traefik. Two of Traefik's dependencies cannot
# be built as the module proxy serves them, so this builds against patched
# copies of them, made in a build directory next to OUTPUT and wired in with
# a copy of tools/traefik/go.mod (go build -modfile):
#
# - github.com/go-acme/lego/v5 (v5.4.1 with Traefik v3.7.13): its registry
#   of ACME DNS-01 providers imports every DNS provider's SDK, and the proxy
#   serves some of them at no version (Akamai EdgeGrid v13, Oracle's OCI SDK
#   fork). The registry is swapped for
#   tools/traefik/patches/lego-dns-providers.go.in, which links none (the
#   local cluster issues no ACME certificates); it also spares compiling
#   some 900 packages.
# - github.com/abbot/go-http-auth: Traefik uses containous's fork, which the
#   proxy does not serve; v0.4.0 plus the two functions Traefik calls
#   (tools/traefik/patches/go-http-auth.go.in) stands in for it.
#
# usage: hack/traefik-build.sh OUTPUT
# OUTPUT must be absolute.
set -euo pipefail

out=$1
repo=$(cd "$(dirname "$0")/.." && pwd)
module_dir=$repo/tools/traefik
build=$(dirname "$out")/traefik-build
rm -rf "$build"
mkdir -p "$build"

# module_dir_of MODULE@VERSION: the module's directory in the module cache,
# downloaded if need be.
module_dir_of() {
	(cd "$module_dir" && go mod download -json "$1" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
}
# copy_module MODULE@VERSION DEST: a writable copy (the cache is read-only).
copy_module() {
	local src
	src=$(module_dir_of "$1")
	[[ -n $src ]] || { echo "cannot download $1" >&2; exit 1; }
	cp -R "$src" "$2"
	chmod -R u+w "$2"
}

# The lego Traefik requires, whatever Traefik version tools/traefik pins.
lego=$(cd "$module_dir" && go list -m -f '{{.Path}}@{{.Version}}' github.com/go-acme/lego/v5)
copy_module "$lego" "$build/lego"
cp "$module_dir/patches/lego-dns-providers.go.in" "$build/lego/providers/dns/zz_gen_dns_providers.go"

copy_module github.com/abbot/go-http-auth@v0.4.0 "$build/go-http-auth"
cp "$module_dir/patches/go-http-auth.go.in" "$build/go-http-auth/traefik.go"
# v0.4.0 predates modules; a replacement directory needs a go.mod.
printf 'module github.com/abbot/go-http-auth\n\ngo 1.21\n' >"$build/go-http-auth/go.mod"

cp "$module_dir/go.mod" "$module_dir/go.sum" "$build/"
# go mod edit resolves relative replacement paths against the module
# directory, so ./ext still names tools/traefik/ext.
(cd "$module_dir" && go mod edit -modfile "$build/go.mod" \
	-replace "github.com/go-acme/lego/v5=$build/lego" \
	-replace "github.com/abbot/go-http-auth=$build/go-http-auth")

version=$(cd "$module_dir" && go list -m -f '{{.Version}}' github.com/traefik/traefik/v3)
# Stamped as Traefik's release build does, so its logs, /api/version and
# the dashboard name the real version; the build date is the module's.
ldflags="-X github.com/traefik/traefik/v3/pkg/version.Version=$version"
ldflags+=" -X github.com/traefik/traefik/v3/pkg/version.BuildDate=$(cd "$module_dir" && go list -m -f '{{.Time.Format "2006-01-02T15:04:05Z"}}' github.com/traefik/traefik/v3)"
CGO_ENABLED=0 "$repo/hack/gobuild.sh" "$module_dir" "$out" "$ldflags" \
	-trimpath -modfile "$build/go.mod" github.com/traefik/traefik/v3/cmd/traefik

// Module ext stands in for github.com/traefik/traefik/dynamic/ext, which
// Traefik's go.mod replaces with a directory of its repository
// (pkg/config/dynamic/ext): the module proxy serves neither that module nor
// the directory (a nested module is left out of Traefik's module zip).
module github.com/traefik/traefik/dynamic/ext

go 1.24.0

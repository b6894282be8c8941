#!/usr/bin/env bash
# Builds Go commands from one of the tools/ modules into bin/, printing what it builds and a progress line now and then: a cold build of
# the Kubernetes binaries compiles ~2,000 packages and takes minutes, and a
# silent terminal looks hung.
#
# usage: hack/gobuild.sh MODULE_DIR OUTPUT LDFLAGS PACKAGE...
# OUTPUT is passed to `go build -o`: a directory ending in / for several
# commands, or a file name for one. It must be absolute.
set -euo pipefail

module_dir=$1 output=$2 ldflags=$3
shift 3
mkdir -p "$(dirname "$output.")"
if [[ $output == */ ]]; then
	names=$(for p in "$@"; do basename "$p"; done | tr '\n' ' ')
else
	names="$(basename "$output") "
fi
start=$SECONDS
echo ">> building ${names}from $module_dir"
cd "$module_dir"
# -v names each package as it is compiled (cached ones are silent); count
# them, pass anything else (compiler errors) through untouched.
go build -v -ldflags "-s -w $ldflags" -o "$output" "$@" 2>&1 |
	while IFS= read -r line; do
		if [[ $line =~ ^[^\ :#]+$ ]]; then
			n=$((${n:-0} + 1))
			if ((n % 200 == 0)); then echo "   ... $n packages compiled ($((SECONDS - start))s)"; fi
		else
			echo "$line"
		fi
	done
echo ">> built ${names}in $((SECONDS - start))s"

#!/usr/bin/env bash
# Installs the Debian packages the local cluster's real node takes from the
# distribution rather than building them (docs/local-control-plane.md says
# why each one):
#   libseccomp-dev                to build runc with seccomp (Pod Security
#                                 restricted asks for RuntimeDefault)
#   containernetworking-plugins   bridge, host-local, loopback, portmap
#   iptables                      what those plugins and kube-proxy program
#   ipset                         what kube-router's NetworkPolicy controller
#                                 programs next to iptables
#   prometheus                    the cluster's Prometheus and promtool (the
#                                 package's own service is never started)
# Only what is missing is installed, and only as root; without root the
# real-node tests skip and say so.
#
# usage: hack/node-packages.sh
set -euo pipefail

declare -A wanted=(
	[libseccomp-dev]=/usr/include/seccomp.h
	[containernetworking-plugins]=/usr/lib/cni/bridge
	[iptables]=/usr/sbin/iptables
	[ipset]=/usr/sbin/ipset
	[prometheus]=/usr/bin/promtool
)
missing=()
for pkg in "${!wanted[@]}"; do
	[[ -e ${wanted[$pkg]} ]] || missing+=("$pkg")
done
((${#missing[@]} == 0)) && exit 0
if ((EUID != 0)); then
	echo ">> not root: skipping ${missing[*]} (the real-node tests will skip)" >&2
	exit 0
fi
echo ">> installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# No package may start a service of its own (prometheus would take :9090):
# policy-rc.d answering 101 tells invoke-rc.d and deb-systemd-invoke so.
policy=/usr/sbin/policy-rc.d
if [[ ! -e $policy ]]; then
	printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy"
	trap 'rm -f "$policy"' EXIT
fi
apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null ||
	{ apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null; }

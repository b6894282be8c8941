#!/usr/bin/env bash
# Runs Tenantry's admission suites on the oldest Kubernetes it supports:
# the control plane's kube-apiserver, kube-controller-manager and
# kube-scheduler come from KUBE_BIN_DIR (TENANTRY_KUBE_BIN_DIR, read by
# internal/localcluster), etcd and kwok from bin/ as usual. Writes a
# short report to OUT_DIR/report.md (each suite's log beside it) and exits
# non-zero if a suite failed. `make test-oldest-kube` runs it.
#
# usage: tools/kube-oldest/test.sh VERSION KUBE_BIN_DIR OUT_DIR [PACKAGE...]
# The packages default to the guardrail tests and the e2e suite (the
# operator end to end and the tenant escape suite).
set -euo pipefail

version=$1 kube_bin_dir=$2 out=$3
shift 3
packages=("$@")
if ((${#packages[@]} == 0)); then
	packages=(./internal/install/ ./test/e2e/)
fi
reported=$("$kube_bin_dir/kube-apiserver" --version)
if [[ $reported != "Kubernetes $version" ]]; then
	echo "$kube_bin_dir/kube-apiserver reports \"$reported\", want Kubernetes $version: rebuild it (rm -r $kube_bin_dir)" >&2
	exit 1
fi
rm -rf "$out"
mkdir -p "$out"
export TENANTRY_KUBE_BIN_DIR=$kube_bin_dir
export TENANTRY_ESCAPE_SUMMARY=$out/escape-summary.txt

start=$SECONDS
rows=() failures=() failed=0
for pkg in "${packages[@]}"; do
	log=$out/$(echo "${pkg#./}" | tr / - | sed 's/-$//').log
	echo ">> go test $pkg on Kubernetes $version (log: $log)"
	t0=$SECONDS
	# No -race: this run is about what the older API server accepts and
	# refuses; `make test` races Tenantry's code on the pinned version.
	if go test -count=1 -timeout 20m -v "$pkg" >"$log" 2>&1; then result=ok; else result=FAIL failed=1; fi
	# Every test and subtest, as go test -v reports them.
	pass=$(grep -cE '^ *--- PASS' "$log" || true)
	fail=$(grep -cE '^ *--- FAIL' "$log" || true)
	skip=$(grep -cE '^ *--- SKIP' "$log" || true)
	if [[ $result == FAIL && $pass$fail == 00 ]]; then result="FAIL (set-up)"; fi
	rows+=("| \`$pkg\` | $result | $pass | $fail | $skip | $((SECONDS - t0)) s |")
	echo "   $result: $pass passed, $fail failed, $skip skipped in $((SECONDS - t0))s"
	if [[ $result == FAIL* ]]; then
		# The failures, and a set-up failure (TestMain) that runs no test;
		# the first line of each, shortened in the middle, as the API
		# server's errors run long and end with the cause.
		failures+=("$(grep -E '^ *--- FAIL|^(setting up|starting) ' "$log" | head -40 |
			awk 'length > 700 {$0 = substr($0, 1, 300) " [...] " substr($0, length - 399)} {print}' || true)")
		echo "${failures[-1]}" | sed 's/^/   /'
	fi
done

{
	echo "# Tenantry on Kubernetes $version"
	echo
	echo "The oldest Kubernetes Tenantry supports, run by \`tools/kube-oldest/test.sh\` (\`make test-oldest-kube\`) on $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "(kube-apiserver, kube-controller-manager and kube-scheduler from \`${kube_bin_dir#"$PWD/"}\`; etcd and kwok from \`bin/\`)."
	echo
	echo "| package | result | passed | failed | skipped | time |"
	echo "| --- | --- | --- | --- | --- | --- |"
	printf '%s\n' "${rows[@]}"
	echo
	echo "Passed, failed and skipped count tests and subtests. Total: $((SECONDS - start)) s."
	if ((${#failures[@]} > 0)); then
		echo
		echo "Failures (the logs beside this report say more):"
		echo
		echo '```'
		printf '%s\n' "${failures[@]}"
		echo '```'
	fi
	if [[ -s $TENANTRY_ESCAPE_SUMMARY ]]; then
		echo
		echo "$(cat "$TENANTRY_ESCAPE_SUMMARY")."
	fi
} >"$out/report.md"
echo
cat "$out/report.md"
exit $failed

#!/bin/sh
# make bench: run the benchmark harness (bench/cnibench/) and write bench/RESULTS.md and
# bench/results.json. Usage: scripts/bench.sh BUILD_DIR
#
# BIP_BENCH_QUICK=1 shrinks every size to try the harness; its output goes to BUILD_DIR/bench/
# instead, so it never overwrites the committed results. The etcd rows run against
# BIP_BENCH_ETCD=etcd://host:port (row 6) and BIP_BENCH_ETCD3 (row 6b, three members); when
# BIP_BENCH_ETCD is unset and etcd is installed, this script starts its own single member and
# three-member cluster on loopback through tests/etcd-harness.sh (stopped at the end);
# BIP_BENCH_ETCD= (empty) skips the etcd rows. Needs /usr/lib/cni/host-local (scripts/deps.sh
# bench); hyperfine is optional (a cross-check of the floor).
set -eu
BUILD=${1:-build}
self=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
cd "$(dirname "$0")/.."
# Our own etcd servers: run again under the harness, which sets BIP_TEST_ETCD for the command.
have_etcd() { command -v etcd >/dev/null 2>&1 && command -v etcdctl >/dev/null 2>&1; }
if [ -z "${BIP_BENCH_ETCD+set}" ] && have_etcd; then
	exec bash tests/etcd-harness.sh single -- \
		sh -c 'BIP_BENCH_ETCD=$BIP_TEST_ETCD BIP_BENCH_OWN_ETCD=1 exec "$0" "$@"' "$self" "$@"
fi
if [ -n "${BIP_BENCH_OWN_ETCD:-}" ] && [ -z "${BIP_BENCH_ETCD3+set}" ]; then
	exec bash tests/etcd-harness.sh cluster -- \
		sh -c 'BIP_BENCH_ETCD3=$BIP_TEST_ETCD exec "$0" "$@"' "$self" "$@"
fi
out=bench
if [ -n "${BIP_BENCH_QUICK:-}" ] && [ "${BIP_BENCH_QUICK}" != 0 ]; then
	out=$BUILD/bench
fi
commit=$(git rev-parse HEAD 2>/dev/null || echo unknown)
if [ "$commit" != unknown ] && ! git diff --quiet HEAD -- . ':!bench/RESULTS.md' ':!bench/results.json' 2>/dev/null; then
	commit="$commit (with uncommitted changes)"
fi
BIP_BENCH_PEER_VERSION=$(dpkg-query -W -f='${Version}' containernetworking-plugins 2>/dev/null || echo unknown)
export BIP_BENCH_PEER_VERSION
hf=""
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if command -v hyperfine >/dev/null 2>&1; then
	if hyperfine -N --style none --warmup 50 --runs 1000 --export-json "$tmp/floor.json" \
		"$BUILD/bench/nop" >/dev/null 2>&1; then
		hf="--hyperfine-json $tmp/floor.json"
	fi
fi
start=$(date +%s)
# shellcheck disable=SC2086
"$BUILD/bench/cnibench" --build "$BUILD" --commit "$commit" --json "$out/results.json" \
	--md "$out/RESULTS.md" $hf
echo "bench: $out/RESULTS.md and $out/results.json ($(($(date +%s) - start)) s)"

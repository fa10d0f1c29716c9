#!/usr/bin/env bash
# The etcd backend's costs, on our own etcd (tests/etcd-harness.sh); results in
# bench/RESULTS-etcd.md. Needs hyperfine and a built tree (make):
#
#   scripts/bench-etcd.sh [BUILD]        RUNS=500 (exec runs), SEQ=3000 (txns per in-process run)
#
# 1. exec cost of linking libssl: bench_etcd linked as the plugin is (SQLite and jansson static),
#    without and with libssl/libcrypto (--no-as-needed: loaded, not called), running "none"
# 2. one process = open + one create-if-absent txn + close, exec'd (hyperfine -N): etcd://, and
#    etcds:// with mutual TLS (OpenSSL dlopen'ed on that path only)
# 3. in one process, sequential CAS txns on one kept-alive connection: txn/s, latency, connects
set -eu
build=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. tests/etcd-harness.sh
runs=${RUNS:-500}
seq=${SEQ:-3000}
out=$build/etcd-bench
mkdir -p "$out" "$build/obj/bench"
command -v hyperfine >/dev/null && command -v jq >/dev/null || { echo "needs hyperfine and jq"; exit 1; }
make -s "$build/libblockipam.a" "$build/obj/bench/bench_etcd.o" "$build/obj/bench/common/stats.o" \
	BUILD="$build"
objs="$build/obj/bench/bench_etcd.o $build/obj/bench/common/stats.o"
# hyperfine, then one line per command: median, p90, p99, min (jq over its JSON export).
hf() {
	local json
	json=$(mktemp)
	hyperfine -N --style none --export-json "$json" "$@" >/dev/null 2>&1
	jq -r '.results[] | (.times | sort) as $t | ($t | length) as $n |
		"  \(.command): median \($t[$n / 2 | floor] * 1e3 * 1000 | round / 1000) ms, " +
		"p90 \($t[$n * 0.9 | floor] * 1e6 | round / 1000), p99 \($t[$n * 0.99 | floor] * 1e6 |
		round / 1000), min \($t[0] * 1e6 | round / 1000) ms; user+sys mean " +
		"\((.user + .system) * 1e6 | round / 1000) ms (\($n) runs)"' "$json"
	rm -f "$json"
}
static="-Wl,-Bstatic -lsqlite3 -ljansson -Wl,-Bdynamic"
cc -o "$out/nossl" $objs "$build/libblockipam.a" $static -lm -lpthread -ldl
cc -o "$out/withssl" $objs "$build/libblockipam.a" $static \
	-Wl,--no-as-needed -lssl -lcrypto -Wl,--as-needed -lm -lpthread -ldl

echo "== 1. exec cost of linking libssl (the program exits at once)"
hf --warmup 100 --runs $((runs * 2)) "$out/nossl none" "$out/withssl none"

certs=$(mktemp -d)
trap 'etcd_cleanup; rm -rf "$certs"' EXIT
etcd_start_single
plain=$ETCD_ADDR
echo "== 2. one txn per exec, etcd:// ($plain)"
hf --warmup 50 --runs "$runs" "$out/nossl $plain once"

echo "== 3. sequential CAS txns in one process"
for _ in 1 2 3; do "$out/nossl" "$plain" seq "$seq"; done
etcd_cleanup

etcd_make_certs "$certs"
etcd_start_single --tls "$certs"
export BIP_ETCD_CA=$certs/ca.pem BIP_ETCD_CERT=$certs/client.pem BIP_ETCD_KEY=$certs/client-key.pem
echo "== 2b. one txn per exec, etcds:// with mutual TLS ($ETCD_ADDR)"
hf --warmup 50 --runs "$runs" "$out/nossl $ETCD_ADDR open" "$out/nossl $ETCD_ADDR once"
echo "== 3b. sequential CAS txns in one process, TLS"
"$out/nossl" "$ETCD_ADDR" seq "$seq"

#!/usr/bin/env bash
# The real plugin, exec'd, against one local etcd (issue #6): this build against another build
# (OTHER, e.g. the commit before a change) and host-local, in the same run, taking turns exec by
# exec (bench/bench_exec.c), then the 16 nodes x 4 processes test (tests/etcd_nodes.sh) of each
# build, and the floor (build/bench/nop: what an exec costs, in the same turns). Results go in
# bench/RESULTS-etcd.md.
#
#   scripts/bench-etcd-exec.sh [BUILD [OTHER_BUILD]]     N=300 (ADDs per round), ROUNDS=3,
#                                                         NODES=1 (run tests/etcd_nodes.sh),
#                                                         NODES_ROUNDS=1 (times, each build)
#
# Each build has its own key prefix (store_prefix) on the same etcd, holding the same pool
# (10.0.0.0/8, /26 blocks); each round is N ADDs then N DELs on node-1, so every round starts
# from an empty pool.
set -eu
build=$(cd "${1:-build}" && pwd)
other=${2:-}
[ -n "$other" ] && other=$(cd "$other" && pwd)
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. tests/etcd-harness.sh
n=${N:-300}
rounds=${ROUNDS:-3}
hl=/usr/lib/cni/host-local
tmp=$(mktemp -d)
trap 'etcd_cleanup; rm -rf "$tmp"' EXIT
make -s -C "$root" BUILD="$build" "$build/bench/bench_exec" >/dev/null
etcd_start_single
ep=${ETCD_ADDR#etcd://}
ctl() { ETCDCTL_API=3 "$ETCDCTL_BIN" --endpoints="$ep" "$@"; }

# The pool, written once through the CLI, copied under each build's prefix.
"$build/blockipamctl" --store "$ETCD_ADDR" apply -f - >/dev/null <<'YAML'
apiVersion: blockipam.io/v1
kind: Pool
metadata: {name: bench}
spec: {cidr: 10.0.0.0/8, blockSize: 26}
YAML
pool=$(ctl get /blockipam/v1/pools/bench --print-value-only)
conf() { # name prefix
	ctl put "$2pools/bench" "$pool" >/dev/null
	cat >"$tmp/$1.conf" <<EOF
{"cniVersion": "1.0.0", "name": "bench",
 "ipam": {"type": "blockipam", "store": "$ETCD_ADDR", "store_prefix": "$2", "node": "node-1"}}
EOF
}
conf new /bench-new/
args=("$build/blockipam" "$tmp/new.conf")
if [ -n "$other" ]; then
	conf other /bench-other/
	args+=("$other/blockipam" "$tmp/other.conf")
fi
if [ -x "$hl" ]; then
	cat >"$tmp/hl.conf" <<EOF
{"cniVersion": "1.0.0", "name": "bench", "type": "bridge",
 "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.88.0.0/16"}]], "dataDir": "$tmp/hl"}}
EOF
	args+=("$hl" "$tmp/hl.conf")
fi
# The floor: a static program that exits at once (what any exec costs here, now).
make -s -C "$root" BUILD="$build" "$build/bench/nop" >/dev/null && args+=("$build/bench/nop" "$tmp/new.conf")
echo "== exec'd ADD then DEL, $n each per round, $rounds rounds, on $ETCD_ADDR; load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "   (plugins take turns: ${args[*]})"
for ((r = 1; r <= rounds; r++)); do
	echo "-- round $r"
	"$build/bench/bench_exec" "${args[0]}" "${args[1]}" "$n" node-1 "${args[@]:2}"
done
etcd_cleanup

[ "${NODES:-1}" = 1 ] || exit 0
for ((r = 1; r <= ${NODES_ROUNDS:-1}; r++)); do
	for b in "$build" ${other:+"$other"}; do
		echo "== 16 nodes x 4 processes, $b; load $(cut -d' ' -f1-3 /proc/loadavg)"
		BIP_BUILD=$b bash tests/etcd_nodes.sh 2>&1 | grep -E 'ADD/s|retries:|median|passed'
	done
done

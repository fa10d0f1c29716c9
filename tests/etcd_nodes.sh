#!/usr/bin/env bash
# Many nodes against one real etcd (tests/etcd-harness.sh): 16 simulated nodes x 4 concurrent
# plugin processes each (64 at once), each process a loop exec'ing build/blockipam for one CNI ADD
# after another (environment + config on stdin, "store": "etcd://...", "node": "node-N"), as a
# runtime calls it. Then:
#
#   - every address the plugin returned is distinct, and the count is the number of ADDs;
#   - an independent checker (python3 over 'etcdctl get --prefix -w json', not our code) reads the
#     raw block and handle records: no address in two allocations, every handle's addresses given
#     to it by a block, as many handles as addresses held as successful ADDs;
#   - 'blockipamctl ipam check' finds nothing.
#
# Prints aggregate ADD/s, retries per ADD (BLOCKIPAM_DEBUG lines) and the latency of sequential
# exec'd ADDs (median, p99). ETCD_NODES_ADDS (default 10000) sets the concurrent ADDs,
# ETCD_NODES_SEQ (default 300) the sequential ones. Ends with "etcd_nodes: N passed, N failed,
# N skipped".
set -u
name=etcd_nodes
. "$(dirname "$0")/lib.sh"
B=$ctl
PLUGIN=$plugin
. "$root/tests/etcd-harness.sh"
make_tmp
unset BLOCKIPAM_STORE BLOCKIPAM_NODE BLOCKIPAM_DEBUG

for f in "$B" "$PLUGIN"; do
	[ -x "$f" ] || { fail "build" "$f is not built"; finish; }
done
if ! command -v "$ETCD_BIN" >/dev/null || ! command -v "$ETCDCTL_BIN" >/dev/null ||
	! command -v python3 >/dev/null; then
	skip "etcd_nodes: etcd, etcdctl or python3 missing: many nodes on etcd NOT tested"
	finish
fi
etcd_start_single || { fail "etcd" "did not start"; finish; }
E=$ETCD_ADDR

nodes=16 per_node=4 workers=$((16 * 4))
total=${ETCD_NODES_ADDS:-10000}
per=$(((total + workers - 1) / workers))
total=$((per * workers))
seq_adds=${ETCD_NODES_SEQ:-300}

"$B" --store "$E" apply -f - >/dev/null <<'YAML' || fail "pool" "apply failed"
apiVersion: blockipam.io/v1
kind: Pool
metadata: {name: many}
spec: {cidr: 10.64.0.0/16, blockSize: 26}
YAML

# worker NODE W COUNT PREFIX: COUNT ADDs one after another as node-NODE
worker() {
	local n=$1 w=$2 count=$3 pre=$4 k
	# No top-level type: the engine's own routed model (every address of a block, any number
	# of blocks per node); no network plugin runs here.
	local conf="{\"cniVersion\": \"1.0.0\", \"name\": \"many\",
 \"ipam\": {\"type\": \"blockipam\", \"store\": \"$E\", \"node\": \"node-$n\"}}"
	for ((k = 1; k <= count; k++)); do
		if CNI_COMMAND=ADD CNI_CONTAINERID="$pre$n-$w-$k" CNI_NETNS=/var/run/netns/x \
			CNI_IFNAME=eth0 CNI_PATH="$build" BLOCKIPAM_DEBUG=1 \
			"$PLUGIN" <<<"$conf" >>"$tmp/out.$n.$w" 2>>"$tmp/dbg.$n.$w"; then
			echo ok >>"$tmp/rc.$n.$w"
		else
			echo fail >>"$tmp/rc.$n.$w"
			echo >>"$tmp/out.$n.$w"
		fi
	done
}

echo "== $nodes nodes x $per_node processes = $workers at once, $total ADDs ($per each)"
t0=$EPOCHREALTIME
for ((n = 1; n <= nodes; n++)); do
	for ((w = 1; w <= per_node; w++)); do worker "$n" "$w" "$per" c & done
done
wait
t1=$EPOCHREALTIME
ok=$(cat "$tmp"/rc.* | grep -c '^ok$')
bad=$(cat "$tmp"/rc.* | grep -c '^fail$')
secs=$(echo "$t1 - $t0" | bc -l)
printf '     %d ADDs ok, %d failed in %.1f s: %.0f ADD/s aggregate\n' "$ok" "$bad" "$secs" \
	"$(echo "$ok / $secs" | bc -l)"
[ "$bad" = 0 ] && pass "all $total concurrent ADDs succeeded" || {
	fail "concurrent ADDs" "$bad failed"
	grep -h '"code"' "$tmp"/out.* | sort | uniq -c | sort -rn | head -5
}
retries=$(cat "$tmp"/dbg.* | sed -n 's/^blockipam: ADD .* retries=\([0-9]*\)$/\1/p' |
	awk '{s += $1; if ($1 > m) m = $1; n++} END {printf "%d %d %d", s, m, n}')
read -r rsum rmax rn <<<"$retries"
printf '     retries: %d in %d ADDs (%.3f per ADD, at most %d in one)\n' "$rsum" "$rn" \
	"$(echo "$rsum / ($rn + ($rn == 0))" | bc -l)" "$rmax"

cat "$tmp"/out.* | grep -o '"address": *"[^"]*"' | sed 's/.*"\([^"]*\)"$/\1/' >"$tmp/addrs"
na=$(wc -l <"$tmp/addrs")
nu=$(sort -u "$tmp/addrs" | wc -l)
[ "$na" = "$ok" ] && [ "$nu" = "$na" ] && pass "the plugin returned $nu distinct addresses" ||
	fail "returned addresses" "$na returned, $nu distinct, $ok ADDs ok"

ETCDCTL_API=3 "$ETCDCTL_BIN" --endpoints="${E#etcd://}" --command-timeout=30s \
	get --prefix /blockipam/v1/ -w json >"$tmp/raw.json" ||
	fail "etcdctl" "could not read the records"
python3 - "$tmp/raw.json" "$tmp/addrs" "$ok" >"$tmp/check" 2>&1 <<'PY'
import base64, ipaddress, json, sys
raw = json.load(open(sys.argv[1]))
returned = {l.strip().split("/")[0] for l in open(sys.argv[2]) if l.strip()}
want = int(sys.argv[3])
owner, dups, mismatch, handles = {}, 0, 0, {}
for kv in raw.get("kvs", []):
    k = base64.b64decode(kv["key"]).decode()
    v = json.loads(base64.b64decode(kv["value"]))
    rel = k[len("/blockipam/v1/"):]
    if rel.startswith("blocks/"):
        net = ipaddress.ip_network(v["cidr"])
        for off, h in v.get("alloc", []):
            a = str(net.network_address + off)
            if a in owner:
                dups += 1
            owner[a] = h
    elif rel.startswith("handles/"):
        handles[rel[len("handles/"):]] = v.get("ips", [])
for h, ips in handles.items():
    for ip in ips:
        if owner.get(ip.split("/")[0]) != h:
            mismatch += 1
missing = len(returned - set(owner))
print(f"held={len(owner)} handles={len(handles)} dups={dups} mismatch={mismatch} "
      f"returned_not_held={missing}")
ok = dups == 0 and mismatch == 0 and missing == 0 and len(owner) == want == len(handles)
sys.exit(0 if ok else 1)
PY
rc=$?
echo "     independent checker: $(cat "$tmp/check")"
[ "$rc" = 0 ] && pass "raw records: zero duplicates, handles and blocks agree" ||
	fail "independent checker" "$(cat "$tmp/check")"
"$B" --store "$E" ipam check >"$tmp/ck" 2>&1 && pass "ipam check finds nothing" || {
	fail "ipam check" "exit $?"
	head -n 20 "$tmp/ck"
}

echo "== $seq_adds sequential exec'd ADDs, one node"
conf="{\"cniVersion\": \"1.0.0\", \"name\": \"many\",
 \"ipam\": {\"type\": \"blockipam\", \"store\": \"$E\", \"node\": \"node-seq\"}}"
seqbad=0
for ((k = 1; k <= seq_adds; k++)); do
	a=$EPOCHREALTIME
	CNI_COMMAND=ADD CNI_CONTAINERID="s-$k" CNI_NETNS=/var/run/netns/x CNI_IFNAME=eth0 \
		CNI_PATH="$build" "$PLUGIN" <<<"$conf" >/dev/null 2>&1 || seqbad=$((seqbad + 1))
	b=$EPOCHREALTIME
	echo "$a $b" >>"$tmp/lat"
done
lat=$(awk '{print ($2 - $1) * 1000}' "$tmp/lat" | sort -n |
	awk '{v[NR] = $1} END {printf "%.2f %.2f %.2f", v[int((NR + 1) / 2)], v[int(NR * 0.99 + 0.999)], v[NR]}')
read -r p50 p99 pmax <<<"$lat"
echo "     exec'd ADD against one local etcd: median $p50 ms, p99 $p99 ms, max $pmax ms (bash fork+exec included)"
[ "$seqbad" = 0 ] && pass "$seq_adds sequential ADDs" || fail "sequential ADDs" "$seqbad failed"
"$B" --store "$E" ipam check >/dev/null 2>&1 && pass "ipam check after all" || fail "ipam check" "at the end"
finish

#!/usr/bin/env bash
# blockipamctl store migrate, end to end against a real etcd (tests/etcd-harness.sh, started with
# etcd's default --max-txn-ops 128 so that the migration must batch):
#
#   a SQLite store with demo-like content (pools, labelled nodes, a namespace, a few hundred
#   ADDs and some DELs through the plugin) -> etcd: 'ipam check' clean and 'ipam show' the same;
#   more ADDs through the plugin against etcd -> a new SQLite file: check and show again; a
#   non-empty target refused (and left alone), --force replaces it; bad addresses named.
#
# Ends with "migrate: N passed, N failed, N skipped". MIGRATE_PODS (default 300) sets the ADDs.
set -u
name=migrate
. "$(dirname "$0")/lib.sh"
B=$ctl
PLUGIN=$plugin
. "$root/tests/etcd-harness.sh"
make_tmp
unset BLOCKIPAM_STORE BLOCKIPAM_NODE

# same NAME FILE1 FILE2
same() {
	if cmp -s "$2" "$3"; then pass "$1"; else
		bad "$1: outputs differ"
		diff "$2" "$3" | head -n 20 | sed 's/^/    | /'
	fi
}

for f in "$B" "$PLUGIN"; do
	[ -x "$f" ] || { fail "build" "$f is not built"; finish; }
done
if ! command -v "$ETCD_BIN" >/dev/null || ! command -v "$ETCDCTL_BIN" >/dev/null; then
	skip "migrate: etcd/etcdctl not installed (scripts/deps.sh test): store migrate is NOT tested"
	finish
fi

pods=${MIGRATE_PODS:-300}
db1=sqlite://$tmp/one.db db2=sqlite://$tmp/two.db

# --- demo-like content in SQLite
cat >"$tmp/pools.yaml" <<'YAML'
apiVersion: blockipam.io/v1
kind: Pool
metadata: {name: default-ipv4}
spec: {cidr: 10.244.0.0/16, blockSize: 26}
---
apiVersion: blockipam.io/v1
kind: Pool
metadata: {name: zone-a}
spec: {cidr: 10.245.0.0/16, blockSize: 26, nodeSelector: "zone == 'a'", priority: 10}
---
apiVersion: blockipam.io/v1
kind: Pool
metadata: {name: default-ipv6}
spec: {cidr: "fd00:10::/64", blockSize: 122}
---
apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: team-x}
spec: {cidr: 10.246.0.0/26, blockSize: 28, nodeSelector: "!all()", ipipMode: Never}
---
apiVersion: blockipam.io/v1
kind: Namespace
metadata: {name: team-x, labels: {team: x}}
spec: {pools: [team-x]}
YAML
# No top-level type: the engine's routed model (team-x's 4 blocks serve 5 nodes by borrowing,
# which a bridge would not allow); no network plugin runs here.
cat >"$tmp/net.conf" <<'JSON'
{"cniVersion": "1.0.0", "name": "mig-net",
 "ipam": {"type": "blockipam", "assign_ipv6": true}}
JSON
add() { # store pod node namespace
	CNI_COMMAND=ADD CNI_CONTAINERID="ctr-$2" CNI_NETNS="/var/run/netns/ctr-$2" CNI_IFNAME=eth0 \
	CNI_PATH="$build" CNI_ARGS="K8S_POD_NAMESPACE=$4;K8S_POD_NAME=pod-$2" BLOCKIPAM_NODE="$3" \
	BLOCKIPAM_STORE="$1" "$PLUGIN" <"$tmp/net.conf"
}
del() { # store pod node
	CNI_COMMAND=DEL CNI_CONTAINERID="ctr-$2" CNI_NETNS="/var/run/netns/ctr-$2" CNI_IFNAME=eth0 \
	CNI_PATH="$build" BLOCKIPAM_NODE="$3" BLOCKIPAM_STORE="$1" "$PLUGIN" <"$tmp/net.conf"
}
# pods FROM TO STORE: ADD pods FROM..TO spread over 5 nodes, every 12th in namespace team-x
pods() {
	local p ns bad=0
	for p in $(seq "$1" "$2"); do
		ns=default
		[ $((p % 12)) = 1 ] && ns=team-x
		add "$3" "$p" "node-$(((p - 1) % 5 + 1))" "$ns" >/dev/null 2>"$tmp/err" || bad=$((bad + 1))
	done
	echo "$bad"
}

t "sqlite: pools and namespace" 0 "" "$B" --store "$db1" apply -f "$tmp/pools.yaml"
for i in 1 2 3 4 5; do
	zone=$([ "$i" -le 2 ] && echo a || echo b)
	"$B" --store "$db1" node set "node-$i" --label "zone=$zone" --address "192.168.10.$i" >/dev/null
done
bad=$(pods 1 "$pods" "$db1")
[ "$bad" = 0 ] && pass "sqlite: $pods ADDs through the plugin" || fail "sqlite ADDs" "$bad failed"
for p in $(seq 3 3 "$pods"); do del "$db1" "$p" "node-$(((p - 1) % 5 + 1))" >/dev/null; done
nkeys1=$(sqlite3 "$tmp/one.db" 'select count(*) from kv')
echo "     the SQLite store holds $nkeys1 keys"

if ! etcd_start_single --max-txn-ops 128; then
	fail "etcd" "did not start"
	finish
fi
E=$ETCD_ADDR

# --- sqlite -> etcd
t "migrate sqlite -> etcd" 0 "verified: the target holds exactly the same $nkeys1 keys" \
	"$B" store migrate --from "$db1" --to "$E"
cat "$tmp/out"
ntx=$(sed -n 's/.* in \([0-9]*\) transactions$/\1/p' "$tmp/out")
[ "${ntx:-0}" -ge $(((nkeys1 + 127) / 128)) ] && pass "batches of at most 128 ops ($ntx txns)" ||
	fail "batches" "$ntx transactions for $nkeys1 keys"
n=$(ETCDCTL_API=3 etcdctl --endpoints="${E#etcd://}" get --prefix /blockipam/v1/ --keys-only | grep -c .)
[ "$n" = "$nkeys1" ] && pass "etcdctl sees $n keys" || fail "etcdctl count" "$n keys, want $nkeys1"
t "etcd: ipam check finds nothing" 0 "" "$B" --store "$E" ipam check
"$B" --store "$db1" ipam show >"$tmp/show1"
"$B" --store "$E" ipam show >"$tmp/show-e"
same "etcd: ipam show matches sqlite" "$tmp/show1" "$tmp/show-e"
"$B" --store "$db1" -o json ipam show --show-blocks >"$tmp/blocks1"
"$B" --store "$E" -o json ipam show --show-blocks >"$tmp/blocks-e"
same "etcd: ipam show --show-blocks matches sqlite" "$tmp/blocks1" "$tmp/blocks-e"

# --- the plugin goes on against etcd
more=$((pods / 3))
bad=$(pods $((pods + 1)) $((pods + more)) "$E")
[ "$bad" = 0 ] && pass "etcd: $more more ADDs through the plugin" || fail "etcd ADDs" "$bad failed"
t "etcd: a repeated ADD of a migrated pod returns its address" 0 "" add "$E" 1 node-1 default
grep -q '"address"' "$tmp/out" || fail "repeated ADD" "no address"
t "etcd: ipam check after more ADDs" 0 "" "$B" --store "$E" ipam check

# --- etcd -> a new sqlite file
t "migrate etcd -> new sqlite" 0 "verified" "$B" store migrate --from "$E" --to "$db2"
cat "$tmp/out"
t "sqlite (back): ipam check finds nothing" 0 "" "$B" --store "$db2" ipam check
"$B" --store "$E" ipam show >"$tmp/show-e2"
"$B" --store "$db2" ipam show >"$tmp/show2"
same "sqlite (back): ipam show matches etcd" "$tmp/show-e2" "$tmp/show2"
cmp -s "$tmp/show1" "$tmp/show2" && fail "show changed" "the later ADDs are missing" ||
	pass "sqlite (back): holds the ADDs made against etcd"
n2=$(sqlite3 "$tmp/two.db" 'select count(*) from kv')
t "sqlite (back): ADD works on the migrated file" 0 "" add "$db2" 99999 node-2 default

# --- non-empty targets
before=$(ETCDCTL_API=3 etcdctl --endpoints="${E#etcd://}" get --prefix "" -w json | md5sum)
t "non-empty etcd target refused" 1 "holds $((n2)) keys" \
	"$B" store migrate --from "$db1" --to "$E"
grep -qF "$E" "$tmp/err" && pass "refusal names the target" || fail "refusal" "no address"
after=$(ETCDCTL_API=3 etcdctl --endpoints="${E#etcd://}" get --prefix "" -w json | md5sum)
[ "$before" = "$after" ] && pass "refused target left alone" || fail "refused" "etcd changed"
t "non-empty sqlite target refused" 1 "is not empty" "$B" store migrate --from "$E" --to "$db1"
t "--force replaces the etcd target" 0 "(--force)" \
	"$B" store migrate --from "$db1" --to "$E" --force
"$B" --store "$E" ipam show >"$tmp/show-e3"
same "--force: etcd shows the first store again" "$tmp/show1" "$tmp/show-e3"
t "--force: ipam check" 0 "" "$B" --store "$E" ipam check
t "-o json" 0 '"verified": true' "$B" -o json store migrate --from "$E" --to "sqlite://$tmp/three.db"

# --- bad addresses and usage
t "missing source file named" 1 "sqlite://$tmp/none.db" \
	"$B" store migrate --from "sqlite://$tmp/none.db" --to "sqlite://$tmp/four.db"
[ -e "$tmp/four.db" ] && fail "bad source" "target created anyway" || pass "bad source: nothing created"
dead="etcd://127.0.0.1:$(etcd_free_port)"
t "unreachable target named" 1 "$dead" "$B" store migrate --from "$db1" --to "$dead"
t "bad scheme named" 1 "nosuch://x" "$B" store migrate --from "nosuch://x" --to "$db2"
t "--to required" 2 "--to is required" "$B" store migrate --from "$db1"
t "same store refused" 2 "the same store" "$B" store migrate --from "$db1" --to "$db1"
t "store --help lists migrate" 0 "migrate" "$B" store --help
finish

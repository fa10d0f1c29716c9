#!/usr/bin/env bash
# Calico parity on a real etcd (tests/etcd-harness.sh), three nodes sharing it, the real plugin
# exec'd as a runtime calls it: under strictAffinity a node out of blocks takes over another
# node's block once it has been empty long enough (not before, not while it holds an address),
# and a pool whose nodeSelector stops selecting a node loses that node's block with its last
# address. An independent reader (etcdctl, not our code) compares the raw records of the node
# that is not involved before and after: unchanged. Ends with "parity_etcd: N passed, N failed,
# N skipped".
set -u
name=parity_etcd
. "$(dirname "$0")/lib.sh"
B=$ctl
PLUGIN=$plugin
. "$root/tests/etcd-harness.sh"
make_tmp
unset BLOCKIPAM_STORE BLOCKIPAM_NODE BLOCKIPAM_DEBUG
# check_sh NAME EXPR [WHY]: passes when the shell expression EXPR (eval'd) is true.
check_sh() { if eval "$2"; then pass "$1"; else fail "$1" "${3:-$2}"; fi; }

for f in "$B" "$PLUGIN"; do
	[ -x "$f" ] || { fail "build" "$f is not built"; finish; }
done
why=$(why_not_cmd "$ETCD_BIN" "$ETCDCTL_BIN" jq)
[ -n "$why" ] && skip_all "$why: parity on etcd NOT tested" parity_etcd
etcd_start_single || { fail "etcd" "did not start"; finish; }
E=$ETCD_ADDR
export BLOCKIPAM_STORE=$E
P=/blockipam/v1/
ep=${E#etcd://}

ctl() { ETCDCTL_API=3 "$ETCDCTL_BIN" --endpoints="http://$ep" --dial-timeout=2s "$@"; }
raw_get() { ctl get --print-value-only "$P$1"; }
raw_put() { ctl put "$P$1" "$2" >/dev/null; }
# Every key and value under the prefix that names NODE (its affinities, blocks, handles).
records_of() { ctl get --prefix "$P" | paste - - | grep -F -- "$1" | sort; }

# cni CMD CONTAINER NODE [CNI_ARGS]: exit status and stdout of the plugin.
cni() {
	printf '{"cniVersion":"1.0.0","name":"net","ipam":{"type":"blockipam","store":"%s","node":"%s"}}' \
		"$E" "$3" |
		CNI_COMMAND=$1 CNI_CONTAINERID=$2 CNI_IFNAME=eth0 CNI_NETNS=/var/run/netns/parity \
			CNI_ARGS=${4:-} CNI_PATH=$build "$PLUGIN" >"$tmp/out" 2>&1
}

"$B" apply -f - >/dev/null <<'YAML' || fail "apply" "pools and config"
apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: tiny}
spec: {cidr: 10.70.0.0/28, blockSize: 28, nodeSelector: "!has(zone)"}
---
apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: zone-a}
spec: {cidr: 10.71.0.0/24, blockSize: 26, nodeSelector: "zone == 'a'"}
---
apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: zone-b}
spec: {cidr: 10.72.0.0/24, blockSize: 26, nodeSelector: "zone == 'b'"}
---
apiVersion: projectcalico.org/v3
kind: IPAMConfiguration
metadata: {name: default}
spec: {strictAffinity: true}
YAML
"$B" node set n3 --label zone=a >/dev/null || fail "node n3" "labels"

# --- a node out of blocks takes over another's long-empty block (strictAffinity) ----------------
cni ADD c3 n3 && grep -q '"10.71.0.' "$tmp/out" && pass "n3 allocates from zone-a" ||
	fail "n3 ADD" "$(cat "$tmp/out")"
n3_before=$(records_of n3)
cni ADD c1 n1 && grep -q '"10.70.0.0/28"' "$tmp/out" && pass "n1 takes the only tiny block" ||
	fail "n1 ADD" "$(cat "$tmp/out")"
cni DEL c1 n1 && pass "n1 releases it" || fail "n1 DEL" "$(cat "$tmp/out")"
cni ADD c2 n2
check_sh "n2: no block while n1's is young (code 100)" "jq -e '.code == 100' '$tmp/out' >/dev/null" \
	"$(cat "$tmp/out")"
blk=$(raw_get blocks/10.70.0.0-28)
raw_put blocks/10.70.0.0-28 "$(jq -c '.alloc = [[3,"net.ghost.eth0","n1"]] | .emptySince = 1' <<<"$blk")"
cni ADD c2 n2
check_sh "n2: not while it holds an address, however old its emptySince" \
	"jq -e '.code == 100' '$tmp/out' >/dev/null" "$(cat "$tmp/out")"
raw_put blocks/10.70.0.0-28 "$(jq -c '.emptySince -= 61' <<<"$blk")"
cni ADD c2 n2 && grep -q '"10.70.0.1/28"' "$tmp/out" && pass "n2 takes it over after 61 s" ||
	fail "n2 ADD" "$(cat "$tmp/out")"
check_sh "raw: n1's affinity is gone" "[ -z \"\$(raw_get affinity/n1/10.70.0.0-28)\" ]"
check_sh "raw: n2's affinity exists" "[ -n \"\$(raw_get affinity/n2/10.70.0.0-28)\" ]"
check_sh "raw: the block is n2's" "[ \"\$(raw_get blocks/10.70.0.0-28 | jq -r .node)\" = n2 ]"
check_sh "raw: n3's records did not change" "[ \"\$(records_of n3)\" = \"\$n3_before\" ]"
check_sh "ipam check is clean" "'$B' ipam check >/dev/null"

# --- a pool that stops selecting a node ---------------------------------------------------------
"$B" node set n3 --label zone=b >/dev/null || fail "relabel n3" "zone=b"
cni ADD c4 n3 && grep -q '"10.72.0.' "$tmp/out" && pass "n3 now allocates from zone-b" ||
	fail "n3 ADD zone-b" "$(cat "$tmp/out")"
n2_before=$(records_of n2)
blocka=$(ctl get --prefix --keys-only "${P}blocks/10.71." | grep . | sed "s|^$P||")
check_sh "zone-a block still there (it holds c3)" "[ -n '$blocka' ] && [ -n \"\$(raw_get '$blocka')\" ]"
cni DEL c3 n3 && pass "n3 releases c3" || fail "n3 DEL" "$(cat "$tmp/out")"
check_sh "raw: the zone-a block went with its last address" "[ -z \"\$(raw_get '$blocka')\" ]"
check_sh "raw: and n3's affinity for it" \
	"[ -z \"\$(ctl get --prefix --keys-only '${P}affinity/n3/10.71.' | grep .)\" ]"
check_sh "raw: n2's records did not change" "[ \"\$(records_of n2)\" = \"\$n2_before\" ]"
check_sh "ipam check is clean at the end" "'$B' ipam check >/dev/null"
finish

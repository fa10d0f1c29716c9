#!/usr/bin/env bash
# Calico parity (issue 14, item 4), exec'd: the real plugin and blockipamctl on a temporary SQLite
# file. allowedUses for IP= / runtimeConfig ips (refused with blockipam's code 103), usage that
# counts each address once (ipam show), ipCooldownSeconds in manifests and ipam show, ipam release
# --empty-blocks, and ipam release --from-report acting on every kind of problem while skipping
# what changed since the report. Raw records are edited with sqlite3, as a broken store would
# have them. Ends with "parity: N passed, N failed, N skipped".
set -u
name=parity
. "$(dirname "$0")/lib.sh"
B=$ctl
PLUGIN=$plugin
make_tmp
db=$tmp/ipam.db
export BLOCKIPAM_STORE=sqlite://$db
unset BLOCKIPAM_NODE

# has NAME TEXT: TEXT is in the last command's output.
has() {
	if grep -qF -- "$2" "$tmp/out" "$tmp/err"; then pass "$1"; else fail "$1" "no '$2'"; fi
}

for tool in sqlite3 jq; do
	if ! command -v "$tool" >/dev/null; then
		skip "parity" "$tool is not installed (scripts/deps.sh test)"
		finish
	fi
done

# cni CMD CONTAINER [CNI_ARGS] [RUNTIMECONFIG_JSON]: the plugin as a runtime calls it, on node n1.
cni() {
	local rt=''
	[ -n "${4:-}" ] && rt=',"runtimeConfig":'$4
	printf '{"cniVersion":"1.0.0","name":"net","type":"ptp","ipam":{"type":"blockipam","store":"%s","node":"n1"}%s}' \
		"$BLOCKIPAM_STORE" "$rt" |
		CNI_COMMAND=$1 CNI_CONTAINERID=$2 CNI_IFNAME=eth0 CNI_NETNS=/var/run/netns/parity \
			CNI_ARGS=${3:-} CNI_PATH=$build "$PLUGIN"
}

# raw KEY VALUE: put a record as it is (the store's own revision counter moves on).
raw() {
	local v=${2//\'/\'\'}
	sqlite3 "$db" "begin; update meta set rev = rev + 1;
		insert or replace into kv (key, value, rev)
		values ('$pfx$1', cast('$v' as blob), (select rev from meta)); commit;"
}

cat >"$tmp/pools.yaml" <<'EOF'
apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: workloads}
spec: {cidr: 10.10.0.0/24, blockSize: 26}
---
apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: tunnels}
spec: {cidr: 10.11.0.0/24, blockSize: 26, allowedUses: [Tunnel]}
---
apiVersion: projectcalico.org/v3
kind: IPReservation
metadata: {name: r25}
spec: {reservedCIDRs: [10.10.0.128/25, 10.10.0.130/32, 10.10.0.192/26]}
EOF
t "apply pools" 0 "" "$B" apply -f "$tmp/pools.yaml"
pfx=$(sqlite3 "$db" "select key from kv where key like '%pools/workloads'" | sed 's|pools/workloads$||')

# --- 1. allowedUses for specific addresses -------------------------------------------------------
t "IP= in a Tunnel pool is refused" 1 \
	"requested address 10.11.0.5 is in pool 'tunnels', whose allowedUses (Tunnel) do not include Workload" \
	cni ADD c-tun "IgnoreUnknown=1;IP=10.11.0.5"
jq -e '.code == 103 and (.msg | test("tunnels"))' "$tmp/out" >/dev/null &&
	pass "the error is blockipam's code 103 on stdout" || fail "error record" "$(cat "$tmp/out")"
t "runtimeConfig ips in a Tunnel pool is refused" 1 "allowedUses (Tunnel)" \
	cni ADD c-tun2 "" '{"ips":["10.11.0.6/24"]}'
t "Calico's ipAddrs annotation in a Tunnel pool is refused" 1 "allowedUses (Tunnel)" \
	cni ADD c-tun3 "" '{"io.kubernetes.cri.pod-annotations":{"cni.projectcalico.org/ipAddrs":"[\"10.11.0.7\"]"}}'
t "nothing was allocated" 0 "No problems found." "$B" ipam check
t "IP= in a Workload pool works" 0 '"10.10.0.5/' cni ADD c-ok "IgnoreUnknown=1;IP=10.10.0.5"

# --- 2. usage counts each address once -----------------------------------------------------------
# 256 addresses; reserved: the /25 (the /32 and /26 inside it count once) = 128; one used
t "show: overlapping reservations count once" 0 "" "$B" ipam show -o json
jq -e '.[] | select(.name == "workloads") | .capacity == 256 and .used == 1 and
	.reserved == 128 and .free == 127' "$tmp/out" >/dev/null &&
	pass "workloads: 256 = 1 used + 128 reserved + 127 free" || fail "usage" "$(cat "$tmp/out")"
# reserve the held address too: it stays used, not also reserved
cat >"$tmp/res2.yaml" <<'EOF'
apiVersion: projectcalico.org/v3
kind: IPReservation
metadata: {name: held}
spec: {reservedCIDRs: [10.10.0.5/32, 10.10.0.4/31]}
EOF
t "reserve a held address" 0 "" "$B" apply -f "$tmp/res2.yaml"
t "show after" 0 "" "$B" ipam show -o json
jq -e '.[] | select(.name == "workloads") | .used == 1 and .reserved == 129 and .free == 126' \
	"$tmp/out" >/dev/null && pass "a reserved held address counts once (used)" ||
	fail "usage after" "$(cat "$tmp/out")"
t "show table" 0 "" "$B" ipam show
has "table: FREE 126" "126 (49.2%)"

# --- 6. ipCooldownSeconds ----------------------------------------------------------------------
cat >"$tmp/ipamconfig.yaml" <<'EOF'
apiVersion: projectcalico.org/v3
kind: IPAMConfiguration
metadata: {name: default}
spec: {strictAffinity: false, ipCooldownSeconds: 30}
EOF
t "Calico IPAMConfiguration with ipCooldownSeconds" 0 "" "$B" apply -f "$tmp/ipamconfig.yaml"
t "show --show-configuration" 0 "IPCooldownSeconds" "$B" ipam show --show-configuration
has "cooldown 30 s" "30 s"
has "emptyBlockReleaseSeconds defaults to 900" "900 s"
t "get ipamconfig" 0 "ipCooldownSeconds: 30" "$B" get ipamconfig default -o yaml
t "configure --ip-cooldown out of range" 2 "want a number from 0 to 1200" \
	"$B" ipam configure --ip-cooldown=1201
t "configure --ip-cooldown" 0 "" "$B" ipam configure --ip-cooldown=45
t "configured" 0 "45 s" "$B" ipam show --show-configuration
t "ADD c-cool" 0 '"10.10.0.7/' cni ADD c-cool "IgnoreUnknown=1;IP=10.10.0.7"
t "DEL c-cool" 0 "" cni DEL c-cool
t "IP= of an address cooling down" 1 "cools down for ipCooldownSeconds (45 s)" \
	cni ADD c-again "IgnoreUnknown=1;IP=10.10.0.7"
jq -e '.code == 101' "$tmp/out" >/dev/null && pass "cooling: code 101 (address in use)" ||
	fail "cooling code" "$(cat "$tmp/out")"
t "cooldown off" 0 "" "$B" ipam configure --ip-cooldown=0
t "IP= again" 0 '"10.10.0.7/' cni ADD c-again "IgnoreUnknown=1;IP=10.10.0.7"

# --- 4. ipam release --empty-blocks ----------------------------------------------------------
t "an address in a second block" 0 '"10.10.0.70/' cni ADD c-b2 "IgnoreUnknown=1;IP=10.10.0.70"
t "emptied" 0 "" cni DEL c-b2
t "empty blocks: too young" 0 "0 empty blocks released (empty for 900s or more)" \
	"$B" ipam release --empty-blocks
t "empty blocks: dry run" 0 "would release 10.10.0.64/26 (node n1" \
	"$B" ipam release --empty-blocks --older-than 0 --dry-run
t "empty blocks: --older-than" 0 "1 empty blocks released" "$B" ipam release --empty-blocks --older-than 0
t "the block is gone" 0 "" "$B" ipam show --show-blocks -o json
jq -e 'map(.block) == ["10.10.0.0/26"]' "$tmp/out" >/dev/null && pass "only the held block is left" ||
	fail "blocks" "$(cat "$tmp/out")"
t "--older-than alone" 2 "--older-than goes with --empty-blocks" "$B" ipam release --older-than 5
t "clean after" 0 "No problems found." "$B" ipam check

# --- 5. ipam release --from-report ------------------------------------------------------------
# A leaked address (held in its block by a handle with no record), a dangling handle, a handle
# that lists a held address and a dangling one, a handle whose block gives it an address its
# record does not list and whose record lists one its block does not give it, a stray affinity,
# an empty block outside every pool, a corrupt record, and a dangling handle that changes after
# the report.
blk=$(sqlite3 "$db" "select value from kv where key = '${pfx}blocks/10.10.0.0-26'")
claimed=$(jq '.claimed' <<<"$blk")
raw "blocks/10.10.0.0-26" "$(jq -c '.alloc += [[9,"net.leak.eth0"],[10,"net.mixed.eth0"],[11,"net.part.eth0"]]' <<<"$blk")"
raw "handles/net.ghost.eth0" '{"ips":["10.10.0.20/26"],"node":"n1","time":1}'
raw "handles/net.mixed.eth0" '{"ips":["10.10.0.10/26","10.10.0.21/26"],"node":"n1","time":1}'
raw "handles/net.part.eth0" '{"ips":["10.10.0.12/26"],"node":"n1","time":1}'
raw "handles/net.later.eth0" '{"ips":["10.10.0.22/26"],"node":"n1","time":1}'
raw "affinity/n9/10.10.0.64-26" '{"state":"confirmed"}'
raw "blocks/10.99.0.0-26" "{\"cidr\":\"10.99.0.0/26\",\"claimed\":$claimed,\"alloc\":[]}"
raw "blockidx/4/0a630000/026" '{"block":"10.99.0.0/26"}' # its block index entry, as a release writes it
raw "handles/net.bad.eth0" 'not json'
t "check finds them" 3 "" "$B" ipam check -o json
cp "$tmp/out" "$tmp/report.json"
jq -e '.version == 2 and ([.problems[].kind] | sort | unique) ==
	["address-without-handle","affinity-without-block","block-outside-pools","corrupt-record",
	 "handle-names-free-address"] and all(.problems[]; has("revision"))' "$tmp/report.json" \
	>/dev/null && pass "report: every kind, with revisions" || fail "report" "$(cat "$tmp/report.json")"
# after the report: net.later changes (still dangling), so it must be left alone
raw "handles/net.later.eth0" '{"ips":["10.10.0.22/26","10.10.0.23/26"],"node":"n1","time":1}'
before=$(sqlite3 "$db" "select key, value from kv order by key")
t "from-report --dry-run" 0 "would release 10.10.0.9 (handle net.leak.eth0)" \
	"$B" ipam release --from-report "$tmp/report.json" --dry-run
has "dry run: dangling" "would repair handle-names-free-address 10.10.0.20"
has "dry run: changed one skipped" "skipped handle-names-free-address 10.10.0.22: its record changed since the report"
[ "$before" = "$(sqlite3 "$db" "select key, value from kv order by key")" ] &&
	pass "dry run changed nothing" || fail "dry run" "the store changed"
t "from-report" 0 "released 10.10.0.9 (handle net.leak.eth0)" \
	"$B" ipam release --from-report "$tmp/report.json"
has "dangling handle repaired (deleted)" "repaired handle-names-free-address 10.10.0.20"
has "mixed handle: dangling entry repaired" "repaired handle-names-free-address 10.10.0.21"
has "part handle: leaked address released" "released 10.10.0.11 (handle net.part.eth0)"
has "part handle: then its dangling entry" "repaired handle-names-free-address 10.10.0.12"
has "stray affinity repaired" "repaired affinity-without-block 10.10.0.64/26"
has "empty block outside pools repaired" "repaired block-outside-pools 10.99.0.0/26"
has "corrupt record named" "skipped corrupt-record net.bad.eth0: no safe repair"
has "changed handle skipped" "skipped handle-names-free-address 10.10.0.22: its record changed since the report"
has "summary" "2 released, 5 repaired, 2 skipped, 0 failed"
t "what is left" 3 "" "$B" ipam check -o json
jq -e '[.problems[] | .kind + " " + .subject] | sort ==
	["corrupt-record net.bad.eth0","handle-names-free-address 10.10.0.22",
	 "handle-names-free-address 10.10.0.23"]' "$tmp/out" >/dev/null &&
	pass "only the corrupt record and the changed handle are left" || fail "left" "$(cat "$tmp/out")"
[ -z "$(sqlite3 "$db" "select key from kv where key like '%handles/net.ghost.eth0' or key like '%handles/net.part.eth0'")" ] &&
	pass "handles left with no address are gone" || fail "handles" "still there"
t "the mixed handle keeps its address" 0 "net.mixed.eth0" "$B" ipam show --ip 10.10.0.10
[ "$(sqlite3 "$db" "select value from kv where key like '%handles/net.mixed.eth0'" | jq -c .ips)" = '["10.10.0.10/26"]' ] &&
	pass "which its record lists alone" || fail "mixed record" "$(sqlite3 "$db" "select value from kv where key like '%handles/net.mixed.eth0'")"
t "the live addresses are untouched" 0 "net.c-again.eth0" "$B" ipam show --ip 10.10.0.7
t "the live addresses are untouched (2)" 0 "net.c-ok.eth0" "$B" ipam show --ip 10.10.0.5
t "a second run skips what is gone" 0 "skipped address-without-handle 10.10.0.9: gone since the report" \
	"$B" ipam release --from-report "$tmp/report.json"
t "a version 1 report is refused" 1 "carries no record revisions" \
	"$B" ipam release --from-report <(jq -c '.version = 1' "$tmp/report.json")

finish

#!/usr/bin/env bash
# Three nodes (node-a, node-b, node-c) on ONE store: a SQLite file, then one real etcd
# (tests/etcd-harness.sh). Every plugin verb (exec'd build/blockipam, cniVersion 1.1.0) and every
# CLI command that changes the store (exec'd build/blockipamctl) runs while the other nodes hold
# addresses, and after each one an independent checker (tests/multinode_check.py: Python's own
# sqlite3 on the kv table, or etcdctl; never our decoders) compares every raw record with the
# snapshot taken before it: exactly the expected keys changed, every other node's records are
# byte-identical (in a block that two nodes' addresses share, the other node's entries), no
# address of a live handle moved; the record invariants hold; and `ipam check` is clean.
#
# Issue 14 item 1 is the GC part: each node holds live and stale pods, each calls CNI GC with
# its own cni.dev/valid-attachments (node-b with cni.dev/attachments), and only that node's
# stale handles and their block entries go; then blockipamctl gc with the default node
# ($BLOCKIPAM_NODE), --node and --all-nodes. A borrowed address (node-a's, in another node's block)
# is GCed without touching node-b's own entries.
#
# Ends with "multinode: N passed, N failed, N skipped". MULTINODE_STORES=sqlite,etcd (default)
# picks the stores.
set -u
name=multinode
. "$(dirname "$0")/lib.sh"
B=$ctl
PLUGIN=$plugin
CK=$root/tests/multinode_check.py
. "$root/tests/etcd-harness.sh"
make_tmp
fail_output=1 # st leaves each command's output in $tmp/out and $tmp/err
at_exit '[ -n "${CKP_PID:-}" ] && kill "$CKP_PID" 2>/dev/null'
unset BLOCKIPAM_STORE BLOCKIPAM_NODE BLOCKIPAM_DEBUG

for f in "$B" "$PLUGIN"; do
	[ -x "$f" ] || { fail "build" "$f is not built"; finish; }
done
why=$(why_not_cmd python3)
[ -n "$why" ] && skip_all "$why: many nodes on one store NOT tested" multinode

# One checker process for the whole test (a Python start costs 0.2 s here): ck CMD ARGS...
# runs one of its commands and prints what it says; its exit status is the command's.
coproc CKP { python3 "$CK" serve; }
ck() {
	local line IFS=$'\x1f'
	printf '%s\n' "$*" >&"${CKP[1]}"
	while IFS= read -r line <&"${CKP[0]}"; do
		[[ $line == "__rc__ "* ]] && return "${line#__rc__ }"
		printf '%s\n' "$line"
	done
	echo "multinode_check: the checker process is gone"
	return 2
}

S= # the store of the scenario running
SNAP=$tmp/snap.json
LABEL=

# cni NODE CMD [CID [IFNAME [NETWORK [TOP-LEVEL JSON FIELDS]]]]: one exec of the plugin
cni() {
	local node=$1 cmd=$2 cid=${3:-} ifn=${4:-eth0} net=${5:-net} extra=${6:-} env=()
	local ipam="\"type\": \"blockipam\", \"store\": \"$S\", \"node\": \"$node\""
	[ "$net" = net ] && ipam="$ipam, \"assign_ipv6\": true"
	[ "$net" = tiny ] && ipam="$ipam, \"pools\": {\"ipv4\": [\"tiny\"]}"
	[ -n "$extra" ] && extra="$extra,"
	[ -n "$cid" ] && env=(CNI_CONTAINERID="$cid" CNI_NETNS=/var/run/netns/mn CNI_IFNAME="$ifn")
	[ -n "${CARGS:-}" ] && env+=(CNI_ARGS="$CARGS")
	env CNI_COMMAND="$cmd" CNI_PATH="$build" "${env[@]}" "$PLUGIN" <<<"{\"cniVersion\": \"1.1.0\",
 \"name\": \"$net\", \"type\": \"ptp\", $extra \"ipam\": {$ipam}}"
}
ctl() { "$B" --store "$S" "$@"; }

# att NAME CID[:IFNAME]...: a valid-attachments list (IFNAME eth0 by default)
att() {
	local out="\"$1\": [" sep= c
	shift
	for c in "$@"; do
		[[ $c == *:* ]] || c=$c:eth0
		out="$out$sep{\"containerID\": \"${c%%:*}\", \"ifname\": \"${c#*:}\"}"
		sep=", "
	done
	echo "$out]"
}

# st NAME WANT_RC [CHECKER OPTIONS] -- CMD...: CMD exits WANT_RC; then the checker compares the
# store with the snapshot before CMD (see tests/multinode_check.py for the options), and
# `ipam check` is clean (unless the options hold --problems: a problem was made on purpose).
st() {
	local name="$LABEL: $1" want=$2 opts=() rc ckrc problems=0
	shift 2
	while [ "$1" != -- ]; do
		[ "$1" = --problems ] && problems=1
		opts+=("$1")
		shift
	done
	shift
	"$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	ck step "$SNAP" "$S" "${opts[@]}" >"$tmp/ck" 2>&1
	ckrc=$?
	if [ "$rc" != "$want" ]; then
		fail "$name" "exit $rc, want $want"
		cat "$tmp/ck"
		return 1
	fi
	if [ "$ckrc" != 0 ]; then
		cp "$tmp/ck" "$tmp/err"
		: >"$tmp/out"
		fail "$name" "independent checker"
		return 1
	fi
	if [ "$problems" = 0 ] && ! ctl ipam check >"$tmp/ick" 2>&1; then
		cp "$tmp/ick" "$tmp/err"
		fail "$name" "ipam check is not clean"
		return 1
	fi
	pass "$name: $(head -n 1 "$tmp/ck")"
}

addr_of() { # addr_of CID FAMILY(4|6): the address its ADD returned
	local f=$2
	jq -r ".ips[].address" "$tmp/res.$1" | grep "$([ "$f" = 4 ] && echo '\.' || echo ':')" |
		cut -d/ -f1
}

add() { # add NODE CID [IFNAME [NETWORK]]: an ADD that only NODE's records see
	local node=$1 cid=$2 ifn=${3:-eth0} net=${4:-net}
	st "ADD $cid on $node" 0 --node "$node" --new "handles/$net.$cid.$ifn" --may "blocks@$node" \
		--may "affinity@$node" -- cni "$node" ADD "$cid" "$ifn" "$net"
	cp "$tmp/out" "$tmp/res.$cid"
}

scenario() {
	S=$1 LABEL=$2
	local n c h
	ck snap "$S" "$SNAP" >"$tmp/out" 2>&1 || fail "$LABEL: snapshot" "$(cat "$tmp/out")"
	echo "== $LABEL: $S"

	# --- setup, each step checked as well -----------------------------------------------------
	st "apply pools" 0 --cluster --new pools/p4 --new pools/p6 --new pools/tiny --new pools/spare \
		--may poolset -- ctl apply -f - <<'YAML'
apiVersion: blockipam.io/v1
kind: Pool
metadata: {name: p4}
spec: {cidr: 10.10.0.0/16, blockSize: 28}
---
apiVersion: blockipam.io/v1
kind: Pool
metadata: {name: p6}
spec: {cidr: 'fd00:10::/48', blockSize: 124}
---
apiVersion: blockipam.io/v1
kind: Pool
metadata: {name: tiny}
spec: {cidr: 10.50.0.0/27, blockSize: 28, assignmentMode: Manual}
---
apiVersion: blockipam.io/v1
kind: Pool
metadata: {name: spare}
spec: {cidr: 10.40.0.0/24, blockSize: 28, disabled: true}
YAML
	local i=10
	for n in a b c; do
		st "node set node-$n" 0 --node "node-$n" --new "nodes/node-$n" -- \
			ctl node set "node-$n" --label zone="z-$n" --address "192.168.7.$((i++))"
	done

	# --- ADD: live pods l1-l3 and stale s1-s2 on every node; a pod of another network ---------
	for n in a b c; do
		for c in l1 l2 l3 s1 s2; do add "node-$n" "$n-$c"; done
	done
	add node-a a-n1 net1 net2
	# node-a borrows in node-b's block: the two blocks of 'tiny' go to node-b and node-c first
	add node-b b-t1 eth1 tiny
	add node-c c-t1 eth1 tiny
	st "ADD a-t1 on node-a, borrowed" 0 --node node-a --new handles/tiny.a-t1.eth1 \
		--may 'blocks/10.50.*' --may 'affinity/*/10.50.*' -- cni node-a ADD a-t1 eth1 tiny
	if ! grep -q '"10.50.0.' "$tmp/out"; then fail "$LABEL: borrowed" "not in 'tiny'"; fi

	# --- CHECK and STATUS change nothing ------------------------------------------------------
	for n in a b c; do
		st "CHECK $n-l1 on node-$n" 0 --nothing -- cni "node-$n" CHECK "$n-l1" eth0 net \
			"\"prevResult\": $(cat "$tmp/res.$n-l1")"
		st "STATUS on node-$n" 0 --nothing -- cni "node-$n" STATUS
	done
	st "STATUS on node-z (no record, no block yet): nothing changed" 0 --nothing -- \
		cni node-z STATUS
	st "CHECK of another node's pod: not found, nothing changed" 0 --nothing -- \
		cni node-a CHECK b-l1 eth0 net "\"prevResult\": $(cat "$tmp/res.b-l1")"

	# --- issue 14 item 1: CNI GC per node, its own live list ----------------------------------
	st "GC on node-a (valid-attachments: a's live)" 0 --node node-a \
		--released net.a-s1.eth0 --released net.a-s2.eth0 --gone handles/net.a-s1.eth0 \
		--gone handles/net.a-s2.eth0 --may blocks@node-a --may affinity@node-a -- \
		cni node-a GC "" eth0 net "$(att cni.dev/valid-attachments a-l1 a-l2 a-l3)"
	st "GC on node-b (cni.dev/attachments)" 0 --node node-b \
		--released net.b-s1.eth0 --released net.b-s2.eth0 --gone handles/net.b-s1.eth0 \
		--gone handles/net.b-s2.eth0 --may blocks@node-b --may affinity@node-b -- \
		cni node-b GC "" eth0 net "$(att cni.dev/attachments b-l1 b-l2 b-l3)"
	st "GC on node-c (its list names node-a's pods too)" 0 --node node-c \
		--released net.c-s1.eth0 --released net.c-s2.eth0 --gone handles/net.c-s1.eth0 \
		--gone handles/net.c-s2.eth0 --may blocks@node-c --may affinity@node-c -- \
		cni node-c GC "" eth0 net "$(att cni.dev/valid-attachments c-l1 c-l2 c-l3 a-l1)"
	st "GC again on node-a: nothing" 0 --nothing -- \
		cni node-a GC "" eth0 net "$(att cni.dev/valid-attachments a-l1 a-l2 a-l3)"
	st "GC on node-b with an empty list: only b's" 0 --node node-b \
		--released tiny.b-t1.eth1 --gone handles/tiny.b-t1.eth1 --may blocks@node-b \
		--may affinity@node-b -- cni node-b GC "" eth1 tiny "$(att cni.dev/valid-attachments)"
	st "GC of 'tiny' on node-c, keeping c-t1: node-a's address in its block stays" 0 --nothing -- \
		cni node-c GC "" eth1 tiny "$(att cni.dev/valid-attachments c-t1:eth1)"
	st "GC on node-a of its address borrowed in another node's block" 0 --node node-a \
		--released tiny.a-t1.eth1 --gone handles/tiny.a-t1.eth1 --may 'blocks/10.50.*' --may 'affinity/*/10.50.*' -- \
		cni node-a GC "" eth1 tiny "$(att cni.dev/valid-attachments)"

	# --- blockipamctl gc: default node, --node, --all-nodes -----------------------------------
	for c in a-s3 b-s3 c-s3 c-s4; do add "node-${c%%-*}" "$c"; done
	printf "%s\n" a-l1 a-l2 a-l3 a-n1 b-l1 b-l2 b-l3 c-l1 c-l2 c-l3 c-t1 >"$tmp/live"
	touch -d "@$(($(date +%s) + 5))" "$tmp/live"
	st "gc --live, default node (BLOCKIPAM_NODE=node-a)" 0 --node node-a \
		--released net.a-s3.eth0 --gone handles/net.a-s3.eth0 --may blocks@node-a \
		--may affinity@node-a -- env BLOCKIPAM_NODE=node-a "$B" --store "$S" gc --grace 0 --live "$tmp/live"
	echo "{$(att cni.dev/valid-attachments b-l1 b-l2 b-l3)}" >"$tmp/att-b.json"
	touch -d "@$(($(date +%s) + 5))" "$tmp/att-b.json"
	st "gc --node node-b --network net --attachments" 0 --node node-b \
		--released net.b-s3.eth0 --gone handles/net.b-s3.eth0 --may blocks@node-b \
		--may affinity@node-b -- ctl gc --node node-b --network net --grace 0 --attachments "$tmp/att-b.json"
	add node-a a-s5
	touch -d "@$(($(date +%s) + 5))" "$tmp/live"
	st "gc --all-nodes --live" 0 --node node-a --node node-c --released net.a-s5.eth0 \
		--released net.c-s3.eth0 --released net.c-s4.eth0 --gone handles/net.a-s5.eth0 \
		--gone handles/net.c-s3.eth0 --gone handles/net.c-s4.eth0 --may blocks@node-a \
		--may blocks@node-c --may affinity@node-a --may affinity@node-c -- \
		ctl gc --all-nodes --grace 0 --live "$tmp/live"

	# the CLI's default node without BLOCKIPAM_NODE: this machine's host name
	local me
	me=$(hostname)
	add "$me" h-s1
	touch -d "@$(($(date +%s) + 5))" "$tmp/live"
	st "gc --live without --node or BLOCKIPAM_NODE: the host name's node ($me)" 0 --node "$me" \
		--released net.h-s1.eth0 --gone handles/net.h-s1.eth0 --may "blocks@$me" \
		--may "affinity@$me" -- ctl gc --grace 0 --live "$tmp/live"

	# --- DEL ------------------------------------------------------------------------------------
	add node-b b-d1
	st "DEL b-d1 on node-b" 0 --node node-b --released net.b-d1.eth0 --gone handles/net.b-d1.eth0 \
		--may blocks@node-b --may affinity@node-b -- cni node-b DEL b-d1
	st "DEL again: nothing" 0 --nothing -- cni node-b DEL b-d1
	st "DEL on node-c of node-a's pod id: nothing held by it" 0 --nothing -- cni node-c DEL a-x1

	# --- a specific address inside another node's block: node-a holds it there --------------
	local ip
	ip=$(addr_of b-l1 4 | awk -F. '{print $1"."$2"."$3"."$4+9}')
	CARGS="IP=$ip" st "ADD a-ip on node-a with IP=$ip (in node-b's block)" 0 --node node-a \
		--new handles/net.a-ip.eth0 --may 'blocks/*' --may 'affinity/*' -- \
		cni node-a ADD a-ip eth0 net
	cp "$tmp/out" "$tmp/res.a-ip"
	st "DEL a-ip on node-a" 0 --node node-a --released net.a-ip.eth0 --gone handles/net.a-ip.eth0 \
		--may 'blocks/*' --may 'affinity/*' -- cni node-a DEL a-ip eth0 net

	# --- strict affinity: no borrowing; nothing changes on a refusal ---------------------------
	st "ipam configure --strict-affinity=true" 0 --cluster --new config -- \
		ctl ipam configure --strict-affinity=true
	st "ADD a-t2 in 'tiny' on node-a under strict affinity: refused, nothing changed" 1 \
		--nothing -- cni node-a ADD a-t2 eth1 tiny
	grep -q '"code":100' "$tmp/out" || fail "$LABEL: strict refusal" "not code 100"
	st "ADD a-t3 in 'tiny' on node-c under strict affinity: c's own block" 0 --node node-c \
		--new handles/tiny.c-t3.eth1 --may blocks@node-c --may affinity@node-c -- \
		cni node-c ADD c-t3 eth1 tiny
	st "ipam configure --strict-affinity=false" 0 --cluster --must config -- \
		ctl ipam configure --strict-affinity=false

	# --- gc --nodes-live: only the gone node's affinities ---------------------------------------
	add node-e e-1
	st "DEL e-1 on node-e" 0 --node node-e --released net.e-1.eth0 --may blocks@node-e \
		--may affinity@node-e --gone handles/net.e-1.eth0 -- cni node-e DEL e-1
	printf '%s\n' node-a node-b node-c "$(hostname)" >"$tmp/nodes"
	st "gc --nodes-live (node-e is gone)" 0 --node node-e --may affinity@node-e \
		--may blocks@node-e -- ctl gc --nodes-live "$tmp/nodes"

	# --- resources: create, apply, patch, delete of every kind --------------------------------
	st "create pool" 0 --cluster --new pools/extra --may poolset -- ctl create -f - <<'YAML'
apiVersion: blockipam.io/v1
kind: Pool
metadata: {name: extra}
spec: {cidr: 10.30.0.0/24, blockSize: 28, assignmentMode: Manual}
YAML
	st "apply pool (update)" 0 --cluster --must pools/extra --may poolset -- ctl apply -f - <<'YAML'
apiVersion: blockipam.io/v1
kind: Pool
metadata: {name: extra}
spec: {cidr: 10.30.0.0/24, blockSize: 28, assignmentMode: Manual, allowedUses: [Workload]}
YAML
	st "patch pool" 0 --cluster --must pools/extra --may poolset -- \
		ctl patch pool extra --patch '{"spec":{"disabled":true}}'
	st "create reservation" 0 --cluster --new reservations/r1 -- ctl create -f - <<'YAML'
apiVersion: blockipam.io/v1
kind: Reservation
metadata: {name: r1}
spec: {reservedCIDRs: [10.30.0.0/30]}
YAML
	st "apply reservation (update)" 0 --cluster --must reservations/r1 -- ctl apply -f - <<'YAML'
apiVersion: blockipam.io/v1
kind: Reservation
metadata: {name: r1}
spec: {reservedCIDRs: [10.30.0.0/30, 10.30.0.9]}
YAML
	st "patch reservation" 0 --cluster --must reservations/r1 -- \
		ctl patch reservation r1 --patch '{"spec":{"reservedCIDRs":["10.30.0.8/29"]}}'
	st "create namespace" 0 --cluster --new namespaces/ns1 -- ctl create -f - <<'YAML'
apiVersion: blockipam.io/v1
kind: Namespace
metadata: {name: ns1, labels: {team: x}}
YAML
	st "apply namespace (update)" 0 --cluster --must namespaces/ns1 -- ctl apply -f - <<'YAML'
apiVersion: blockipam.io/v1
kind: Namespace
metadata: {name: ns1, labels: {team: y}}
spec: {pools: [extra]}
YAML
	st "patch namespace" 0 --cluster --must namespaces/ns1 -- \
		ctl patch namespace ns1 --patch '{"metadata":{"labels":{"env":"dev"}}}'
	st "create node node-d" 0 --node node-d --new nodes/node-d -- ctl create -f - <<'YAML'
apiVersion: blockipam.io/v1
kind: Node
metadata: {name: node-d, labels: {zone: z-d}}
YAML
	st "apply node node-b (update)" 0 --node node-b --must nodes/node-b -- ctl apply -f - <<'YAML'
apiVersion: blockipam.io/v1
kind: Node
metadata: {name: node-b, labels: {zone: z-b, rack: r2}}
spec: {addresses: [192.168.7.11]}
YAML
	st "patch node node-c" 0 --node node-c --must nodes/node-c -- \
		ctl patch node node-c --patch '{"metadata":{"labels":{"rack":"r3"}}}'
	st "create ipamconfig" 0 --cluster --must config -- ctl create -f - <<'YAML'
apiVersion: blockipam.io/v1
kind: IPAMConfig
metadata: {name: default}
spec: {maxBlocksPerHost: 50}
YAML
	st "apply ipamconfig (update)" 0 --cluster --must config -- ctl apply -f - <<'YAML'
apiVersion: blockipam.io/v1
kind: IPAMConfig
metadata: {name: default}
spec: {maxBlocksPerHost: 40}
YAML
	st "patch ipamconfig" 0 --cluster --must config -- \
		ctl patch ipamconfig default --patch '{"spec":{"maxBlocksPerHost":30}}'
	st "ipam configure" 0 --cluster --must config -- \
		ctl ipam configure --max-blocks-per-host=20 --empty-block-release=600
	st "node set node-b (labels)" 0 --node node-b --must nodes/node-b -- \
		ctl node set node-b --label rack-
	st "delete namespace" 0 --cluster --gone namespaces/ns1 -- ctl delete namespace ns1
	st "delete reservation" 0 --cluster --gone reservations/r1 -- ctl delete reservation r1
	st "delete pool extra (no pods)" 0 --cluster --gone pools/extra --may poolset -- \
		ctl delete pool extra
	st "delete node node-d (no pods)" 0 --node node-d --gone nodes/node-d -- ctl delete node node-d
	st "delete ipamconfig" 0 --cluster --must config -- ctl delete ipamconfig default

	# --- ipam split, release, check --repair, node release ------------------------------------
	st "ipam split spare 2" 0 --cluster --gone pools/spare --new pools/spare-0 \
		--new pools/spare-1 --may poolset -- ctl ipam split spare 2
	st "ipam release --handle (node-b's)" 0 --node node-b --released net.b-l2.eth0 \
		--gone handles/net.b-l2.eth0 --may blocks@node-b --may affinity@node-b -- \
		ctl ipam release --handle net.b-l2.eth0
	local force=()
	"$B" ipam release --help 2>&1 | grep -q -- --force && force=(--force)
	st "ipam release --ip (node-c's IPv4 of c-l2) ${force[*]}" 0 --node node-c --lost-ok \
		--must handles/net.c-l2.eth0 --may blocks@node-c --may affinity@node-c -- \
		ctl ipam release --ip "$(addr_of c-l2 4)" "${force[@]}"
	ck drop "$S" handles/net.b-l1.eth0 handles/net.a-l3.eth0
	ck snap "$S" "$SNAP" >/dev/null # the two leaks break the invariants on purpose
	ctl ipam check -o json >"$tmp/report.json" 2>/dev/null
	[ $? = 3 ] && pass "$LABEL: ipam check finds the two leaks" || fail "$LABEL: leaks" "not found"
	jq '.problems |= map(select(.subject | test("^'"$(addr_of b-l1 4)"'$|^'"$(addr_of b-l1 6)"'$")))' \
		"$tmp/report.json" >"$tmp/report-b.json" 2>/dev/null || cp "$tmp/report.json" "$tmp/report-b.json"
	if [ "$(jq '.problems | length' "$tmp/report-b.json" 2>/dev/null)" != 2 ]; then
		fail "$LABEL: report" "no problems for node-b's leaked addresses"
		cat "$tmp/report.json"
	fi
	st "ipam release --from-report (node-b's leak only)" 0 --problems --node node-b \
		--may blocks@node-b --may affinity@node-b -- \
		ctl ipam release --from-report "$tmp/report-b.json"
	st "ipam check --repair (node-a's leak)" 0 --node node-a --must handles/net.a-l3.eth0 \
		--may affinity@node-a -- ctl ipam check --repair
	st "GC on node-a takes the record --repair rebuilt (a-l3 is gone)" 0 --node node-a \
		--released net.a-l3.eth0 --gone handles/net.a-l3.eth0 --may blocks@node-a \
		--may affinity@node-a -- cni node-a GC "" eth0 net "$(att cni.dev/valid-attachments a-l1 a-l2)"
	st "ADD a-t4 on node-a, borrowed again" 0 --node node-a --new handles/tiny.a-t4.eth1 \
		--may 'blocks/10.50.*' --may 'affinity/*/10.50.*' -- cni node-a ADD a-t4 eth1 tiny
	cp "$tmp/out" "$tmp/res.a-t4"
	st "node release node-c: node-a's borrowed entries stay as they are" 0 --node node-c \
		--may affinity@node-c --may blocks@node-c -- ctl node release node-c
	st "ipam release --ip of node-a's borrowed address" 0 --node node-a --released tiny.a-t4.eth1 \
		--gone handles/tiny.a-t4.eth1 --may 'blocks/10.50.*' --may 'affinity/*/10.50.*' -- \
		ctl ipam release --ip "$(addr_of a-t4 4)" "${force[@]}"
	add node-c c-l4

	# --- at once: node-b and node-c allocate and release while ipam check (and --repair) and
	# node-a's GC run; every check is clean, node-a's and the cluster's records stay as they are
	busy() { # busy NODE: 24 ADDs, every second one DELed again
		local k
		for ((k = 1; k <= 24; k++)); do
			cni "$1" ADD "${1#node-}-x$k" >/dev/null 2>&1 || echo "ADD $k" >>"$tmp/busy.err"
			if ((k % 2 == 0)); then
				cni "$1" DEL "${1#node-}-x$((k - 1))" >/dev/null 2>&1 ||
					echo "DEL $k" >>"$tmp/busy.err"
			fi
		done
	}
	: >"$tmp/busy.err"
	busy node-b &
	local p1=$!
	busy node-c &
	local p2=$! bad=0 k
	for ((k = 0; k < 8; k++)); do
		ctl ipam check >"$tmp/ick" 2>&1 || { bad=$((bad + 1)); cat "$tmp/ick"; }
		ctl ipam check --repair >"$tmp/ick" 2>&1 || { bad=$((bad + 1)); cat "$tmp/ick"; }
		cni node-a GC "" eth0 net "$(att cni.dev/valid-attachments a-l1 a-l2 a-m0)" >/dev/null ||
			bad=$((bad + 1))
	done
	wait "$p1" "$p2"
	[ "$bad" = 0 ] && [ ! -s "$tmp/busy.err" ] &&
		pass "$LABEL: 16 checks (8 repairing) and 8 GCs on node-a while node-b and node-c work: all clean" ||
		fail "$LABEL: checks while nodes work" "$bad checks or GCs failed; $(cat "$tmp/busy.err")"
	st "after it: only node-b's and node-c's records changed" 0 --node node-b --node node-c \
		--any-key -- true

	# --- store migrate into a fresh store -------------------------------------------------------
	local to=sqlite://$tmp/migrated-$LABEL.db
	st "store migrate into a fresh SQLite file: source unchanged" 0 --nothing -- \
		"$B" store migrate --from "$S" --to "$to"
	if ck same "$S" "$to" >"$tmp/out" 2>&1; then
		pass "$LABEL: migrated store holds the same records: $(cat "$tmp/out")"
	else
		fail "$LABEL: migrated store" "$(cat "$tmp/out")"
	fi
	local keep=$S
	S=$to LABEL="$2 migrated"
	ck snap "$S" "$SNAP" >/dev/null
	for n in a b c; do add "node-$n" "$n-m1"; done
	st "GC on node-b after migration" 0 --node node-b --released net.b-m1.eth0 \
		--gone handles/net.b-m1.eth0 --may blocks@node-b --may affinity@node-b -- \
		cni node-b GC "" eth0 net \
		"$(att cni.dev/valid-attachments b-l1 b-l3 $(seq -f b-x%g 2 2 24))"
	S=$keep LABEL=$2
}

t0=$EPOCHREALTIME
stores=${MULTINODE_STORES:-sqlite,etcd}
[[ ",$stores," == *,sqlite,* ]] && scenario "sqlite://$tmp/shared.db" sqlite
if [[ ",$stores," == *,etcd,* ]]; then
	if ! command -v "$ETCD_BIN" >/dev/null || ! command -v "$ETCDCTL_BIN" >/dev/null; then
		skip "multinode etcd" "etcd or etcdctl missing: three nodes on etcd NOT tested"
	elif etcd_start_single; then
		if [ -f "$tmp/migrated-sqlite.db" ]; then
			# the SQLite scenario's end state into the fresh etcd, then start over empty
			if "$B" store migrate --from "sqlite://$tmp/migrated-sqlite.db" --to "$ETCD_ADDR" \
				>"$tmp/out" 2>&1 && ck same "sqlite://$tmp/migrated-sqlite.db" \
				"$ETCD_ADDR" >"$tmp/out" 2>&1 && "$B" --store "$ETCD_ADDR" ipam check \
				>/dev/null 2>&1; then
				pass "store migrate SQLite -> fresh etcd: $(cat "$tmp/out"), ipam check clean"
			else
				fail "store migrate SQLite -> fresh etcd" "$(cat "$tmp/out")"
			fi
			ETCDCTL_API=3 "$ETCDCTL_BIN" --endpoints="${ETCD_ADDR#etcd://}" del --prefix \
				/blockipam/ >/dev/null
		fi
		scenario "$ETCD_ADDR" etcd
	else
		fail "etcd" "did not start"
	fi
fi
printf '     %.1f s\n' "$(echo "$EPOCHREALTIME - $t0" | bc -l)"
finish

#!/usr/bin/env bash
# Operator actions that cannot hurt running pods (issue 14, item 5), exec'd on a temporary SQLite
# store and then on a real etcd of our own (tests/etcd-harness.sh; skipped loudly without etcd),
# with addresses allocated through the real plugin: every refusal names what would be hurt
# and the way on, every --force path works and leaves 'ipam check' clean, unknown names get a
# did-you-mean, and a selector naming a label no node has draws a warning.
# Ends with "cli_safety: N passed, N failed, N skipped".
set -u
build=${BIP_BUILD:-build}
root=${BIP_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
B=$build/blockipamctl
PLUGIN=$build/blockipam
tmp=$(mktemp -d)
cleanup() {
	declare -F etcd_cleanup >/dev/null && etcd_cleanup
	rm -rf "$tmp"
}
trap cleanup EXIT
kind=
unset BLOCKIPAM_NODE
passed=0 failed=0 skipped=0

pass() {
	passed=$((passed + 1))
	echo "ok   $kind: $1"
}
fail() {
	failed=$((failed + 1))
	echo "FAIL $kind: $1: $2"
	sed 's/^/    | /' "$tmp/out" "$tmp/err" | head -n 20
}
skip() {
	skipped=$((skipped + 1))
	echo "skip $1: SKIPPED: $2"
}

# t NAME WANT_RC TEXT... -- CMD...: CMD exits WANT_RC and every TEXT (fixed strings) is in its
# stdout or stderr.
t() {
	local name=$1 want=$2 texts=() rc x
	shift 2
	while [ "$1" != "--" ]; do
		texts+=("$1")
		shift
	done
	shift
	"$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	[ -n "${VERBOSE:-}" ] && sed 's/^/    > /' "$tmp/err"
	if [ "$rc" != "$want" ]; then
		fail "$name" "exit $rc, want $want"
		return 1
	fi
	for x in "${texts[@]}"; do
		if [ -n "$x" ] && ! grep -qF -- "$x" "$tmp/out" "$tmp/err"; then
			fail "$name" "no '$x' in the output"
			return 1
		fi
	done
	pass "$name"
}

# not_in NAME TEXT: the last command's output does not hold TEXT.
not_in() {
	if grep -qF -- "$2" "$tmp/out" "$tmp/err"; then
		fail "$1" "'$2' should not be in the output"
	else
		pass "$1"
	fi
}

add() { # CONTAINER NODE NAMESPACE POD: one ADD through the plugin; prints its first address
	printf '{"cniVersion":"1.0.0","name":"net","type":"ptp","ipam":{"type":"blockipam","node":"%s"}}' "$2" |
		CNI_COMMAND=ADD CNI_CONTAINERID=$1 CNI_IFNAME=eth0 CNI_NETNS=/var/run/netns/x \
			CNI_PATH=$build CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAMESPACE=$3;K8S_POD_NAME=$4" \
			"$PLUGIN" >"$tmp/add" 2>&1 || return 1
	grep -oE '"address": *"[^"/]+' "$tmp/add" | head -n 1 | sed 's/.*"//'
}

if [ ! -x "$B" ] || [ ! -x "$PLUGIN" ]; then
	echo "no $B or $PLUGIN: build them first (make)"
	echo "cli_safety: 0 passed, 1 failed, 0 skipped"
	exit 1
fi

# every check, on the (empty) store $BLOCKIPAM_STORE; names are prefixed with $kind
suite() {
	echo "# $kind store: $BLOCKIPAM_STORE"
cat >"$tmp/setup.yaml" <<'EOF'
apiVersion: blockipam.io/v1
kind: Pool
metadata: {name: pods}
spec: {cidr: 10.70.0.0/24, blockSize: 28}
---
apiVersion: blockipam.io/v1
kind: Pool
metadata: {name: spare}
spec: {cidr: 10.71.0.0/24, blockSize: 28, assignmentMode: Manual}
---
apiVersion: blockipam.io/v1
kind: Node
metadata: {name: worker-1, labels: {role: edge}}
spec: {addresses: [192.168.1.11]}
---
apiVersion: blockipam.io/v1
kind: Node
metadata: {name: worker-2, labels: {role: core}}
spec: {addresses: [192.168.1.12]}
---
apiVersion: blockipam.io/v1
kind: Namespace
metadata: {name: payments}
spec: {pools: [spare]}
EOF
t "setup" 0 "pool/pods created" -- "$B" apply -f "$tmp/setup.yaml"
a1=$(add c1 worker-1 default web-1) && a2=$(add c2 worker-1 default web-2) &&
	a3=$(add c3 worker-2 default db-1)
if [ -z "${a1:-}" ] || [ -z "${a3:-}" ]; then
	fail "plugin ADDs" "$(cat "$tmp/add")"
	return
fi
echo "# web-1 $a1, web-2 $a2 on worker-1; db-1 $a3 on worker-2"

# --- delete pool --------------------------------------------------------------------------------
t "delete pool in use: refused" 1 "pool 'pods' has 3 addresses in use" "default/web-1 ($a1" \
	"on node worker-1" "disable this one" "--force" "nothing was deleted" -- "$B" delete pool pods
t "  the pool is still there, enabled" 0 "pods" -- "$B" get pool pods -o json &&
	not_in "  not disabled" '"disabled": true'
t "delete pool a namespace names: refused" 1 "pool 'spare' is named by namespace 'payments'" \
	"--force" -- "$B" delete pool spare
t "delete pool typo: did you mean" 1 "pool 'pod' not found (did you mean 'pods'?)" -- \
	"$B" delete pool pod
t "get pool typo: did you mean" 1 "did you mean 'spare'?" -- "$B" get pool sapre
t "patch pool typo: did you mean" 1 "did you mean 'pods'?" -- \
	"$B" patch pool podss --patch '{"spec":{"disabled":true}}'
t "delete pool --force with a namespace: warns" 0 "warning: pool 'spare' is named by namespace" \
	"pool/spare deleted" -- "$B" delete pool spare --force

# --- delete node --------------------------------------------------------------------------------
t "delete node with pods: refused" 1 "node 'worker-2' has 1 address in use" "default/db-1" \
	"node release worker-2" "--force" "nothing was deleted" -- "$B" delete node worker-2
t "delete node typo: did you mean" 1 "node 'worker2' not found (did you mean 'worker-2'?)" -- \
	"$B" delete node worker2
t "  the node is still there" 0 "worker-2" -- "$B" get node worker-2

# --- ipam release --ip --------------------------------------------------------------------------
t "release a live pod's address: refused" 1 "$a1 is held by default/web-1 (handle 'net.c1.eth0'" \
	"--handle net.c1.eth0" "--force" "nothing was released" -- "$B" ipam release --ip "$a1"
t "  still assigned" 0 "net.c1.eth0" -- "$B" ipam show --ip "$a1"
t "release naming the holder" 0 "released $a1" -- "$B" ipam release --ip "$a1" --handle net.c1.eth0
t "release --force" 0 "released $a2" -- "$B" ipam release --ip "$a2" --force
t "release --force needs --ip" 2 "--force goes with --ip" -- "$B" ipam release --handle x --force

# --- unknown node names -------------------------------------------------------------------------
t "routes --node typo" 1 "routes --node: unknown node 'worker1'" "did you mean 'worker-1'?" -- \
	"$B" routes --node worker1 --format ip
t "routes --node known" 0 "blackhole" -- "$B" routes --node worker-1 --format ip
t "node release unknown" 1 "node release: unknown node 'nosuch'" -- "$B" node release nosuch
t "node release typo" 1 "did you mean 'worker-2'?" -- "$B" node release worker-22
echo c3 >"$tmp/live.txt"
t "gc --node typo" 1 "gc --node: unknown node 'worker_2'" "did you mean 'worker-2'?" -- \
	"$B" gc --live "$tmp/live.txt" --node worker_2 --dry-run
t "gc --node known" 0 "gc:" -- "$B" gc --live "$tmp/live.txt" --node worker-2 --dry-run
printf 'worker1\nworker-2\n' >"$tmp/nodes.txt"
t "gc --nodes-live with a typo: refused" 1 "names node 'worker1', which the store does not know" \
	"did you mean 'worker-1'?" "nothing was released" -- "$B" gc --nodes-live "$tmp/nodes.txt"
t "  worker-1 keeps its blocks" 0 "worker-1" -- "$B" ipam show --show-blocks
printf 'worker-2\n' >"$tmp/nodes.txt"
t "gc --nodes-live without the typo: a dry run names worker-1" 0 "would release node worker-1" -- \
	"$B" gc --nodes-live "$tmp/nodes.txt" --dry-run
t "node set of a new node is no typo" 0 "node/gateway-a created" -- "$B" node set gateway-a --label role=edge
not_in "  no warning for a name far from the others" "warning"
t "node set of a near name: created, with a warning" 0 "creating node 'worker2' next to the existing 'worker-2'" \
	"node/worker2 created" -- "$B" node set worker2 --label role=edge
t "  (deleted again)" 0 "node/worker2 deleted" -- "$B" delete node worker2
t "node set of the next of a series: no warning" 0 "node/worker-3 created" -- \
	"$B" node set worker-3 --label role=edge && not_in "  no warning for worker-3" "warning"
t "  (deleted again)" 0 "node/worker-3 deleted" -- "$B" delete node worker-3

# --- selectors naming labels nobody has ---------------------------------------------------------
cat >"$tmp/sel.yaml" <<'EOF'
apiVersion: blockipam.io/v1
kind: Pool
metadata: {name: gpu}
spec: {cidr: 10.72.0.0/24, nodeSelector: "rol == 'gpu'", namespaceSelector: "tema == 'x'"}
EOF
printf 'apiVersion: blockipam.io/v1\nkind: Namespace\nmetadata: {name: ns1, labels: {team: x}}\n' \
	>"$tmp/ns.yaml"
t "namespace with a label" 0 "namespace/ns1 created" -- "$B" apply -f "$tmp/ns.yaml"
t "nodeSelector typo: warned" 0 "label 'rol', which no node has" "did you mean 'role'?" \
	"label 'tema', which no namespace has" "pool/gpu created" -- "$B" apply -f "$tmp/sel.yaml"
cat >"$tmp/sel2.yaml" <<'EOF'
apiVersion: blockipam.io/v1
kind: Pool
metadata: {name: gpu}
spec: {cidr: 10.72.0.0/24, nodeSelector: "!has(gpu) && role == 'edge'"}
EOF
t "a selector that selects a node: no warning" 0 "pool/gpu configured" -- "$B" apply -f "$tmp/sel2.yaml" &&
	not_in "  no warning" "warning"
t "hostname label is implicit: no warning" 0 "" -- "$B" apply -f - <<'EOF'
apiVersion: blockipam.io/v1
kind: Pool
metadata: {name: gpu}
spec: {cidr: 10.72.0.0/24, nodeSelector: "kubernetes.io/hostname == 'worker-1'"}
EOF
not_in "  no warning for the hostname label" "warning"

# --- forced deletes clean up after themselves ---------------------------------------------------
t "delete node --force" 0 "warning: node 'worker-2'" "node/worker-2 deleted" -- \
	"$B" delete node worker-2 --force
t "delete pool --force releases what it holds" 0 "pool/pods deleted (1 address released)" -- \
	"$B" delete pool pods --force
t "ipam check clean after the forced deletes" 0 "No problems found" -- "$B" ipam check
t "  no block left" 0 "" -- "$B" ipam show --show-blocks -o json && not_in "  no block" "10.70."
t "  the handle is gone" 1 "not assigned" -- "$B" ipam release --ip "$a3" --force

}

kind=sqlite
export BLOCKIPAM_STORE=sqlite://$tmp/ipam.db
suite

. "$root/tests/etcd-harness.sh"
if ! command -v "$ETCD_BIN" >/dev/null; then
	skip "etcd: every check" "no etcd binary: the etcd backend is NOT tested here"
elif ! etcd_start_single; then
	fail "etcd: every check" "etcd did not start"
else
	kind=etcd
	export BLOCKIPAM_STORE=$ETCD_ADDR
	suite
fi

echo "cli_safety: $passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]

#!/usr/bin/env bash
# Operator actions that cannot hurt running pods (issue 14, item 5), exec'd on a temporary SQLite
# store and then on a real etcd of our own (tests/etcd-harness.sh; skipped loudly without etcd),
# with addresses allocated through the real plugin: every refusal names what would be hurt
# and the way on, every --force path works and leaves 'ipam check' clean, unknown names get a
# did-you-mean, and a selector naming a label no node has draws a warning.
# Ends with "cli_safety: N passed, N failed, N skipped".
set -u
name=cli_safety
. "$(dirname "$0")/lib.sh"
B=$ctl
PLUGIN=$plugin
make_tmp
unset BLOCKIPAM_NODE

add() { # CONTAINER NODE NAMESPACE POD: one ADD through the plugin; prints its first address
	printf '{"cniVersion":"1.0.0","name":"net","type":"ptp","ipam":{"type":"blockipam","node":"%s"}}' "$2" |
		CNI_COMMAND=ADD CNI_CONTAINERID=$1 CNI_IFNAME=eth0 CNI_NETNS=/var/run/netns/x \
			CNI_PATH=$build CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAMESPACE=$3;K8S_POD_NAME=$4" \
			"$PLUGIN" >"$tmp/add" 2>&1 || return 1
	grep -oE '"address": *"[^"/]+' "$tmp/add" | head -n 1 | sed 's/.*"//'
}

if [ ! -x "$B" ] || [ ! -x "$PLUGIN" ]; then
	bad "no $B or $PLUGIN: build them first (make)"
	finish
fi

# every check, on the (empty) store $BLOCKIPAM_STORE; names are prefixed with $kind (t_prefix)
suite() {
	t_prefix="$kind: "
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
t_all "setup" 0 "pool/pods created" -- "$B" apply -f "$tmp/setup.yaml"
a1=$(add c1 worker-1 default web-1) && a2=$(add c2 worker-1 default web-2) &&
	a3=$(add c3 worker-2 default db-1)
if [ -z "${a1:-}" ] || [ -z "${a3:-}" ]; then
	fail "plugin ADDs" "$(cat "$tmp/add")"
	return
fi
echo "# web-1 $a1, web-2 $a2 on worker-1; db-1 $a3 on worker-2"

# --- delete pool --------------------------------------------------------------------------------
t_all "delete pool in use: refused" 1 "pool 'pods' has 3 addresses in use" "default/web-1 ($a1" \
	"on node worker-1" "disable this one" "--force" "nothing was deleted" -- "$B" delete pool pods
t_all "  the pool is still there, enabled" 0 "pods" -- "$B" get pool pods -o json &&
	not_in "  not disabled" '"disabled": true'
t_all "delete pool a namespace names: refused" 1 "pool 'spare' is named by namespace 'payments'" \
	"--force" -- "$B" delete pool spare
t_all "delete pool typo: did you mean" 1 "pool 'pod' not found (did you mean 'pods'?)" -- \
	"$B" delete pool pod
t_all "get pool typo: did you mean" 1 "did you mean 'spare'?" -- "$B" get pool sapre
t_all "patch pool typo: did you mean" 1 "did you mean 'pods'?" -- \
	"$B" patch pool podss --patch '{"spec":{"disabled":true}}'
t_all "delete pool --force with a namespace: warns" 0 "warning: pool 'spare' is named by namespace" \
	"pool/spare deleted" -- "$B" delete pool spare --force

# --- delete node --------------------------------------------------------------------------------
t_all "delete node with pods: refused" 1 "node 'worker-2' has 1 address in use" "default/db-1" \
	"node release worker-2" "--force" "nothing was deleted" -- "$B" delete node worker-2
t_all "delete node typo: did you mean" 1 "node 'worker2' not found (did you mean 'worker-2'?)" -- \
	"$B" delete node worker2
t_all "  the node is still there" 0 "worker-2" -- "$B" get node worker-2

# --- ipam release --ip --------------------------------------------------------------------------
t_all "release a live pod's address: refused" 1 "$a1 is held by default/web-1 (handle 'net.c1.eth0'" \
	"--handle net.c1.eth0" "--force" "nothing was released" -- "$B" ipam release --ip "$a1"
t_all "  still assigned" 0 "net.c1.eth0" -- "$B" ipam show --ip "$a1"
t_all "release naming the holder" 0 "released $a1" -- "$B" ipam release --ip "$a1" --handle net.c1.eth0
t_all "release --force" 0 "released $a2" -- "$B" ipam release --ip "$a2" --force
t_all "release --force needs --ip" 2 "--force goes with --ip" -- "$B" ipam release --handle x --force

# --- unknown node names -------------------------------------------------------------------------
t_all "routes --node typo" 1 "routes --node: unknown node 'worker1'" "did you mean 'worker-1'?" -- \
	"$B" routes --node worker1 --format ip
t_all "routes --node known" 0 "blackhole" -- "$B" routes --node worker-1 --format ip
t_all "node release unknown" 1 "node release: unknown node 'nosuch'" -- "$B" node release nosuch
t_all "node release typo" 1 "did you mean 'worker-2'?" -- "$B" node release worker-22
echo c3 >"$tmp/live.txt"
t_all "gc --node typo" 1 "gc --node: unknown node 'worker_2'" "did you mean 'worker-2'?" -- \
	"$B" gc --live "$tmp/live.txt" --node worker_2 --dry-run
t_all "gc --node known" 0 "gc:" -- "$B" gc --live "$tmp/live.txt" --node worker-2 --dry-run
printf 'worker1\nworker-2\n' >"$tmp/nodes.txt"
t_all "gc --nodes-live with a typo: refused" 1 "names node 'worker1', which the store does not know" \
	"did you mean 'worker-1'?" "nothing was released" -- "$B" gc --nodes-live "$tmp/nodes.txt"
t_all "  worker-1 keeps its blocks" 0 "worker-1" -- "$B" ipam show --show-blocks
printf 'worker-2\n' >"$tmp/nodes.txt"
t_all "gc --nodes-live without the typo: a dry run names worker-1" 0 "would release node worker-1" -- \
	"$B" gc --nodes-live "$tmp/nodes.txt" --dry-run
t_all "node set of a new node is no typo" 0 "node/gateway-a created" -- "$B" node set gateway-a --label role=edge
not_in "  no warning for a name far from the others" "warning"
t_all "node set of a near name: created, with a warning" 0 "creating node 'worker2' next to the existing 'worker-2'" \
	"node/worker2 created" -- "$B" node set worker2 --label role=edge
t_all "  (deleted again)" 0 "node/worker2 deleted" -- "$B" delete node worker2
t_all "node set of the next of a series: no warning" 0 "node/worker-3 created" -- \
	"$B" node set worker-3 --label role=edge && not_in "  no warning for worker-3" "warning"
t_all "  (deleted again)" 0 "node/worker-3 deleted" -- "$B" delete node worker-3

# --- selectors naming labels nobody has ---------------------------------------------------------
cat >"$tmp/sel.yaml" <<'EOF'
apiVersion: blockipam.io/v1
kind: Pool
metadata: {name: gpu}
spec: {cidr: 10.72.0.0/24, nodeSelector: "rol == 'gpu'", namespaceSelector: "tema == 'x'"}
EOF
printf 'apiVersion: blockipam.io/v1\nkind: Namespace\nmetadata: {name: ns1, labels: {team: x}}\n' \
	>"$tmp/ns.yaml"
t_all "namespace with a label" 0 "namespace/ns1 created" -- "$B" apply -f "$tmp/ns.yaml"
t_all "nodeSelector typo: warned" 0 "label 'rol', which no node has" "did you mean 'role'?" \
	"label 'tema', which no namespace has" "pool/gpu created" -- "$B" apply -f "$tmp/sel.yaml"
cat >"$tmp/sel2.yaml" <<'EOF'
apiVersion: blockipam.io/v1
kind: Pool
metadata: {name: gpu}
spec: {cidr: 10.72.0.0/24, nodeSelector: "!has(gpu) && role == 'edge'"}
EOF
t_all "a selector that selects a node: no warning" 0 "pool/gpu configured" -- "$B" apply -f "$tmp/sel2.yaml" &&
	not_in "  no warning" "warning"
t_all "hostname label is implicit: no warning" 0 "" -- "$B" apply -f - <<'EOF'
apiVersion: blockipam.io/v1
kind: Pool
metadata: {name: gpu}
spec: {cidr: 10.72.0.0/24, nodeSelector: "kubernetes.io/hostname == 'worker-1'"}
EOF
not_in "  no warning for the hostname label" "warning"

# --- forced deletes clean up after themselves ---------------------------------------------------
t_all "delete node --force" 0 "warning: node 'worker-2'" "node/worker-2 deleted" -- \
	"$B" delete node worker-2 --force
t_all "delete pool --force releases what it holds" 0 "pool/pods deleted (1 address released)" -- \
	"$B" delete pool pods --force
t_all "ipam check clean after the forced deletes" 0 "No problems found" -- "$B" ipam check
t_all "  no block left" 0 "" -- "$B" ipam show --show-blocks -o json && not_in "  no block" "10.70."
t_all "  the handle is gone" 1 "not assigned" -- "$B" ipam release --ip "$a3" --force

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

finish

#!/usr/bin/env bash
# blockipamctl k8s watch against a kubectl stand-in that prints recorded output: no API server
# can run here, so this one test replays what `kubectl get --raw /api/v1/<kind>` (typed lists) and
# `kubectl get --raw '/api/v1/<kind>?watch=1&resourceVersion=RV'` (one JSON event per line) print,
# lists in pages (`?limit=500&continue=TOKEN`).
# The objects themselves are made by the real kubectl (--local / --dry-run=client).
# Checks: list then watch from the list's resourceVersion, events applied, SIGTERM stops it
# cleanly (children gone), a restart in the middle of a stream reconciles from the next full list
# (a node deleted while it was down goes, a leaked allocation is released), a 410 ERROR event
# makes it list again, a failed list is retried after a backoff.
# Ends with "k8s_watch: N passed, N failed, N skipped".
set -u
name=k8s_watch
. "$(dirname "$0")/lib.sh"
B=$ctl
PLUGIN=$plugin
KUBECTL=${KUBECTL:-kubectl}
make_tmp
fail_log=$tmp/log # a failure shows the tail of the watcher's log
pid=
at_exit '[ -n "$pid" ] && kill "$pid" 2>/dev/null; [ -n "${KEEP:-}" ] && cp "$tmp/log" "$KEEP"'

# until_ok SECONDS CMD...: poll CMD until it succeeds
until_ok() {
	local n=$(($1 * 10))
	shift
	while [ "$n" -gt 0 ]; do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
		n=$((n - 1))
	done
	return 1
}

for tool in "$KUBECTL" jq; do
	command -v "$tool" >/dev/null 2>&1 || { skip "k8s watch" "$tool is not installed"; finish; }
done
[ -x "$B" ] && [ -x "$PLUGIN" ] || { skip "k8s watch" "build $build first"; finish; }
export KUBECONFIG=$tmp/no-kubeconfig BLOCKIPAM_STORE=sqlite://$tmp/ipam.db
unset BLOCKIPAM_NODE
rec=$tmp/rec
mkdir -p "$rec"

# --- recorded output, from objects the real kubectl makes ------------------------------------
node() { # NAME LABEL=VALUE...
	local name=$1
	shift
	printf 'apiVersion: v1\nkind: Node\nmetadata:\n  name: %s\n' "$name" >"$tmp/$name.yaml"
	"$KUBECTL" label --local -f "$tmp/$name.yaml" -o json "kubernetes.io/hostname=$name" "$@"
}
typed() { # KIND RV FILE...: the API's list (items without kind and apiVersion)
	local kind=$1 rv=$2
	shift 2
	if [ $# = 0 ]; then
		jq -nc --arg k "$kind" --arg rv "$rv" '{kind: $k, apiVersion: "v1", metadata: {resourceVersion: $rv}, items: []}'
	else
		jq -sc --arg k "$kind" --arg rv "$rv" '{kind: $k, apiVersion: "v1", metadata: {resourceVersion: $rv}, items: map(del(.kind, .apiVersion))}' "$@"
	fi
}
ev() { jq -c --arg t "$1" '{type: $t, object: .}' "$2"; }

node n1 zone=a >"$tmp/n1.json" || { skip "k8s watch" "kubectl label --local failed"; finish; }
"$KUBECTL" label --local -f "$tmp/n1.json" -o json --overwrite zone=b >"$tmp/n1b.json"
node n2 >"$tmp/n2.json"
node n5 >"$tmp/n5.json"
"$KUBECTL" create namespace default --dry-run=client -o json >"$tmp/default.json"
"$KUBECTL" create namespace ns1 --dry-run=client -o json >"$tmp/ns1p.json"
"$KUBECTL" annotate --local -f "$tmp/ns1p.json" -o json 'cni.projectcalico.org/ipv4pools=["pool-a"]' >"$tmp/ns1.json"

# round 1: two nodes; the watch relabels n1 and adds ns1, then stays open
typed NodeList 1001 "$tmp/n1.json" "$tmp/n2.json" >"$rec/r1-nodes.json"
typed NamespaceList 1002 "$tmp/default.json" >"$rec/r1-namespaces.json"
typed PodList 1003 >"$rec/r1-pods.json"
ev MODIFIED "$tmp/n1b.json" >"$rec/r1-watch-nodes.jsonl"
ev ADDED "$tmp/ns1.json" >"$rec/r1-watch-namespaces.jsonl"
# round 2 (after a restart): n2 was deleted meanwhile; the pod watch answers 410 Gone
typed NodeList 2001 "$tmp/n1b.json" >"$rec/r2-nodes.json"
typed NamespaceList 2002 "$tmp/default.json" "$tmp/ns1.json" >"$rec/r2-namespaces.json"
typed PodList 2003 >"$rec/r2-pods.json"
echo '{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"too old resource version: 2003 (2100)","reason":"Expired","code":410}}' \
	>"$rec/r2-watch-pods.jsonl"
# round 3: the list fails (no recording); round 4: n5 joined
typed NodeList 4001 "$tmp/n1b.json" "$tmp/n5.json" >"$rec/r4-nodes.json"
# ... and ns1's pool annotation got broken: one bad object must not stop the sync of the rest
jq '.metadata.annotations["cni.projectcalico.org/ipv4pools"] = "[pool-a"' "$tmp/ns1.json" >"$tmp/ns1bad.json"
typed NamespaceList 4002 "$tmp/default.json" "$tmp/ns1bad.json" >"$rec/r4-namespaces.json"
# the pods come in two pages (a continue token that needs percent-encoding)
printf 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n  namespace: default\n' >"$tmp/pa.yaml"
"$KUBECTL" patch --local -f "$tmp/pa.yaml" --type merge -p '{"metadata":{"uid":"ua"}}' -o json >"$tmp/pa.json"
jq '.metadata.name = "b" | .metadata.uid = "ub"' "$tmp/pa.json" >"$tmp/pb.json"
typed PodList 4003 "$tmp/pa.json" | jq -c '.metadata.continue = "tok/+="' >"$rec/r4-pods.json"
typed PodList 4003 "$tmp/pb.json" >"$rec/r4-pods-page2.json"

cat >"$tmp/kubectl" <<'EOF'
#!/bin/bash
# kubectl stand-in: replays recordings from $REC (round N = the Nth list of nodes)
echo "$$ $*" >>"$REC/calls"
[ "$1" = --kubeconfig ] && shift 2
[ "$1" = get ] && [ "$2" = --raw ] || { echo "stand-in: unexpected: $*" >&2; exit 2; }
path=$3 kind=${3#/api/v1/}
kind=${kind%%\?*}
case $path in
*watch=1*)
	f=$REC/r$(cat "$REC/round")-watch-$kind.jsonl
	[ -f "$f" ] && cat "$f"
	exec sleep 300 ;;
/api/v1/nodes\?limit=*) echo $(($(cat "$REC/round" 2>/dev/null || echo 0) + 1)) >"$REC/round" ;;
esac
f=$REC/r$(cat "$REC/round")-$kind.json
case $path in *continue=*) f=${f%.json}-page2.json ;; esac
[ -f "$f" ] || { echo "Error from server (ServiceUnavailable): the server is currently unable to handle the request" >&2; exit 1; }
cat "$f"
EOF
chmod +x "$tmp/kubectl"
export REC=$rec

"$B" apply -f - >/dev/null <<'EOF'
apiVersion: blockipam.io/v1
kind: Pool
metadata: {name: pool-a}
spec: {cidr: 10.10.0.0/16}
EOF

start() {
	"$B" k8s watch --kubectl "$tmp/kubectl" --kubeconfig "$tmp/kc" --grace 0s --resync 10m 2>>"$tmp/log" &
	pid=$!
}
stop() { # NAME: SIGTERM, exits 0 within 5 s, its kubectl children gone
	local rc=0 n=50
	kill -TERM "$pid"
	while kill -0 "$pid" 2>/dev/null && [ $n -gt 0 ]; do
		sleep 0.1
		n=$((n - 1))
	done
	if kill -0 "$pid" 2>/dev/null; then
		fail "$1: stops on SIGTERM" "still running after 5 s"
		kill -KILL "$pid"
	fi
	wait "$pid"
	rc=$?
	pid=
	if [ "$rc" = 0 ]; then pass "$1: SIGTERM: exit 0"; else fail "$1: SIGTERM" "exit $rc"; fi
	local alive=0
	for p in $(cut -d' ' -f1 "$rec/calls"); do kill -0 "$p" 2>/dev/null && alive=$((alive + 1)); done
	if [ "$alive" = 0 ]; then pass "$1: no kubectl left running"; else fail "$1: children" "$alive kubectl left"; fi
}
zone_is() { [ "$("$B" get node n1 -o json | jq -r .metadata.labels.zone)" = "$1" ]; }

start
check "list, then watch events applied (relabel)" until_ok 10 zone_is b
check "namespace from a watch event" until_ok 10 "$B" get namespace ns1
check "watch from the list's resourceVersion" grep -q "/api/v1/nodes?watch=1&allowWatchBookmarks=true&resourceVersion=1001" "$rec/calls"
check "--kubeconfig passed to kubectl" grep -q -- "--kubeconfig $tmp/kc get --raw /api/v1/pods" "$rec/calls"
check "n2 registered" "$B" get node n2
stop "first run"
check "one line per action" grep -q "k8s watch: node/n1 configured" "$tmp/log"
check "stopped logged" grep -q "k8s watch: stopped" "$tmp/log"

# while it is down: n2 is deleted (the DELETED event is never seen) and a pod leaks its address
leak=$(printf '{"cniVersion":"1.1.0","name":"k8s","type":"ptp","ipam":{"type":"blockipam","store":"%s","node":"n1"}}' "$BLOCKIPAM_STORE" |
	CNI_COMMAND=ADD CNI_CONTAINERID=ghost CNI_IFNAME=eth0 CNI_NETNS=/var/run/netns/x CNI_PATH=$build \
		CNI_ARGS="K8S_POD_NAMESPACE=default;K8S_POD_NAME=ghost;K8S_POD_UID=g-1" "$PLUGIN" | jq -r '.ips[0].address' | sed 's|/.*||')
check "a pod's allocation made" "$B" ipam show --ip "$leak" -o json
start
check "restart reconciles from the next list: n2 gone" until_ok 10 bash -c "! '$B' get node n2"
check "... a leaked allocation released" until_ok 10 bash -c "'$B' ipam show --ip '$leak' -o json | jq -e '.assigned == false'"
check "410 Gone: listed again" until_ok 10 grep -q "ERROR 410: too old resource version" "$tmp/log"
check "a failed list is retried after a backoff" until_ok 10 grep -q "retrying in 1s" "$tmp/log"
check "next list after the backoff: n5 joined" until_ok 10 "$B" get node n5
check "a broken object in a list: reported" grep -q "ipv4pools.*want a JSON list.*ignored: its record stays" "$tmp/log"
check "... and its record kept as it was" bash -c "'$B' get namespace ns1 -o json | jq -e '.spec.pools == [\"pool-a\"]'"
check "lists come in pages" grep -q "/api/v1/pods?limit=500&continue=tok%2F%2B%3D" "$rec/calls"
check "... and every page counts" grep -q "listed 2 nodes, 2 namespaces, 2 pods" "$tmp/log"
stop "second run"
check "four list rounds" test "$(cat "$rec/round")" = 4
finish

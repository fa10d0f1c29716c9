#!/usr/bin/env bash
# blockipamctl k8s sync end to end, with objects made by the real kubectl without a server
# (`kubectl create --dry-run=client`, `kubectl label --local`, `kubectl annotate --local`,
# `kubectl patch --local`), assembled into Lists and watch-event streams in the form
# `kubectl get -o json` and `kubectl get --watch --output-watch-events -o json` print them, and
# allocations made by the real plugin with K8S_POD_* in CNI_ARGS. Every check runs on a SQLite
# store, then again on a real etcd (tests/etcd-harness.sh). Without kubectl or jq the test is
# skipped loudly; without etcd its etcd half is.
# Ends with "k8s: N passed, N failed, N skipped".
set -u
name=k8s
. "$(dirname "$0")/lib.sh"
B=$ctl
PLUGIN=$plugin
KUBECTL=${KUBECTL:-kubectl}
make_tmp

# is NAME WANT GOT
is() {
	if [ "$2" = "$3" ]; then pass "$1"; else
		: >"$tmp/out" >"$tmp/err"
		fail "$1" "want '$2', got '$3'"
	fi
}

for tool in "$KUBECTL" jq; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		skip "k8s sync" "$tool is not installed (scripts/deps.sh test installs it)"
		finish
	fi
done
if [ ! -x "$B" ] || [ ! -x "$PLUGIN" ]; then
	skip "k8s sync" "build $build first"
	finish
fi
# kubectl must not find a cluster: everything here is --local / --dry-run=client
export KUBECONFIG=$tmp/no-kubeconfig
obj=$tmp/obj
mkdir -p "$obj"

# --- objects, made by kubectl -----------------------------------------------------------------

# node NAME LABEL=VALUE... : a Node with those labels (and kubernetes.io/hostname)
node() {
	local name=$1
	shift
	printf 'apiVersion: v1\nkind: Node\nmetadata:\n  name: %s\n' "$name" >"$obj/$name.yaml"
	"$KUBECTL" label --local -f "$obj/$name.yaml" -o json "kubernetes.io/hostname=$name" "$@"
}
# patch FILE JSON: kubectl patch --local (merge)
patch() {
	"$KUBECTL" patch --local -f "$1" --type merge -p "$2" -o json
}
# pod NS NAME UID NODE [PHASE]
pod() {
	printf 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: %s\n  namespace: %s\nspec:\n  containers:\n  - name: c\n    image: x\n' \
		"$2" "$1" >"$obj/pod-$1-$2.yaml"
	patch "$obj/pod-$1-$2.yaml" "{\"metadata\":{\"uid\":\"$3\"},\"spec\":{\"nodeName\":\"$4\"},\"status\":{\"phase\":\"${5:-Running}\"}}"
}
# list FILE...: what `kubectl get ... -o json` prints
list() {
	jq -s '{apiVersion: "v1", items: ., kind: "List", metadata: {resourceVersion: ""}}' "$@"
}
# event TYPE FILE: one watch event as `kubectl get --watch --output-watch-events -o json` prints it
event() {
	jq --arg t "$1" '{type: $t, object: .}' "$2"
}

node n1 zone=a >"$obj/n1.json" || { skip "k8s sync" "kubectl label --local failed"; finish; }
patch "$obj/n1.json" '{"status":{"addresses":[{"type":"InternalIP","address":"192.168.50.1"},{"type":"Hostname","address":"n1"},{"type":"InternalIP","address":"fd50::1"}]}}' >"$obj/n1s.json"
node n2 zone=b >"$obj/n2.json"
"$KUBECTL" label --local -f "$obj/n1s.json" -o json --overwrite zone=b >"$obj/n1b.json"
node n3 >"$obj/n3.json"
patch "$obj/n3.json" '{"spec":{"podCIDR":"10.244.3.0/24","podCIDRs":["10.244.3.0/24"]}}' >"$obj/n3c.json"
"$KUBECTL" create namespace ns1 --dry-run=client -o json >"$obj/ns1-plain.json"
"$KUBECTL" annotate --local -f "$obj/ns1-plain.json" -o json \
	'cni.projectcalico.org/ipv4pools=["pool-ns"]' >"$obj/ns1.json"
"$KUBECTL" label --local -f "$obj/ns1.json" -o json team=x >"$obj/ns1l.json"
"$KUBECTL" create namespace ns2 --dry-run=client -o json >"$obj/ns2-plain.json"
"$KUBECTL" annotate --local -f "$obj/ns2-plain.json" -o json \
	'cni.projectcalico.org/ipv4pools=["10.31.0.0/16"]' >"$obj/ns2.json"
"$KUBECTL" create namespace ns3 --dry-run=client -o json >"$obj/ns3-plain.json"
"$KUBECTL" annotate --local -f "$obj/ns3-plain.json" -o json \
	'cni.projectcalico.org/ipv6pools=["no-such-pool"]' >"$obj/ns3.json"
"$KUBECTL" create namespace default --dry-run=client -o json >"$obj/default.json"
"$KUBECTL" create configmap cm --from-literal=a=b --dry-run=client -o json >"$obj/cm.json"
"$KUBECTL" create service clusterip svc --tcp=80 --dry-run=client -o json >"$obj/svc.json"

pools() {
	cat <<'EOF'
apiVersion: blockipam.io/v1
kind: Pool
metadata: {name: pool-a}
spec: {cidr: 10.10.0.0/16, nodeSelector: "zone == 'a'"}
---
apiVersion: blockipam.io/v1
kind: Pool
metadata: {name: pool-b}
spec: {cidr: 10.20.0.0/16, nodeSelector: "zone == 'b'"}
---
apiVersion: blockipam.io/v1
kind: Pool
metadata: {name: pool-ns}
spec: {cidr: 10.30.0.0/16, assignmentMode: Manual}
---
apiVersion: blockipam.io/v1
kind: Pool
metadata: {name: pool-ns-cidr}
spec: {cidr: 10.31.0.0/16, assignmentMode: Manual}
EOF
}

# add CONTAINER NODE NS POD UID [IPAM-EXTRA]: an ADD as a runtime makes it; prints the address
add() {
	printf '{"cniVersion":"1.1.0","name":"k8s","type":"ptp","ipam":{"type":"blockipam","store":"%s","node":"%s"%s}}' \
		"$BLOCKIPAM_STORE" "$2" "${6:-}" |
		CNI_COMMAND=ADD CNI_CONTAINERID=$1 CNI_IFNAME=eth0 CNI_NETNS=/var/run/netns/k8s-test \
			CNI_PATH=$build CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAMESPACE=$3;K8S_POD_NAME=$4;K8S_POD_UID=$5" \
			"$PLUGIN" | jq -r '.ips[0].address // .msg' | sed 's|/.*||'
}
handle_addr() { # ADDR -> handle holding it
	"$B" ipam show --ip "$1" -o json 2>/dev/null | jq -r '.handle // empty'
}
labels() { # KIND NAME
	"$B" get "$1" "$2" -o json 2>/dev/null | jq -c '.metadata.labels // {}'
}
snapshot() {
	{
		"$B" get nodes -o json
		"$B" get namespaces -o json
		"$B" ipam show --show-blocks -o json
	} 2>&1
}
sync() { # FILE ARGS...
	local f=$1
	shift
	"$B" k8s sync -f "$f" "$@"
}
stat() { # FILE ARGS... -> the -o json summary, compact
	local f=$1
	shift
	"$B" k8s sync -f "$f" -o json "$@" 2>/dev/null | jq -c "$JQ"
}

suite() {
	local S=$1 a1 a2 a3 a4 ah ar
	"$B" apply -f <(pools) >/dev/null 2>&1 || { fail "$S apply pools" "apply failed"; return; }

	# nodes and namespaces from one List, as kubectl get nodes,namespaces -o json prints it
	list "$obj/n1s.json" "$obj/n2.json" "$obj/ns1.json" "$obj/ns2.json" "$obj/ns3.json" \
		"$obj/default.json" "$obj/cm.json" >"$tmp/l1.json"
	t "$S list: created, other kinds skipped" 0 "1 objects of other kinds skipped" sync "$tmp/l1.json"
	cp "$tmp/out" "$tmp/last"
	t "$S missing pool reported" 0 "pool 'no-such-pool' of its annotation does not exist" \
		cat "$tmp/last"
	is "$S node labels" '{"blockipam.io/source":"kubernetes","kubernetes.io/hostname":"n1","zone":"a"}' \
		"$("$B" get node n1 -o json | jq -c '.metadata.labels | to_entries | sort_by(.key) | from_entries')"
	is "$S node InternalIPs" '["192.168.50.1","fd50::1"]' "$("$B" get node n1 -o json | jq -c .spec.addresses)"
	is "$S namespace pools by name" '["pool-ns"]' "$("$B" get namespace ns1 -o json | jq -c .spec.pools)"
	is "$S namespace pools by CIDR" '["10.31.0.0/16"]' \
		"$("$B" get namespace ns2 -o json | jq -c .spec.pools)"
	JQ='[.nodes.unchanged, .namespaces.unchanged, .nodes.written]'
	is "$S same list again: nothing written" '[2,4,0]' "$(stat "$tmp/l1.json")"

	# pools chosen by node selector follow the labels
	a1=$(add c-a1 n1 default pa pa-uid)
	is "$S zone=a node gets pool-a" "10.10" "${a1%.*.*}"
	event MODIFIED "$obj/n1b.json" >"$tmp/relabel.json"
	t "$S relabel event" 0 "node/n1 configured" sync "$tmp/relabel.json"
	a2=$(add c-a2 n1 default pb pb-uid)
	is "$S relabelled node gets pool-b" "10.20" "${a2%.*.*}"
	# and by namespace annotation, by name and by CIDR
	a3=$(add c-ns1 n2 ns1 web-0 uid-1)
	is "$S namespace annotation by name" "10.30" "${a3%.*.*}"
	a4=$(add c-ns2 n2 ns2 db-0 uid-db)
	is "$S namespace annotation by CIDR" "10.31" "${a4%.*.*}"
	"$KUBECTL" annotate --local -f "$obj/ns1l.json" -o json --overwrite \
		'cni.projectcalico.org/ipv4pools=["pool-b"]' >"$obj/ns1b.json"
	event MODIFIED "$obj/ns1b.json" >"$tmp/ns1b.json"
	t "$S namespace re-annotated" 0 "namespace/ns1 configured" sync "$tmp/ns1b.json"
	is "$S namespace labels" '{"blockipam.io/source":"kubernetes","team":"x"}' \
		"$(labels namespace ns1 | jq -c 'to_entries | sort_by(.key) | from_entries')"
	ar=$(add c-ns1b n2 ns1 web-1 uid-w1)
	is "$S pods follow the new annotation" "10.20" "${ar%.*.*}"

	# host-local mode follows podCIDRs (given in a watch event, pretty-printed as kubectl does)
	event ADDED "$obj/n3c.json" >"$tmp/n3.json"
	t "$S node with pod CIDR added" 0 "node/n3 created" sync "$tmp/n3.json"
	ah=$(add c-hl n3 default hl hl-uid ',"subnet":"usePodCidr"')
	is "$S host-local mode uses podCIDRs" "10.244.3" "${ah%.*}"

	# leaks: web-0 is recreated under a new UID, pa is gone, pb lives on n1
	pod ns1 web-0 uid-2 n2 >"$obj/p-web0.json"
	pod default pb pb-uid n1 >"$obj/p-pb.json"
	pod default hl hl-uid n3 >"$obj/p-hl.json"
	pod ns2 db-0 uid-db n2 Succeeded >"$obj/p-db.json"
	pod ns1 web-1 uid-w1 n2 >"$obj/p-web1.json"
	list "$obj/n1b.json" "$obj/n2.json" "$obj/n3c.json" "$obj/ns1b.json" "$obj/ns2.json" \
		"$obj/default.json" "$obj/p-web0.json" "$obj/p-pb.json" "$obj/p-hl.json" \
		"$obj/p-db.json" "$obj/p-web1.json" >"$tmp/full.json"
	JQ='[.leaks.found, .leaks.released, .leaks.keptYoung]'
	is "$S young leaks are never released" '[3,0,3]' "$(stat "$tmp/full.json")"
	is "$S default grace is 15m" '[3,0,3]' "$(stat "$tmp/full.json" --grace 15m)"
	before=$(snapshot)
	t "$S dry run says what it would release" 0 "would be released: pod ns1/web-0 was recreated" \
		sync "$tmp/full.json" --grace 0s --dry-run
	is "$S dry run changes nothing" "$before" "$(snapshot)"
	is "$S dry run: old allocation still held" "k8s.c-ns1.eth0" "$(handle_addr "$a3")"
	t "$S leaks released after the grace" 0 "3 found, 3 released" sync "$tmp/full.json" --grace 0s
	is "$S recreated pod's old allocation gone" "" "$(handle_addr "$a3")"
	is "$S gone pod's allocation gone" "" "$(handle_addr "$a1")"
	is "$S finished pod's allocation gone" "" "$(handle_addr "$a4")"
	is "$S live pod kept" "k8s.c-a2.eth0" "$(handle_addr "$a2")"
	is "$S host-local pod kept" "k8s.c-hl.eth0" "$(handle_addr "$ah")"
	an=$(add c-ns1-new n2 ns1 web-0 uid-2)
	is "$S recreated pod's new allocation survives" '[0,0,0]' "$(stat "$tmp/full.json" --grace 0s)"
	is "$S ... and holds its address" "k8s.c-ns1-new.eth0" "$(handle_addr "$an")"
	# a leak is released only once older than the grace
	ag=$(add c-gone n1 default gone gone-uid)
	is "$S younger than --grace 2s: kept" '[1,0,1]' "$(stat "$tmp/full.json" --grace 2s)"
	sleep 3
	is "$S older than --grace 2s: released" '[1,1,0]' "$(stat "$tmp/full.json" --grace 2s)"
	is "$S ... and gone" "" "$(handle_addr "$ag")"

	# pods deleted by watch events (no full pod list): only what the events name
	ad=$(add c-del n1 default pb2 pb2-uid)
	pod default pb2 pb2-uid n1 >"$obj/p-pb2.json"
	event DELETED "$obj/p-pb2.json" >"$tmp/pdel.json"
	event DELETED "$obj/p-pb.json" | jq '.object.metadata.uid = "other-uid"' >>"$tmp/pdel.json"
	is "$S DELETED pod events" '[1,1,0]' "$(stat "$tmp/pdel.json" --grace 0s)"
	is "$S deleted pod's allocation gone" "" "$(handle_addr "$ad")"
	is "$S same name, other UID: kept" "k8s.c-a2.eth0" "$(handle_addr "$a2")"

	# a deleted node: affinities released at once, its pods' addresses after the grace
	a5=$(add c-n2 n2 default p5 p5-uid)
	event DELETED "$obj/n2.json" >"$tmp/n2del.json"
	t "$S node deleted" 0 "node/n2 deleted" sync "$tmp/n2del.json" --grace 1h
	cp "$tmp/out" "$tmp/last"
	t "$S its affinities released" 0 "affinities released" grep -F "node/n2 deleted" "$tmp/last"
	is "$S node record gone" "1" "$("$B" get node n2 >/dev/null 2>&1; echo $?)"
	is "$S its pod's address kept within the grace" "k8s.c-n2.eth0" "$(handle_addr "$a5")"
	t "$S after the grace: released" 0 "its node n2 is gone" sync "$tmp/n2del.json" --grace 0s
	is "$S n2's addresses gone" "" "$(handle_addr "$a5")$(handle_addr "$an")"
	is "$S n2's blocks gone" "0" "$("$B" ipam show --show-blocks -o json | jq '[.. | objects | select(.node? == "n2")] | length')"

	# a full list is the truth: n3 (synced) goes, a node made by hand stays, pools stay
	"$B" node set hand-made --label zone=a >/dev/null
	list "$obj/n1b.json" "$obj/ns1b.json" "$obj/default.json" >"$tmp/l2.json"
	t "$S list without n3" 0 "node/n3 deleted" sync "$tmp/l2.json" --grace 1h
	cp "$tmp/out" "$tmp/last"
	t "$S ... and without ns2" 0 "namespace/ns2 deleted" cat "$tmp/last"
	is "$S hand-made node kept" "0" "$("$B" get node hand-made >/dev/null 2>&1; echo $?)"
	is "$S pools kept" "4" "$("$B" get pools -o json | jq '.items | length')"
	# an empty List says nothing, unless --complete says it is a whole list
	list >"$tmp/empty.json"
	JQ='[.nodes.deleted, .namespaces.deleted]'
	is "$S empty List deletes nothing" '[0,0]' "$(stat "$tmp/empty.json")"
	is "$S empty List --complete nodes" '[1,0]' "$(stat "$tmp/empty.json" --complete nodes --dry-run)"
	# the API's typed lists are complete by themselves, and YAML works as well as JSON
	jq '{kind: "NodeList", apiVersion: "v1", metadata: {resourceVersion: "77"}, items: [.]}' \
		"$obj/n1b.json" | jq 'del(.items[0].kind, .items[0].apiVersion)' >"$tmp/nodelist.json"
	is "$S NodeList items have no kind" '[0,0]' "$(stat "$tmp/nodelist.json")"
	"$KUBECTL" label --local -f "$obj/n1b.json" -o yaml rack=r1 >"$tmp/n1.yaml"
	{ echo '---'; cat "$tmp/n1.yaml"; echo '---'; "$KUBECTL" label --local -f "$obj/ns1b.json" -o yaml rack=r1; } >"$tmp/docs.yaml"
	t "$S YAML documents" 0 "node/n1 configured" sync "$tmp/docs.yaml"
	is "$S YAML labels arrived" '"r1"' "$(labels node n1 | jq -c '.rack')"

	# hostile documents: refused, naming document and field, with the store unchanged
	before=$(snapshot)
	hostile() { # NAME TEXT JQ-FILTER-ON-n1
		jq "$3" "$obj/n1b.json" >"$tmp/bad.json"
		cat "$obj/ns1b.json" "$tmp/bad.json" >"$tmp/bad2.json" # a good document first
		t "$S hostile: $1" 1 "$2" sync "$tmp/bad2.json" --grace 0s
	}
	hostile "labels not an object" "document 2 (Node n1): metadata.labels: must be an object" '.metadata.labels = ["a"]'
	hostile "no name" "document 2: metadata.name: missing" 'del(.metadata.name)'
	hostile "bad name" "metadata.name: invalid name" '.metadata.name = "a b"'
	hostile "label value too long" "invalid value" ".metadata.labels.x = \"$(printf 'v%.0s' $(seq 64))\""
	hostile "label key too long" "invalid label key" ".metadata.labels[\"$(printf 'k%.0s' $(seq 300))\"] = \"v\""
	hostile "invalid CIDR" "spec.podCIDRs[0]: invalid CIDR '10.0.0.1/33'" '.spec.podCIDRs = ["10.0.0.1/33"]'
	hostile "host bits" "host bits set in CIDR '10.99.0.1/24'" '.spec.podCIDRs = ["10.99.0.1/24"]'
	hostile "two v4 pod CIDRs" "a second IPv4 pod CIDR" '.spec.podCIDRs = ["10.98.0.0/24","10.97.0.0/24"]'
	hostile "pod CIDR in a pool" "overlaps pool 'pool-a'" '.spec.podCIDRs = ["10.10.200.0/24"]'
	hostile "bad InternalIP" "status.addresses[0].address: invalid IP address '300.1.1.1'" \
		'.status.addresses = [{"type":"InternalIP","address":"300.1.1.1"}]'
	hostile "no kind" "document 2: kind: missing" 'del(.kind)'
	hostile "unknown event type" "unknown watch event type 'EXPLODED'" '{type: "EXPLODED", object: .}'
	hostile "deep nesting" "nested more than 64 levels deep" "$(printf '.spec.x = %s1%s' "$(printf '[%.0s' $(seq 100))" "$(printf ']%.0s' $(seq 100))")"
	hostile "list item broken" "items[1]" '{kind: "List", apiVersion: "v1", items: [., {kind: "Node", apiVersion: "v1", metadata: {name: 5}}]}'
	jq '.metadata.annotations["cni.projectcalico.org/ipv4pools"] = "[pool-b"' "$obj/ns1b.json" >"$tmp/badann.json"
	t "$S hostile: broken pool annotation" 1 'metadata.annotations["cni.projectcalico.org/ipv4pools"]: want a JSON list' \
		sync "$tmp/badann.json"
	printf '{"kind": "Node", "apiVersion": "v1", "metadata": {"name": "x"' >"$tmp/trunc.json"
	t "$S hostile: truncated JSON" 1 "nothing was written" sync "$tmp/trunc.json"
	is "$S hostile: store unchanged" "$before" "$(snapshot)"
	list "$obj/cm.json" "$obj/svc.json" >"$tmp/other.json"
	JQ='.skipped'
	is "$S unknown kinds skipped and counted" "2" "$(stat "$tmp/other.json")"
	is "$S BOOKMARK and ERROR events" "2" "$( (echo '{"type":"BOOKMARK","object":{"kind":"Node","apiVersion":"v1","metadata":{"resourceVersion":"9"}}}'; echo '{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","code":410,"reason":"Expired","message":"too old resource version"}}') | "$B" k8s sync -o json 2>"$tmp/last" | jq .documents)"
	t "$S ERROR event reported" 0 "watch ERROR 410: too old resource version" cat "$tmp/last"

	# allocations record the pod's UID
	t "$S pod UID recorded" 0 '"podUID": "pb-uid"' "$B" ipam show --ip "$a2" -o json
}

export BLOCKIPAM_STORE=sqlite://$tmp/ipam.db
unset BLOCKIPAM_NODE
suite sqlite

if command -v etcd >/dev/null 2>&1; then
	# shellcheck source=tests/etcd-harness.sh
	. "$root/tests/etcd-harness.sh"
	if etcd_start_single; then
		export BLOCKIPAM_STORE=$ETCD_ADDR
		suite etcd
	else
		fail "etcd" "could not start a test etcd"
	fi
	# etcd with mutual TLS: the CLI takes the client certificate from the environment, as
	# deploy/kubernetes/04-sync.yaml gives it to k8s watch from the Secret
	etcd_stop_all
	mkdir -p "$tmp/certs"
	if ! command -v openssl >/dev/null || ! etcd_make_certs "$tmp/certs"; then
		skip "etcds" "openssl cannot make the test certificates"
	elif ! etcd_start_single --tls "$tmp/certs"; then
		fail "etcds" "could not start a test etcd with TLS"
	else
		export BLOCKIPAM_STORE=$ETCD_ADDR
		list "$obj/n1s.json" >"$tmp/tls.json"
		t "etcds: no client certificate, refused" 1 "" sync "$tmp/tls.json"
		t "etcds: certificates from BLOCKIPAM_STORE_*_FILE" 0 "node/n1 created" \
			env BLOCKIPAM_STORE_CA_FILE="$tmp/certs/ca.pem" \
			BLOCKIPAM_STORE_CERT_FILE="$tmp/certs/client.pem" \
			BLOCKIPAM_STORE_KEY_FILE="$tmp/certs/client-key.pem" "$B" k8s sync -f "$tmp/tls.json"
	fi
else
	skip "etcd suite" "etcd is not installed: the etcd half did not run"
fi
finish

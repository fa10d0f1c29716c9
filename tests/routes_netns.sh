#!/usr/bin/env bash
# The routes of `blockipamctl routes` carry traffic between real network namespaces (issue #10).
#
# Part 1 (no root needed): the BIRD 2 fragment of `routes --node N --format bird` (block routes,
#   host routes, blackholes, IPv4 and IPv6, a node without an IPv6 address) is accepted by a real
#   `bird -p -c FILE`, and a broken fragment is refused, so the check has teeth.
# Part 2 (root, `ip netns`): two "nodes", namespaces joined by a veth pair (192.168.77.1/24 and
#   .2/24, only inside these namespaces), ip_forward on, one SQLite store in a temporary directory.
#   Pods are namespaces ADDed by Debian's bridge plugin run INSIDE the node namespace (its bridge
#   lives in that node) with blockipam as IPAM and isGateway (the bridge takes network+1 of the
#   block, which blockipam keeps out under bridge, with the network and broadcast addresses).
#   - podA1 (node-a's block) and podB1 (node-b's block) cannot reach each other without routes;
#     after `routes --node N --format ip | ip -n NODE -batch -` they ping each other;
#   - a Manual pool of one /28 block, claimed by node-a (podA2); node-b's bridge may not borrow
#     from it (blockipam refuses podB2: a bridge's subnet is its node's block), node-b's ptp pod
#     podB3 borrows (its per-pod host route on the node is the model lib/routes.c assumes).
#     After re-installing, node-a routes the borrowed address via node-b (/32 beats the
#     connected /28 of its bridge), and traffic from node-a and from podA1 reaches it;
#   - the installed routes are exactly `routes --node` (block routes via the other node, /32 host
#     routes for borrowed addresses, blackholes at metric 1024 for the node's own blocks);
#   - a limitation of borrowing next to a bridge is shown as a counted skip while it holds (a pod
#     of the same block on the owner's bridge takes the borrowed address for on-link), followed
#     by the node-side workaround (proxy_arp on the owner's bridge), so that the rest of the path
#     is still proved;
#   - DEL of every pod through its plugin; then `ipam check` finds nothing and no handle is left.
# Every namespace, link and file is removed at the end, also on failure (trap). Anything missing
# is a loud, counted skip. Prints "routes_netns: N passed, N failed, N skipped".
set -u
name=routes_netns
. "$(dirname "$0")/lib.sh"
unset BLOCKIPAM_NODE

why=""
[ ! -x "$ctl" ] && why="$ctl is not built"
[ -z "$why" ] && [ ! -x "$plugin" ] && why="$plugin is not built"
[ -z "$why" ] && why=$(why_not_cmd jq)
[ -n "$why" ] && skip_all "$why" bird pod-to-pod borrowed routes-match del-and-check

tmp=$(mktemp -d /tmp/bip-routes-netns.XXXXXX)
sfx=$$-$RANDOM
nodeA=bipnA-$sfx nodeB=bipnB-$sfx
pods=() atts=()

# DEL what was ADDed (best effort: it removes the veths and releases the addresses), then every
# namespace. The node namespaces hold the bridges and the node ends of the veths.
teardown() {
	local a
	for a in "${atts[@]}"; do
		# shellcheck disable=SC2086
		cni $a DEL >/dev/null 2>&1
	done
	atts=()
	for a in "${pods[@]}" "$nodeA" "$nodeB"; do
		[ -e "/var/run/netns/$a" ] && ip netns del "$a" 2>/dev/null
	done
	pods=()
}
trap 'teardown; rm -rf "$tmp"' EXIT
trap 'echo "interrupted"; exit 130' INT TERM

# cni NODE-NS POD CONF TYPE CMD: run /usr/lib/cni/TYPE inside the node namespace for the pod.
cni() {
	ip netns exec "$1" env CNI_COMMAND="$5" CNI_CONTAINERID="ctr-$2" CNI_NETNS="/var/run/netns/$2" \
		CNI_IFNAME=eth0 CNI_PATH="$build:$cnidir" "$cnidir/$4" <"$3"
}

# ipam ADD through the plugin alone (no namespace needed), for the BIRD store.
ipam_add() { # STORE NODE CONTAINER POOLS...
	local store=$1 node=$2 ctr=$3 pools
	shift 3
	pools=$(printf '"%s",' "$@")
	printf '{"cniVersion":"1.0.0","name":"bird","type":"x","ipam":{"type":"blockipam","store":"%s","node":"%s","assign_ipv6":true,"pools":{"ipv4":[%s],"ipv6":["v6"]}}}' \
		"$store" "$node" "${pools%,}" |
		CNI_COMMAND=ADD CNI_CONTAINERID=$ctr CNI_NETNS=/nonexistent CNI_IFNAME=eth0 "$plugin"
}

# ---- part 1: the BIRD fragment -------------------------------------------------------------------

bird_part() {
	local st="sqlite://$tmp/bird.db" n f
	if ! command -v bird >/dev/null; then
		skip "bird: bird is not installed (apt-get install bird2; scripts/deps.sh test installs it)"
		return
	fi
	"$ctl" --store "$st" apply -f - >"$tmp/bird.out" 2>&1 <<'EOF' || { bad "bird: apply: $(cat "$tmp/bird.out")"; return; }
apiVersion: blockipam.io/v1
kind: Pool
metadata: {name: v4}
spec: {cidr: 10.251.0.0/24, blockSize: 26, assignmentMode: Manual}
---
apiVersion: blockipam.io/v1
kind: Pool
metadata: {name: tiny}
spec: {cidr: 10.251.1.0/28, blockSize: 28, assignmentMode: Manual}
---
apiVersion: blockipam.io/v1
kind: Pool
metadata: {name: v6}
spec: {cidr: "fd00:251::/112", blockSize: 122, assignmentMode: Manual}
EOF
	"$ctl" --store "$st" node set n1 --address 192.168.78.1 --address fd00:78::1 >/dev/null &&
		"$ctl" --store "$st" node set n2 --address 192.168.78.2 --address fd00:78::2 >/dev/null &&
		"$ctl" --store "$st" node set n3 --address 192.168.78.3 >/dev/null &&
		ipam_add "$st" n1 b1 v4 >/dev/null && ipam_add "$st" n2 b2 v4 >/dev/null &&
		ipam_add "$st" n3 b3 v4 >/dev/null &&
		ipam_add "$st" n1 t1 tiny >/dev/null && ipam_add "$st" n2 t2 tiny >/dev/null ||
		{ bad "bird: cannot set up the store"; return; }
	# n1 owns the tiny block, n2 borrowed from it: n1's fragment has a host route via n2; every
	# node has an IPv6 block; n3 has no IPv6 address, so its IPv6 block is a comment.
	for n in n1 n2 n3; do
		f=$tmp/$n.bird
		"$ctl" --store "$st" routes --node $n --format bird >"$f" 2>&1 || { bad "bird: routes --node $n: $(cat "$f")"; continue; }
		if bird -p -c "$f" >"$tmp/bird.out" 2>&1; then
			ok "bird: bird -p accepts the fragment of $n ($(grep -c '^	route' "$f") routes)"
		else
			bad "bird: bird -p refuses the fragment of $n: $(cat "$tmp/bird.out")"
			sed 's/^/    | /' "$f"
		fi
	done
	f=$tmp/n1.bird
	if grep -qE '^	route 10\.251\.1\.[0-9]+/32 via 192\.168\.78\.2;$' "$f" &&
		grep -qE '^	route 10\.251\.1\.0/28 blackhole;$' "$f" &&
		grep -qE '^	route fd00:251::[0-9a-f]*/122 via fd00:78::2;$' "$f" &&
		grep -qE '^	# fd00:251::[0-9a-f]*/122: node n3 has no IPv6 address$' "$f"; then
		ok "bird: n1's fragment holds a host route, a blackhole, an IPv6 route and a comment for n3"
	else
		bad "bird: n1's fragment lacks a kind of route"
		sed 's/^/    | /' "$f"
	fi
	sed 's#/28 blackhole#/33 blackhole#' "$f" >"$tmp/broken.bird"
	if ! bird -p -c "$tmp/broken.bird" >/dev/null 2>&1; then
		ok "bird: bird -p refuses a broken fragment (a /33)"
	else
		bad "bird: bird -p accepts a fragment with a /33: the check proves nothing"
	fi
}
bird_part

# ---- part 2: real namespaces ---------------------------------------------------------------------

why=$(why_not_netns)
[ -z "$why" ] && why=$(why_not_cmd ping)
for k in bridge ptp; do
	[ -z "$why" ] && [ ! -x "$cnidir/$k" ] &&
		why="$cnidir/$k is not installed (apt-get install containernetworking-plugins)"
done
if [ -n "$why" ]; then
	for s in pod-to-pod borrowed routes-match del-and-check; do skip "$s: $why"; done
	finish
fi

export BLOCKIPAM_STORE="sqlite://$tmp/ipam.db"
A_ADDR=192.168.77.1 B_ADDR=192.168.77.2

# No reservation: under bridge blockipam keeps each block's network, network+1 (the bridge's
# gateway) and broadcast address out itself, under ptp the pool's (docs/cni.md).
"$ctl" apply -f - >"$tmp/out" 2>&1 <<EOF || { bad "setup: apply: $(cat "$tmp/out")"; finish; }
apiVersion: blockipam.io/v1
kind: Pool
metadata: {name: main}
spec: {cidr: 10.250.0.0/24, blockSize: 26}
---
apiVersion: blockipam.io/v1
kind: Pool
metadata: {name: tiny}
spec: {cidr: 10.250.1.0/28, blockSize: 28, assignmentMode: Manual}
EOF
"$ctl" node set node-a --address $A_ADDR >/dev/null && "$ctl" node set node-b --address $B_ADDR >/dev/null ||
	{ bad "setup: node set"; finish; }

# The nodes: a veth pair created straight into the two namespaces (nothing on the host).
for n in "$nodeA" "$nodeB"; do
	ip netns add "$n" || { bad "setup: ip netns add $n"; finish; }
	ip -n "$n" link set lo up
	ip netns exec "$n" sh -c 'echo 1 >/proc/sys/net/ipv4/ip_forward'
done
ip link add va netns "$nodeA" type veth peer name vb netns "$nodeB" &&
	ip -n "$nodeA" addr add $A_ADDR/24 dev va && ip -n "$nodeB" addr add $B_ADDR/24 dev vb &&
	ip -n "$nodeA" link set va up && ip -n "$nodeB" link set vb up ||
	{ bad "setup: the link between the nodes"; finish; }

# mkconf FILE NETWORK TYPE NODE POOL PLUGIN-FIELDS IPAM-FIELDS
mkconf() {
	printf '{"cniVersion":"1.0.0","name":"%s","type":"%s"%s,"ipam":{"type":"blockipam","store":"%s","node":"%s","pools":{"ipv4":["%s"]},"routes":[{"dst":"0.0.0.0/0"}]%s}}\n' \
		"$2" "$3" "$6" "$BLOCKIPAM_STORE" "$4" "$5" "$7" >"$1"
}
br0=',"bridge":"bipbr0","isGateway":true,"ipMasq":false'
br1=',"bridge":"bipbr1","isGateway":true,"ipMasq":false'
for n in a b; do
	mkconf "$tmp/main-$n.conf" bip-rt bridge node-$n main "$br0" ""
	mkconf "$tmp/tiny-$n.conf" bip-rt-tiny bridge node-$n tiny "$br1" ""
done
# ptp's gateway must be inside the pod's prefix: ptp 1.1.1 adds the IPAM routes before its route
# to the gateway, so an outside one (169.254.1.1) fails with "network is unreachable".
mkconf "$tmp/ptp-b.conf" bip-rt-ptp ptp node-b tiny "" ',"gateway":"10.250.1.1"'

# add_pod NODE-NS POD CONF TYPE: a namespace and a CNI ADD; the address (no length) in $addr.
add_pod() {
	addr=""
	ip netns add "$2" || return 1
	pods+=("$2")
	atts+=("$1 $2 $3 $4")
	cni "$1" "$2" "$3" "$4" ADD >"$tmp/$2.json" 2>&1 || return 1
	addr=$(jq -r '.ips[0].address' "$tmp/$2.json") && addr=${addr%/*}
}

# holder ADDR: "node blockOwner borrowed" of an address, from ipam show --ip.
holder() {
	"$ctl" -o json ipam show --ip "$1" | jq -r '"\(.node) \(.blockOwner) \(.borrowed)"'
}

install_routes() {
	local n ns rc=0
	for n in a b; do
		[ $n = a ] && ns=$nodeA || ns=$nodeB
		"$ctl" routes --node node-$n --format ip >"$tmp/routes-$n.ip" &&
			ip -n "$ns" -batch "$tmp/routes-$n.ip" || rc=1
	done
	return $rc
}

# routes_match NODE NS: the routes installed in NS that look like blockipam's (with a gateway, or
# blackholes) are exactly those of `routes --node NODE`.
routes_match() {
	local want have
	want=$("$ctl" -o json routes --node "$1" | jq -r '.routes[] |
		if .kind == "blackhole" then "blackhole \(.destination) metric 1024"
		else "\(.destination) via \(.via)" end' | sort)
	have=$(ip -n "$2" -j -4 route show | jq -r '.[] | select(.gateway != null or .type == "blackhole") |
		(if (.dst | contains("/")) then .dst else .dst + "/32" end) as $d |
		if .type == "blackhole" then "blackhole \($d) metric \(.metric // 0)"
		else "\($d) via \(.gateway)" end' | sort)
	if [ -n "$want" ] && [ "$want" = "$have" ]; then
		ok "routes-match: $1 has exactly the routes of 'routes --node $1': $(tr '\n' ' ' <<<"$want")"
	else
		bad "routes-match: $1: want [$(tr '\n' ' ' <<<"$want")], installed [$(tr '\n' ' ' <<<"$have")]"
	fi
}

pingable() { # FROM-NS ADDR
	ip netns exec "$1" ping -c 1 -W 2 "$2" >/dev/null 2>&1
}

# -- pods on their own nodes' blocks
podA1=bippA1-$sfx podB1=bippB1-$sfx podA2=bippA2-$sfx podB2=bippB2-$sfx podB3=bippB3-$sfx
add_pod "$nodeA" "$podA1" "$tmp/main-a.conf" bridge && a1=$addr &&
	add_pod "$nodeB" "$podB1" "$tmp/main-b.conf" bridge && b1=$addr ||
	{ bad "pod-to-pod: ADD: $(cat "$tmp/$podA1.json" "$tmp/$podB1.json" 2>/dev/null)"; finish; }
ha=$(holder "$a1") hb=$(holder "$b1")
if [ "$ha" = "node-a node-a false" ] && [ "$hb" = "node-b node-b false" ]; then
	ok "pod-to-pod: podA1 has $a1 in node-a's block, podB1 has $b1 in node-b's"
else
	bad "pod-to-pod: podA1 $a1 ($ha), podB1 $b1 ($hb)"
fi
if ! pingable "$podA1" "$b1"; then
	ok "pod-to-pod: without routes podA1 cannot reach podB1"
else
	bad "pod-to-pod: podA1 reaches podB1 before any route is installed: the test proves nothing"
fi
install_routes || bad "routes: ip -batch refused a line: $(cat "$tmp"/routes-?.ip)"
routes_match node-a "$nodeA"
routes_match node-b "$nodeB"
if pingable "$podA1" "$b1" && pingable "$podB1" "$a1"; then
	ok "pod-to-pod: with the routes podA1 ($a1) and podB1 ($b1) ping each other"
else
	bad "pod-to-pod: podA1 ($a1) and podB1 ($b1) do not ping each other"
fi

# -- borrowed addresses: the tiny pool's only block goes to node-a, node-b's pods borrow from it
add_pod "$nodeA" "$podA2" "$tmp/tiny-a.conf" bridge && a2=$addr ||
	{ bad "borrowed: ADD podA2: $(cat "$tmp/$podA2.json")"; finish; }
# A bridge's subnet is its node's block: node-b's bridge pod may not borrow from node-a's.
if add_pod "$nodeB" "$podB2" "$tmp/tiny-b.conf" bridge; then
	bad "borrowed: node-b's bridge borrowed $addr from node-a's block"
elif [ "$(jq -r .code "$tmp/$podB2.json")" = 100 ] &&
	grep -q "no borrowing" "$tmp/$podB2.json"; then
	ok "borrowed: blockipam refuses node-b's bridge pod an address of node-a's block: $(jq -r .msg "$tmp/$podB2.json")"
else
	bad "borrowed: ADD podB2 through bridge: want blockipam's 100, got $(cat "$tmp/$podB2.json")"
fi
add_pod "$nodeB" "$podB3" "$tmp/ptp-b.conf" ptp && b3=$addr ||
	{ bad "borrowed: ADD podB3: $(cat "$tmp/$podB3.json")"; finish; }
h3=$(holder "$b3")
if [ "$(holder "$a2")" = "node-a node-a false" ] && [ "$h3" = "node-b node-a true" ]; then
	ok "borrowed: podA2 has $a2 in node-a's tiny block; podB3 ($b3, ptp) borrowed from it"
else
	bad "borrowed: podA2 $a2 ($(holder "$a2")), podB3 $b3 ($h3); want node-b holding node-a's"
fi
install_routes || bad "routes: ip -batch refused a line: $(cat "$tmp"/routes-?.ip)"
routes_match node-a "$nodeA"
routes_match node-b "$nodeB"
if ip -n "$nodeA" route show 10.250.1.0/28 | grep -q "dev bipbr1 proto kernel"; then
	ok "borrowed: node-a has the connected route of its tiny block on its bridge bipbr1"
else
	bad "borrowed: node-a has no connected 10.250.1.0/28 on bipbr1: $(ip -n "$nodeA" route show 10.250.1.0/28)"
fi
for x in "$b3"; do
	if ip -n "$nodeA" route get "$x" | grep -q "^$x via $B_ADDR "; then
		ok "borrowed: node-a routes $x via node-b ($B_ADDR): the /32 beats the connected /28"
	else
		bad "borrowed: node-a routes $x: $(ip -n "$nodeA" route get "$x" 2>&1 | head -n 1)"
	fi
done
# ptp: node-b has the pod's /32 on its veth, which beats node-a's block route on node-b.
if pingable "$nodeA" "$b3" && pingable "$podA1" "$b3"; then
	ok "borrowed: node-a and podA1 reach podB3 ($b3, ptp) through the host route"
else
	bad "borrowed: node-a or podA1 cannot reach podB3 ($b3, ptp)"
fi

# A limitation of borrowed addresses next to a bridge, shown, then worked around as a node would
# have to, so that the rest of the path is still proved. It is a counted skip while it holds,
# and turns into a plain check once it no longer does.
#
# 1. A pod in the same block on the owner's bridge (podA2) takes a borrowed address for on-link
#    and ARPs for it on bipbr1, where nobody answers. proxy_arp on the owner's bridge makes
#    node-a answer (its route to the address leaves through another interface).
if pingable "$podA2" "$b3"; then
	ok "borrowed: podA2 (same block, on node-a's bridge) reaches podB3 ($b3)"
else
	skip "borrowed: podA2 (same block, on node-a's bridge) cannot reach podB3 ($b3): it ARPs for" \
		"it on bipbr1 ($(ip -n "$podA2" neigh show "$b3" | head -n 1)) (known limitation of" \
		"borrowing with the bridge plugin)"
	ip -n "$podA2" neigh flush dev eth0
	ip netns exec "$nodeA" sh -c 'echo 1 >/proc/sys/net/ipv4/conf/bipbr1/proxy_arp'
	if pingable "$podA2" "$b3" && pingable "$podA2" "$a1"; then
		ok "borrowed: with proxy_arp on node-a's bipbr1, podA2 reaches podB3 ($b3) and still podA1"
	else
		bad "borrowed: even with proxy_arp on node-a's bipbr1, podA2 cannot reach podB3 ($b3) or podA1"
	fi
fi
# -- DEL everything; the store is clean
delfail=""
for a in "${atts[@]}"; do
	# shellcheck disable=SC2086
	cni $a DEL >"$tmp/del.out" 2>&1 || delfail="$delfail ${a#* }: $(cat "$tmp/del.out");"
done
atts=()
[ -z "$delfail" ] && ok "del-and-check: DEL of all 5 attachments through bridge and ptp" || bad "del-and-check: DEL:$delfail"
if "$ctl" ipam check >"$tmp/out" 2>&1 && grep -q "No problems found." "$tmp/out"; then
	ok "del-and-check: ipam check finds no problem"
else
	bad "del-and-check: ipam check: $(cat "$tmp/out")"
fi
used=$("$ctl" -o json ipam show | jq '[.[].used] | add')
handles=$(sqlite3 "$tmp/ipam.db" "select count(*) from kv where key like '%handles/%'" 2>/dev/null || echo "?")
if [ "$used" = 0 ] && [ "$handles" = 0 ]; then
	ok "del-and-check: no address in use, no handle in the store"
else
	bad "del-and-check: $used addresses in use, $handles handles in the store"
fi
if [ "$("$ctl" -o json routes --node node-a | jq '.summary.hostRoutes')" = 0 ]; then
	ok "del-and-check: no host route left in 'routes --node node-a'"
else
	bad "del-and-check: 'routes --node node-a' still has host routes"
fi

teardown
left=$(ip netns list | grep -c -- "-$sfx" || true)
[ "$left" = 0 ] && ok "no namespace left" || bad "$left namespaces left"
finish

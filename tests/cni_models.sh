#!/usr/bin/env bash
# The main plugin's model (docs/cni.md "Which network plugin"), with Debian's bridge, ptp and
# macvlan plugins in real network namespaces, dual stack, more pods on one node than one block
# holds:
#   readme       the README's network config as copied (bridge, isGateway): 13 pods fill the
#                node's /28, their IPv6 addresses span three /125 blocks; the 14th ADD is
#                refused by blockipam (105, naming blockSize), not by the bridge
#   bridge-dgw   bridge with isDefaultGateway plus IPAM default routes (the bridge used to fail
#                on the duplicate default route)
#   ptp          the minimal config (no gateway) plus default routes: 13 pods over four /30
#                blocks, the 14th refused by blockipam (100, pool exhausted)
#   docs-ptp     docs/cni.md's example as copied (pools default-ipv4, default-ipv6)
#   macvlan      the minimal config on a veth master: 13 pods over four blocks, then 100
# Every pod reaches its gateway (both families) and, where the model routes between blocks, a
# pod in another block; no pod has its subnet's network, gateway or broadcast address; after
# DEL of everything `blockipamctl ipam check` is clean and no handle is left.
# Everything lives in namespaces made here: a "node" namespace holds the bridges, veths and the
# macvlan master (the plugins run inside it), one namespace per pod. Needs root, `ip netns`,
# jq, ping, /usr/lib/cni/{bridge,ptp,macvlan}; anything missing is a loud, counted skip.
# Prints "cni_models: N passed, N failed, N skipped".
set -u
name=cni_models
. "$(dirname "$0")/lib.sh"
mkpool=$build/tests/helper_mkpool
scenarios="readme bridge-dgw ptp docs-ptp macvlan"

why=$(why_not_netns)
[ -z "$why" ] && why=$(why_not_cmd jq ping)
for f in "$plugin" "$ctl" "$mkpool"; do
	[ -z "$why" ] && [ ! -x "$f" ] && why="$f is not built"
done
for p in bridge ptp macvlan; do
	[ -z "$why" ] && [ ! -x "$cnidir/$p" ] &&
		why="$cnidir/$p is not installed (apt-get install containernetworking-plugins)"
done
# shellcheck disable=SC2086
[ -n "$why" ] && skip_all "$why" $scenarios

make_tmp
id=$$
node=bipm-$id-node
pods=()

del_netns() {
	for p in "${pods[@]}"; do ip netns del "$p" 2>/dev/null; done
	ip netns del "$node" 2>/dev/null
}
at_exit del_netns

in_node() { ip netns exec "$node" "$@"; }
ip netns add "$node" || { bad "ip netns add $node"; finish; }
in_node ip link set lo up
in_node sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 \
	net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0

# pod N: a namespace for pod N of the current scenario, without IPv6 DAD (so that an address
# is usable at once).
newpod() {
	local p=bipm-$id-$1
	ip netns add "$p" || return 1
	pods+=("$p")
	ip netns exec "$p" sysctl -qw net.ipv6.conf.all.accept_dad=0 \
		net.ipv6.conf.default.accept_dad=0
	ip netns exec "$p" ip link set lo up
}

# cni CMD POD CONFIG: the main plugin, run in the node namespace, for pod POD.
cni() {
	in_node env CNI_COMMAND="$1" CNI_CONTAINERID="ctr-$2" CNI_NETNS="/var/run/netns/bipm-$id-$2" \
		CNI_IFNAME=eth0 CNI_PATH="$build:$cnidir" BLOCKIPAM_NODE=node-a \
		"$cnidir/$(jq -r .type <<<"$3")" <<<"$3"
}

# pingable POD ADDR: pod reaches addr (a few tries: a fresh neighbour entry).
pingable() {
	local p=bipm-$id-$1 i
	for i in 1 2 3; do
		ip netns exec "$p" ping -c 1 -W 1 "$2" >/dev/null 2>&1 && return 0
	done
	return 1
}

# check_addrs SCEN RESULT: every address's prefix length and gateway are the expected ones, and
# the address is not its subnet's network, gateway or (IPv4) broadcast address. Prints nothing
# and returns 0 when all hold, else prints why.
check_addrs() {
	python3 - "$1" "$2" "$len4" "$len6" "${gw4:-}" "${gw6:-}" <<'EOF'
import ipaddress, json, sys
scen, res, len4, len6, gw4, gw6 = sys.argv[1:7]
for ip in json.loads(res)["ips"]:
    iface = ipaddress.ip_interface(ip["address"])
    net, a = iface.network, iface.ip
    want_len = int(len4 if a.version == 4 else len6)
    want_gw = gw4 if a.version == 4 else gw6
    gw = ipaddress.ip_address(ip.get("gateway", "0.0.0.0" if a.version == 4 else "::"))
    if want_gw == "":
        want_gw = str(net.network_address + 1)
    if iface.network.prefixlen != want_len:
        print(f"{a}: length /{net.prefixlen}, want /{want_len}"); sys.exit(1)
    if str(gw) != want_gw:
        print(f"{a}: gateway {gw}, want {want_gw}"); sys.exit(1)
    if a in (net.network_address, gw) or (a.version == 4 and a == net.broadcast_address):
        print(f"{a}: the network, gateway or broadcast address of {net}"); sys.exit(1)
EOF
}

# scenario NAME STORE CONFIG NPODS REFUSAL_CODE REFUSAL_TEXT PEER:
#   ADD NPODS pods (all must work and carry the model's lengths and gateways), then, when
#   REFUSAL_CODE is set, one more that must be refused with that code and text by blockipam;
#   every pod pings its gateways; pod 1 pings pod NPODS (PEER=yes: a pod in another block, v6:
#   one whose IPv6 address is in another block, same: a pod of the same block).
#   Then DEL of every pod, ipam check, no handle left.
scenario() {
	local scen=$1 store=$2 conf=$3 n=$4 code=$5 text=$6 peer=$7
	local out i fails="" refused="" a4 a6 g4 g6 first4="" first6="" last4="" last6="" j
	conf=$(jq -c --arg s "$store" '.ipam.store = $s' <<<"$conf")
	for i in $(seq 1 "$n"); do
		newpod "$scen-$i" || { fails+=" netns$i"; continue; }
		if ! out=$(cni ADD "$scen-$i" "$conf"); then
			fails+=" ADD$i:$(jq -c '{code,msg}' <<<"$out" 2>/dev/null || echo "$out")"
			continue
		fi
		why=$(check_addrs "$scen" "$out") || fails+=" pod$i:$why"
		a4=$(jq -r '.ips[] | select(.address | contains(".")) | .address' <<<"$out")
		a6=$(jq -r '.ips[] | select(.address | contains(":")) | .address' <<<"$out")
		g4=$(jq -r '.ips[] | select(.address | contains(".")) | .gateway' <<<"$out")
		g6=$(jq -r '.ips[] | select(.address | contains(":")) | .gateway' <<<"$out")
		[ -z "$first4" ] && first4=$a4 first6=$a6
		last4=$a4 last6=$a6
		echo "$i $a4 $g4 $a6 $g6" >>"$tmp/$scen.pods"
	done
	if [ -z "$fails" ]; then
		ok "$scen: $n pods ADDed, lengths /$len4 and /$len6, gateways and kept-out addresses as the model says ($first4 .. $last4, $first6 .. $last6)"
	else
		bad "$scen: ADD:$fails"
	fi
	if [ -n "$code" ]; then
		i=$((n + 1))
		newpod "$scen-$i"
		out=$(cni ADD "$scen-$i" "$conf")
		if [ $? != 0 ] && [ "$(jq -r .code <<<"$out" 2>/dev/null)" = "$code" ] &&
			jq -r '.msg + " " + .details' <<<"$out" | grep -q -- "$text"; then
			ok "$scen: pod $i refused by blockipam: $(jq -r .code <<<"$out") $(jq -r .msg <<<"$out")"
		else
			bad "$scen: pod $i: want blockipam's $code '$text', got: $out"
		fi
		cni DEL "$scen-$i" "$conf" >/dev/null || bad "$scen: DEL of the refused pod $i"
	fi
	fails=""
	while read -r i a4 g4 a6 g6; do
		pingable "$scen-$i" "$g4" || fails+=" pod$i->$g4"
		pingable "$scen-$i" "$g6" || fails+=" pod$i->$g6"
	done <"$tmp/$scen.pods"
	if [ -z "$fails" ]; then
		ok "$scen: every pod reaches its IPv4 and IPv6 gateway"
	else
		bad "$scen: gateway unreachable:$fails"
	fi
	if [ "$peer" != no ]; then
		fails=""
		if [ "$peer" != v6 ]; then
			pingable "$scen-1" "${last4%/*}" || fails+=" ${first4%/*}->${last4%/*}"
		fi
		pingable "$scen-1" "${last6%/*}" || fails+=" ${first6%/*}->${last6%/*}"
		if [ -z "$fails" ]; then
			ok "$scen: pod 1 reaches pod $n$([ "$peer" = same ] || echo " in another block")" \
				"($([ "$peer" = v6 ] || echo "${last4%/*}, ")${last6%/*})"
		else
			bad "$scen: pod in another block unreachable:$fails"
		fi
	fi
	fails=""
	for i in $(seq 1 "$n"); do
		cni DEL "$scen-$i" "$conf" >/dev/null || fails+=" DEL$i"
	done
	out=$("$ctl" --store "$store" ipam check 2>&1)
	local rc=$? held
	held=$("$ctl" --store "$store" -o json ipam show 2>/dev/null | jq '[.. | .used? // empty | tonumber] | add // 0' 2>/dev/null)
	if [ -z "$fails" ] && [ $rc = 0 ] && [ "${held:-x}" = 0 ]; then
		ok "$scen: DEL of every pod, ipam check clean, nothing held"
	else
		bad "$scen: after DEL:$fails check rc=$rc held=${held:-?}: $out"
	fi
}

# The README's example, as copied (its bridge cni0 lives in the node namespace).
readme=$(awk '/^```json$/ {on = 1; next} on && /^```$/ {exit} on' "$root/README.md")
# docs/cni.md's example, as copied.
docs=$(awk '/^```json$/ {on = 1; next} on && /^```$/ {exit} on' "$root/docs/cni.md")
# The examples declare cniVersion 1.1.0 (runtimes send STATUS and GC to it); main plugins older
# than that version (Debian 12's containernetworking-plugins 1.1.1 stop at 1.0.0) refuse it, so
# there they run as 1.0.0, and the line says so.
for p in bridge ptp; do
	if ! CNI_COMMAND=VERSION "$cnidir/$p" <<<'{"cniVersion":"1.1.0"}' 2>/dev/null |
		jq -e '.supportedVersions | index("1.1.0")' >/dev/null; then
		echo "# $cnidir/$p does not speak CNI 1.1.0: the README's and docs/cni.md's examples run as 1.0.0"
		readme=$(jq -c '.cniVersion = "1.0.0"' <<<"$readme")
		docs=$(jq -c '.cniVersion = "1.0.0"' <<<"$docs")
		break
	fi
done

mk() { "$mkpool" "sqlite://$tmp/$1.db" "$2" "$3" "$4" >/dev/null 2>"$tmp/mkpool.err" ||
	bad "$1: pool $2 $3: $(cat "$tmp/mkpool.err")"; }

# readme: IPv4 /28 blocks (13 pods: network, gateway and broadcast kept out), IPv6 /125 blocks
# (6 pods each: the bridge takes one IPv6 subnet per block).
mk readme p4 10.81.0.0/24 28
mk readme p6 fd81::/120 125
len4=28 len6=125 gw4="" gw6=""
if jq -e '.type == "bridge" and .isGateway == true' <<<"$readme" >/dev/null; then
	scenario readme "sqlite://$tmp/readme.db" "$readme" 13 105 "larger blockSize" v6
else
	bad "readme: the README's first json block is not the bridge example: $readme"
fi

mk bdgw p4 10.82.0.0/24 26
mk bdgw p6 fd82::/120 122
len4=26 len6=122
scenario bridge-dgw "sqlite://$tmp/bdgw.db" '{"cniVersion":"1.0.0","name":"bip-dgw",
	"type":"bridge","bridge":"bipdgw0","isDefaultGateway":true,"ipam":{"type":"blockipam",
	"assign_ipv6":true,"routes":[{"dst":"0.0.0.0/0"},{"dst":"::/0"}]}}' 3 "" "" no

# ptp, minimal: the pool is the subnet, its network+1 the gateway on every host-side veth.
mk ptp p4 10.83.0.0/28 30
mk ptp p6 fd83::/124 126
len4=28 len6=124
scenario ptp "sqlite://$tmp/ptp.db" '{"cniVersion":"1.0.0","name":"bip-ptp","type":"ptp",
	"ipam":{"type":"blockipam","assign_ipv6":true,
	"routes":[{"dst":"0.0.0.0/0"},{"dst":"::/0"}]}}' 13 100 "no free IPv4 address" yes

mk docs default-ipv4 10.244.0.0/16 26
mk docs default-ipv6 fd00:244::/64 122
len4=16 len6=64 gw4=10.244.0.1 gw6=fd00:244::1
scenario docs-ptp "sqlite://$tmp/docs.db" "$docs" 2 "" "" same

# macvlan on a veth master in the node namespace; the "router" is a macvlan of the same master
# holding the pool's network+1.
if ! in_node ip link add bipmv0 type veth peer name bipmv1 ||
	! in_node ip link add bipgw0 link bipmv0 type macvlan mode bridge 2>"$tmp/mv.err"; then
	skip "macvlan: this kernel cannot make a macvlan link ($(cat "$tmp/mv.err"))"
else
	in_node ip link set bipmv0 up && in_node ip link set bipmv1 up &&
		in_node ip addr add 10.84.0.1/28 dev bipgw0 &&
		in_node ip addr add fd84::1/124 dev bipgw0 &&
		in_node ip link set bipgw0 up || bad "macvlan: cannot set up the master and the gateway"
	mk macvlan p4 10.84.0.0/28 30
	mk macvlan p6 fd84::/124 126
	len4=28 len6=124 gw4="" gw6=""
	scenario macvlan "sqlite://$tmp/macvlan.db" '{"cniVersion":"1.0.0","name":"bip-mv",
		"type":"macvlan","master":"bipmv0","mode":"bridge","ipam":{"type":"blockipam",
		"assign_ipv6":true,"routes":[{"dst":"0.0.0.0/0"},{"dst":"::/0"}]}}' 13 100 \
		"no free IPv4 address" yes
fi

finish

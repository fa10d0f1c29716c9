#!/usr/bin/env bash
# blockipam as the IPAM of real CNI network plugins (Debian's bridge and ptp from
# containernetworking-plugins), in real network namespaces:
#   a pool is created in a SQLite store in a temporary directory (tests/helper_mkpool),
#   two containers are ADDed, each gets an address in the node's block, they ping each other,
#   a repeated IPAM ADD returns the same address, DEL frees both (CHECK then says "not
#   allocated"), and every namespace, link and file is removed afterwards.
# Needs root, `ip netns`, /usr/lib/cni/{bridge,ptp}, the built plugin and helper. Anything
# missing is a loud, counted skip. Prints "cni_bridge: N passed, N failed, N skipped".
set -u
name=cni_bridge
. "$(dirname "$0")/lib.sh"
mkpool=$build/tests/helper_mkpool
scenarios="bridge ptp"

why=$(why_not_netns)
[ -z "$why" ] && why=$(why_not_cmd jq ping)
[ -z "$why" ] && [ ! -x "$plugin" ] && why="$plugin is not built"
[ -z "$why" ] && [ ! -x "$mkpool" ] && why="$mkpool is not built (make $mkpool)"
# shellcheck disable=SC2086 # the scenario names are words
[ -n "$why" ] && skip_all "$why" $scenarios

tmp=$(mktemp -d /tmp/bip-cni-bridge.XXXXXX)
id=$$
bridge=bipbr$((id % 100000))
ns1=bip-$id-1 ns2=bip-$id-2
store="sqlite://$tmp/ipam.db"
fwd=$(cat /proc/sys/net/ipv4/ip_forward)
conf=""

cleanup() {
	# Best effort: the plugins' DEL first (it removes veths and releases addresses), then
	# whatever is left.
	if [ -n "$conf" ]; then
		for c in 1 2; do
			run_cni DEL "ctr$c" "$conf" "$CNI_BIN" >/dev/null 2>&1
		done
	fi
	ip netns del "$ns1" 2>/dev/null
	ip netns del "$ns2" 2>/dev/null
	ip link del "$bridge" 2>/dev/null
	echo "$fwd" >/proc/sys/net/ipv4/ip_forward
	rm -rf "$tmp"
}
trap cleanup EXIT

# run_cni CMD CONTAINER CONFIG BINARY [NETNS]: the plugin's stdout on stdout, its status.
run_cni() {
	local netns=${5:-}
	[ -z "$netns" ] && { [ "$2" = ctr1 ] && netns=$ns1 || netns=$ns2; }
	CNI_COMMAND=$1 CNI_CONTAINERID=$2 CNI_NETNS=/var/run/netns/$netns CNI_IFNAME=eth0 \
		CNI_PATH=$build:$cnidir BLOCKIPAM_NODE=node-a "$4" <<<"$3"
}

# The /26 network of an IPv4 address, as a number.
net26() {
	local IFS=.
	set -- $1
	echo $(((($1 << 24) | ($2 << 16) | ($3 << 8) | $4) & ~63))
}

if ! "$mkpool" "$store" pool-a 10.77.0.0/24 26 2>"$tmp/mkpool.err"; then
	# The plugin links a stand-in engine until lib/ipam.c lands; a library that cannot
	# create pools fails here, loudly.
	for s in $scenarios; do bad "$s: cannot create a pool: $(cat "$tmp/mkpool.err")"; done
	finish
fi

scenario() {
	local kind=$1 extra=$2 len=$4 out1 out2 ip1 ip2 again rc
	CNI_BIN=$cnidir/$kind
	if [ ! -x "$CNI_BIN" ]; then
		skip "$kind: $CNI_BIN is not installed (apt-get install containernetworking-plugins)"
		return
	fi
	ip netns add "$ns1" && ip netns add "$ns2" || { bad "$kind: ip netns add"; return; }
	conf=$(printf '{"cniVersion":"1.0.0","name":"bip-%s","type":"%s"%s,"ipMasq":false,
		"ipam":{"type":"blockipam","store":"%s","node":"node-a"%s}}' \
		"$kind" "$kind" "$extra" "$store" "$3")

	out1=$(run_cni ADD ctr1 "$conf" "$CNI_BIN") || { bad "$kind: ADD ctr1: $out1"; return; }
	out2=$(run_cni ADD ctr2 "$conf" "$CNI_BIN") || { bad "$kind: ADD ctr2: $out2"; return; }
	ip1=$(jq -r '.ips[0].address' <<<"$out1")
	ip2=$(jq -r '.ips[0].address' <<<"$out2")
	if [[ $ip1 == 10.77.0.*/$len && $ip2 == 10.77.0.*/$len && $ip1 != "$ip2" ]] &&
		[ "$(net26 "${ip1%/*}")" = "$(net26 "${ip2%/*}")" ]; then
		ok "$kind: ADD gave $ip1 and $ip2, distinct, in one /26 block of the pool, as /$len"
	else
		bad "$kind: ADD gave '$ip1' and '$ip2' (want two addresses /$len in one /26 of 10.77.0.0/24)"
	fi
	if ip netns exec "$ns1" ip -4 addr show eth0 | grep -q "inet ${ip1} " &&
		ip netns exec "$ns2" ip -4 addr show eth0 | grep -q "inet ${ip2} "; then
		ok "$kind: the addresses are on eth0 in the namespaces"
	else
		bad "$kind: eth0 does not carry the allocated addresses"
	fi
	if ip netns exec "$ns1" ping -c 2 -W 2 "${ip2%/*}" >/dev/null &&
		ip netns exec "$ns2" ping -c 2 -W 2 "${ip1%/*}" >/dev/null; then
		ok "$kind: the containers ping each other"
	else
		bad "$kind: ping between ${ip1%/*} and ${ip2%/*} fails"
	fi
	# IPAM alone: a repeated ADD for the same attachment returns the same address.
	again=$(run_cni ADD ctr1 "$conf" "$plugin")
	if [ "$(jq -r '.ips[0].address' <<<"$again")" = "$ip1" ]; then
		ok "$kind: a repeated ADD returns the same address ($ip1)"
	else
		bad "$kind: a repeated ADD returned '$again', want $ip1"
	fi
	run_cni DEL ctr1 "$conf" "$CNI_BIN" >/dev/null &&
		run_cni DEL ctr2 "$conf" "$CNI_BIN" >/dev/null || bad "$kind: DEL failed"
	# After DEL, CHECK says the ADD result's address is no longer allocated (code 110).
	local prev
	prev=$(jq -c --argjson r "$out1" '. + {prevResult: $r}' <<<"$conf")
	out1=$(run_cni CHECK ctr1 "$prev" "$plugin")
	rc=$?
	if [ $rc != 0 ] && [ "$(jq -r .code <<<"$out1")" = 110 ]; then
		ok "$kind: DEL freed $ip1"
	else
		bad "$kind: after DEL, CHECK says rc=$rc '$out1'"
	fi
	if run_cni DEL ctr1 "$conf" "$CNI_BIN" >/dev/null; then
		ok "$kind: a second DEL succeeds"
	else
		bad "$kind: a second DEL fails"
	fi
	conf=""
	ip netns del "$ns1"
	ip netns del "$ns2"
	ip link del "$bridge" 2>/dev/null
}

# bridge: both containers on one L2 segment, the node's block their subnet (its network,
# network+1 and broadcast kept out: tests/cni_models.sh has isGateway and more pods).
scenario bridge ",\"bridge\":\"$bridge\",\"isGateway\":false" "" 26
# ptp: each container behind its own veth, routed through the host; the pool is the pods'
# prefix and its network+1 the gateway on every host-side veth (docs/cni.md).
scenario ptp "" "" 24

# Nothing may be left behind.
left=$(ip netns list | grep -c "^bip-$id-" || true)
[ "$left" = 0 ] && ok "no namespace left" || bad "$left namespaces left"
finish

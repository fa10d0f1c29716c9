#!/usr/bin/env bash
# The same host-local network configuration given to Debian's /usr/lib/cni/host-local and to
# blockipam, with only ipam.type changed (issue #7). Each plugin has its own dataDir in a
# temporary directory (blockipam keeps its store there: <dataDir>/<network>/blockipam.db).
#
# Part 1, IPAM alone (no root needed):
#   - for cniVersion 0.3.1, 0.4.0 and 1.0.0, a dual-stack config with two range sets, routes and
#     a resolvConf: the results have the same shape (keys, cniVersion, ips with address and
#     gateway, "version" before 1.0.0, routes, dns) and, on fresh state, the same addresses;
#   - cniVersion 1.1.0: host-local 1.1.1 refuses it (code 1), blockipam answers in 1.1.0;
#   - a repeated ADD: host-local refuses it ("duplicate allocation"), blockipam returns the same;
#   - DEL empties both: no address file left in host-local's directory, CHECK says 110 for
#     blockipam; a second DEL succeeds for both.
# Part 2 (root, `ip netns`): Debian's bridge plugin (isGateway) with each IPAM in turn, the same
#   network config, two containers in network namespaces: the bridge's results have the same
#   shape and addresses for both IPAMs, the containers ping each other and the gateway, DEL
#   removes the veths and frees the addresses.
# Part 3 (root): with neither store nor dataDir, blockipam's state is
#   /var/lib/cni/networks/<network>/blockipam.db, host-local's default place (removed after,
#   with any parent this test made).
# Everything is removed at the end, also on failure (trap). Anything missing is a loud, counted
# skip. Prints "hostlocal_compat: N passed, N failed, N skipped".
set -u
name=hostlocal_compat
. "$(dirname "$0")/lib.sh"
hl=$cnidir/host-local
unset BLOCKIPAM_STORE BLOCKIPAM_NODE
part1="shape-0.3.1 shape-0.4.0 shape-1.0.0 version-1.1.0 repeat del"
part2="bridge-host-local bridge-blockipam bridge-same"
part3="default-dataDir"

why=""
[ ! -x "$plugin" ] && why="$plugin is not built"
[ -z "$why" ] && [ ! -x "$hl" ] && why="$hl is not installed (apt-get install containernetworking-plugins)"
[ -z "$why" ] && why=$(why_not_cmd jq)
# shellcheck disable=SC2086 # the check names are words
[ -n "$why" ] && skip_all "$why" $part1 $part2 $part3

tmp=$(mktemp -d /tmp/bip-hl-compat.XXXXXX)
id=$$
net=bip-hlc-$id
bridge=biphl$((id % 100000))
ns1=bip-hlc-$id-1 ns2=bip-hlc-$id-2
fwd=$(cat /proc/sys/net/ipv4/ip_forward)
made=() # directories part 3 created under /var/lib
bconf=""

cleanup() {
	local d
	if [ -n "$bconf" ]; then
		for c in 1 2; do run_bridge DEL "ctr$c" "$bconf" >/dev/null 2>&1; done
	fi
	ip netns del "$ns1" 2>/dev/null
	ip netns del "$ns2" 2>/dev/null
	ip link del "$bridge" 2>/dev/null
	[ "$(id -u)" = 0 ] && echo "$fwd" >/proc/sys/net/ipv4/ip_forward
	rm -rf "/var/lib/cni/networks/$net-default"
	for ((d = ${#made[@]} - 1; d >= 0; d--)); do rmdir "${made[d]}" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT

# ipam_conf VERSION TYPE DATADIR: the network config under test; only the ipam type and the
# dataDir differ between the plugins.
ipam_conf() {
	printf '{"cniVersion":"%s","name":"%s","type":"bridge","ipam":{"type":"%s",
		"ranges":[[{"subnet":"10.203.0.0/16","gateway":"10.203.0.1"}],
			  [{"subnet":"fd00:203::/64","rangeStart":"fd00:203::10","rangeEnd":"fd00:203::ff"}]],
		"routes":[{"dst":"0.0.0.0/0"},{"dst":"::/0","gw":"fd00:203::1"}],
		"resolvConf":"%s/resolv.conf","dataDir":"%s"}}' "$1" "$net" "$2" "$tmp" "$3"
}

# run_ipam CMD CONTAINER BINARY CONFIG: the plugin's stdout, its status.
run_ipam() {
	CNI_COMMAND=$1 CNI_CONTAINERID=$2 CNI_NETNS=/var/run/netns/none CNI_IFNAME=eth0 \
		CNI_PATH=$cnidir BLOCKIPAM_NODE=node-a "$3" <<<"$4"
}

# The shape of a result: addresses become IPv4/IPv6 (with their length); MACs, host veth names
# and the sandbox path placeholders; keys sorted.
shape() {
	jq -S 'walk(if type == "string" then
		(if test("^([0-9]+\\.){3}[0-9]+/[0-9]+$") then "IPv4/" + (split("/")[1])
		 elif test("^([0-9]+\\.){3}[0-9]+$") then "IPv4"
		 elif test("^[0-9a-f:]+:[0-9a-f:]*/[0-9]+$") then "IPv6/" + (split("/")[1])
		 elif test("^[0-9a-f]*:[0-9a-f:]+$") and (test("^([0-9a-f]{2}:){5}[0-9a-f]{2}$") | not) then "IPv6"
		 elif test("^([0-9a-f]{2}:){5}[0-9a-f]{2}$") then "MAC"
		 elif test("^/var/run/netns/") then "NETNS"
		 elif test("^veth[0-9a-f]+$") then "VETH"
		 else . end)
		else . end)' <<<"$1"
}

printf 'nameserver 10.203.0.53\nsearch example.org\noptions ndots:2\n' >"$tmp/resolv.conf"

# --- part 1: IPAM alone ------------------------------------------------------------------------
for v in 0.3.1 0.4.0 1.0.0; do
	a=$(run_ipam ADD "c-$v" "$hl" "$(ipam_conf "$v" host-local "$tmp/hl-$v")")
	ra=$?
	b=$(run_ipam ADD "c-$v" "$plugin" "$(ipam_conf "$v" blockipam "$tmp/bip-$v")")
	rb=$?
	if [ $ra != 0 ] || [ $rb != 0 ]; then
		bad "shape-$v: ADD failed: host-local rc=$ra '$a', blockipam rc=$rb '$b'"
		continue
	fi
	sa=$(shape "$a") sb=$(shape "$b")
	if [ "$sa" = "$sb" ]; then
		ok "shape-$v: the same result shape: $(jq -c . <<<"$sa")"
	else
		bad "shape-$v: shapes differ: host-local $(jq -c . <<<"$sa") blockipam $(jq -c . <<<"$sb")"
	fi
	if [ "$(jq -S -c . <<<"$a")" = "$(jq -S -c . <<<"$b")" ]; then
		ok "shape-$v: the same result, addresses included: $(jq -c '[.ips[].address]' <<<"$a")"
	else
		bad "shape-$v: results differ: host-local $(jq -S -c . <<<"$a") blockipam $(jq -S -c . <<<"$b")"
	fi
done
[ -f "$tmp/bip-1.0.0/$net/blockipam.db" ] && ok "shape: blockipam's store is <dataDir>/$net/blockipam.db" ||
	bad "shape: no $tmp/bip-1.0.0/$net/blockipam.db"

# 1.1.0: host-local 1.1.1 does not speak it
a=$(run_ipam ADD c-11 "$hl" "$(ipam_conf 1.1.0 host-local "$tmp/hl-11")")
ra=$?
b=$(run_ipam ADD c-11 "$plugin" "$(ipam_conf 1.1.0 blockipam "$tmp/bip-11")")
rb=$?
if [ $ra != 0 ] && [ "$(jq -r .code <<<"$a")" = 1 ]; then
	ok "version-1.1.0: host-local refuses cniVersion 1.1.0 (code 1: $(jq -r .details <<<"$a"))"
elif [ $ra = 0 ]; then
	ok "version-1.1.0: this host-local accepts 1.1.0 (newer than 1.1.1)"
else
	bad "version-1.1.0: host-local rc=$ra '$a'"
fi
if [ $rb = 0 ] && [ "$(jq -r .cniVersion <<<"$b")" = 1.1.0 ]; then
	ok "version-1.1.0: blockipam answers in 1.1.0"
else
	bad "version-1.1.0: blockipam rc=$rb '$b'"
fi

# a repeated ADD
conf_a=$(ipam_conf 1.0.0 host-local "$tmp/hl-1.0.0")
conf_b=$(ipam_conf 1.0.0 blockipam "$tmp/bip-1.0.0")
a=$(run_ipam ADD c-1.0.0 "$hl" "$conf_a")
ra=$?
b=$(run_ipam ADD c-1.0.0 "$plugin" "$conf_b")
rb=$?
if [ $ra != 0 ] && [[ $(jq -r .msg <<<"$a") == *duplicate* ]]; then
	ok "repeat: host-local refuses a repeated ADD ($(jq -r .msg <<<"$a"))"
else
	bad "repeat: host-local rc=$ra '$a' (want 'duplicate allocation')"
fi
if [ $rb = 0 ] && [ "$(jq -c '[.ips[].address]' <<<"$b")" = '["10.203.0.2/16","fd00:203::10/64"]' ]; then
	ok "repeat: blockipam returns the same addresses"
else
	bad "repeat: blockipam rc=$rb '$b'"
fi

# DEL empties both; a second DEL succeeds
run_ipam DEL c-1.0.0 "$hl" "$conf_a" >/dev/null || bad "del: host-local DEL failed"
run_ipam DEL c-1.0.0 "$plugin" "$conf_b" >/dev/null || bad "del: blockipam DEL failed"
left=$(find "$tmp/hl-1.0.0/$net" -type f ! -name lock ! -name 'last_reserved_ip.*' | wc -l)
prev=$(jq -c --argjson r "$b" '. + {prevResult: $r}' <<<"$conf_b")
out=$(run_ipam CHECK c-1.0.0 "$plugin" "$prev")
if [ "$left" = 0 ] && [ "$(jq -r .code <<<"$out")" = 110 ]; then
	ok "del: nothing left (host-local: no address file; blockipam: CHECK says 110)"
else
	bad "del: host-local has $left address files left, blockipam CHECK says '$out'"
fi
if run_ipam DEL c-1.0.0 "$hl" "$conf_a" >/dev/null && run_ipam DEL c-1.0.0 "$plugin" "$conf_b" >/dev/null; then
	ok "del: a second DEL succeeds for both"
else
	bad "del: a second DEL failed"
fi

# --- part 2: the real bridge plugin --------------------------------------------------------------
why=$(why_not_netns)
[ -z "$why" ] && [ ! -x "$cnidir/bridge" ] && why="$cnidir/bridge is not installed"
[ -z "$why" ] && why=$(why_not_cmd ping)
# shellcheck disable=SC2086 # the check names are words
[ -n "$why" ] && skip_all "$why" $part2 $part3

# bridge_conf TYPE DATADIR: the bridge network, the same for both IPAMs but the type.
bridge_conf() {
	printf '{"cniVersion":"1.0.0","name":"%s","type":"bridge","bridge":"%s","isGateway":true,
		"ipMasq":false,"ipam":{"type":"%s","ranges":[[{"subnet":"10.204.0.0/24"}]],
		"routes":[{"dst":"0.0.0.0/0"}],"dataDir":"%s"}}' "$net-br" "$bridge" "$1" "$2"
}

# run_bridge CMD CONTAINER CONFIG
run_bridge() {
	local netns=$ns1
	[ "$2" = ctr2 ] && netns=$ns2
	CNI_COMMAND=$1 CNI_CONTAINERID=$2 CNI_NETNS=/var/run/netns/$netns CNI_IFNAME=eth0 \
		CNI_PATH=$build:$cnidir BLOCKIPAM_NODE=node-a "$cnidir/bridge" <<<"$3"
}

declare -A shapes addrs
for ipam in host-local blockipam; do
	ip netns add "$ns1" && ip netns add "$ns2" || { bad "bridge-$ipam: ip netns add"; continue; }
	bconf=$(bridge_conf "$ipam" "$tmp/br-$ipam")
	o1=$(run_bridge ADD ctr1 "$bconf") || { bad "bridge-$ipam: ADD ctr1: $o1"; continue; }
	o2=$(run_bridge ADD ctr2 "$bconf") || { bad "bridge-$ipam: ADD ctr2: $o2"; continue; }
	ip1=$(jq -r '.ips[0].address' <<<"$o1") ip2=$(jq -r '.ips[0].address' <<<"$o2")
	shapes[$ipam]=$(shape "$o1" | jq -c .)
	addrs[$ipam]="$ip1 $ip2"
	if ip netns exec "$ns1" ip -4 addr show eth0 | grep -q "inet $ip1 " &&
		ip netns exec "$ns2" ip -4 addr show eth0 | grep -q "inet $ip2 "; then
		ok "bridge-$ipam: eth0 carries $ip1 and $ip2"
	else
		bad "bridge-$ipam: eth0 does not carry '$ip1' / '$ip2'"
	fi
	if ip netns exec "$ns1" ping -c 2 -W 2 "${ip2%/*}" >/dev/null &&
		ip netns exec "$ns2" ping -c 2 -W 2 "${ip1%/*}" >/dev/null &&
		ip netns exec "$ns1" ping -c 1 -W 2 10.204.0.1 >/dev/null; then
		ok "bridge-$ipam: the containers ping each other and the gateway 10.204.0.1"
	else
		bad "bridge-$ipam: ping between ${ip1%/*}, ${ip2%/*} and 10.204.0.1 fails"
	fi
	run_bridge DEL ctr1 "$bconf" >/dev/null && run_bridge DEL ctr2 "$bconf" >/dev/null ||
		bad "bridge-$ipam: DEL failed"
	veths=$(ip -o link show master "$bridge" 2>/dev/null | wc -l)
	if [ "$ipam" = host-local ]; then
		held=$(find "$tmp/br-$ipam/$net-br" -type f ! -name lock ! -name 'last_reserved_ip.*' | wc -l)
	else
		prev=$(jq -c --argjson r "$o1" '. + {prevResult: $r} | .ipam.type = "blockipam"' <<<"$bconf")
		held=$(CNI_COMMAND=CHECK CNI_CONTAINERID=ctr1 CNI_NETNS=/x CNI_IFNAME=eth0 CNI_PATH=$cnidir \
			BLOCKIPAM_NODE=node-a "$plugin" <<<"$prev" | jq -r '.code')
		[ "$held" = 110 ] && held=0
	fi
	if [ "$veths" = 0 ] && [ "$held" = 0 ]; then
		ok "bridge-$ipam: DEL removed the veths and freed the addresses"
	else
		bad "bridge-$ipam: after DEL: $veths veths on $bridge, held: $held"
	fi
	bconf=""
	ip netns del "$ns1"
	ip netns del "$ns2"
	ip link del "$bridge" 2>/dev/null
done
if [ -n "${shapes[host-local]:-}" ] && [ "${shapes[host-local]}" = "${shapes[blockipam]:-}" ]; then
	ok "bridge-same: the bridge's results have the same shape with either IPAM"
else
	bad "bridge-same: shapes differ: host-local ${shapes[host-local]:-} blockipam ${shapes[blockipam]:-}"
fi
if [ -n "${addrs[host-local]:-}" ] && [ "${addrs[host-local]}" = "${addrs[blockipam]:-}" ]; then
	ok "bridge-same: the same addresses with either IPAM (${addrs[host-local]})"
else
	bad "bridge-same: host-local gave '${addrs[host-local]:-}', blockipam '${addrs[blockipam]:-}'"
fi

# --- part 3: no store, no dataDir --------------------------------------------------------------
for d in /var/lib/cni /var/lib/cni/networks; do
	[ -d "$d" ] || made+=("$d")
done
had_default=0
[ -e /var/lib/blockipam ] && had_default=1
conf=$(printf '{"cniVersion":"1.0.0","name":"%s-default","ipam":{"type":"blockipam",
	"ranges":[[{"subnet":"10.205.0.0/24"}]]}}' "$net")
out=$(run_ipam ADD c1 "$plugin" "$conf")
rc=$?
if [ $rc = 0 ] && [ -f "/var/lib/cni/networks/$net-default/blockipam.db" ] &&
	{ [ $had_default = 1 ] || [ ! -e /var/lib/blockipam ]; }; then
	ok "default-dataDir: the store is /var/lib/cni/networks/$net-default/blockipam.db (not the shared default store)"
else
	bad "default-dataDir: rc=$rc '$out'; $(ls -la "/var/lib/cni/networks/$net-default" 2>&1)"
fi
run_ipam DEL c1 "$plugin" "$conf" >/dev/null || bad "default-dataDir: DEL failed"

left=$(ip netns list | grep -c "^bip-hlc-$id-" || true)
[ "$left" = 0 ] && ok "no namespace left" || bad "$left namespaces left"
finish

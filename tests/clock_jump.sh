#!/usr/bin/env bash
# Clock jumps (issue 19), with Debian's faketime (LD_PRELOAD) setting the wall clock that one
# exec'd process sees. What exists on this branch measures age on the wall clock: a handle
# records the time of its ADD (the plugin's clock), and `gc --grace` keeps every handle newer
# than the live list's file time less the grace. Checked:
#
#   forward   the plugin's clock a year ahead at ADD: the handle looks young to a correct GC
#             and is kept; GC with ITS clock a year ahead keeps a handle of a live pod that is in
#             the live list, and keeps a handle made after the list (the file time decides,
#             not GC's clock)
#   back      the plugin's clock a day behind at ADD, made AFTER the live list was written: the
#             handle's time is older than the list, so GC releases an address a live pod holds.
#             That is a wrong answer this branch still gives (printed as KNOWN, not passed): the
#             fix is an age that does not come from a machine's wall clock (the store's revision
#             at the list's time, which the live list does not carry yet)
#
# Ends with "clock_jump: N passed, N failed, N skipped".
set -u
name=clock_jump
. "$(dirname "$0")/lib.sh"
B=$ctl
PLUGIN=$plugin
make_tmp
unset BLOCKIPAM_STORE BLOCKIPAM_DEBUG
export BLOCKIPAM_NODE=n1
if ! command -v faketime >/dev/null; then
	skip "clock jumps" "faketime missing (scripts/deps.sh test installs it): clock jumps NOT tested"
	finish
fi
# faketime works by LD_PRELOAD, which puts its library before ASan's runtime in a sanitizer
# build: ASan refuses to start unless told the order is fine (it is: faketime only wraps the
# clock calls).
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
S=sqlite://$tmp/ipam.db
"$B" --store "$S" apply -f - >/dev/null <<'YAML'
apiVersion: blockipam.io/v1
kind: Pool
metadata: {name: cj}
spec: {cidr: 10.82.0.0/16, blockSize: 26}
YAML
# add ID [FAKETIME]: one exec'd ADD, with the clock FAKETIME (faketime's syntax) when given
add() {
	local pre=()
	[ -n "${2:-}" ] && pre=(faketime -f "$2")
	CNI_COMMAND=ADD CNI_CONTAINERID=$1 CNI_NETNS=/x CNI_IFNAME=eth0 CNI_PATH=/nonexistent \
		"${pre[@]}" "$PLUGIN" >"$tmp/out.$1" 2>&1 <<EOF
{"cniVersion": "1.0.0", "name": "cj", "type": "bridge",
 "ipam": {"type": "blockipam", "store": "$S", "node": "n1"}}
EOF
}
has() { "$B" --store "$S" -o json ipam show --ip "$1" 2>/dev/null | grep -q "cj.$2.eth0"; }
ip_of() { sed -n 's|.*"address":"\([^/"]*\)/.*|\1|p' "$tmp/out.$1"; }
faketime -f "+365d" date >/dev/null 2>&1 || { skip "clock jumps" "faketime does not run here"; finish; }

add live1 || fail "ADD live1" "$(cat "$tmp/out.live1")"
echo live1 >"$tmp/live" # the live list: live1 only, written now
touch -d "@$(($(date +%s) - 5))" "$tmp/live"
sleep 1

# forward: a handle made with the plugin's clock a year ahead, after the list
add fwd "+365d" || fail "ADD fwd" "$(cat "$tmp/out.fwd")"
# back: a handle made with the plugin's clock a day behind, after the list
add back "-1d" || fail "ADD back" "$(cat "$tmp/out.back")"
"$B" --store "$S" -o json ipam show --ip "$(ip_of back)" >"$tmp/back.json" 2>&1

# GC with its own clock a year ahead: the file time decides, so both young handles stay.
faketime -f "+365d" "$B" --store "$S" gc --live "$tmp/live" --grace 60 >"$tmp/gc1" 2>&1
has "$(ip_of live1)" live1 && pass "GC a year ahead keeps the live pod's handle" ||
	fail "GC ahead" "released live1: $(cat "$tmp/gc1")"
has "$(ip_of fwd)" fwd && pass "forward: a handle made a year ahead looks young and is kept" ||
	fail "forward" "GC released the handle made with the clock ahead: $(cat "$tmp/gc1")"

"$B" --store "$S" gc --live "$tmp/live" --grace 60 >"$tmp/gc2" 2>&1
if has "$(ip_of back)" back; then
	pass "back: a handle made with the clock a day behind, after the list, is kept"
else
	skip "back" "KNOWN WRONG ANSWER: GC released 'back' ($(ip_of back)), made after the live list by a plugin whose clock was a day behind: its wall-clock time looked older than the list (see the header)"
fi
"$B" --store "$S" ipam check >"$tmp/ck" 2>&1 && pass "ipam check clean" || fail "ipam check" "$(head -c 300 "$tmp/ck")"
finish

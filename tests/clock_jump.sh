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
#             handle's own time is older than the list, but the store wrote it after handles
#             whose times are younger (its revision is later), and gc takes a handle's age as
#             the latest time recorded at or before its revision: kept
#   dead1     made an hour before the list (both by its time and by the store's order), gone
#             from it: released (the rule keeps the young, not everything)
#   alone     'back' again on a store where nothing was written between the list and it: no
#             write orders it after the list. The handle also carries the boot's id and its
#             CLOCK_BOOTTIME seconds (docs/records.md, bootID, bootTime), which no wall-clock
#             jump moves: gc on the same boot sees it is seconds old and keeps it, with its
#             clock right, a day ahead, or a day behind; and with the store's revision read
#             before the list (gc --list-revision) too
#   old boot  the same handle with its bootID changed to another boot's: only its wall time
#             is left, and gc releases it (the boot stamp is what kept it, nothing else)
#   k8s       a handle made a day behind by the plugin clock: k8s sync's leak grace measures
#             its age on CLOCK_BOOTTIME too and keeps it
#   order     the same with --dry-run and JSON: 'back' counted as too recent, not a victim
#
# Ends with "clock_jump: N passed, N failed, N skipped".
set -u
name=clock_jump
. "$(dirname "$0")/lib.sh"
B=$ctl
# faketime is an LD_PRELOAD library, which the static plugin ignores: the tests run the same
# plugin linked against the shared libc (make builds it as build/blockipam-dyn).
PLUGIN=$build/blockipam-dyn
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
# A wall clock set or jumped moves neither CLOCK_MONOTONIC nor CLOCK_BOOTTIME; faketime fakes
# them too unless told not to, which no real clock jump does.
export FAKETIME_DONT_FAKE_MONOTONIC=1
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
# age_rec STORE ID SECS: the handle's CLOCK_BOOTTIME stamp made SECS older, as if its ADD had
# been SECS ago on this boot (faketime moves the wall clock only, as a real clock jump does)
age_rec() {
	local db=${1#sqlite://} v
	v=$(sqlite3 "$db" "select value from kv where key = 'handles/cj.$2.eth0'" | python3 -c '
import json, sys
h = json.load(sys.stdin)
if h["bootTime"] >= int(sys.argv[1]):
    h["bootTime"] -= int(sys.argv[1])
else:  # booted too recently to be that old on this boot: a stamp of another boot
    h["bootID"] = "00000000-0000-4000-8000-000000000000"
print(json.dumps(h, separators=(",", ":")))' "$3")
	sqlite3 "$db" "update kv set value = '$v' where key = 'handles/cj.$2.eth0'"
}
has() { "$B" --store "$S" -o json ipam show --ip "$1" 2>/dev/null | grep -q "cj.$2.eth0"; }
ip_of() { sed -n 's|.*"address":"\([^/"]*\)/.*|\1|p' "$tmp/out.$1"; }
faketime -f "+365d" date >/dev/null 2>&1 || { skip "clock jumps" "faketime does not run here"; finish; }

# dead1: made an hour before (its plugin's clock, and the store's order agree), gone by the list
add dead1 "-1h" || fail "ADD dead1" "$(cat "$tmp/out.dead1")"
age_rec "$S" dead1 3600
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
{ [ -z "$(ip_of dead1)" ] || has "$(ip_of dead1)" dead1; } && fail "dead1" "GC kept a handle an hour older than the list: $(cat "$tmp/gc1")" ||
	pass "dead1: a handle older than the list in time and in the store's order is released"

"$B" --store "$S" -o json gc --dry-run --live "$tmp/live" --grace 60 >"$tmp/gc0" 2>&1
if grep -q '"recent": *2' "$tmp/gc0" && ! grep -q 'cj.back.eth0' "$tmp/gc0"; then
	pass "order: a dry run counts fwd and back too recent and names neither"
else
	fail "order" "want kept.recent 2 and no victim 'back': $(cat "$tmp/gc0")"
fi
"$B" --store "$S" gc --live "$tmp/live" --grace 60 >"$tmp/gc2" 2>&1
if has "$(ip_of back)" back; then
	pass "back: a handle made with the clock a day behind, after the list, is kept"
else
	fail "back" "GC released 'back' ($(ip_of back)), made after the live list by a plugin whose clock was a day behind: $(cat "$tmp/gc2")"
fi
"$B" --store "$S" ipam check >"$tmp/ck" 2>&1 && pass "ipam check clean" || fail "ipam check" "$(head -c 300 "$tmp/ck")"
# alone: on a store of its own, the list taken a minute ago, then one ADD with the clock a day
# behind, nothing written in between; gc with its clock right, ahead, behind
S=sqlite://$tmp/alone.db
"$B" --store "$S" apply -f - >/dev/null <<'YAML'
apiVersion: blockipam.io/v1
kind: Pool
metadata: {name: cj}
spec: {cidr: 10.82.0.0/16, blockSize: 26}
YAML
add live1 "-2m" || fail "ADD live1 (alone)" "$(cat "$tmp/out.live1")"
rev=$("$B" --store "$S" -o json version | python3 -c 'import json,sys; print(json.load(sys.stdin)["store"]["revision"])')
echo live1 >"$tmp/live"
touch -d "@$(($(date +%s) - 60))" "$tmp/live"
add alone "-1d" || fail "ADD alone" "$(cat "$tmp/out.alone")"
raw() { sqlite3 "${S#sqlite://}" "select value from kv where key = 'handles/cj.$1.eth0'"; }
raw alone | python3 -c '
import json, sys
h = json.load(sys.stdin)
boot = open("/proc/sys/kernel/random/boot_id").read().strip()
sys.exit(0 if h.get("bootID") == boot and isinstance(h.get("bootTime"), int) and h["time"] < h["bootTime"] + 10**10 else 1)' &&
	pass "alone: the handle records this boot's id and its CLOCK_BOOTTIME seconds" ||
	fail "alone: boot stamp" "$(raw alone)"
for clk in "" "+1d" "-1d"; do
	pre=()
	[ -n "$clk" ] && pre=(faketime -f "$clk")
	"${pre[@]}" "$B" --store "$S" gc --live "$tmp/live" --grace 10 >"$tmp/gc3" 2>&1
	has "$(ip_of live1)" live1 && has "$(ip_of alone)" alone &&
		pass "alone: gc with its clock ${clk:-right} keeps the handle made a day behind after the list" ||
		fail "alone (gc clock ${clk:-right})" "released 'alone' ($(ip_of alone)) or live1: $(cat "$tmp/gc3")"
done
# alone, with the revision read before the list: kept, whatever its time
add alone2 "-1d" || fail "ADD alone2" "$(cat "$tmp/out.alone2")"
"$B" --store "$S" gc --live "$tmp/live" --grace 10 --list-revision "$rev" >"$tmp/gc4" 2>&1
has "$(ip_of alone2)" alone2 &&
	pass "alone, --list-revision: a handle written after the revision is kept, its clock a day behind" ||
	fail "alone --list-revision" "released alone2 (revision before the list $rev): $(cat "$tmp/gc4")"
# old boot: the same record, as if written on another boot: the wall time a day old decides
v=$(raw alone | python3 -c 'import json,sys; h=json.load(sys.stdin); h["bootID"]="00000000-0000-4000-8000-000000000000"; print(json.dumps(h))')
sqlite3 "${S#sqlite://}" "update kv set value = '$v' where key = 'handles/cj.alone.eth0'"
"$B" --store "$S" gc --live "$tmp/live" --grace 10 >"$tmp/gc5" 2>&1
has "$(ip_of alone)" alone &&
	fail "old boot" "kept 'alone' with another boot's id and a wall time a day old: $(cat "$tmp/gc5")" ||
	pass "old boot: the same handle stamped on another boot is released on its wall time"
# a bootID that is not a boot id: the record is refused as damaged, naming the handle
sqlite3 "${S#sqlite://}" "update kv set value = '$(raw alone2 | sed 's/"bootID":"[^"]*"/"bootID":"nope"/')' where key = 'handles/cj.alone2.eth0'"
"$B" --store "$S" ipam check >"$tmp/ck2" 2>&1 && fail "bad bootID" "ipam check passed a handle with bootID 'nope'" ||
	{ grep -q 'cannot be decoded' "$tmp/ck2" && pass "bad bootID: ipam check refuses the record as undecodable" ||
		fail "bad bootID" "$(head -c 300 "$tmp/ck2")"; }
finish

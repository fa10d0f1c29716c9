#!/usr/bin/env bash
# A frozen process must not stop a node (issue 19): the node lock (SQLite's writer flock on
# "<db>.lock", etcd's per-node flock under /run/blockipam) is held by a SIGSTOPped process, and
# the exec'd plugin's ADD and DEL on that node must answer CNI code 11 within their budget
# ("timeout_ms"), naming the lock; once the holder is resumed, everything proceeds, waiters that
# queued with a longer budget included.
#
#   sqlite: the holder is flock(1) on the lock file, SIGSTOPped.
#   etcd:   the holder is a real plugin ADD caught in the middle of its call: etcd is paused, the
#           plugin takes the node lock and waits for etcd, the plugin is SIGSTOPped, etcd resumed.
#           Other nodes on the same etcd are not held up. (Needs root for /run/blockipam.)
#
# Ends with "lock_frozen: N passed, N failed, N skipped".
set -u
name=lock_frozen
. "$(dirname "$0")/lib.sh"
B=$ctl
PLUGIN=$plugin
. "$root/tests/etcd-harness.sh"
make_tmp
pids=() # processes of ours to resume and stop at exit
stop_pids() {
	local p
	for p in "${pids[@]}"; do
		kill -CONT "$p" 2>/dev/null
		kill "$p" 2>/dev/null
	done
}
at_exit stop_pids
unset BLOCKIPAM_STORE BLOCKIPAM_NODE BLOCKIPAM_DEBUG

for f in "$B" "$PLUGIN"; do
	[ -x "$f" ] || { fail "build" "$f is not built"; finish; }
done

now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }

# cni CMD STORE NODE ID TIMEOUT_MS OUT: one exec'd plugin call; OUT.rc gets its exit status and
# OUT.ms the milliseconds it took.
cni() {
	local cmd=$1 store=$2 node=$3 id=$4 tmo=$5 out=$6 t0 rc
	local conf="{\"cniVersion\": \"1.0.0\", \"name\": \"lk\", \"type\": \"bridge\",
 \"ipam\": {\"type\": \"blockipam\", \"store\": \"$store\", \"node\": \"$node\",
 \"timeout_ms\": $tmo}}"
	t0=$(now_ms)
	CNI_COMMAND=$cmd CNI_CONTAINERID=$id CNI_NETNS=/var/run/netns/x CNI_IFNAME=eth0 \
		CNI_PATH="$build" "$PLUGIN" <<<"$conf" >"$out" 2>"$out.err"
	rc=$?
	echo $(($(now_ms) - t0)) >"$out.ms"
	echo "$rc" >"$out.rc"
}

# waiters_try_again NAME STORE NODE CMD BUDGET: 3 concurrent calls on the held node all answer
# code 11 within BUDGET + slack, and the message names the lock.
waiters_try_again() {
	local name=$1 store=$2 node=$3 cmd=$4 budget=$5 i bad="" max=0 ms wp=()
	for i in 1 2 3; do
		cni "$cmd" "$store" "$node" "w$i" "$budget" "$tmp/w$i" &
		wp+=($!)
	done
	wait "${wp[@]}"
	for i in 1 2 3; do
		ms=$(cat "$tmp/w$i.ms")
		[ "$ms" -gt "$max" ] && max=$ms
		if [ "$(cat "$tmp/w$i.rc")" = 0 ]; then
			bad="call $i succeeded while the lock was held"
		elif ! python3 -c 'import json,sys; d=json.load(open(sys.argv[1]));
sys.exit(0 if d["code"] == 11 and "lock" in d["msg"] else 1)' "$tmp/w$i" 2>/dev/null; then
			bad="call $i: $(head -c 400 "$tmp/w$i")"
		elif [ "$ms" -lt $((budget - 50)) ] || [ "$ms" -gt $((budget + 1500)) ]; then
			bad="call $i took $ms ms for a budget of $budget ms"
		fi
	done
	if [ -z "$bad" ]; then
		pass "$name: 3 $cmd calls answered code 11 in at most $max ms (budget $budget ms)"
	else
		fail "$name" "$bad"
	fi
	[ -s "$tmp/w1" ] && echo "     msg: $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["msg"])' "$tmp/w1" 2>/dev/null)"
}

# queued_proceed NAME STORE NODE RESUME...: 3 ADDs with a 20 s budget queue on the held lock;
# RESUME (a command) lets the holder go after 1 s; all three must then succeed.
queued_proceed() {
	local name=$1 store=$2 node=$3 i bad="" qp=() ms=""
	shift 3
	for i in 1 2 3; do
		cni ADD "$store" "$node" "q$i" 20000 "$tmp/q$i" &
		qp+=($!)
	done
	sleep 1
	"$@"
	wait "${qp[@]}"
	for i in 1 2 3; do
		[ "$(cat "$tmp/q$i.rc")" = 0 ] || bad="queued ADD $i: $(head -c 300 "$tmp/q$i")"
		ms="$ms $(cat "$tmp/q$i.ms")"
	done
	if [ -z "$bad" ]; then
		pass "$name: 3 ADDs queued on the lock succeeded once the holder was resumed (ms:$ms)"
	else
		fail "$name" "$bad"
	fi
}

# ---- SQLite -------------------------------------------------------------------------------
S=sqlite://$tmp/ipam.db
"$B" --store "$S" apply -f - >/dev/null <<'YAML' || fail "sqlite pool" "apply failed"
apiVersion: blockipam.io/v1
kind: Pool
metadata: {name: lk}
spec: {cidr: 10.77.0.0/16, blockSize: 26}
YAML
cni ADD "$S" n1 held 2000 "$tmp/pre"
[ "$(cat "$tmp/pre.rc")" = 0 ] || fail "sqlite ADD before" "$(cat "$tmp/pre")"

# The holder: one process that takes the flock and sleeps, SIGSTOPped.
python3 -c 'import fcntl, sys, time
f = open(sys.argv[1], "a")
fcntl.flock(f, fcntl.LOCK_EX)
open(sys.argv[2], "w").close()
time.sleep(300)' "$tmp/ipam.db.lock" "$tmp/held" &
holder=$!
pids+=("$holder")
for _ in $(seq 50); do [ -e "$tmp/held" ] && break; sleep 0.1; done
kill -STOP "$holder"
waiters_try_again "sqlite ADD, holder stopped" "$S" n1 ADD 1000
waiters_try_again "sqlite DEL, holder stopped" "$S" n1 DEL 600
resume_sqlite() { kill -CONT "$holder"; kill "$holder"; }
queued_proceed "sqlite" "$S" n1 resume_sqlite
cni DEL "$S" n1 held 2000 "$tmp/post"
[ "$(cat "$tmp/post.rc")" = 0 ] && pass "sqlite DEL after the holder went" ||
	fail "sqlite DEL after" "$(cat "$tmp/post")"
"$B" --store "$S" ipam check >"$tmp/check" 2>&1 && pass "sqlite ipam check clean" ||
	fail "sqlite ipam check" "$(head -5 "$tmp/check")"

# ---- etcd ---------------------------------------------------------------------------------
if ! command -v "$ETCD_BIN" >/dev/null || ! command -v python3 >/dev/null; then
	skip "etcd frozen holder" "etcd or python3 missing: frozen etcd node lock NOT tested"
	finish
fi
if [ "$(id -u)" != 0 ]; then
	skip "etcd frozen holder" "not root: no node lock under /run/blockipam, NOT tested"
	finish
fi
etcd_start_single || { fail "etcd" "did not start"; finish; }
E=$ETCD_ADDR
"$B" --store "$E" apply -f - >/dev/null <<'YAML' || fail "etcd pool" "apply failed"
apiVersion: blockipam.io/v1
kind: Pool
metadata: {name: lk}
spec: {cidr: 10.78.0.0/16, blockSize: 26}
YAML
cni ADD "$E" n1 warm 2000 "$tmp/pre"
[ "$(cat "$tmp/pre.rc")" = 0 ] || fail "etcd ADD before" "$(cat "$tmp/pre")"

# The holder: a plugin ADD frozen in the middle of its call, the node lock held.
epid=${ETCD_PIDS[0]}
kill -STOP "$epid"
cni ADD "$E" n1 holder 60000 "$tmp/h" &
holder=$!
pids+=("$holder")
sleep 0.5
hp=$(pgrep -P "$holder" -x blockipam || true)
[ -z "$hp" ] && hp=$holder
kill -STOP "$hp"
pids+=("$hp")
kill -CONT "$epid"
if [ -n "$(ls /proc/"$hp"/fd 2>/dev/null)" ] &&
	ls -l /proc/"$hp"/fd 2>/dev/null | grep -q '/run/blockipam/etcd-'; then
	pass "etcd: the stopped plugin holds the node lock"
else
	fail "etcd holder" "the stopped plugin (pid $hp) has no /run/blockipam lock open"
fi
waiters_try_again "etcd ADD, holder stopped" "$E" n1 ADD 1000
waiters_try_again "etcd DEL, holder stopped" "$E" n1 DEL 600
cni ADD "$E" n2 other 1000 "$tmp/o"
[ "$(cat "$tmp/o.rc")" = 0 ] && pass "etcd: another node allocates meanwhile ($(cat "$tmp/o.ms") ms)" ||
	fail "etcd other node" "$(cat "$tmp/o")"
resume_etcd() { kill -CONT "$hp"; }
queued_proceed "etcd" "$E" n1 resume_etcd
wait "$holder"
[ "$(cat "$tmp/h.rc")" = 0 ] && pass "etcd: the resumed holder's ADD completed" ||
	fail "etcd holder ADD" "$(cat "$tmp/h")"
"$B" --store "$E" ipam check >"$tmp/check" 2>&1 && pass "etcd ipam check clean" ||
	fail "etcd ipam check" "$(head -5 "$tmp/check")"
finish

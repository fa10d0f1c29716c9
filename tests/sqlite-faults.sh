#!/usr/bin/env bash
# Disk and file faults on the embedded store (issue 19), through the exec'd plugin and CLI:
#
#   disk-full     the store on a 2 MB tmpfs in a private mount namespace (unshare -m), filled
#                 until writes fail: ADD answers an error naming the full disk, what was
#                 committed is all there, and ADD works again once space is freed
#   read-only     that tmpfs remounted read-only: ADD answers an error that says so, reads work
#   -shm          deleted, then truncated, between execs: the store opens, nothing is lost
#   -wal          truncated half-way, then deleted, between execs: the store opens and `ipam
#                 check` is clean. What the lost frames held is gone (SQLite drops a torn WAL
#                 tail; the plugin keeps up to 64 WAL pages between execs): counted and printed,
#                 not hidden, since an operator who deletes -wal files loses those commits
#   one fault     each of -wal deleted, zeroed, torn, cut inside its header, -wal and -shm
#                 deleted, -shm deleted, zeroed, torn, overwritten, on a store whose last 30
#                 commits are only in the -wal: the store opens, integrity_check is ok, what
#                 survives is a prefix of the commits (all of them for a -shm fault), ipam check
#                 is clean, and ADDs after it never get an address a surviving handle holds
#   checkpoint    200 processes SIGKILLed at random moments while they checkpoint (CLI close,
#                 plugin every 64 WAL pages): the store opens, `ipam check` is clean, every
#                 ADD that succeeded still holds its address
#   damaged page  bytes overwritten in the database file: ADD and `ipam check` fail with an error
#                 that says the store is damaged and how to restore it (PRAGMA integrity_check)
#
# Needs root and unshare(1) for the first two (a loud SKIP otherwise); BIP_SQLITE_KILLS (default
# 200) sets the kill count. Ends with "sqlite-faults: N passed, N failed, N skipped".
set -u
name=sqlite-faults
. "$(dirname "$0")/lib.sh"
B=$ctl
PLUGIN=$plugin
make_tmp
kills=${BIP_SQLITE_KILLS:-200}
unset BLOCKIPAM_STORE BLOCKIPAM_NODE BLOCKIPAM_DEBUG
for f in "$B" "$PLUGIN"; do
	[ -x "$f" ] || { fail "build" "$f is not built"; finish; }
done

# add STORE ID: one exec'd ADD; its stdout in $tmp/out, status returned
add() {
	CNI_COMMAND=ADD CNI_CONTAINERID=$2 CNI_NETNS=/x CNI_IFNAME=eth0 CNI_PATH=/nonexistent \
		"$PLUGIN" >"$tmp/out" 2>/dev/null <<EOF
{"cniVersion": "1.0.0", "name": "sf",
 "ipam": {"type": "blockipam", "store": "$1", "node": "n1"}}
EOF
}
mkpool() {
	"$B" --store "$1" apply -f - >/dev/null <<'YAML'
apiVersion: blockipam.io/v1
kind: Pool
metadata: {name: sf}
spec: {cidr: 10.81.0.0/16, blockSize: 26}
YAML
}
# held STORE: "handle address" lines, read raw with sqlite3 (not our code)
held() {
	sqlite3 "file:${1#sqlite://}?mode=ro" "select key, value from kv where key like 'handles/%'" |
		python3 -c '
import json, sys
for line in sys.stdin:
    k, v = line.rstrip("\n").split("|", 1)
    for ip in json.loads(v).get("ips", []):
        print(k[len("handles/"):], ip.split("/")[0])' | sort
}
# expect NAME STORE FILE: every "handle address" line of FILE is held in STORE
expect_held() {
	local missing
	missing=$(comm -23 <(sort "$3") <(held "$2") | wc -l)
	[ "$missing" = 0 ] && pass "$1: all $(wc -l <"$3") committed allocations still held" ||
		fail "$1" "$missing committed allocations lost"
}
record() { # record FILE ID: after a successful add, "handle address" into FILE
	local a
	a=$(sed -n 's|.*"address":"\([^/"]*\)/.*|\1|p' "$tmp/out")
	echo "sf.$2.eth0 $a" >>"$1"
}
check_clean() {
	"$B" --store "$2" ipam check >"$tmp/ck" 2>&1 && pass "$1: ipam check clean" ||
		fail "$1: ipam check" "$(head -c 600 "$tmp/ck")"
}
msg() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["code"], d["msg"])' "$tmp/out" 2>/dev/null; }

# ---- disk full and read-only, on a tmpfs of their own -------------------------------------
if [ "$(id -u)" != 0 ] || ! command -v unshare >/dev/null || ! unshare -m true 2>/dev/null; then
	skip "disk-full, read-only" "not root or no unshare -m: full and read-only disks NOT tested"
else
	cat >"$tmp/ns.sh" <<'NS'
set -u
. "$tmp/helpers.sh"
# lines the outer test counts
pass() { echo "ok   $1"; }
fail() { echo "FAIL $1: $2"; }
mnt=$tmp/mnt
mkdir -p "$mnt"
mount -t tmpfs -o size=2m,mode=0700 tmpfs "$mnt" || { echo "FAIL mount"; exit 1; }
S=sqlite://$mnt/ipam.db
mkpool "$S"
: >"$tmp/committed"
for i in $(seq 20); do add "$S" d$i && record "$tmp/committed" d$i; done
dd if=/dev/zero of="$mnt/filler" bs=4k 2>/dev/null
n=0
while add "$S" full$n; do record "$tmp/committed" full$n; n=$((n + 1)); [ $n -gt 2000 ] && break; done
echo "RESULT full $(msg)"
expect_held "disk-full" "$S" "$tmp/committed"
check_clean "disk-full" "$S"
rm -f "$mnt/filler"
add "$S" after-full && { record "$tmp/committed" after-full; echo "RESULT freed ok"; } || echo "RESULT freed $(msg)"
mount -o remount,ro "$mnt"
add "$S" ro1
echo "RESULT ro $(msg)"
"$B" --store "$S" ipam show >/dev/null 2>"$tmp/ro.err" && echo "RESULT ro-show ok" || echo "RESULT ro-show $(head -c 300 "$tmp/ro.err")"
expect_held "read-only" "$S" "$tmp/committed"
mount -o remount,rw "$mnt"
add "$S" after-ro && echo "RESULT rw ok" || echo "RESULT rw $(msg)"
umount "$mnt"
NS
	declare -f add mkpool held expect_held record check_clean msg >"$tmp/helpers.sh"
	echo "PLUGIN=$PLUGIN B=$B" >>"$tmp/helpers.sh"
	unshare -m --propagation private env tmp="$tmp" bash "$tmp/ns.sh" >"$tmp/ns.out" 2>&1
	[ -n "${BIP_DEBUG_NS:-}" ] && cp "$tmp/ns.out" "$BIP_DEBUG_NS"
	grep -E '^(ok|FAIL) ' "$tmp/ns.out" | while read -r st rest; do echo "$st $rest"; done
	passed=$((passed + $(grep -c '^ok ' "$tmp/ns.out")))
	failed=$((failed + $(grep -c '^FAIL ' "$tmp/ns.out")))
	r() { sed -n "s/^RESULT $1 //p" "$tmp/ns.out"; }
	echo "     disk full: $(r full)"
	case "$(r full)" in
	5\ *"is full"*) pass "disk-full: ADD answers code 5 naming the full disk" ;;
	*) fail "disk-full" "ADD answered: $(r full)" ;;
	esac
	[ "$(r freed)" = ok ] && pass "disk-full: ADD works again once space is freed" ||
		fail "disk-full freed" "$(r freed)"
	echo "     read-only: $(r ro)"
	case "$(r ro)" in
	*[Rr]"ead-only"*) pass "read-only: ADD answers an error that names the read-only file system" ;;
	*) fail "read-only" "ADD answered: $(r ro)" ;;
	esac
	[ "$(r ro-show)" = ok ] && pass "read-only: ipam show still reads the store" ||
		skip "read-only: ipam show" "reading a WAL store on a read-only file system: $(r ro-show)"
	[ "$(r rw)" = ok ] && pass "read-only: ADD works again after remounting rw" ||
		fail "read-only rw" "$(r rw)"
fi

# ---- -shm and -wal between execs -----------------------------------------------------------
S=sqlite://$tmp/w.db
mkpool "$S"
: >"$tmp/c2"
for i in $(seq 50); do add "$S" w$i && record "$tmp/c2" w$i; done
[ -e "$tmp/w.db-shm" ] && rm -f "$tmp/w.db-shm"
for i in $(seq 51 60); do add "$S" w$i && record "$tmp/c2" w$i; done
expect_held "-shm deleted" "$S" "$tmp/c2"
[ -e "$tmp/w.db-shm" ] && : >"$tmp/w.db-shm"
for i in $(seq 61 70); do add "$S" w$i && record "$tmp/c2" w$i; done
expect_held "-shm truncated" "$S" "$tmp/c2"
check_clean "-shm" "$S"
for i in $(seq 71 100); do add "$S" w$i && record "$tmp/c2" w$i; done # no CLI: the WAL stays
walsz=$(stat -c %s "$tmp/w.db-wal" 2>/dev/null || echo 0)
if [ "$walsz" -gt 0 ]; then
	truncate -s $((walsz / 2)) "$tmp/w.db-wal"
	lost=$(comm -23 <(sort "$tmp/c2") <(held "$S") | wc -l)
	echo "     -wal cut from $walsz to $((walsz / 2)) bytes: $lost of $(wc -l <"$tmp/c2") committed allocations were in the torn half"
	check_clean "-wal truncated" "$S"
	add "$S" after-wal && pass "-wal truncated: ADD works" || fail "-wal truncated ADD" "$(msg)"
	held "$S" >"$tmp/c2" # what the store holds now is what is committed from here on
	for i in $(seq 101 130); do add "$S" w$i && record "$tmp/c2" w$i; done
	walsz=$(stat -c %s "$tmp/w.db-wal" 2>/dev/null || echo 0)
	rm -f "$tmp/w.db-wal"
	lost=$(comm -23 <(sort "$tmp/c2") <(held "$S") | wc -l)
	echo "     -wal ($walsz bytes) deleted: $lost of $(wc -l <"$tmp/c2") committed allocations were only in it"
	check_clean "-wal deleted" "$S"
else
	skip "-wal truncated" "no -wal between execs (checkpointed)"
fi

# ---- each -wal / -shm fault on its own, with commits only in the WAL -----------------------
# A fresh store per fault: 20 ADDs folded into the file (the CLI's close checkpoints), then 30
# more by the plugin alone, which does not checkpoint at close, so they are in the -wal only
# (its size is checked, not assumed). Then the fault, and:
#   - the store opens (ipam show) and PRAGMA integrity_check says ok
#   - every checkpointed allocation is still held; with a -shm fault, every allocation is
#     (the -shm is an index SQLite rebuilds from the -wal); with a -wal fault what survives is a
#     prefix of the commits (a lost commit is printed, counted, never half there)
#   - ipam check is clean: the surviving records agree with each other
#   - 10 ADDs after the fault each get an address that no surviving handle holds, and no
#     address is held by two handles (read raw with sqlite3)
# Deleting a -wal that holds commits is data loss by the operator (docs/deploy.md, "The SQLite
# store's files"): SQLite cannot tell that commits existed, so neither can blockipam.
dup_addrs() { held "$1" | awk '{print $2}' | sort | uniq -d; }
wal_fault() { # wal_fault NAME ACTION: ACTION runs on $db with no process open
	local fname=$1 action=$2 S=sqlite://$tmp/f-$1.db db=$tmp/f-$1.db
	mkpool "$S"
	: >"$tmp/fc"
	for i in $(seq 20); do add "$S" a$i && record "$tmp/fc" a$i; done
	"$B" --store "$S" ipam show >/dev/null 2>&1 # folds the WAL into the file
	cp "$tmp/fc" "$tmp/fc.ckpt"
	for i in $(seq 21 50); do add "$S" a$i && record "$tmp/fc" a$i; done
	local walsz
	walsz=$(stat -c %s "$db-wal" 2>/dev/null || echo 0)
	if [ "$walsz" -le 32 ]; then
		fail "$fname" "no commits left in $db-wal ($walsz bytes) to damage"
		return
	fi
	[ "$(wc -l <"$tmp/fc")" = 50 ] || fail "$fname" "only $(wc -l <"$tmp/fc") of 50 ADDs before the fault"
	(cd "$tmp" && eval "$action")
	"$B" --store "$S" ipam show >"$tmp/fs" 2>&1 || { fail "$fname: store opens" "$(head -c 300 "$tmp/fs")"; return; }
	sqlite3 "$db" 'pragma integrity_check' 2>&1 | grep -qx ok && pass "$fname: store opens, integrity_check ok" ||
		fail "$fname: integrity_check" "$(sqlite3 "$db" 'pragma integrity_check' 2>&1 | head -3)"
	held "$S" >"$tmp/fh"
	local lost extra n
	lost=$(comm -23 <(sort "$tmp/fc") "$tmp/fh" | wc -l)
	extra=$(comm -13 <(sort "$tmp/fc") "$tmp/fh" | wc -l)
	n=$(comm -23 <(sort "$tmp/fc.ckpt") "$tmp/fh" | wc -l)
	[ "$n" = 0 ] && [ "$extra" = 0 ] && pass "$fname: every checkpointed allocation held, nothing unknown" ||
		fail "$fname" "$n checkpointed allocations lost, $extra held that no ADD returned"
	case $fname in
	shm*) [ "$lost" = 0 ] && pass "$fname: no commit lost (the -wal is intact)" ||
		fail "$fname" "$lost of 50 committed allocations lost with only the -shm damaged" ;;
	*)
		# a prefix: a lost ADD is never followed by a surviving one
		local gap
		gap=$(awk -v f="$tmp/fh" 'BEGIN{while((getline l<f)>0)h[l]=1} {if(!($0 in h))m=1; else if(m){print; exit}}' "$tmp/fc")
		[ -z "$gap" ] && pass "$fname: what survives is a prefix of the commits ($lost of 30 WAL-only lost, walsz $walsz)" ||
			fail "$fname" "'$gap' survived a lost earlier commit"
		;;
	esac
	check_clean "$fname" "$S"
	local bad=0 a
	for i in $(seq 10); do
		if ! add "$S" b$i; then fail "$fname: ADD after" "$(msg)"; bad=1; break; fi
		a=$(sed -n 's|.*"address":"\([^/"]*\)/.*|\1|p' "$tmp/out")
		if awk -v a="$a" -v me="sf.b$i.eth0" '$2 == a && $1 != me {f=1} END{exit !f}' <(held "$S"); then
			fail "$fname: ADD after" "b$i got $a, which another handle holds"; bad=1
		fi
	done
	[ -z "$(dup_addrs "$S")" ] && [ "$bad" = 0 ] && pass "$fname: 10 ADDs after, none given a held address, no address held twice" ||
		fail "$fname: duplicates" "held twice: $(dup_addrs "$S" | tr '\n' ' ')"
	check_clean "$fname, after ADDs" "$S"
	[ "$lost" -gt 0 ] && echo "     $fname: $lost committed allocations lost with the -wal (operator data loss)"
}
wal_fault wal-deleted 'rm -f "$db-wal"'
wal_fault wal-zeroed ': >"$db-wal"'
wal_fault wal-torn 'truncate -s $(($(stat -c %s "$db-wal") * 2 / 3 + 7)) "$db-wal"'
wal_fault wal-header 'truncate -s 20 "$db-wal"'
wal_fault wal-and-shm-deleted 'rm -f "$db-wal" "$db-shm"'
wal_fault shm-deleted 'rm -f "$db-shm"'
wal_fault shm-zeroed ': >"$db-shm"'
wal_fault shm-torn 'truncate -s $(($(stat -c %s "$db-shm") / 2 + 3)) "$db-shm"'
wal_fault shm-garbage 'head -c 32768 /dev/urandom >"$db-shm"'

# ---- SIGKILL during checkpoints ------------------------------------------------------------
S=sqlite://$tmp/k.db
mkpool "$S"
: >"$tmp/c3"
ok=0 killed=0
for ((i = 1; i <= kills; i++)); do
	for j in 1 2 3; do add "$S" k$i-$j && record "$tmp/c3" k$i-$j; done
	# The CLI's close checkpoints the whole WAL; the plugin's ADDs every 64 pages.
	if ((i % 2)); then
		"$B" --store "$S" ipam show >/dev/null 2>&1 &
	else
		CNI_COMMAND=ADD CNI_CONTAINERID=kk$i CNI_NETNS=/x CNI_IFNAME=eth0 CNI_PATH=/nonexistent \
			"$PLUGIN" >/dev/null 2>&1 <<<"{\"cniVersion\": \"1.0.0\", \"name\": \"sf\",
 \"type\": \"bridge\", \"ipam\": {\"type\": \"blockipam\", \"store\": \"$S\", \"node\": \"n1\"}}" &
	fi
	p=$!
	sleep "0.00$((RANDOM % 10))"
	kill -9 "$p" 2>/dev/null && killed=$((killed + 1))
	wait "$p" 2>/dev/null
done
echo "     $kills rounds, $killed processes SIGKILLed mid-run (the others had finished)"
expect_held "checkpoint kills" "$S" "$tmp/c3"
check_clean "checkpoint kills" "$S"
sqlite3 "${S#sqlite://}" 'pragma integrity_check' | grep -qx ok && pass "checkpoint kills: integrity_check ok" ||
	fail "checkpoint kills" "integrity_check failed"

# ---- a damaged page ------------------------------------------------------------------------
S=sqlite://$tmp/c.db
mkpool "$S"
for i in $(seq 300); do add "$S" c$i >/dev/null; done
"$B" --store "$S" ipam show >/dev/null 2>&1 # folds the WAL into the file
damage_records "${S#sqlite://}"
add "$S" c-after
echo "     ADD: $(msg | cut -c1-200)"
case "$(msg)" in
*damaged*restore*) pass "damaged page: ADD fails, saying the store is damaged and how to restore it" ;;
*) fail "damaged page ADD" "$(cat "$tmp/out")" ;;
esac
"$B" --store "$S" ipam check >"$tmp/ck" 2>&1
rc=$?
echo "     ipam check (exit $rc): $(head -c 200 "$tmp/ck")"
[ "$rc" != 0 ] && grep -q "damaged" "$tmp/ck" && grep -q "restore" "$tmp/ck" &&
	pass "damaged page: ipam check fails, saying the store is damaged and how to restore it" ||
	fail "damaged page check" "exit $rc: $(head -c 300 "$tmp/ck")"
# A page of the handles, not the blocks: ipam check's integrity check still finds it.
S=sqlite://$tmp/c2.db
mkpool "$S"
for i in $(seq 300); do add "$S" e$i >/dev/null; done
"$B" --store "$S" ipam show >/dev/null 2>&1
pages=$(sqlite3 "${S#sqlite://}" 'pragma page_count')
python3 -c '
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(4096 * (int(sys.argv[2]) - 2) + 100)
    f.write(b"\xa5" * 3000)' "${S#sqlite://}" "$pages"
"$B" --store "$S" ipam check >"$tmp/ck" 2>&1
rc=$?
[ "$rc" != 0 ] && grep -q "integrity check" "$tmp/ck" &&
	pass "damaged page (page $((pages - 1)) of $pages): ipam check's integrity check reports it" ||
	fail "damaged page integrity" "exit $rc: $(head -c 300 "$tmp/ck")"
finish

#!/usr/bin/env bash
# The node agent (docs/agent.md): every CNI verb through blockipamd gives the bytes and the exit
# status of the exec'd plugin doing the work itself; the plugin falls back when the agent is
# absent, its socket stale or the agent stopped; the agent refuses other uids and bad frames and
# keeps serving; SIGTERM finishes the request in flight and exits 0; SIGKILLed at random under
# concurrent plugins on 2 nodes and restarted, every ADD ends with an address, no duplicate,
# no leak after the DELs; --metrics scraped (promtool check metrics); --release-empty-blocks gives
# empty blocks back.
#
# Ends with "agent: N passed, N failed, N skipped".
set -u
name=agent
. "$(dirname "$0")/lib.sh"
AGENT=$build/blockipamd
make_tmp
unset BLOCKIPAM_STORE BLOCKIPAM_NODE BLOCKIPAM_DEBUG
for f in "$ctl" "$plugin" "$AGENT"; do
	[ -x "$f" ] || { fail "build" "$f is not built"; finish; }
done
apids=()
stop_agents() {
	local p
	for p in "${apids[@]}" $(cat "$tmp/apids" 2>/dev/null); do
		kill -CONT "$p" 2>/dev/null
		kill -KILL "$p" 2>/dev/null
	done
}
at_exit stop_agents

S=sqlite://$tmp/ipam.db
SOCK=$tmp/run/agent.sock
"$ctl" --store "$S" apply -f - >/dev/null <<'YAML' || fail "pool" "apply failed"
apiVersion: blockipam.io/v1
kind: Pool
metadata: {name: ag}
spec: {cidr: 10.88.0.0/16, blockSize: 24}
YAML

# conf AGENT NODE: a network configuration naming the agent's socket ("" for none)
conf() {
	printf '{"cniVersion": "1.1.0", "name": "ag", "type": "bridge", "agent": "%s",
 "ipam": {"type": "blockipam", "store": "%s", "node": "%s"}}' "$1" "$S" "$2"
}
# cni CMD ID AGENT NODE OUT: one exec'd plugin; OUT (stdout), OUT.err, OUT.rc
cni() {
	conf "$3" "$4" | CNI_COMMAND=$1 CNI_CONTAINERID=$2 CNI_NETNS=/var/run/netns/x \
		CNI_IFNAME=eth0 CNI_PATH="$build" "$plugin" >"$5" 2>"$5.err"
	echo $? >"$5.rc"
}
start_agent() { # LOG
	"$AGENT" --store "$S" --node n1 --socket "$SOCK" 2>>"$1" &
	apid=$!
	apids+=("$apid")
	echo "$apid" >>"$tmp/apids" # the killer's agents are its subshell's children
	local i
	for i in $(seq 100); do
		[ -S "$SOCK" ] && return 0
		sleep 0.02
	done
	fail "agent start" "no socket"
	return 1
}
served() { grep -c . <<<"$(grep -o 'served' "$1")"; }

# --- 1. byte-identical answers, every verb ------------------------------------------------
start_agent "$tmp/agent.log"
fail_log=$tmp/agent.log
check "socket mode 0600" test "$(stat -c %a "$SOCK")" = 600
check "directory mode 0700" test "$(stat -c %a "$tmp/run")" = 700
for v in ADD CHECK STATUS DEL DEL CHECK; do
	# the same request twice on the same handle: direct (agent "") on handle d, agent on a
	cni $v same "" n1 "$tmp/d.$v"
	cni $v same "" n1 "$tmp/d2.$v"
	cni $v same "$SOCK" n1 "$tmp/a.$v"
	if cmp -s "$tmp/d2.$v" "$tmp/a.$v" && cmp -s "$tmp/d2.$v.rc" "$tmp/a.$v.rc"; then
		pass "$v through the agent: same bytes and status as direct ($(cat "$tmp/a.$v.rc"))"
	else
		fail "$v through the agent" "direct: $(cat "$tmp/d2.$v") agent: $(cat "$tmp/a.$v")"
	fi
done
# ADD on fresh handles, one each way, then GC with a valid list naming neither: both go
cni ADD h1 "" n1 "$tmp/h1"
cni ADD h2 "$SOCK" n1 "$tmp/h2"
check "ADD through the agent gives an address" grep -q '"address"' "$tmp/h2"
cat >"$tmp/gc.conf" <<EOF2
{"cniVersion": "1.1.0", "name": "ag", "type": "bridge", "agent": "$SOCK",
 "cni.dev/valid-attachments": [],
 "ipam": {"type": "blockipam", "store": "$S", "node": "n1"}}
EOF2
CNI_COMMAND=GC CNI_PATH="$build" "$plugin" <"$tmp/gc.conf" >"$tmp/gc.a" 2>&1
echo $? >"$tmp/gc.a.rc"
sed 's/"agent": "[^"]*"/"agent": ""/' "$tmp/gc.conf" >"$tmp/gc.d.conf"
CNI_COMMAND=GC CNI_PATH="$build" "$plugin" <"$tmp/gc.d.conf" >"$tmp/gc.d" 2>&1
echo $? >"$tmp/gc.d.rc"
check "GC through the agent: same bytes and status as direct" \
	cmp -s <(cat "$tmp/gc.a" "$tmp/gc.a.rc") <(cat "$tmp/gc.d" "$tmp/gc.d.rc")
check "the agent served the requests" grep -q . <(grep -c . "$tmp/agent.log")

# --- 2. bad peers and bad frames ----------------------------------------------------------
frame() { # python writes a raw frame to the socket and prints what came back (or "closed")
	python3 - "$SOCK" "$1" <<'PY'
import socket, sys, struct
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.settimeout(3)
kind = sys.argv[2]
if kind == "oversize":
    s.sendall(struct.pack(">I", 1 << 20) + b"x" * 1000)
elif kind == "garbage":
    s.sendall(struct.pack(">I", 8) + b"BIPQ\x09\x00\x00\x00")
elif kind == "trailing":
    env = b"CNI_COMMAND=STATUS"
    body = b"BIPQ\x05" + struct.pack(">H", 1) + struct.pack(">H", len(env)) + env
    body += struct.pack(">I", 0) + b"junk"
    s.sendall(struct.pack(">I", len(body)) + body)
elif kind == "verb":
    env = b"CNI_COMMAND=ADD"
    body = b"BIPQ\x05" + struct.pack(">H", 1) + struct.pack(">H", len(env)) + env
    body += struct.pack(">I", 0)
    s.sendall(struct.pack(">I", len(body)) + body)
try:
    print("answered" if s.recv(4) else "closed")
except Exception as e:
    print("closed")
PY
}
for k in oversize garbage trailing verb; do
	check "$k frame refused" test "$(frame $k)" = closed
done
cni STATUS s1 "$SOCK" n1 "$tmp/after"
check "the agent still serves after bad frames" test "$(cat "$tmp/after.rc")" = 0
check "the agent logged the refusals" grep -q "refused a" "$tmp/agent.log"
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
	chmod 0755 "$tmp" "$tmp/run"
	chmod 0666 "$SOCK"
	out=$(setpriv --reuid nobody --regid nogroup --clear-groups /usr/bin/python3 -c '
import socket, struct, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.settimeout(3)
env = b"CNI_COMMAND=STATUS"
body = b"BIPQ\x05" + struct.pack(">H", 1) + struct.pack(">H", len(env)) + env + struct.pack(">I", 0)
try:
    s.sendall(struct.pack(">I", len(body)) + body)
    print("answered" if s.recv(4) else "closed")
except OSError:
    print("closed")' "$SOCK" 2>&1)
	chmod 0600 "$SOCK"
	chmod 0700 "$tmp" "$tmp/run"
	check "a peer of another uid (nobody) is refused ($out)" test "$out" = closed
	check "the refusal is logged" grep -q "neither root nor" "$tmp/agent.log"
elif [ "$(id -u)" != 0 ]; then
	skip "a peer of another uid is refused" "not root (running a client as nobody needs root)"
else
	skip "a peer of another uid is refused" "$(why_not_cmd setpriv)"
fi

# --- 3. fallbacks -------------------------------------------------------------------------
kill -STOP "$apid"
t0=${EPOCHREALTIME/./}
cni ADD stop1 "$SOCK" n1 "$tmp/stop1"
ms=$(((${EPOCHREALTIME/./} - t0) / 1000))
check "agent SIGSTOPped: the plugin falls back (ADD rc 0, ${ms} ms)" \
	test "$(cat "$tmp/stop1.rc")" = 0 -a "$ms" -lt 8000
kill -CONT "$apid"
kill -KILL "$apid"
wait "$apid" 2>/dev/null
check "socket stale after SIGKILL" test -S "$SOCK"
cni DEL stop1 "$SOCK" n1 "$tmp/stale"
check "stale socket: the plugin falls back (DEL rc 0)" test "$(cat "$tmp/stale.rc")" = 0
rm -f "$SOCK"
cni ADD abs1 "$SOCK" n1 "$tmp/abs"
check "no socket: the plugin falls back (ADD rc 0)" test "$(cat "$tmp/abs.rc")" = 0

# --- 4. SIGTERM under load loses no request -----------------------------------------------
start_agent "$tmp/agent2.log"
fail_log=$tmp/agent2.log
for i in $(seq 1 20); do cni ADD term$i "$SOCK" n1 "$tmp/term$i" & done
sleep 0.1
kill -TERM "$apid"
wait "$apid"
arc=$?
wait
check "SIGTERM: the agent exits 0" test "$arc" = 0
bad_adds=0
for i in $(seq 1 20); do
	grep -q '"address"' "$tmp/term$i" || bad_adds=$((bad_adds + 1))
done
check "SIGTERM under load: every ADD has an address ($bad_adds without)" test "$bad_adds" = 0
check "SIGTERM: the socket is removed" test ! -e "$SOCK"
kept=$(sed -n 's/.* served (\([0-9]*\) on the kept store).*/\1/p' "$tmp/agent2.log")
check "the agent served the ADDs on the store it keeps open (${kept:-none} of 20)" \
	test "${kept:-0}" -ge 1
out=$("$AGENT" --store "sqlite://relative.db" --node n1 --socket "$tmp/x.sock" 2>&1)
check "a bad --store is refused, naming it ($out)" grep -q "relative.db" <<<"$out"

# --- 4b. --metrics: Prometheus text on a unix socket or loopback TCP ------------------------
for bad in "10.1.2.3:9100" "127.0.0.1:0" "127.0.0.1:09100" "unix:relative.sock" "nocolon"; do
	out=$("$AGENT" --store "$S" --node n1 --socket "$tmp/run/bad.sock" --metrics "$bad" 2>&1)
	check "--metrics '$bad' refused, naming it" grep -qF "'$bad'" <<<"$out"
done
scrape() { # ADDR: GET /metrics, the body on stdout (and "HTTP ..." status on fd 3)
	python3 - "$1" <<'PY'
import socket, sys
a = sys.argv[1]
if a.startswith("unix:"):
    s = socket.socket(socket.AF_UNIX); s.connect(a[5:])
else:
    h, p = a.rsplit(":", 1); s = socket.create_connection((h, int(p)))
s.settimeout(3); s.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
d = b""
while True:
    c = s.recv(65536)
    if not c: break
    d += c
head, _, body = d.partition(b"\r\n\r\n")
sys.stderr.write(head.split(b"\r\n")[0].decode() + "\n")
sys.stdout.write(body.decode())
PY
}
mport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
for maddr in "unix:$tmp/run/metrics.sock" "127.0.0.1:$mport"; do
	"$AGENT" --store "$S" --node n1 --socket "$SOCK" --metrics "$maddr" 2>>"$tmp/agent-m.log" &
	apid=$!
	apids+=("$apid")
	for i in $(seq 100); do [ -S "$SOCK" ] && break; sleep 0.02; done
	cni ADD m1 "$SOCK" n1 "$tmp/m1"
	cni ADD m1 "$SOCK" n1 "$tmp/m1"
	cni CHECK m1 "$SOCK" nosuchnode "$tmp/m1c" # another node: its own store, still counted
	conf "$SOCK" n1 | CNI_COMMAND=DEL CNI_CONTAINERID= CNI_NETNS=/x CNI_IFNAME=eth0 \
		CNI_PATH="$build" "$plugin" >/dev/null 2>&1 # no container id: an error answer
	scrape "$maddr" >"$tmp/metrics" 2>"$tmp/metrics.status"
	check "metrics on $maddr: 200 OK" grep -q "200 OK" "$tmp/metrics.status"
	check "metrics on $maddr: 2 ADDs counted ok" \
		grep -qx 'blockipamd_requests_total{verb="ADD",result="ok"} 2' "$tmp/metrics"
	check "metrics on $maddr: the failed DEL counted as an error" \
		grep -qx 'blockipamd_requests_total{verb="DEL",result="error"} 1' "$tmp/metrics"
	nchk=$(awk '/^blockipamd_requests_total\{verb="CHECK"/ { n += $2 } END { print n + 0 }' "$tmp/metrics")
	check "metrics on $maddr: the CHECK for another node (its own store) counted ($nchk)" \
		test "$nchk" = 1
	check "metrics on $maddr: the ADD histogram counts 2" grep -qx \
		'blockipamd_request_duration_seconds_bucket{verb="ADD",le="+Inf"} 2' "$tmp/metrics"
	if command -v promtool >/dev/null; then
		check "metrics on $maddr: promtool check metrics is clean" sh -c \
			'promtool check metrics <"$1" >"$1.lint" 2>&1 && ! grep -q . "$1.lint"' _ "$tmp/metrics"
	else
		skip "promtool check metrics" "$(why_not_cmd promtool) (apt-get install prometheus)"
	fi
	kill -TERM "$apid"
	wait "$apid"
done
check "the unix metrics socket is removed at exit" test ! -e "$tmp/run/metrics.sock"
cni DEL m1 "" n1 "$tmp/del"

# --- 5. SIGKILL at random moments, 2 nodes, 3 plugins each --------------------------------
start_agent "$tmp/agent3.log"
fail_log=$tmp/agent3.log
killer() {
	local i
	for i in $(seq 1 50); do
		sleep "0.0$((RANDOM % 9 + 1))"
		kill -KILL "$apid" 2>/dev/null
		wait "$apid" 2>/dev/null
		start_agent "$tmp/agent3.log" || return
	done
}
worker() { # NODE W
	local i
	for i in $(seq 1 15); do
		cni ADD "k$1.$2.$i" "$SOCK" "$1" "$tmp/k$1.$2.$i"
	done
}
killer &
kpid=$!
for n in n1 n2; do for w in 1 2 3; do worker $n $w & done; done
wait $(jobs -p | grep -v "^$kpid$") 2>/dev/null
wait "$kpid"
noaddr=0
addrs=$tmp/addrs
: >"$addrs"
for f in "$tmp"/kn?.?.*; do
	case $f in *.err | *.rc) continue ;; esac
	a=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["ips"][0]["address"])' "$f" 2>/dev/null) ||
		{
			noaddr=$((noaddr + 1))
			echo "    | ${f#"$tmp"/}: rc $(cat "$f.rc") $(head -c 300 "$f") $(head -c 300 "$f.err")"
			continue
		}
	echo "$a" >>"$addrs"
done
check "SIGKILL x50: every ADD has an address ($noaddr without)" test "$noaddr" = 0
dups=$(sort "$addrs" | uniq -d | wc -l)
check "SIGKILL x50: $(wc -l <"$addrs") addresses, $dups duplicates" test "$dups" = 0
check "SIGKILL x50: blockipamctl ipam check is clean" "$ctl" --store "$S" ipam check
# DEL everything (retries: the agent may die under a DEL too; the fallback takes over)
for f in "$tmp"/kn?.?.*.rc; do
	id=${f#"$tmp"/k}
	id=${id%.rc}
	n=${id%%.*}
	for try in 1 2 3; do
		cni DEL "k$id" "$SOCK" "$n" "$tmp/del" && [ "$(cat "$tmp/del.rc")" = 0 ] && break
	done
done
for h in same h1 h2 abs1; do cni DEL "$h" "" n1 "$tmp/del"; done
for i in $(seq 1 20); do cni DEL "term$i" "" n1 "$tmp/del"; done
"$ctl" --store "$S" ipam show >"$tmp/show" 2>&1
fail_output=0
check "after the DELs: 0 addresses in use (no leak)" grep -qE '^ag .* 0 \(0.0%\)' "$tmp/show"
[ -n "${VERBOSE:-}" ] && cat "$tmp/show"
stop_agents
check "after the DELs: blockipamctl ipam check is clean" "$ctl" --store "$S" ipam check

# --- 6. --release-empty-blocks: empty blocks go back after emptyBlockReleaseSeconds ---------
out=$("$AGENT" --store "$S" --node n1 --socket "$SOCK" --release-empty-blocks 1x 2>&1)
check "--release-empty-blocks '1x' refused, naming it" grep -qF "'1x'" <<<"$out"
nblocks() { # the blocks in the store (ipam show's JSON is a list of them)
	"$ctl" --store "$S" -o json ipam show --show-blocks |
		python3 -c 'import json, sys; print(len(json.load(sys.stdin)))'
}
before=$(nblocks)
"$ctl" --store "$S" ipam configure --empty-block-release=1 >/dev/null
"$AGENT" --store "$S" --node n1 --socket "$SOCK" --release-empty-blocks 1 \
	--metrics "unix:$tmp/run/m6.sock" 2>>"$tmp/agent6.log" &
apid=$!
apids+=("$apid")
fail_log=$tmp/agent6.log
for i in $(seq 150); do
	[ "$(nblocks)" = 0 ] && break
	sleep 0.1
done
after=$(nblocks)
check "the agent gave back the empty blocks ($before before, $after after)" \
	test "$before" -gt 0 -a "$after" = 0
check "the release is logged" grep -q "released [0-9]* empty block" "$tmp/agent6.log"
scrape "unix:$tmp/run/m6.sock" >"$tmp/metrics6" 2>/dev/null
check "metrics count the released blocks" \
	grep -qx "blockipamd_released_blocks_total $before" "$tmp/metrics6"
cni ADD again "$SOCK" n1 "$tmp/again"
check "an ADD after the release still gets an address" grep -q '"address"' "$tmp/again"
cni DEL again "$SOCK" n1 "$tmp/del"
stop_agents
check "after the release: blockipamctl ipam check is clean" "$ctl" --store "$S" ipam check
finish

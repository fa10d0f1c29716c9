#!/usr/bin/env bash
# make soak: a long run of exec'd plugin ADDs and DELs by concurrent processes over many simulated
# nodes, on SQLite and on a 3-member etcd (tests/etcd-harness.sh, loopback), with the independent
# checker (tests/faults_check.py snapshot, over sqlite3 or etcdctl raw reads) at intervals and
# the resident memory of the long-lived processes (the etcd members) sampled with it. At the end
# every worker releases what it holds: the store must then hold no address and no handle (0
# leaks), and `ipam check` must be clean. Writes bench/SOAK.md (SOAK_OUT).
#
#   SOAK_OPS      allocations + releases per store (default 1000000)
#   SOAK_NODES    simulated nodes (default 8), SOAK_PROCS processes per node (default 4)
#   SOAK_CHECK_S  seconds between checker runs (default 60)
#   SOAK_STORES   "sqlite etcd" (default)
#
#   scripts/soak.sh BUILDDIR
set -u
build=$(cd "${1:-build}" && pwd)
root=$(cd "$(dirname "$0")/.." && pwd)
B=$build/blockipamctl
PLUGIN=$build/blockipam
CHECK=$root/tests/faults_check.py
ops=${SOAK_OPS:-1000000}
nodes=${SOAK_NODES:-8}
procs=${SOAK_PROCS:-4}
every=${SOAK_CHECK_S:-60}
stores=${SOAK_STORES:-sqlite etcd}
out=${SOAK_OUT:-$root/bench/SOAK.md}
tmp=$(mktemp -d)
. "$root/tests/etcd-harness.sh"
trap 'touch "$tmp/stop"; wait; etcd_cleanup; rm -rf "$tmp"' EXIT
workers=$((nodes * procs))
per=$(((ops + workers - 1) / workers))
bad=0
rows=() whys=()

# raw STORE FILE: every record in etcdctl's JSON form (base64 keys and values)
raw() {
	case $1 in
	sqlite://*)
		sqlite3 -json "file:${1#sqlite://}?mode=ro" "select key, value from kv" |
			python3 -c '
import base64, json, sys
rows = json.loads(sys.stdin.read() or "[]")
b = lambda s: base64.b64encode(("/blockipam/v1/" + s if s is not None else "").encode()).decode()
print(json.dumps({"kvs": [{"key": b(r["key"]), "value": base64.b64encode(
    r["value"].encode() if isinstance(r["value"], str) else bytes(r["value"])).decode()}
    for r in rows]}))' >"$2"
		;;
	*)
		ETCDCTL_API=3 etcdctl --endpoints="${1#etcd://}" --command-timeout=60s \
			get --prefix /blockipam/v1/ -w json >"$2"
		;;
	esac
}

cat >"$tmp/worker.sh" <<'W'
# worker.sh NODE W COUNT: COUNT calls (ADD, and DEL of the oldest once 8 are held), then DEL all
n=$1 w=$2 count=$3
conf="{\"cniVersion\": \"1.0.0\", \"name\": \"soak\", \"type\": \"bridge\",
 \"ipam\": {\"type\": \"blockipam\", \"store\": \"$S\", \"node\": \"node-$n\"}}"
call() {
	local out
	out=$(CNI_COMMAND=$1 CNI_CONTAINERID=$2 CNI_NETNS=/x CNI_IFNAME=eth0 CNI_PATH=/nonexistent \
		"$PLUGIN" <<<"$conf" 2>/dev/null) && return 0
	echo "$1 $(sed -n 's/.*"code":\([0-9]*\).*/\1/p' <<<"$out")" >>"$tmp/fail.$n.$w"
	# What kind of failure: the message up to its first detail, digits and names dropped.
	sed -n 's/.*"msg":"\([^"]*\)".*/\1/p' <<<"$out" | sed -E "s/'[^' ]*'/X/g; s/[0-9]+/N/g" |
		cut -d: -f1-2 >>"$tmp/why.$n.$w"
	return 1
}
held=() k=0 done_ops=0
while [ $done_ops -lt "$count" ] && [ ! -e "$tmp/stop" ]; do
	k=$((k + 1))
	if call ADD s$n-$w-$k; then held+=(s$n-$w-$k); else call DEL s$n-$w-$k; fi
	done_ops=$((done_ops + 1))
	if [ ${#held[@]} -gt 8 ]; then
		call DEL "${held[0]}" && held=("${held[@]:1}")
		done_ops=$((done_ops + 1))
	fi
	[ $((k % 50)) = 0 ] && echo "$done_ops" >"$tmp/ops.$n.$w"
done
for c in "${held[@]}"; do
	for t in 1 2 3 4 5; do call DEL "$c" && break; sleep 1; done
done
echo "$done_ops" >"$tmp/ops.$n.$w"
: >"$tmp/done.$n.$w"
W

for store in $stores; do
	rm -f "$tmp"/ops.* "$tmp"/fail.* "$tmp"/why.* "$tmp"/done.* "$tmp/stop"
	case $store in
	sqlite) S=sqlite://$tmp/soak.db ;;
	etcd)
		etcd_start_cluster >/dev/null 2>&1 || { echo "soak: etcd cluster did not start"; bad=1; continue; }
		S=$ETCD_ADDR
		;;
	esac
	"$B" --store "$S" apply -f - >/dev/null <<'YAML'
apiVersion: blockipam.io/v1
kind: Pool
metadata: {name: soak}
spec: {cidr: 10.128.0.0/12, blockSize: 26}
YAML
	echo "== soak on $store: $workers processes ($nodes nodes x $procs), $ops calls"
	t0=$(date +%s)
	wp=()
	for ((n = 1; n <= nodes; n++)); do
		for ((w = 1; w <= procs; w++)); do
			env tmp="$tmp" S="$S" PLUGIN="$PLUGIN" bash "$tmp/worker.sh" "$n" "$w" "$per" &
			wp+=($!)
		done
	done
	checks=0 checks_ok=0 mem=""
	while :; do
		# Done files, not kill -0: a worker that has exited is a zombie until waited for.
		for ((k = 0; k < every * 10; k++)); do
			[ "$(ls "$tmp" | grep -c '^done\.')" -ge "$workers" ] && break 2
			sleep 0.1
		done
		done_ops=$(cat "$tmp"/ops.* 2>/dev/null | awk '{s += $1} END {print s + 0}')
		if raw "$S" "$tmp/raw.json" && python3 "$CHECK" snapshot "$tmp/raw.json" >"$tmp/snap" 2>&1; then
			checks_ok=$((checks_ok + 1))
		else
			echo "   checker: $(head -5 "$tmp/snap")"
		fi
		checks=$((checks + 1))
		rss=""
		[ "$store" = etcd ] && for p in "${ETCD_PIDS[@]}"; do
			rss="$rss $(awk '/VmRSS/ {print $2}' /proc/"$p"/status 2>/dev/null)"
		done
		mem="$mem|${rss# }"
		echo "   $(($(date +%s) - t0)) s: $done_ops calls; checker: $(head -1 "$tmp/snap")${rss:+; etcd RSS kB:$rss}"
	done
	wait "${wp[@]}"
	t1=$(date +%s)
	secs=$((t1 - t0 > 0 ? t1 - t0 : 1))
	done_ops=$(cat "$tmp"/ops.* | awk '{s += $1} END {print s + 0}')
	fails=$(cat "$tmp"/fail.* 2>/dev/null | sort | uniq -c | awk '{printf "%s%s code %s: %d", sep, $2, $3, $1; sep = ", "}')
	why=$(cat "$tmp"/why.* 2>/dev/null | sort | uniq -c | sort -rn | head -3 |
		awk '{n = $1; $1 = ""; printf "%s%d x%s", sep, n, $0; sep = "; "}')
	[ -n "$why" ] && whys+=("- $store: $why")
	raw "$S" "$tmp/raw.json"
	python3 "$CHECK" snapshot "$tmp/raw.json" >"$tmp/snap" 2>&1 && checks_ok=$((checks_ok + 1))
	checks=$((checks + 1))
	left=$(head -1 "$tmp/snap")
	"$B" --store "$S" ipam check >"$tmp/ck" 2>&1 && ck="clean" || ck="PROBLEMS: $(head -c 200 "$tmp/ck")"
	case $left in "0 addresses, 0 handles, 0 problems") leak=0 ;; *) leak=1 ;; esac
	[ "$checks_ok" = "$checks" ] && [ "$leak" = 0 ] && [ "$ck" = clean ] || bad=1
	first=${mem#|}
	first=${first%%|*}
	last=${mem##*|}
	rows+=("| $store | $done_ops | $secs s | $((done_ops / secs))/s | ${fails:-none} | $checks_ok of $checks clean | $left | $ck | ${first:+$first → $last} |")
	echo "   ${rows[-1]}"
	[ "$store" = etcd ] && etcd_cleanup
done

{
	echo "# Soak results"
	echo
	echo "Written by \`make soak\` (scripts/soak.sh) on $(date -u +%Y-%m-%d) ($(nproc) vCPUs, $(uname -r))."
	echo "$workers concurrent exec'd plugin processes ($nodes simulated nodes x $procs), each a loop"
	echo "of ADD and, once it holds 8, DEL of its oldest; at the end each releases all it holds."
	echo "Asked for $ops calls per store (SOAK_OPS). The checker (tests/faults_check.py snapshot on"
	echo "raw sqlite3 / etcdctl reads: no address twice, handles and blocks agree) ran every ${every} s"
	echo "and at the end, where the store must hold nothing (0 leaks)."
	echo
	echo "| store | calls | time | rate | failed calls | checker | at the end | ipam check | etcd RSS kB first → last |"
	echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
	printf '%s\n' "${rows[@]}"
	if [ ${#whys[@]} -gt 0 ]; then
		echo
		echo "The failures' most frequent messages:"
		echo
		printf '%s\n' "${whys[@]}"
	fi
} >"$out.new"
mv "$out.new" "$out"
echo "soak: wrote $out"
exit $bad

#!/usr/bin/env bash
# The etcd backend against real etcd servers, each started here (tests/etcd-harness.sh) on free
# loopback ports and stopped by pid:
#
#   1. one member: the store conformance suite (tests/test_store.c, etcd rows), keep-alive,
#      fail-over, prefixes, the allocator's round trips per ADD and DEL
#   2. one member, frozen (SIGSTOP) and then killed: every call gives BIP_EAGAIN within its time
#   3. one member with mutual TLS (certificates made here with openssl), plus an openssl
#      s_server whose certificate names another host
#   4. three members: CAS increments by two processes while one member at a time is killed
#      (kill -9 by pid; every other round the leader) and restarted; the counter must be exact
#
# Ends with "etcd: N passed, N failed, N skipped" (the sums of the test binaries' lines).
# ETCD_CAS_SECONDS (default 20) sets the length of part 4.
set -u
name=etcd
. "$(dirname "$0")/lib.sh"
. "$root/tests/etcd-harness.sh"

log=$(mktemp)
certs=
sserver=

cleanup() {
	[ -n "$sserver" ] && kill "$sserver" 2>/dev/null && wait "$sserver" 2>/dev/null
	etcd_cleanup
	rm -f "$log"
	[ -n "$certs" ] && rm -rf "$certs"
}
trap 'cleanup; finish' EXIT

# Add up the closing line of a test binary's output in file $1 (none: one failure).
tally() {
	local line
	line=$(grep -E '^[^ ]+: [0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' "$1" | tail -n 1)
	if [ -z "$line" ]; then
		echo "etcd.sh: no closing line"
		failed=$((failed + 1))
		return
	fi
	set -- $(echo "$line" | sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed, ([0-9]+) skipped/\1 \2 \3/')
	passed=$((passed + $1)) failed=$((failed + $2)) skipped=$((skipped + $3))
}

run() {
	"$@" 2>&1 | tee "$log"
	tally "$log"
}

fail() { bad "$@"; }

for b in test_store test_etcd; do
	if [ ! -x "$build/tests/$b" ]; then
		fail "$build/tests/$b is not built"
		exit 1
	fi
done
if ! command -v "$ETCD_BIN" >/dev/null || ! command -v "$ETCDCTL_BIN" >/dev/null; then
	skip "etcd: etcd/etcdctl not installed (scripts/deps.sh test): the etcd backend is NOT tested"
	exit 0
fi

# The conformance cases, as test_store names them for the etcd row.
conf_cases=$(sed -n 's/^\t{"\([a-z_]*\)", case_[a-z_]*},$/etcd\/\1/p' "$root/tests/test_store.c")
[ -n "$conf_cases" ] || fail "no conformance cases found in tests/test_store.c"

echo "== 1. one member"
if etcd_start_single; then
	BIP_TEST_ETCD=$ETCD_ADDR run "$build/tests/test_store" $conf_cases
	BIP_TEST_ETCD=$ETCD_ADDR run "$build/tests/test_etcd" test_etcd_reuse test_etcd_failover \
		test_etcd_prefixes test_etcd_round_trips
	# The crash test of issue #9 on etcd: real plugin processes SIGKILLed during ADD, DEL and
	# GC (1,000 kills; the sanitizer build's default is smaller, see tests/test_crash.c).
	if [ -x "$build/tests/test_crash" ]; then
		BIP_CRASH_STORE=$ETCD_ADDR run "$build/tests/test_crash"
	fi
else
	fail "etcd did not start"
fi
etcd_cleanup

echo "== 2. a frozen, then stopped, server"
if etcd_start_single; then
	BIP_TEST_ETCD=$ETCD_ADDR BIP_TEST_ETCD_PID=${ETCD_PIDS[0]} \
		run "$build/tests/test_etcd" test_etcd_server_stopped
else
	fail "etcd did not start"
fi
etcd_cleanup

echo "== 3. mutual TLS"
certs=$(mktemp -d)
if etcd_make_certs "$certs"; then
	wport=$(etcd_free_port)
	openssl s_server -quiet -www -accept "127.0.0.1:$wport" -cert "$certs/wrong.pem" \
		-key "$certs/wrong-key.pem" >/dev/null 2>&1 &
	sserver=$!
	for _ in $(seq 50); do etcd_port_free "$wport" || break; sleep 0.1; done
	if etcd_start_single --tls "$certs"; then
		BIP_TEST_ETCD_TLS=$ETCD_ADDR BIP_TEST_ETCD_CERTS=$certs \
			BIP_TEST_ETCD_WRONGHOST="etcds://127.0.0.1:$wport" \
			run "$build/tests/test_etcd" test_etcd_tls
	else
		fail "etcd with TLS did not start"
	fi
	kill "$sserver" 2>/dev/null
	wait "$sserver" 2>/dev/null
	sserver=
else
	fail "openssl could not make the test certificates"
fi
etcd_cleanup
ETCD_TLS_DIR= ETCD_SCHEME=http

echo "== 4. three members, one killed and restarted at a time"
leader() { # index of the leader, or a random member
	local i id lead
	for i in 0 1 2; do
		[ -n "${ETCD_PIDS[$i]}" ] || continue
		read -r id lead < <(_etcd_ctl "${ETCD_CPORTS[$i]}" endpoint status -w fields 2>/dev/null |
			awk '/"MemberID"/{m=$3} /"Leader"/{l=$3} END{print m, l}')
		[ -n "$id" ] && [ "$id" = "$lead" ] && { echo "$i"; return; }
	done
	echo $((RANDOM % 3))
}
if etcd_start_cluster; then
	secs=${ETCD_CAS_SECONDS:-20}
	BIP_TEST_ETCD_CLUSTER=$ETCD_ADDR BIP_TEST_ETCD_CAS_SECONDS=$secs \
		"$build/tests/test_etcd" test_etcd_cluster_cas >"$log.cas" 2>&1 &
	tp=$!
	round=0 kills=0 leaders=0
	while sleep 1.5 && kill -0 "$tp" 2>/dev/null; do
		if [ $((round % 2)) = 0 ]; then
			i=$(leader)
			leaders=$((leaders + 1))
		else
			i=$((RANDOM % 3))
		fi
		round=$((round + 1))
		etcd_kill "$i"
		kills=$((kills + 1))
		sleep 1.5
		etcd_restart "$i" || fail "member $i did not come back"
	done
	wait "$tp"
	echo "  killed a member $kills times ($leaders times the leader, as far as etcdctl said)"
	cat "$log.cas"
	tally "$log.cas"
	rm -f "$log.cas"
	[ "$kills" -ge 3 ] || fail "only $kills member kills during the CAS loop"
else
	fail "the 3-member cluster did not start"
fi
etcd_cleanup
[ "$failed" = 0 ]

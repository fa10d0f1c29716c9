#!/usr/bin/env bash
# Our own etcd servers for tests, on loopback ports that are free, with data in a temporary
# directory; never a system service. Two ways to use it:
#
#   tests/etcd-harness.sh single [-- CMD ARGS...]     one member
#   tests/etcd-harness.sh cluster [-- CMD ARGS...]    three members
#       Without CMD: print the address (etcd://127.0.0.1:PORT[,...]) and keep the servers up
#       until interrupted. With CMD: run it with BIP_TEST_ETCD set to that address, then stop
#       the servers; the exit status is CMD's.
#
#   . tests/etcd-harness.sh      (from another bash script) gives the functions below;
#       etcd_cleanup must run at exit: etcd_start_* sets an EXIT trap that does it, unless the
#       script has an EXIT trap already (which must then call etcd_cleanup; tests/lib.sh's
#       does, so a test on lib.sh has nothing to add).
#
#   etcd_start_single [--tls CERTDIR] [ETCD ARGS...]   sets ETCD_ADDR (etcd:// or etcds://)
#   etcd_start_cluster [ETCD ARGS...]                   sets ETCD_ADDR with three endpoints
#   etcd_kill N / etcd_restart N                        member N (0..2): kill -9 by pid, start
#   etcd_stop_all / etcd_cleanup                        stop every member by pid / and rm data
#   etcd_make_certs DIR                                 CA, server and client certificates
#
# With --tls, CERTDIR holds ca.pem, server.pem, server-key.pem: clients must present a
# certificate signed by ca.pem (--client-cert-auth).
#
# Ports are picked at random from 20000 up to the start of the kernel's ephemeral range (where
# the many short client connections of the tests take their local ports: a port picked among
# them was sometimes taken by one before etcd bound it, every try of a start), else 20000-52767,
# and checked with ss (no socket on it in any state); a member that cannot bind is started
# again on other ports. Every member gets --max-txn-ops 10000: the store conformance
# suite writes 1000 keys in one txn (etcd's default limit is 128).

ETCD_BIN=${ETCD_BIN:-etcd}
ETCDCTL_BIN=${ETCDCTL_BIN:-etcdctl}
ETCD_DIR=${ETCD_DIR:-}
ETCD_ADDR=
ETCD_SCHEME=http
ETCD_TLS_DIR=
ETCD_TOKEN=
ETCD_CLUSTER=
ETCD_EXTRA=()
ETCD_PIDS=()
ETCD_CPORTS=()
ETCD_PPORTS=()

etcd_port_free() {
	! ss -Htln "sport = :$1" 2>/dev/null | grep -q .
}

# A port no socket uses (and not already chosen by us), below the ephemeral range.
etcd_free_port() {
	local p lo _ span=32768
	read -r lo _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || lo=0
	[ "$lo" -ge 21000 ] 2>/dev/null && span=$((lo - 20000))
	while :; do
		p=$((20000 + RANDOM % span))
		[[ " ${ETCD_CPORTS[*]} ${ETCD_PPORTS[*]} " == *" $p "* ]] && continue
		ss -Htan "sport = :$p" 2>/dev/null | grep -q . && continue
		echo "$p"
		return
	done
}

etcd_log() { echo "etcd-harness: $*" >&2; }

_etcd_ctl() {
	local ep=$1; shift
	local tls=()
	[ -n "$ETCD_TLS_DIR" ] && tls=(--cacert "$ETCD_TLS_DIR/ca.pem" --cert "$ETCD_TLS_DIR/client.pem"
		--key "$ETCD_TLS_DIR/client-key.pem")
	ETCDCTL_API=3 "$ETCDCTL_BIN" --endpoints="$ETCD_SCHEME://127.0.0.1:$ep" --dial-timeout=1s \
		--command-timeout=2s "${tls[@]}" "$@"
}

# Start member i (uses ETCD_CPORTS[i], ETCD_PPORTS[i]); state new or existing.
_etcd_launch() {
	local i=$1 state=$2 c=${ETCD_CPORTS[$1]} p=${ETCD_PPORTS[$1]}
	local tls=()
	if [ -n "$ETCD_TLS_DIR" ]; then
		tls=(--cert-file "$ETCD_TLS_DIR/server.pem" --key-file "$ETCD_TLS_DIR/server-key.pem"
			--client-cert-auth --trusted-ca-file "$ETCD_TLS_DIR/ca.pem")
	fi
	"$ETCD_BIN" --name "m$i" --data-dir "$ETCD_DIR/m$i" \
		--listen-client-urls "$ETCD_SCHEME://127.0.0.1:$c" \
		--advertise-client-urls "$ETCD_SCHEME://127.0.0.1:$c" \
		--listen-peer-urls "http://127.0.0.1:$p" --initial-advertise-peer-urls "http://127.0.0.1:$p" \
		--initial-cluster "$ETCD_CLUSTER" --initial-cluster-token "$ETCD_TOKEN" \
		--initial-cluster-state "$state" --max-txn-ops 10000 "${tls[@]}" "${ETCD_EXTRA[@]}" \
		>>"$ETCD_DIR/m$i.log" 2>&1 &
	ETCD_PIDS[$i]=$!
	# Not a job of ours: a member killed by a test must not make bash print "Killed".
	disown "$!"
}

# Wait until pid is gone (at most 10 s).
_etcd_gone() {
	local n
	for n in $(seq 200); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.05
	done
	return 1
}

# Wait until member i answers /health (false if it died or took longer than 10 s).
_etcd_wait() {
	local i=$1 n
	for n in $(seq 100); do
		kill -0 "${ETCD_PIDS[$i]}" 2>/dev/null || return 1
		_etcd_ctl "${ETCD_CPORTS[$i]}" endpoint health >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}

_etcd_addr() {
	local s=etcd eps=() c
	[ "$ETCD_SCHEME" = https ] && s=etcds
	for c in "${ETCD_CPORTS[@]}"; do eps+=("127.0.0.1:$c"); done
	ETCD_ADDR="$s://$(IFS=,; echo "${eps[*]}")"
}

# Start n members from scratch (fresh ports each try).
_etcd_start() {
	local n=$1 try i ok
	[ -n "$ETCD_DIR" ] || ETCD_DIR=$(mktemp -d "${TMPDIR:-/tmp}/bip-etcd.XXXXXX")
	# Our own EXIT trap, unless the caller has one (which must call etcd_cleanup).
	[ -n "$(trap -p EXIT)" ] || trap etcd_cleanup EXIT
	for try in 1 2 3 4 5; do
		ETCD_CPORTS=() ETCD_PPORTS=() ETCD_PIDS=()
		for ((i = 0; i < n; i++)); do
			ETCD_CPORTS[$i]=$(etcd_free_port)
			ETCD_PPORTS[$i]=$(etcd_free_port)
		done
		ETCD_TOKEN="bip-$$-$try-$RANDOM"
		ETCD_CLUSTER=
		for ((i = 0; i < n; i++)); do
			ETCD_CLUSTER+="${ETCD_CLUSTER:+,}m$i=http://127.0.0.1:${ETCD_PPORTS[$i]}"
		done
		rm -rf "$ETCD_DIR"/m*
		for ((i = 0; i < n; i++)); do _etcd_launch "$i" new; done
		ok=1
		for ((i = 0; i < n; i++)); do _etcd_wait "$i" || ok=0; done
		if [ "$ok" = 1 ]; then
			_etcd_addr
			return 0
		fi
		etcd_log "start attempt $try failed; log tail:"
		tail -n 5 "$ETCD_DIR"/m*.log >&2
		etcd_stop_all
	done
	return 1
}

_etcd_cert() { # dir name CN SAN|- EKU ISSUER
	local certs=$1 name=$2 cn=$3 san=$4 eku=$5 issuer=$6 ext
	ext=$(mktemp)
	{
		[ "$san" != - ] && echo "subjectAltName=$san"
		echo "extendedKeyUsage=$eku"
	} >"$ext"
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$cn" \
		-keyout "$certs/$name-key.pem" -out "$certs/$name.csr" 2>/dev/null &&
		openssl x509 -req -in "$certs/$name.csr" -CA "$certs/$issuer.pem" \
			-CAkey "$certs/$issuer-key.pem" -CAcreateserial -days 2 -extfile "$ext" \
			-out "$certs/$name.pem" 2>/dev/null
	local rc=$?
	rm -f "$ext"
	return $rc
}

_etcd_ca() { # dir name CN
	local certs=$1; shift
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
		-subj "/CN=$2" -keyout "$certs/$1-key.pem" -out "$certs/$1.pem" 2>/dev/null
}

# Certificates for mutual TLS in DIR (openssl): ca.pem; server.pem for localhost and 127.0.0.1
# (server and client use: etcd's gateway dials etcd with it); client.pem; rogue-ca.pem and
# rogue-client.pem (another CA); wrong.pem, a server certificate of ca.pem for another host.
# Each X.pem has its X-key.pem.
etcd_make_certs() {
	local d=$1
	_etcd_ca "$d" ca "blockipam test CA" && _etcd_ca "$d" rogue-ca "another CA" &&
		_etcd_cert "$d" server etcd "DNS:localhost,IP:127.0.0.1" serverAuth,clientAuth ca &&
		_etcd_cert "$d" client blockipam - clientAuth ca &&
		_etcd_cert "$d" rogue-client blockipam - clientAuth rogue-ca &&
		_etcd_cert "$d" wrong elsewhere "DNS:wrong.example,IP:10.9.9.9" serverAuth ca
}

etcd_start_single() {
	if [ "${1:-}" = --tls ]; then
		ETCD_TLS_DIR=$2 ETCD_SCHEME=https
		shift 2
	fi
	ETCD_EXTRA=("$@")
	_etcd_start 1
}

etcd_start_cluster() {
	ETCD_EXTRA=("$@")
	_etcd_start 3
}

etcd_kill() {
	local pid=${ETCD_PIDS[$1]:-}
	[ -n "$pid" ] || return 0
	kill -9 "$pid" 2>/dev/null
	_etcd_gone "$pid"
	ETCD_PIDS[$1]=
}

# Start member i again with its data dir; wait until it answers.
etcd_restart() {
	_etcd_launch "$1" existing
	_etcd_wait "$1"
}

etcd_stop_all() {
	local i pid
	# if, not &&: a member that died already must not end a caller running with set -e
	for i in "${!ETCD_PIDS[@]}"; do
		pid=${ETCD_PIDS[$i]}
		if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; fi
	done
	for i in "${!ETCD_PIDS[@]}"; do
		pid=${ETCD_PIDS[$i]}
		if [ -n "$pid" ] && ! _etcd_gone "$pid"; then kill -9 "$pid" 2>/dev/null || true; fi
		ETCD_PIDS[$i]=
	done
}

etcd_cleanup() {
	etcd_stop_all
	[ -n "$ETCD_DIR" ] && rm -rf "$ETCD_DIR"
	ETCD_DIR=
}

# Run as a program.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	set -u
	mode=${1:-}
	shift || true
	case $mode in
	single) etcd_start_single || exit 1 ;;
	cluster) etcd_start_cluster || exit 1 ;;
	*)
		echo "usage: $0 single|cluster [-- CMD ARGS...]" >&2
		exit 2
		;;
	esac
	if [ "${1:-}" = -- ] && [ $# -gt 1 ]; then
		shift
		BIP_TEST_ETCD=$ETCD_ADDR "$@"
		exit $?
	fi
	echo "$ETCD_ADDR"
	trap 'kill $sleeper 2>/dev/null; exit 0' INT TERM
	while :; do
		sleep 3600 &
		sleeper=$!
		wait $sleeper
	done
fi

#!/usr/bin/env bash
# The exec'd plugin ($BIP_BUILD/blockipam, static by default: make STATIC_PLUGIN=1) against a
# real etcd, as a runtime runs it: ADD, CHECK and DEL over etcd:// by IP address and by the name
# localhost, over etcds:// with mutual TLS (the certificates of tests/etcd-harness.sh; a
# refused CA gives CNI code 109), and, for a name that resolves nowhere, a failure whose message
# names the host. A static plugin must say so in `file`, and open no shared library on the way
# (strace, when installed): its resolver and its OpenSSL are its own.
set -u
name=etcd_plugin
. "$(dirname "$0")/lib.sh"
. "$root/tests/etcd-harness.sh"

why=$(why_not_cmd "$ETCD_BIN" "$ETCDCTL_BIN" openssl file jq)
[ -n "$why" ] && skip_all "$why (scripts/deps.sh test)" "plugin over etcd" "plugin over etcds"
for b in "$plugin" "$ctl"; do
	[ -x "$b" ] || { bad "$b is not built"; finish; }
done
tmp=$(mktemp -d)
cleanup() {
	etcd_cleanup
	rm -rf "$tmp"
}
trap 'cleanup; finish' EXIT

static=0
file -L "$plugin" | grep -q 'statically linked' && static=1
echo "plugin: $(file -bL "$plugin" | cut -d, -f1-4)"

# pool STORE [CLI ARGS]: the pool the ADDs take from
pool() {
	"$ctl" --store "$@" apply -f - >/dev/null <<'YAML'
apiVersion: blockipam.io/v1
kind: Pool
metadata: {name: p}
spec: {cidr: 10.81.0.0/16, blockSize: 26}
YAML
}
# conf STORE [EXTRA JSON FIELDS]: a network config for the plugin
conf() {
	echo "{\"cniVersion\": \"1.0.0\", \"name\": \"n\", \"type\": \"bridge\", \"ipam\":" \
		"{\"type\": \"blockipam\", \"store\": \"$1\", \"node\": \"n1\"${2:-}}}"
}
# cni CMD ID CONF: the plugin's stdout in $tmp/out, its exit status returned
cni() {
	CNI_COMMAND=$1 CNI_CONTAINERID=$2 CNI_NETNS=/var/run/netns/x CNI_IFNAME=eth0 \
		CNI_PATH=/nonexistent ${trace:-} "$plugin" <<<"$3" >"$tmp/out" 2>"$tmp/err"
}
# cycle WHAT CONF: ADD (an address of the pool), CHECK, DEL, and DEL again (idempotent)
cycle() {
	local what=$1 c=$2 id=c$RANDOM
	if cni ADD "$id" "$c" && grep -q '"address":"10\.81\.' "$tmp/out"; then
		ok "$what: ADD $(grep -o '"address":"[^"]*"' "$tmp/out")"
	else
		bad "$what: ADD: $(cat "$tmp/out" "$tmp/err")"
		return
	fi
	# CHECK gets the ADD's result as prevResult, as a runtime passes it
	c=$(jq -c --slurpfile r "$tmp/out" '. + {prevResult: $r[0]}' <<<"$c")
	cni CHECK "$id" "$c" && ok "$what: CHECK" || bad "$what: CHECK: $(cat "$tmp/out")"
	cni DEL "$id" "$c" && cni DEL "$id" "$c" && ok "$what: DEL twice" ||
		bad "$what: DEL: $(cat "$tmp/out")"
}

echo "== etcd://"
if etcd_start_single; then
	E=$ETCD_ADDR
	pool "$E" || bad "etcd: the pool was not created"
	cycle "etcd:// by address" "$(conf "$E")"
	cycle "etcd:// by localhost" "$(conf "${E/127.0.0.1/localhost}")"
	if cni ADD cbad "$(conf "${E/127.0.0.1/no-such-host.invalid}" ', "timeout_ms": 300')"; then
		bad "an unknown host: ADD succeeded"
	elif grep -q '"code":11' "$tmp/out" && grep -q "cannot resolve 'no-such-host.invalid'" "$tmp/out"; then
		ok "an unknown host: CNI code 11, the host named"
	else
		bad "an unknown host: $(cat "$tmp/out")"
	fi
	if [ $static = 1 ]; then
		grep -q 'make STATIC_PLUGIN=0' "$tmp/out" && ok "static: the message names the dynamic build" ||
			bad "static: the message does not say what to do: $(cat "$tmp/out")"
	fi
else
	bad "etcd did not start"
fi
etcd_stop_all

echo "== etcds://"
certs=$tmp/certs
mkdir "$certs"
if ! etcd_make_certs "$certs"; then
	bad "openssl could not make the test certificates"
elif etcd_start_single --tls "$certs"; then
	T=$ETCD_ADDR
	tls=(--store-ca-file "$certs/ca.pem" --store-cert-file "$certs/client.pem"
		--store-key-file "$certs/client-key.pem")
	files() {
		echo ", \"store_ca_file\": \"$certs/$1\", \"store_cert_file\": \"$certs/client.pem\"," \
			"\"store_key_file\": \"$certs/client-key.pem\""
	}
	pool "$T" "${tls[@]}" || bad "etcds: the pool was not created"
	cycle "etcds:// by address" "$(conf "$T" "$(files ca.pem)")"
	cycle "etcds:// by localhost" "$(conf "${T/127.0.0.1/localhost}" "$(files ca.pem)")"
	if cni ADD crogue "$(conf "$T" "$(files rogue-ca.pem)")"; then
		bad "etcds:// with another CA: ADD succeeded"
	elif grep -q '"code":109' "$tmp/out" && grep -q 'certificate' "$tmp/out"; then
		ok "etcds:// with another CA: CNI code 109, the certificate refused"
	else
		bad "etcds:// with another CA: $(cat "$tmp/out")"
	fi
	if [ $static = 1 ] && command -v strace >/dev/null; then
		trace="strace -f -e trace=openat,open -o $tmp/strace"
		cni ADD ctrace "$(conf "${T/127.0.0.1/localhost}" "$(files ca.pem)")" ||
			bad "etcds:// under strace: $(cat "$tmp/out")"
		trace=
		libs=$(grep -E '\.so(\.[0-9]+)*"|nsswitch' "$tmp/strace" | grep -v ENOENT)
		[ -z "$libs" ] && ok "static: an etcds:// ADD by name opens no shared library, no NSS" ||
			bad "static: opened $libs"
	elif [ $static = 1 ]; then
		skip "static: the libraries an exec opens (strace not installed)"
	fi
else
	bad "etcd with TLS did not start"
fi

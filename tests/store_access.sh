#!/usr/bin/env bash
# One owner for each rule (issue 14, item 6), exec'd: the plugin and the CLI read one store
# address grammar; the CLI opens an etcds:// store with client certificates under another prefix
# as the plugin does (options and BLOCKIPAM_STORE_* variables); STATUS and ADD agree on which
# pools serve a node (the implicit kubernetes.io/hostname label included); a store without pools
# says so and how to make one (the example it prints is applied as printed); the default store's
# directory is made on a fresh node (as root, only when /var/lib/blockipam is absent, and removed
# again). Ends with "store_access: N passed, N failed, N skipped".
set -u
name=store_access
. "$(dirname "$0")/lib.sh"
B=$ctl
PLUGIN=$plugin
make_tmp
made_default=0
at_exit '[ "$made_default" = 1 ] && rm -rf /var/lib/blockipam'
unset BLOCKIPAM_STORE BLOCKIPAM_NODE BLOCKIPAM_STORE_PREFIX BLOCKIPAM_STORE_CA_FILE \
	BLOCKIPAM_STORE_CERT_FILE BLOCKIPAM_STORE_KEY_FILE BLOCKIPAM_STORE_TIMEOUT_MS

# cni CMD NODE IPAM_EXTRA [ENV...]: the plugin with {"type":"blockipam","node":NODE IPAM_EXTRA}.
cni() {
	local cmd=$1 node=$2 extra=$3
	shift 3
	printf '{"cniVersion":"1.1.0","name":"net","type":"ptp","ipam":{"type":"blockipam","node":"%s"%s}}' \
		"$node" "$extra" |
		env CNI_COMMAND="$cmd" CNI_CONTAINERID="c-$node-$RANDOM" CNI_IFNAME=eth0 \
			CNI_NETNS=/var/run/netns/x CNI_PATH=/usr/lib/cni "$@" "$PLUGIN"
}

if [ ! -x "$B" ] || [ ! -x "$PLUGIN" ]; then
	bad "no $B or $PLUGIN: build them first (make)"
	finish
fi

# --- a store without pools --------------------------------------------------------------------
S=sqlite://$tmp/ipam.db
st=",\"store\":\"$S\""
t_all "STATUS before any write: no pool yet" 1 '"code":50' "no pool exists yet" \
	"blockipamctl apply -f pool.yaml" -- cni STATUS n1 "$st"
t_all "get before any write: says the first apply creates it" 1 "the first 'apply' creates it" -- \
	"$B" --store "$S" get pools
t_all "ADD on a store without pools" 1 '"code":103' "no IPv4 pool exists" \
	"blockipamctl apply -f pool.yaml" -- cni ADD n1 "$st"
not_hint=$(grep -c "use Workload" "$tmp/out")
[ "$not_hint" = 0 ] && pass "  no '(use Workload)'" || fail "  no '(use Workload)'" "still there"
t_all "STATUS on a store without pools" 1 '"code":50' "no IPv4 pool exists" -- cni STATUS n1 "$st"
# the example is applied as printed
jq -r .msg "$tmp/out" | sed 's/.*pool.yaml holding //' >"$tmp/pool.yaml"
t_all "the printed example applies as it is" 0 "pool/pods-v4 created" -- \
	"$B" --store "$S" apply -f "$tmp/pool.yaml"
t_all "  and ADD then works" 0 '"address":"10.244.' -- cni ADD n1 "$st"

# --- STATUS and ADD: one selection ------------------------------------------------------------
S2=sqlite://$tmp/sel.db
st2=",\"store\":\"$S2\""
t_all "a pool for one host name" 0 "pool/only-n1 created" -- "$B" --store "$S2" apply -f - <<'EOF'
apiVersion: blockipam.io/v1
kind: Pool
metadata: {name: only-n1}
spec: {cidr: 10.80.0.0/24, nodeSelector: "kubernetes.io/hostname == 'n1'"}
EOF
t_all "STATUS n1: ready (the implicit hostname label)" 0 "" -- cni STATUS n1 "$st2"
t_all "ADD n1 agrees" 0 '"address":"10.80.0.' -- cni ADD n1 "$st2"
t_all "STATUS n2: no pool serves it" 1 '"code":50' "no IPv4 pool serves node 'n2'" -- \
	cni STATUS n2 "$st2"
t_all "ADD n2 agrees" 1 '"code":103' "no IPv4 pool selects node 'n2'" \
	"1 with a nodeSelector or namespaceSelector that does not match" -- cni ADD n2 "$st2"

# --- one address grammar ----------------------------------------------------------------------
t_all "plugin: etcd:// without a port is an address" 1 '"code":50' "cannot" -- \
	cni STATUS n1 ',"store":"etcd://127.0.0.1","timeout_ms":300'
if grep -q '"code":7' "$tmp/out"; then fail "  not a config error" "code 7"; else pass "  not a config error"; fi
t_all "CLI: the same address" 1 "127.0.0.1:2379" -- "$B" --store etcd://127.0.0.1 \
	--store-timeout-ms 300 get pools
t_all "plugin: an empty port" 1 '"code":7' "endpoint '127.0.0.1:' is not host[:port]" -- \
	cni ADD n1 ',"store":"etcd://127.0.0.1:"'
t_all "CLI: the same words" 1 "endpoint '127.0.0.1:' is not host[:port]" -- \
	"$B" --store etcd://127.0.0.1: get pools
t_all "CLI: a relative path" 1 "a path must be absolute" -- "$B" --store ipam.db get pools

# --- the CLI's store options ------------------------------------------------------------------
t_all "--store-prefix must start and end with /" 1 "invalid --store-prefix 'x'" -- \
	"$B" --store "$S" --store-prefix x get pools
t_all "BLOCKIPAM_STORE_CA_FILE must be absolute" 1 "invalid BLOCKIPAM_STORE_CA_FILE 'ca.pem'" -- \
	env BLOCKIPAM_STORE_CA_FILE=ca.pem "$B" --store "$S" get pools
t_all "--store-timeout-ms range" 1 "invalid --store-timeout-ms '0'" -- \
	"$B" get pools --store "$S" --store-timeout-ms 0
t_all "help names the options" 0 "--store-cert-file" "BLOCKIPAM_STORE_PREFIX" -- "$B" get --help

. "$root/tests/etcd-harness.sh"
if ! command -v "$ETCD_BIN" >/dev/null || ! command -v openssl >/dev/null; then
	skip "etcds:// with client certificates" "etcd or openssl missing"
elif ! mkdir -m 0700 "$tmp/certs" || ! etcd_make_certs "$tmp/certs" >/dev/null 2>&1 || ! etcd_start_single --tls "$tmp/certs"; then
	fail "etcds:// with client certificates" "etcd with TLS did not start"
else
	c=$tmp/certs
	tls=(--store "$ETCD_ADDR" --store-ca-file "$c/ca.pem" --store-cert-file "$c/client.pem"
		--store-key-file "$c/client-key.pem")
	t_all "etcds:// with client certificates, another prefix" 0 "pool/tls-pool created" -- \
		"$B" "${tls[@]}" --store-prefix /team-a/ apply -f - <<'EOF'
apiVersion: blockipam.io/v1
kind: Pool
metadata: {name: tls-pool}
spec: {cidr: 10.90.0.0/24}
EOF
	t_all "  read back through the environment" 0 "tls-pool" -- env BLOCKIPAM_STORE="$ETCD_ADDR" \
		BLOCKIPAM_STORE_CA_FILE="$c/ca.pem" BLOCKIPAM_STORE_CERT_FILE="$c/client.pem" \
		BLOCKIPAM_STORE_KEY_FILE="$c/client-key.pem" BLOCKIPAM_STORE_PREFIX=/team-a/ \
		"$B" get pools
	t_all "  the default prefix holds no such pool" 0 "" -- "$B" "${tls[@]}" get pools
	if grep -q tls-pool "$tmp/out"; then fail "  prefixes apart" "tls-pool under the default prefix"; else pass "  prefixes apart"; fi
	t_all "  without a client certificate: refused" 1 "cannot" -- \
		"$B" --store "$ETCD_ADDR" --store-ca-file "$c/ca.pem" --store-prefix /team-a/ \
		--store-timeout-ms 1000 get pools
	tlsconf=",\"store\":\"$ETCD_ADDR\",\"store_ca_file\":\"$c/ca.pem\",\"store_cert_file\":\"$c/client.pem\",\"store_key_file\":\"$c/client-key.pem\",\"store_prefix\":\"/team-a/\""
	t_all "  the plugin, same store by its config fields" 0 '"address":"10.90.0.' -- \
		cni ADD n1 "$tlsconf"
	t_all "  the CLI sees its allocation" 0 "n1" -- "$B" "${tls[@]}" --store-prefix /team-a/ \
		ipam show --show-blocks
	t_all "  ipam check clean" 0 "No problems found" -- "$B" "${tls[@]}" --store-prefix /team-a/ \
		ipam check
	etcd_cleanup
fi

# --- the default store's directory on a fresh node ----------------------------------------------
if [ "$(id -u)" != 0 ]; then
	skip "default store directory" "needs root (it is /var/lib/blockipam)"
elif [ -e /var/lib/blockipam ]; then
	skip "default store directory" "/var/lib/blockipam exists here: not touched"
else
	made_default=1
	t_all "fresh node: STATUS says no pool yet" 1 '"code":50' "no pool exists yet" -- cni STATUS n1 ""
	t_all "fresh node: the first ADD is not an I/O error" 1 '"code":103' "no IPv4 pool exists" -- \
		cni ADD n1 ""
	mode=$(stat -c %a /var/lib/blockipam 2>/dev/null)
	[ "$mode" = 700 ] && pass "  /var/lib/blockipam made, mode 0700" ||
		fail "  /var/lib/blockipam made, mode 0700" "mode '${mode:-none}'"
	rm -rf /var/lib/blockipam
	t_all "fresh node: the CLI's first apply makes it too" 0 "pool/pods-v4 created" -- \
		"$B" apply -f "$tmp/pool.yaml"
	mode=$(stat -c %a /var/lib/blockipam 2>/dev/null)
	[ "$mode" = 700 ] && pass "  made by the CLI, mode 0700" ||
		fail "  made by the CLI, mode 0700" "mode '${mode:-none}'"
	t_all "  and ADD then works" 0 '"address":"10.244.' -- cni ADD n1 ""
	rm -rf /var/lib/blockipam
	made_default=0
fi

finish

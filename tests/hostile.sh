#!/usr/bin/env bash
# Hostile input, through the exec'd binaries: the plugin ($BIP_BUILD/blockipam, run like a runtime
# runs it: a clean environment, the configuration on stdin) and `blockipamctl apply -f`.
#
# Each case wants the right CNI code (or CLI exit status 1 or 2), a message that names the bad
# variable, field or value, nothing on stderr from the plugin, and everything under the store's
# directory byte-for-byte as it was: every file's name, mode, size and SHA-256 (no file created,
# none touched) and the SQL dump of the store. The store holds pools, a reservation, a node and an
# allocation, so there is something to damage. Ends with the number of hostile inputs tried and
# "hostile: N passed, N failed, N skipped".
set -u
name=hostile
. "$(dirname "$0")/lib.sh"
tried=0
build=$(cd "$build" && pwd)
P=$build/blockipam
B=$build/blockipamctl

for x in "$P" "$B"; do
	[ -x "$x" ] || { bad "$x is not built"; finish; }
done
why=$(why_not_cmd jq sqlite3 sha256sum)
[ -n "$why" ] && skip_all "$why (scripts/deps.sh test)" everything

tmp=$(mktemp -d /tmp/bip-hostile.XXXXXX)
trap 'chmod -R u+rwx "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
io=$tmp/io   # inputs and outputs of the cases
w=$tmp/w     # the store's world: must not change
mkdir -p "$io" && mkdir -m 0700 "$w" "$w/cwd"
db=$w/ipam.db
S=sqlite://$db

# --- the store, with something in it ---------------------------------------------------------

"$B" --store "$S" apply -f - >/dev/null <<'EOF' || { bad "setup: apply"; finish; }
apiVersion: blockipam.io/v1
kind: Pool
metadata: {name: p4}
spec: {cidr: 10.90.0.0/16, blockSize: 26}
---
apiVersion: blockipam.io/v1
kind: Pool
metadata: {name: p6}
spec: {cidr: 'fd00:90::/112', blockSize: 122}
---
apiVersion: blockipam.io/v1
kind: Reservation
metadata: {name: gw}
spec: {reservedCIDRs: [10.90.0.1]}
---
apiVersion: blockipam.io/v1
kind: Node
metadata: {name: node-a, labels: {zone: a}}
---
apiVersion: blockipam.io/v1
kind: Node
metadata: {name: node-pc}
spec: {podCIDRs: [10.91.0.0/24]}
EOF
base='{"cniVersion":"1.0.0","name":"net","type":"bridge","ipam":{"type":"blockipam","store":"'$S'","node":"node-a"}}'
# ENV: the environment a runtime gives an ADD
ENV=(CNI_COMMAND=ADD CNI_CONTAINERID=ctr-held CNI_IFNAME=eth0 CNI_NETNS=/var/run/netns/h
	CNI_PATH=/opt/cni/bin PATH=/usr/bin:/bin)
(cd "$w/cwd" && env -i "${ENV[@]}" "$P" <<<"$base" >"$io/held") ||
	{ bad "setup: ADD: $(cat "$io/held")"; finish; }
held=$(jq -r '.ips[0].address' "$io/held")
held=${held%/*}
# a container id with a dot: its handle net.x.y.eth0 could be network net.x's container y
(cd "$w/cwd" && env -i "${ENV[@]}" CNI_CONTAINERID=x.y "$P" <<<"$base" >"$io/held2") ||
	{ bad "setup: ADD x.y: $(cat "$io/held2")"; finish; }

# Stores that must be refused, each in its own 0700 directory (part of the world).
mkdir -m 0700 "$w/gw" "$w/ln" "$w/isdir" "$w/junk" "$w/foreign" "$w/newer" "$w/nofile"
mkdir -m 0777 "$w/ww"
cp "$db" "$w/gw/ipam.db" && chmod 0660 "$w/gw/ipam.db"
ln -s ../ipam.db "$w/ln/ipam.db"
mkdir -m 0700 "$w/isdir/ipam.db"
head -c 8192 /dev/urandom >"$w/junk/ipam.db" && chmod 0600 "$w/junk/ipam.db"
sqlite3 "$w/foreign/ipam.db" 'create table users (name text, password text);
	insert into users values ("admin", "hunter2");' && chmod 0600 "$w/foreign/ipam.db"
cp "$db" "$w/newer/ipam.db" && sqlite3 "$w/newer/ipam.db" 'pragma user_version = 7;'
chmod 0600 "$w/newer/ipam.db"
chmod 0777 "$w/ww" # mkdir -m is subject to nothing, but be explicit: world-writable

# Everything that must not change: the SQL dump of the store, then names, modes, sizes and
# contents of every file under $w. The dump comes first: the plugin keeps the WAL between execs
# (store/sqlite/sqlite.c, "Checkpoints") and sqlite3, closing last, folds it into the file and
# removes -wal and -shm, so the files compared are the store's whole state at that moment.
snapshot() {
	sqlite3 "$db" .dump
	(cd "$w" && find . -printf '%p %M %s\n' | LC_ALL=C sort &&
		find . -type f -exec sha256sum {} + | LC_ALL=C sort)
}
snapshot >"$io/snap0"

# the first 110 characters of a message, on one line
oneline() { local s=${1//$'\n'/\\n}; echo "${s:0:110}"; }
bad() { # NAME WHY: lib.sh's failure, with the case's output
	t_fail "$1: $2"
	[ -s "$io/out" ] && head -c 600 "$io/out" | sed 's/^/    | /'
	[ -s "$io/err" ] && head -n 5 "$io/err" | sed 's/^/    ! /'
}

# The world as it was, or the case fails (and the world is reported).
unchanged() {
	snapshot >"$io/snap1"
	cmp -s "$io/snap0" "$io/snap1" && return 0
	bad "$1" "the store or its directory changed:"
	diff "$io/snap0" "$io/snap1" | head -n 10 | sed 's/^/    ~ /'
	cp "$io/snap1" "$io/snap0" # report the next case's changes, not these again
	return 1
}

# c NAME CODE TEXT CONFIG [VAR=VALUE | -VAR]...: the plugin with ENV changed (VAR=VALUE sets,
# -VAR removes) and CONFIG on stdin (@FILE: that file). It must exit 1 with error CODE, TEXT (a
# fixed string) in msg or details, nothing on stderr, and leave the world unchanged.
c() {
	local name=$1 code=$2 text=$3 conf=$4 a k got msg
	shift 4
	local -A e=()
	for a in "${ENV[@]}"; do e[${a%%=*}]=${a#*=}; done
	for a in "$@"; do
		if [[ $a == -* ]]; then unset "e[${a#-}]"; else e[${a%%=*}]=${a#*=}; fi
	done
	local args=()
	for k in "${!e[@]}"; do args+=("$k=${e[$k]}"); done
	tried=$((tried + 1))
	if [[ $conf == @* ]]; then
		(cd "$w/cwd" && env -i "${args[@]}" "$P" <"${conf#@}" >"$io/out" 2>"$io/err")
	else
		(cd "$w/cwd" && env -i "${args[@]}" "$P" <<<"$conf" >"$io/out" 2>"$io/err")
	fi
	local rc=$?
	got=$(jq -r '.code' "$io/out" 2>/dev/null)
	msg=$(jq -r '.msg + " | " + .details' "$io/out" 2>/dev/null)
	if [ "$rc" != 1 ] || [ "$got" != "$code" ]; then
		bad "$name" "exit $rc, code '$got', want exit 1, code $code"
	elif ! grep -qF -- "$text" <<<"$msg"; then
		bad "$name" "the message does not name '$text'"
	elif [ -s "$io/err" ]; then
		bad "$name" "the plugin wrote to stderr"
	else
		unchanged "$name" && ok "$name ($code: $(oneline "$msg"))"
		return
	fi
	unchanged "$name"
}

# mk JQ: the base configuration changed by a jq expression.
mk() { jq -c "$@" <<<"$base"; }

# --- the environment (4) -----------------------------------------------------------------------

c "no CNI_COMMAND" 4 "CNI_COMMAND is missing" "$base" -CNI_COMMAND
c "empty CNI_COMMAND" 4 "CNI_COMMAND is missing" "$base" CNI_COMMAND=
c "lower-case command" 4 "invalid CNI_COMMAND 'add'" "$base" CNI_COMMAND=add
c "command with a space" 4 "invalid CNI_COMMAND 'ADD '" "$base" "CNI_COMMAND=ADD "
c "non-UTF-8 command" 4 "invalid CNI_COMMAND 'A??'" "$base" CNI_COMMAND=$'A\xff\xfe'
for cmd in ADD DEL CHECK; do
	c "$cmd without CNI_CONTAINERID" 4 "CNI_CONTAINERID is missing for $cmd" "$base" \
		CNI_COMMAND=$cmd -CNI_CONTAINERID
	c "$cmd without CNI_IFNAME" 4 "CNI_IFNAME is missing for $cmd" "$base" CNI_COMMAND=$cmd \
		-CNI_IFNAME
done
c "ADD without CNI_NETNS" 4 "CNI_NETNS is missing for ADD" "$base" -CNI_NETNS
c "CHECK without CNI_NETNS" 4 "CNI_NETNS is missing for CHECK" "$base" CNI_COMMAND=CHECK -CNI_NETNS
c "GC without CNI_PATH" 4 "CNI_PATH is missing for GC" "$base" CNI_COMMAND=GC -CNI_PATH
c "empty container id" 4 "CNI_CONTAINERID is missing" "$base" CNI_CONTAINERID=
c "16-byte interface name" 4 "invalid CNI_IFNAME 'abcdefghijklmnop': longer than 15 bytes" "$base" \
	CNI_IFNAME=abcdefghijklmnop
c "interface name with /" 4 "invalid CNI_IFNAME 'a/b': must not contain '/'" "$base" CNI_IFNAME=a/b
c "interface name ../x" 4 "invalid CNI_IFNAME '../x': must not contain '/'" "$base" CNI_IFNAME=../x
c "interface name with :" 4 "invalid CNI_IFNAME 'eth0:1': must not contain ':'" "$base" \
	CNI_IFNAME=eth0:1
c "interface name with a space" 4 "invalid CNI_IFNAME 'eth 0'" "$base" "CNI_IFNAME=eth 0"
c "interface name with a tab" 4 "must be printable ASCII without whitespace" "$base" \
	CNI_IFNAME=$'eth\t0'
c "interface name with a newline" 4 "invalid CNI_IFNAME" "$base" CNI_IFNAME=$'eth0\nx'
c "interface name ." 4 "invalid CNI_IFNAME '.'" "$base" CNI_IFNAME=.
c "interface name .." 4 "invalid CNI_IFNAME '..'" "$base" CNI_IFNAME=..
c "non-UTF-8 interface name" 4 "invalid CNI_IFNAME 'eth?'" "$base" CNI_IFNAME=$'eth\xff'
c "interface name with \\" 4 "invalid CNI_IFNAME 'eth\\0': must not contain '\\'" "$base" 'CNI_IFNAME=eth\0'
c "interface name with \"" 4 "must not contain '\"'" "$base" 'CNI_IFNAME=a"b'
c "interface name with '" 4 "must not contain '''" "$base" "CNI_IFNAME=it's"
c "container id with /" 4 "invalid CNI_CONTAINERID 'a/b'" "$base" CNI_CONTAINERID=a/b
c "container id ../etc" 4 "invalid CNI_CONTAINERID '../etc'" "$base" CNI_CONTAINERID=../etc
c "container id .." 4 "invalid CNI_CONTAINERID '..'" "$base" CNI_CONTAINERID=..
c "container id x/../y" 4 "invalid CNI_CONTAINERID 'x/../y'" "$base" CNI_CONTAINERID=x/../y
c "container id %2f" 4 "invalid CNI_CONTAINERID 'a%2fb'" "$base" CNI_CONTAINERID=a%2fb
c "container id with \\" 4 'invalid CNI_CONTAINERID '"'a\\b'" "$base" 'CNI_CONTAINERID=a\b'
c "container id with a space" 4 "invalid CNI_CONTAINERID 'a b'" "$base" "CNI_CONTAINERID=a b"
c "container id with a newline" 4 "invalid CNI_CONTAINERID" "$base" CNI_CONTAINERID=$'a\nb'
c "container id starting with -" 4 "invalid CNI_CONTAINERID '-rf'" "$base" CNI_CONTAINERID=-rf
c "non-UTF-8 container id" 4 "invalid CNI_CONTAINERID 'ab?(cd'" "$base" \
	CNI_CONTAINERID=$'ab\xc3\x28cd'
c "300-character container id" 4 "longer than 240 bytes" "$base" \
	CNI_CONTAINERID="$(printf 'a%.0s' {1..300})"
c "241-character container id" 4 "longer than 240 bytes" "$base" \
	CNI_CONTAINERID="$(printf 'b%.0s' {1..241})"
c "CNI_NETNS with a control character" 4 "invalid CNI_NETNS" "$base" \
	CNI_NETNS=$'/var/run/netns/x\x01'
c "5000-byte CNI_NETNS" 4 "invalid CNI_NETNS" "$base" CNI_NETNS="/$(printf 'n%.0s' {1..5000})"
pairs=$(for i in $(seq 10000); do printf 'K%d=v;' "$i"; done)
c "CNI_ARGS with 10,000 pairs" 4 "invalid CNI_ARGS: longer than 4095 bytes" "$base" \
	CNI_ARGS="IgnoreUnknown=1;${pairs%;}"
pairs=$(for i in $(seq 100); do printf 'K%d=v;' "$i"; done)
c "CNI_ARGS with 100 pairs" 4 "more than 64 pairs" "$base" CNI_ARGS="IgnoreUnknown=1;${pairs%;}"
c "CNI_ARGS IP=garbage" 4 "invalid CNI_ARGS IP: 'garbage' is not an IP address" "$base" \
	CNI_ARGS=IP=garbage
c "CNI_ARGS IP=10.0.0.256" 4 "'10.0.0.256' is not an IP address" "$base" CNI_ARGS=IP=10.0.0.256
c "CNI_ARGS IP with /99" 4 "'10.90.0.9/99' is not an IP address" "$base" CNI_ARGS=IP=10.90.0.9/99
c "CNI_ARGS IP=" 4 "invalid CNI_ARGS IP='': empty address" "$base" CNI_ARGS=IP=
c "CNI_ARGS IP twice" 4 "'10.90.0.9' given twice" "$base" CNI_ARGS=IP=10.90.0.9,10.90.0.9
c "CNI_ARGS IP=,,," 4 "invalid CNI_ARGS IP=',,,': no address" "$base" CNI_ARGS=IP=,,,
c "CNI_ARGS 9 addresses" 4 "more than 8 addresses" "$base" \
	CNI_ARGS=IP=$(seq -s, -f '10.90.1.%g' 1 9)
c "CNI_ARGS unknown key" 4 "unknown key 'FOO'" "$base" CNI_ARGS=FOO=bar
c "CNI_ARGS IgnoreUnknown=maybe" 4 "IgnoreUnknown='maybe'" "$base" CNI_ARGS=IgnoreUnknown=maybe
c "CNI_ARGS without =" 4 "invalid CNI_ARGS pair 'novalue'" "$base" CNI_ARGS=novalue
c "CNI_ARGS =x" 4 "invalid CNI_ARGS pair '=x'" "$base" CNI_ARGS==x
c "CNI_ARGS a=b=c" 4 "invalid CNI_ARGS pair 'a=b=c'" "$base" CNI_ARGS=a=b=c
c "CNI_ARGS key twice" 4 "key K8S_POD_NAME given twice" "$base" \
	"CNI_ARGS=K8S_POD_NAME=a;K8S_POD_NAME=b"
c "CNI_ARGS namespace ../kube-system" 4 "K8S_POD_NAMESPACE='../kube-system'" "$base" \
	CNI_ARGS=K8S_POD_NAMESPACE=../kube-system
c "CNI_ARGS non-UTF-8 pod" 4 "K8S_POD_NAME='p?'" "$base" CNI_ARGS=K8S_POD_NAME=$'p\xff'
c "BLOCKIPAM_NODE ../x" 4 "invalid BLOCKIPAM_NODE '../x'" "$(mk 'del(.ipam.node)')" \
	BLOCKIPAM_NODE=../x
c "BLOCKIPAM_STORE relative" 4 "invalid BLOCKIPAM_STORE: store address 'ipam.db'" \
	"$(mk 'del(.ipam.store)')" BLOCKIPAM_STORE=ipam.db
c "BLOCKIPAM_STORE ftp://" 4 "unknown scheme" "$(mk 'del(.ipam.store)')" BLOCKIPAM_STORE=ftp://x/y

# --- the configuration: not JSON (6), versions (1) ---------------------------------------------

c "empty stdin" 6 "no network configuration on stdin" @/dev/null
c "not JSON" 6 "not valid JSON" "hello"
c "a JSON list" 6 "not a JSON object but an array" "[]"
c "a JSON string" 6 "not a JSON object but a string" '"x"'
head -c 100000 /dev/zero | tr '\0' '[' >"$io/deep.json"
c "100,000 [" 6 "not valid JSON" "@$io/deep.json"
for i in $(seq 20000); do printf '{"a":'; done >"$io/deepobj.json"
c "20,000 nested objects" 6 "not valid JSON" "@$io/deepobj.json"
{
	printf '{"cniVersion":"1.0.0","name":"net","type":"bridge","ipam":{"type":"blockipam","store":"%s","node":"node-a"},"pad":"' "$S"
	head -c $((10 << 20)) /dev/zero | tr '\0' 'x'
	printf '"}'
} >"$io/10mb.json"
c "a 10 MB config" 7 "larger than 1 MiB" "@$io/10mb.json"
printf '{"cniVersion":"1.0.0","name":"n\xffet","type":"bridge","ipam":{"type":"blockipam","store":"%s"}}' "$S" >"$io/utf8.json"
c "non-UTF-8 in name" 6 "not valid JSON" "@$io/utf8.json"
printf '{"cniVersion":"1.0.0","name":"net","type":"bridge","ipam":{"type":"blockipam","store":"%s\xc0\xaf"}}' "$S" >"$io/utf8b.json"
c "overlong UTF-8 / in ipam.store" 6 "not valid JSON" "@$io/utf8b.json"
c "\\u0000 in name" 6 "not valid JSON" '{"cniVersion":"1.0.0","name":"n\u0000et","ipam":{"type":"x"}}'
printf '{"cniVersion":"1.0.0","name":"net\0","ipam":{"type":"x"}}' >"$io/nul.json"
c "a NUL byte" 6 "not valid JSON" "@$io/nul.json"
c "duplicate key name" 6 "duplicate object key" \
	'{"cniVersion":"1.0.0","name":"a","name":"b","ipam":{"type":"x"}}'
c "duplicate key in ipam" 6 "duplicate object key" \
	"{\"cniVersion\":\"1.0.0\",\"name\":\"a\",\"ipam\":{\"type\":\"x\",\"store\":\"$S\",\"store\":\"sqlite:///etc/x.db\"}}"
c "trailing garbage" 6 "not valid JSON" "$base x"
c "huge integer" 6 "too big integer" \
	"{\"cniVersion\":\"1.0.0\",\"name\":\"a\",\"n\":99999999999999999999999,\"ipam\":{\"type\":\"x\"}}"
c "huge real in ipam" 6 "real number overflow near '1e999999'" \
	"{\"cniVersion\":\"1.0.0\",\"name\":\"a\",\"ipam\":{\"type\":\"x\",\"timeout_ms\":1e999999}}"
c "no cniVersion" 1 "incompatible CNI versions" "$(mk 'del(.cniVersion)')"
c "unknown cniVersion" 1 "config is \"9.9.9\"" "$(mk '.cniVersion = "9.9.9"')"
c "cniVersion 0.2.0" 1 "config is \"0.2.0\"" "$(mk '.cniVersion = "0.2.0"')"
c "cniVersion an integer" 7 "invalid cniVersion: want a string, got an integer 1" \
	"$(mk '.cniVersion = 1')"
c "CHECK with 0.3.1" 1 "CHECK needs cniVersion 0.4.0" \
	"$(mk '.cniVersion = "0.3.1" | .prevResult = {"ips": [{"address": "10.90.0.5/26"}]}')" \
	CNI_COMMAND=CHECK
c "GC with 1.0.0" 1 "GC needs cniVersion 1.1.0" \
	"$(mk '.["cni.dev/valid-attachments"] = []')" CNI_COMMAND=GC
c "STATUS with 0.4.0" 1 "STATUS needs cniVersion 1.1.0" "$(mk '.cniVersion = "0.4.0"')" \
	CNI_COMMAND=STATUS

# --- the configuration: wrong types and values (7) ---------------------------------------------

c "no name" 7 "missing name" "$(mk 'del(.name)')"
c "name an integer" 7 "invalid name: want a string, got an integer 5" "$(mk '.name = 5')"
c "name ../x" 7 "invalid name '../x'" "$(mk '.name = "../x"')"
c "name a/b" 7 "invalid name 'a/b'" "$(mk '.name = "a/b"')"
c "name empty" 7 "invalid name ''" "$(mk '.name = ""')"
c "300-character name" 7 "at most 253 bytes" "$(mk '.name = ("n" * 300)')"
c "no ipam" 7 "missing ipam section" "$(mk 'del(.ipam)')"
c "ipam a string" 7 "invalid ipam: want an object, got a string \"x\"" "$(mk '.ipam = "x"')"
c "no ipam.type" 7 "missing ipam.type" "$(mk 'del(.ipam.type)')"
# every ipam field with values of the wrong type: the message names the field and the value
for f in type store store_prefix store_ca_file store_cert_file store_key_file node dataDir \
	resolvConf prefix_length; do
	c "ipam.$f an integer" 7 "invalid ipam.$f: want a string, got an integer 12345" \
		"$(mk ".ipam.$f = 12345")"
	c "ipam.$f a list" 7 "invalid ipam.$f: want a string, got an array [\"x\"]" \
		"$(mk ".ipam.$f = [\"x\"]")"
done
for f in assign_ipv4 assign_ipv6; do
	c "ipam.$f 1" 7 "invalid ipam.$f: want true, false, \"true\" or \"false\", got an integer 1" \
		"$(mk ".ipam.$f = 1")"
	c "ipam.$f \"yes\"" 7 "invalid ipam.$f: want true, false, \"true\" or \"false\", got a string \"yes\"" \
		"$(mk ".ipam.$f = \"yes\"")"
	c "ipam.$f null" 7 "invalid ipam.$f" "$(mk ".ipam.$f = null")"
done
c "ipam.timeout_ms a string" 7 'invalid ipam.timeout_ms: want an integer 1-600000, got a string "100"' \
	"$(mk '.ipam.timeout_ms = "100"')"
c "ipam.timeout_ms negative" 7 "got an integer -1" "$(mk '.ipam.timeout_ms = -1')"
c "ipam.timeout_ms 0" 7 "got an integer 0" "$(mk '.ipam.timeout_ms = 0')"
c "ipam.timeout_ms huge" 7 "got an integer 9223372036854775807" \
	"$(mk '.ipam.timeout_ms = 0' | sed 's/"timeout_ms":0/"timeout_ms":9223372036854775807/')"
c "ipam.timeout_ms a float" 7 "got a number 1.5" "$(mk '.ipam.timeout_ms = 1.5')"
c "ipam.pools a string" 7 "invalid ipam.pools: want an object" "$(mk '.ipam.pools = "p4"')"
c "ipam.pools.ipv4 a string" 7 "invalid ipam.pools.ipv4: want a list of strings, got a string \"p4\"" \
	"$(mk '.ipam.pools = {"ipv4": "p4"}')"
c "ipam.pools.ipv4 [1]" 7 "invalid ipam.pools.ipv4[0]: want a string, got an integer 1" \
	"$(mk '.ipam.pools = {"ipv4": [1]}')"
c "ipam.ipv4_pools {}" 7 "invalid ipam.ipv4_pools: want a list of strings, got an object {}" \
	"$(mk '.ipam.ipv4_pools = {}')"
c "ipam.ipv6_pools [null]" 7 "invalid ipam.ipv6_pools[0]: want a string, got null" \
	"$(mk '.ipam.ipv6_pools = [null]')"
c "pool 10.0.0.0/99" 7 "invalid CIDR '10.0.0.0/99'" "$(mk '.ipam.ipv4_pools = ["10.0.0.0/99"]')"
c "pool 10.0.0.0/-1" 7 "invalid CIDR '10.0.0.0/-1'" "$(mk '.ipam.ipv4_pools = ["10.0.0.0/-1"]')"
c "pool 10.0.0.0/+8" 7 "invalid CIDR '10.0.0.0/+8'" "$(mk '.ipam.ipv4_pools = ["10.0.0.0/+8"]')"
c "pool 10.0.0.0/08" 7 "invalid CIDR '10.0.0.0/08'" "$(mk '.ipam.ipv4_pools = ["10.0.0.0/08"]')"
c "pool 999.0.0.0/8" 7 "invalid CIDR '999.0.0.0/8'" "$(mk '.ipam.ipv4_pools = ["999.0.0.0/8"]')"
c "pool with host bits" 7 "CIDR '10.0.0.1/8' has host bits set" \
	"$(mk '.ipam.ipv4_pools = ["10.0.0.1/8"]')"
c "IPv6 pool as IPv4" 7 "'fd00::/64' is not an IPv4 CIDR" "$(mk '.ipam.ipv4_pools = ["fd00::/64"]')"
c "pool name ../p" 7 "invalid ipam.ipv4_pools[0]: invalid CIDR '../p'" \
	"$(mk '.ipam.ipv4_pools = ["../p"]')"
c "both pool spellings" 7 "ipam.pools.ipv4 and ipam.ipv4_pools both given" \
	"$(mk '.ipam.pools = {"ipv4": ["p4"]} | .ipam.ipv4_pools = ["p4"]')"
c "nothing to assign" 7 "both false" "$(mk '.ipam.assign_ipv4 = false')"
c "prefix_length big" 7 "invalid ipam.prefix_length 'big'" "$(mk '.ipam.prefix_length = "big"')"
# the main plugin's model (docs/cni.md "Which network plugin")
c "bridge, prefix_length pool" 7 "invalid ipam.prefix_length 'pool' with type bridge" \
	"$(mk '.ipam.prefix_length = "pool"')"
c "bridge with a gateway" 7 "invalid ipam.gateway with type bridge" \
	"$(mk '.ipam.gateway = "10.0.0.1"')"
c "ptp, prefix_length host" 7 "invalid ipam.prefix_length 'host' with type ptp" \
	"$(mk '.type = "ptp" | .ipam.prefix_length = "host"')"
c "type not a string" 7 "invalid type: want the main plugin's name, got an integer 5" \
	"$(mk '.type = 5')"
c "store_prefix without /" 7 "invalid ipam.store_prefix 'x'" "$(mk '.ipam.store_prefix = "x"')"
c "relative store_ca_file" 7 "invalid ipam.store_ca_file 'ca.pem': must be an absolute path" \
	"$(mk '.ipam.store_ca_file = "ca.pem"')"
c "relative store_key_file" 7 "invalid ipam.store_key_file 'key.pem'" \
	"$(mk '.ipam.store_key_file = "key.pem"')"
c "ipam.node ../n" 7 "invalid ipam.node '../n'" "$(mk '.ipam.node = "../n"')"
c "ipam.node non-ASCII" 7 "invalid ipam.node 'n??de'" "$(mk '.ipam.node = "nöde"')"
c "ipam.store empty" 7 "invalid ipam.store: empty string" "$(mk '.ipam.store = ""')"
c "ipam.store relative" 7 "store address 'ipam.db'" "$(mk '.ipam.store = "ipam.db"')"
c "ipam.store sqlite:// relative" 7 "store address 'sqlite://ipam.db'" \
	"$(mk '.ipam.store = "sqlite://ipam.db"')"
c "ipam.store ends in /" 7 "store address 'sqlite:///tmp/'" "$(mk '.ipam.store = "sqlite:///tmp/"')"
c "ipam.store with a newline" 7 "control character in path" \
	"$(mk '.ipam.store = "sqlite:///tmp/a\nb.db"')"
c "ipam.store unknown scheme" 7 "store address 'mysql://db': unknown scheme" \
	"$(mk '.ipam.store = "mysql://db"')"
c "etcd with an empty port" 7 "endpoint 'etcd-1:' is not host[:port]" "$(mk '.ipam.store = "etcd://etcd-1:"')"
c "etcd port 99999" 7 "endpoint 'h:99999'" "$(mk '.ipam.store = "etcd://h:99999"')"
c "etcd port -1" 7 "endpoint 'h:-1'" "$(mk '.ipam.store = "etcd://h:-1"')"
c "etcd empty endpoint" 7 "etcd://h:1,,h:2" "$(mk '.ipam.store = "etcd://h:1,,h:2"')"
c "etcd host with /" 7 "endpoint 'a/b:1'" "$(mk '.ipam.store = "etcd://a/b:1"')"
c "gateway 10.0.0.256" 7 "invalid ipam.gateway: '10.0.0.256' is not an IP address" \
	"$(mk '.ipam.gateway = "10.0.0.256"')"
c "gateway an integer" 7 "invalid ipam.gateway: want an IP address or a list" \
	"$(mk '.ipam.gateway = 7')"
c "two IPv4 gateways" 7 "a second IPv4 gateway '10.0.0.2'" \
	"$(mk '.ipam.gateway = ["10.0.0.1", "10.0.0.2"]')"
c "gateway []" 7 "invalid ipam.gateway" "$(mk '.ipam.gateway = []')"
c "routes an object" 7 "invalid ipam.routes: want a list of routes, got an object" \
	"$(mk '.ipam.routes = {}')"
c "route without dst" 7 "missing ipam.routes[0].dst" "$(mk '.ipam.routes = [{}]')"
c "route dst /99" 7 "invalid ipam.routes[0].dst: '10.0.0.0/99' is not a CIDR" \
	"$(mk '.ipam.routes = [{"dst": "10.0.0.0/99"}]')"
c "route dst host bits" 7 "invalid ipam.routes[1].dst: '10.0.0.1/8' has host bits set" \
	"$(mk '.ipam.routes = [{"dst": "0.0.0.0/0"}, {"dst": "10.0.0.1/8"}]')"
c "route gw of the other family" 7 "'fd00::1' is not of the family of dst '0.0.0.0/0'" \
	"$(mk '.ipam.routes = [{"dst": "0.0.0.0/0", "gw": "fd00::1"}]')"
c "route mtu -1" 7 "invalid ipam.routes[0].mtu: want an integer 0-65535, got an integer -1" \
	"$(mk '.ipam.routes = [{"dst": "0.0.0.0/0", "mtu": -1}]')"
c "route mtu 70000" 7 "got an integer 70000" "$(mk '.ipam.routes = [{"dst": "0.0.0.0/0", "mtu": 70000}]')"
c "route priority 2^40" 7 "got an integer 1099511627776" \
	"$(mk '.ipam.routes = [{"dst": "0.0.0.0/0", "priority": 1099511627776}]')"
c "route scope a string" 7 'invalid ipam.routes[0].scope: want an integer 0-255, got a string "link"' \
	"$(mk '.ipam.routes = [{"dst": "0.0.0.0/0", "scope": "link"}]')"
c "dns a string" 7 "invalid ipam.dns: want an object, got a string \"8.8.8.8\"" \
	"$(mk '.ipam.dns = "8.8.8.8"')"
c "dns nameserver garbage" 7 "invalid ipam.dns.nameservers[0]: 'ns1' is not an IP address" \
	"$(mk '.ipam.dns = {"nameservers": ["ns1"]}')"
c "dns search a string" 7 "invalid ipam.dns.search: want a list of strings" \
	"$(mk '.ipam.dns = {"search": "a.b"}')"
c "dns and resolvConf" 7 "ipam.dns and ipam.resolvConf both given" \
	"$(mk '.ipam.dns = {} | .ipam.resolvConf = "/etc/resolv.conf"')"
c "resolvConf missing" 7 "cannot open '$w/nonexistent'" "$(mk ".ipam.resolvConf = \"$w/nonexistent\"")"
c "resolvConf a directory" 7 "invalid ipam.resolvConf" "$(mk ".ipam.resolvConf = \"$w\"")"
c "resolvConf binary" 7 "invalid ipam.resolvConf '$w/junk/ipam.db': not text" \
	"$(mk ".ipam.resolvConf = \"$w/junk/ipam.db\"")"

# host-local ranges
r() { mk ".ipam.ranges = $1"; }
c "ranges a string" 7 'invalid ipam.ranges: want a non-empty list of range sets, got a string "x"' "$(r '"x"')"
c "ranges []" 7 "invalid ipam.ranges" "$(r '[]')"
c "ranges [[]]" 7 "invalid ipam.ranges[0]: want a non-empty list of ranges, got an array []" "$(r '[[]]')"
c "range not an object" 7 "invalid ipam.ranges[0][0]: want an object, got an integer 5" "$(r '[[5]]')"
c "range without subnet" 7 "missing ipam.ranges[0][0].subnet" "$(r '[[{}]]')"
c "subnet 10.0.0.0/99" 7 "invalid ipam.ranges[0][0].subnet: '10.0.0.0/99' is not a CIDR" \
	"$(r '[[{"subnet": "10.0.0.0/99"}]]')"
c "subnet -10.0.0.0/8" 7 "'-10.0.0.0/8' is not a CIDR" "$(r '[[{"subnet": "-10.0.0.0/8"}]]')"
c "subnet too small" 7 "'10.0.0.0/31' is too small" "$(r '[[{"subnet": "10.0.0.0/31"}]]')"
c "subnet with host bits" 7 "'10.0.0.5/24' has host bits set" "$(r '[[{"subnet": "10.0.0.5/24"}]]')"
c "subnet an integer" 7 "invalid ipam.ranges[0][0].subnet: want a CIDR, got an integer 10" \
	"$(r '[[{"subnet": 10}]]')"
c "rangeStart after rangeEnd" 7 "rangeStart '10.0.0.200' is after rangeEnd '10.0.0.100'" \
	"$(r '[[{"subnet": "10.0.0.0/24", "rangeStart": "10.0.0.200", "rangeEnd": "10.0.0.100"}]]')"
c "rangeStart outside" 7 "invalid ipam.ranges[0][0].rangeStart: '10.1.0.1' is not in '10.0.0.0/24'" \
	"$(r '[[{"subnet": "10.0.0.0/24", "rangeStart": "10.1.0.1"}]]')"
c "rangeEnd garbage" 7 "invalid ipam.ranges[0][0].rangeEnd: '10.0.0.x' is not an IP address" \
	"$(r '[[{"subnet": "10.0.0.0/24", "rangeEnd": "10.0.0.x"}]]')"
c "rangeStart an integer" 7 "invalid ipam.ranges[0][0].rangeStart: want an IP address, got an integer 167772161" \
	"$(r '[[{"subnet": "10.0.0.0/24", "rangeStart": 167772161}]]')"
c "overlapping ranges" 7 "overlaps another range" \
	"$(r '[[{"subnet": "10.0.0.0/24"}], [{"subnet": "10.0.0.0/25"}]]')"
c "set mixing families" 7 "range set 0 mixes IPv4 and IPv6" \
	"$(r '[[{"subnet": "10.0.0.0/24"}, {"subnet": "fd00::/120"}]]')"
c "gateway of the other family" 7 "invalid ipam.ranges[0][0].gateway: 'fd00::1'" \
	"$(r '[[{"subnet": "10.0.0.0/24", "gateway": "fd00::1"}]]')"
c "rangeEnd without subnet" 7 "ipam.rangeEnd needs ipam.subnet" "$(mk '.ipam.rangeEnd = "10.0.0.9"')"
c "ranges and assign_ipv4" 7 "ipam.assign_ipv4 cannot be combined with host-local ranges" \
	"$(mk '.ipam.subnet = "10.0.0.0/24" | .ipam.assign_ipv4 = true')"
c "ranges and pools" 7 "cannot be combined with host-local ranges" \
	"$(mk '.ipam.subnet = "10.0.0.0/24" | .ipam.ipv4_pools = ["p4"]')"
c "usePodCidr with rangeStart" 7 "rangeStart: not supported with \"subnet\": \"usePodCidr\"" \
	"$(mk '.ipam.subnet = "usePodCidr" | .ipam.rangeStart = "10.91.0.5"')"
c "usePodCidr and ranges" 7 "usePodCidr cannot be combined with explicit ranges" \
	"$(mk '.ipam.subnet = "usePodCidr" | .ipam.ranges = [[{"subnet": "10.0.0.0/24"}]]')"

# per-request inputs
c "runtimeConfig a list" 7 "invalid runtimeConfig: want an object, got an array []" \
	"$(mk '.runtimeConfig = []')"
c "runtimeConfig.ips garbage" 7 "invalid runtimeConfig.ips[0]: 'garbage' is not an IP address" \
	"$(mk '.runtimeConfig = {"ips": ["garbage"]}')"
c "runtimeConfig.ips [5]" 7 "invalid runtimeConfig.ips[0]: want a string, got an integer 5" \
	"$(mk '.runtimeConfig = {"ips": [5]}')"
c "runtimeConfig.ips twice" 7 "'10.90.0.9/16' given twice" \
	"$(mk '.runtimeConfig = {"ips": ["10.90.0.9", "10.90.0.9/16"]}')"
c "17 addresses" 7 "more than 16 addresses" \
	"$(mk '.runtimeConfig = {"ips": [range(17) | "10.90.2.\(.)"]}')"
c "args a string" 7 'invalid args: want an object, got a string "x"' "$(mk '.args = "x"')"
c "args.cni.ips garbage" 7 "invalid args.cni.ips[0]: '1.2.3' is not an IP address" \
	"$(mk '.args = {"cni": {"ips": ["1.2.3"]}}')"
a() { mk ".runtimeConfig = {\"io.kubernetes.cri.pod-annotations\": $1}"; }
c "annotations a list" 7 "pod-annotations: want an object, got an array []" "$(a '[]')"
c "annotation not a string" 7 "invalid pod annotation blockipam.io/ipv4pools: want a string, got an integer 5" \
	"$(a '{"blockipam.io/ipv4pools": 5}')"
c "annotation not JSON" 7 "invalid pod annotation cni.projectcalico.org/ipv4pools '[p4': want a JSON list" \
	"$(a '{"cni.projectcalico.org/ipv4pools": "[p4"}')"
c "annotation [1]" 7 "item 0 is not a string" "$(a '{"blockipam.io/ipv4pools": "[1]"}')"
c "annotation bad CIDR" 7 "invalid CIDR '10.0.0.0/99'" \
	"$(a '{"blockipam.io/ipv4pools": "[\"10.0.0.0/99\"]"}')"
c "annotation ipAddrs garbage" 7 "'x' is not an IP address" \
	"$(a '{"cni.projectcalico.org/ipAddrs": "[\"x\"]"}')"
c "CHECK without prevResult" 7 "missing prevResult" "$base" CNI_COMMAND=CHECK
c "CHECK prevResult a string" 7 'invalid prevResult: want an object, got a string "x"' \
	"$(mk '.prevResult = "x"')" CNI_COMMAND=CHECK
c "CHECK prevResult address garbage" 7 "invalid prevResult.ips[0].address '10.0.0.1/99'" \
	"$(mk '.prevResult = {"ips": [{"address": "10.0.0.1/99"}]}')" CNI_COMMAND=CHECK
g() { mk '.cniVersion = "1.1.0"' | jq -c "$1"; }
c "GC without valid-attachments" 7 "missing cni.dev/valid-attachments" "$(g .)" CNI_COMMAND=GC
c "GC valid-attachments a string" 7 'invalid cni.dev/valid-attachments: want a list, got a string "all"' \
	"$(g '.["cni.dev/valid-attachments"] = "all"')" CNI_COMMAND=GC
c "GC attachment without ifname" 7 'invalid cni.dev/valid-attachments[0]: want {"containerID": "...", "ifname": "..."}, got an object {"containerID":"c"}' \
	"$(g '.["cni.dev/valid-attachments"] = [{"containerID": "c"}]')" CNI_COMMAND=GC
c "GC attachment id an integer" 7 '"containerID":5' \
	"$(g '.["cni.dev/attachments"] = [{"containerID": 5, "ifname": "eth0"}]')" CNI_COMMAND=GC

# --- stores that must be refused, untouched (no file created) -----------------------------------

st() { mk ".ipam.store = \"sqlite://$w/$1\""; }
for cmd in ADD DEL; do
	c "$cmd: store in a missing directory" "$([ $cmd = DEL ] && echo 11 || echo 5)" \
		"store directory '$w/missing': No such file or directory" "$(st missing/ipam.db)" \
		CNI_COMMAND=$cmd
	c "$cmd: world-writable store directory" 109 "store directory '$w/ww' is world-writable (mode 0777)" \
		"$(st ww/ipam.db)" CNI_COMMAND=$cmd
	c "$cmd: group-writable store file" 109 "store '$w/gw/ipam.db' is group- or world-writable (mode 0660)" \
		"$(st gw/ipam.db)" CNI_COMMAND=$cmd
	c "$cmd: store file a symbolic link" 109 "store '$w/ln/ipam.db' is a symbolic link" \
		"$(st ln/ipam.db)" CNI_COMMAND=$cmd
	c "$cmd: store file a directory" 7 "$w/isdir/ipam.db" "$(st isdir/ipam.db)" CNI_COMMAND=$cmd
	c "$cmd: store file random bytes" 107 "store '$w/junk/ipam.db' is not a SQLite database" \
		"$(st junk/ipam.db)" CNI_COMMAND=$cmd
	c "$cmd: another program's SQLite file" 107 "store '$w/foreign/ipam.db' is a SQLite database but not a blockipam store" \
		"$(st foreign/ipam.db)" CNI_COMMAND=$cmd
	c "$cmd: a newer schema" 108 "schema version 7, newer" "$(st newer/ipam.db)" CNI_COMMAND=$cmd
done
c "CHECK: no store file" 5 "store '$w/nofile/ipam.db' does not exist" \
	"$(st nofile/ipam.db | jq -c '.prevResult = {"ips": [{"address": "10.90.0.5/26"}]}')" \
	CNI_COMMAND=CHECK
c "STATUS: world-writable store directory" 50 "world-writable" \
	"$(st ww/ipam.db | jq -c '.cniVersion = "1.1.0"')" CNI_COMMAND=STATUS
c "GC: store file random bytes" 107 "not a SQLite database" \
	"$(st junk/ipam.db | jq -c '.cniVersion = "1.1.0" | .["cni.dev/valid-attachments"] = []')" \
	CNI_COMMAND=GC

# --- requests the store refuses, unchanged -------------------------------------------------------

c "an address another holds" 101 "$held" "$(mk ".runtimeConfig = {\"ips\": [\"$held\"]}")" \
	CNI_CONTAINERID=thief
c "a reserved address" 102 "10.90.0.1" "$(mk '.runtimeConfig = {"ips": ["10.90.0.1"]}')" \
	CNI_CONTAINERID=r
c "an address in no pool" 103 "192.0.2.1" "$(mk '.runtimeConfig = {"ips": ["192.0.2.1"]}')" \
	CNI_CONTAINERID=r
c "a pool that does not exist" 103 "nope" "$(mk '.ipam.ipv4_pools = ["nope"]')" CNI_CONTAINERID=r
c "another attachment's handle" 106 "handle 'net.x.y.eth0' belongs to container 'x.y'" \
	"$(mk '.name = "net.x"')" CNI_CONTAINERID=y
c "CHECK of an address not held" 110 "10.90.9.9" \
	"$(mk '.prevResult = {"ips": [{"address": "10.90.9.9/26"}]}')" CNI_COMMAND=CHECK

echo "# $tried hostile CNI invocations"
cni_tried=$tried

# --- hostile manifests for blockipamctl apply -f ---------------------------------------------------

# m NAME RC TEXT FILE [ARGS...]: blockipamctl --store S apply -f FILE (or ARGS) exits RC with TEXT
# on stderr, prints nothing on stdout, and leaves the world unchanged.
m() {
	local name=$1 want=$2 text=$3 file=$4 rc
	shift 4
	local args=(apply -f "$file")
	[ $# -gt 0 ] && args=("$@")
	tried=$((tried + 1))
	(cd "$w/cwd" && "$B" --store "$S" "${args[@]}" >"$io/out" 2>"$io/err")
	rc=$?
	if [ "$rc" != "$want" ]; then
		bad "$name" "exit $rc, want $want"
	elif ! grep -qF -- "$text" "$io/err"; then
		bad "$name" "stderr does not name '$text'"
	elif [ -s "$io/out" ]; then
		bad "$name" "something on stdout"
	else
		unchanged "$name" && ok "$name ($rc: $(oneline "$(cat "$io/err")"))"
		return
	fi
	unchanged "$name"
}
y=$io/m.yaml
pool() { printf 'apiVersion: blockipam.io/v1\nkind: Pool\nmetadata: {name: %s}\nspec: {cidr: %s%s}\n' "$@"; }

printf 'apiVersion: blockipam.io/v1\nkind: Pool\nmetadata: {name: a\nspec: {}\n' >"$y"
m "malformed YAML" 1 "m.yaml: line 4, column 5: did not find expected ',' or '}'" "$y"
printf 'apiVersion: blockipam.io/v1\nkind: Pool\n  metadata: x\n' >"$y"
m "bad indentation" 1 "m.yaml: line 3, column" "$y"
printf 'a: "unterminated\n' >"$y"
m "unterminated string" 1 "m.yaml: line" "$y"
printf 'a: [1, 2\n' >"$y"
m "unterminated list" 1 "m.yaml: line" "$y"
printf '{"apiVersion": "blockipam.io/v1", "kind": "Pool",, }\n' >"$y"
m "malformed JSON" 1 "m.yaml: line 1, column" "$y"
prev=a
{
	echo 'a: &a [x, x, x, x, x, x, x, x, x, x]'
	for i in b c d e f g h i j; do
		echo "$i: &$i [*$prev, *$prev, *$prev, *$prev, *$prev, *$prev, *$prev, *$prev, *$prev, *$prev]"
		prev=$i
	done
} >"$io/laughs.yaml"
m "billion laughs" 1 "aliases counted in full" "$io/laughs.yaml"
printf 'a: &a [*a]\n' >"$y"
m "an alias of itself" 1 "unknown alias '*a'" "$y"
printf 'a: *nope\n' >"$y"
m "an unknown alias" 1 "unknown alias '*nope'" "$y"
printf 'x: &k a\n*k : 1\n' >"$y"
m "an alias as a key" 1 "an alias cannot be a mapping key" "$y"
{ printf 'a: '; head -c 1000 /dev/zero | tr '\0' '['; head -c 1000 /dev/zero | tr '\0' ']'; echo; } >"$y"
m "1,000-deep flow nesting" 1 "nested more than 64 levels deep" "$y"
for i in $(seq 0 999); do printf "%*sk:\n" $((i * 2)) ""; done >"$y"
m "1,000-deep block nesting" 1 "nested more than 64 levels deep" "$y"
head -c 100000 /dev/zero | tr '\0' '[' >"$y"
m "100,000 [" 1 "m.yaml: line 1" "$y"
printf 'apiVersion: blockipam.io/v1\nkind: Gadget\nmetadata: {name: g}\n' >"$y"
m "unknown kind" 1 "document 1: unknown kind 'Gadget'" "$y"
printf 'apiVersion: v1\nkind: Pod\nmetadata: {name: x}\n' >"$y"
m "unknown apiVersion" 1 "unsupported apiVersion 'v1'" "$y"
printf 'apiVersion: blockipam.io/v1\nmetadata: {name: x}\n' >"$y"
m "no kind" 1 "document 1" "$y"
printf -- '- 1\n- 2\n' >"$y"
m "a list of integers" 1 "document 1" "$y"
printf 'just a string\n' >"$y"
m "a scalar document" 1 "document 1" "$y"
{ pool wide 10.60.0.0/16 ""; echo ---; pool narrow 10.60.4.0/24 ""; } >"$y"
m "overlapping pools in one manifest" 1 "cidr 10.60.4.0/24 overlaps document 1 (Pool wide)" "$y"
pool inside 10.90.128.0/24 "" >"$y"
m "a pool overlapping a stored one" 1 "overlaps the stored pool 'p4'" "$y"
pool p4 10.92.0.0/16 "" >"$y"
m "a stored pool's CIDR changed" 1 "cannot change in place" "$y"
pool p4 10.90.0.0/16 ", blockSize: 28" >"$y"
m "a stored pool's block size changed" 1 "block size of a pool cannot change in place" "$y"
pool bad 10.0.0.0/99 "" >"$y"
m "CIDR /99" 1 "spec.cidr: invalid CIDR '10.0.0.0/99'" "$y"
pool bad 10.0.0.1/8 "" >"$y"
m "CIDR with host bits" 1 "CIDR '10.0.0.1/8' has host bits set" "$y"
pool bad 10.80.0.0/16 ", blockSize: -1" >"$y"
m "blockSize -1" 1 "spec.blockSize: want an integer from 0 to 128" "$y"
pool bad 10.80.0.0/16 ", blockSize: 99999999999999999999999" >"$y"
m "blockSize huge" 1 "99999999999999999999999" "$y"
pool bad 10.80.0.0/16 ", blockSize: eight" >"$y"
m "blockSize a string" 1 "got string 'eight'" "$y"
pool bad 10.80.0.0/16 ", blockSize: 8" >"$y"
m "blockSize shorter than the pool" 1 "bad" "$y"
pool bad 10.80.0.0/16 ", disabled: maybe" >"$y"
m "disabled maybe" 1 "spec.disabled: want true or false, got string 'maybe'" "$y"
pool bad 10.80.0.0/16 ", nodeSelector: 'zone ==='" >"$y"
m "a bad selector" 1 "zone ===" "$y"
pool bad 10.80.0.0/16 ", frobnicate: 1" >"$y"
m "an unknown field" 1 "unknown field 'spec.frobnicate'" "$y"
pool ../etc 10.80.0.0/16 "" >"$y"
m "pool name ../etc" 1 "../etc" "$y"
pool "$(printf 'n%.0s' {1..300})" 10.80.0.0/16 "" >"$y"
m "300-character pool name" 1 "nnnnnnnn" "$y"
printf 'apiVersion: blockipam.io/v1\nkind: Pool\nmetadata: x\nspec: {cidr: 10.80.0.0/16}\n' >"$y"
m "metadata a string" 1 "metadata" "$y"
printf 'apiVersion: blockipam.io/v1\nkind: Pool\nmetadata: {name: p}\nspec: [1]\n' >"$y"
m "spec a list" 1 "spec" "$y"
printf 'apiVersion: blockipam.io/v1\nkind: Reservation\nmetadata: {name: r}\nspec: {reservedCIDRs: [10.0.0.0/99]}\n' >"$y"
m "a reservation of garbage" 1 "10.0.0.0/99" "$y"
printf 'apiVersion: blockipam.io/v1\nkind: IPAMConfig\nmetadata: {name: default}\nspec: {maxBlocksPerHost: -5}\n' >"$y"
m "maxBlocksPerHost -5" 1 "maxBlocksPerHost" "$y"
printf 'apiVersion: blockipam.io/v1\nkind: IPAMConfig\nmetadata: {name: default}\nspec: {maxBlocksPerHost: 1e400}\n' >"$y"
m "maxBlocksPerHost 1e400" 1 "maxBlocksPerHost" "$y"
printf 'apiVersion: blockipam.io/v1\nkind: Node\nmetadata: {name: n1}\nspec: {podCIDRs: [garbage]}\n' >"$y"
m "a node with a garbage pod CIDR" 1 "garbage" "$y"
printf 'apiVersion: blockipam.io/v1\nkind: Node\nmetadata: {name: n1, labels: {"bad key": x}}\n' >"$y"
m "a bad label key" 1 "bad key" "$y"
printf 'apiVersion: blockipam.io/v1\nkind: Pool\nmetadata: {name: p\xff}\nspec: {cidr: 10.80.0.0/16}\n' >"$y"
m "non-UTF-8 YAML" 1 "m.yaml: line 3" "$y"
printf 'apiVersion: blockipam.io/v1\nkind: Pool\nmetadata: {name: "p\\0"}\n' >"$y"
m "a NUL in a string" 1 "NUL" "$y"
printf 'apiVersion: blockipam.io/v1\nkind: Pool\x00\n' >"$y"
m "a raw NUL byte" 1 "m.yaml" "$y"
printf 'apiVersion: !!python/object:os.system blockipam.io/v1\n' >"$y"
m "a foreign tag" 1 "unsupported tag 'tag:yaml.org,2002:python/object:os.system'" "$y"
printf 'a: 1\na: 2\n' >"$y"
m "a duplicate key" 1 "line 2, column 4: duplicate key 'a'" "$y"
{ pool first 10.61.0.0/24 ""; echo ---; pool third 10.62.0.0/24 ", blockSize: x"; } >"$y"
m "the second document bad: nothing written" 1 "document 2 (Pool third)" "$y"
: >"$y"
m "an empty file" 1 "no documents" "$y"
{
	for i in $(seq 5000); do pool "h$i" "10.$((i / 256 + 100)).$((i % 256)).0/24" ""; echo ---; done
	pool last 10.90.200.0/24 ""
} >"$io/huge.yaml"
m "5,001 documents, the last overlapping the store" 1 "document 5001 (Pool last)" "$io/huge.yaml"
{ printf 'apiVersion: blockipam.io/v1\nkind: Pool\nmetadata: {name: big}\nspec: {cidr: 10.80.0.0/16, pad: "'
	head -c $((3 << 20)) /dev/zero | tr '\0' 'x'; printf '"}\n'; } >"$y"
m "a 3 MB scalar" 1 "unknown field 'spec.pad'" "$y"
head -c $((65 << 20)) /dev/zero | tr '\0' '#' >"$io/65mb.yaml"
m "a 65 MB manifest" 1 "is larger than 64 MiB" "$io/65mb.yaml"
rm -f "$io/65mb.yaml" "$io/huge.yaml" "$io/10mb.json"
m "a directory" 1 "cannot read '$w'" "$w" apply -f "$w"
m "no such file" 1 "cannot open '$w/none.yaml'" "$w/none.yaml"
m "--store relative" 1 "must be absolute" "" --store sqlite://rel.db get pools
m "--store in a world-writable directory" 1 "world-writable" "" --store "sqlite://$w/ww/ipam.db" \
	get pools
m "--store a symbolic link" 1 "symbolic link" "" --store "sqlite://$w/ln/ipam.db" get pools
m "--store another program's SQLite file" 1 "not a blockipam store" "" \
	--store "sqlite://$w/foreign/ipam.db" get pools
m "unknown option" 2 "unknown option '--frobnicate'" "" apply --frobnicate -f "$y"
m "apply without -f" 2 "-f FILE is required" "" apply
m "node set: a garbage pod CIDR" 2 "10.0.0.1/24" "" node set n1 --pod-cidr 10.0.0.1/24
m "ipam release: a garbage address" 2 "invalid address '10.90.0.999'" "" ipam release --ip 10.90.0.999
m "ipam split: 0" 2 "not '0'" "" ipam split p4 0

echo "# $((tried - cni_tried)) hostile blockipamctl invocations"
echo "# $tried hostile inputs tried"
finish

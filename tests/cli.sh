#!/usr/bin/env bash
# blockipamctl end to end: every command and its error paths, exec'd on a temporary SQLite store.
#
# Checks written with `t` need no engine (help, usage errors, manifest errors, checks made before
# the store is opened). Checks written with `e` need the allocation engine (lib/ipam.c) and the
# sqlite store: they are skipped, loudly, while this build has the CLI branch's stub instead, and
# run as soon as the engine is merged. Checks written with `p` need the CNI plugin as well (to
# allocate addresses). Ends with "cli: N passed, N failed, N skipped".
set -u
build=${BIP_BUILD:-build}
root=${BIP_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
B=$build/blockipamctl
PLUGIN=$build/blockipam
data=$root/tests/data
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export BLOCKIPAM_STORE=sqlite://$tmp/ipam.db
unset BLOCKIPAM_NODE
passed=0 failed=0 skipped=0 rc=0

pass() {
	passed=$((passed + 1))
	echo "ok   $1"
}
fail() {
	failed=$((failed + 1))
	echo "FAIL $1: $2"
	sed 's/^/    | /' "$tmp/out" "$tmp/err" | head -n 20
}
skip() {
	skipped=$((skipped + 1))
	echo "skip $1: SKIPPED: $2"
}

# t NAME WANT_RC TEXT CMD...: CMD exits WANT_RC, and TEXT (a fixed string; '' = anything) is in
# its stdout or stderr. The output stays in $tmp/out and $tmp/err for further checks.
t() {
	local name=$1 want=$2 text=$3
	shift 3
	"$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	if [ "$rc" != "$want" ]; then
		fail "$name" "exit $rc, want $want"
		return 1
	fi
	if [ -n "$text" ] && ! grep -qF -- "$text" "$tmp/out" "$tmp/err"; then
		fail "$name" "no '$text' in the output"
		return 1
	fi
	pass "$name"
}

# e ...: t, for a check that needs the engine.
e() {
	if [ "$engine" = 0 ]; then
		skip "$1" "needs the allocation engine (not merged in this build)"
		return 1
	fi
	t "$@"
}

# p ...: t, for a check that needs the engine and the CNI plugin to allocate.
p() {
	if [ "$engine" = 0 ] || [ "$plugin" = 0 ]; then
		skip "$1" "needs the allocation engine and the CNI plugin"
		return 1
	fi
	t "$@"
}

# not_in NAME TEXT: the last command's output does not hold TEXT.
not_in() {
	if grep -qF -- "$2" "$tmp/out" "$tmp/err"; then
		fail "$1" "'$2' should not be in the output"
	else
		pass "$1"
	fi
}

if [ ! -x "$B" ]; then
	echo "no $B: build it first (make)"
	echo "cli: 0 passed, 1 failed, 0 skipped"
	exit 1
fi

# The stub that stands in for the engine in the CLI branch says so; anything else is the engine.
"$B" get ipamconfig >/dev/null 2>"$tmp/probe"
if grep -q "stub for the CLI branch" "$tmp/probe"; then engine=0; else engine=1; fi
plugin=0
[ -x "$PLUGIN" ] && plugin=1
echo "# engine: $engine, plugin: $plugin, store: $BLOCKIPAM_STORE"

# --- help and usage (no store) ------------------------------------------------------------------

t "help" 0 "Exit status: 0 success, 1 error, 2 usage error, 3" "$B" --help
t "help lists commands" 0 "ipam" "$B" -h
for c in apply create get delete patch gc "ipam show" "ipam check" "ipam release" "ipam split" \
	"ipam configure" "node release" "node set"; do
	# shellcheck disable=SC2086
	t "help: $c" 0 "Usage: blockipamctl $c" "$B" $c --help
done
t "help: ipam group" 0 "configure" "$B" ipam --help
t "help: node group" 0 "release" "$B" node help
t "help COMMAND" 0 "Usage: blockipamctl get" "$B" help get
t "every help gives the exit codes" 0 "3 'ipam check' found problems" "$B" delete --help
t "no command" 2 "Commands:" "$B"
t "unknown command" 2 "unknown command 'frob'" "$B" frob
t "unknown ipam command" 2 "unknown command 'frob'" "$B" ipam frob
t "unknown global flag" 2 "unknown option '--frob'" "$B" --frob get
t "unknown flag" 2 "unknown option '--frob'" "$B" get --frob
t "unknown short flag" 2 "unknown option '-x'" "$B" ipam show -x
t "missing value" 2 "option '-f' needs a value" "$B" apply -f
t "missing long value" 2 "option '--store' needs a value" "$B" --store
t "bad output format" 2 "unknown output format 'xml'" "$B" -o xml get
t "bad output format after command" 2 "unknown output format 'csv'" "$B" get -o csv
t "apply without -f" 2 "-f FILE is required" "$B" apply
t "apply with an argument" 2 "unexpected argument 'x'" "$B" apply -f x x
t "unknown kind" 2 "unknown kind 'gadgets'" "$B" get gadgets
t "get: too many args" 2 "unexpected argument 'c'" "$B" get pool a c
t "node set: two names" 2 "unexpected argument 'n2'" "$B" node set n1 n2 --label a=b
t "delete: unknown kind" 2 "unknown kind 'gadget'" "$B" delete gadget x
t "delete: no name" 2 "missing argument" "$B" delete pool
t "delete: -f and names" 2 "unexpected argument 'pool'" "$B" delete -f x pool a
t "patch: unknown kind" 2 "unknown kind 'gadget'" "$B" patch gadget x --patch '{}'
t "patch: no patch" 2 "--patch JSON is required" "$B" patch pool a
t "patch: bad patch" 1 "--patch: line 1, column" "$B" patch pool a --patch '{"spec": [1,}'
t "patch: not an object" 1 "want one JSON object" "$B" patch pool a --patch '[1]'
t "show: bad address" 2 "invalid address '10.0.0.256'" "$B" ipam show --ip 10.0.0.256
t "show: two views" 2 "exclude each other" "$B" ipam show --show-blocks --show-borrowed
t "release: nothing" 2 "give --ip ADDR" "$B" ipam release
t "release: bad address" 2 "invalid address 'x'" "$B" ipam release --ip x
t "release: report and ip" 2 "give --ip ADDR" "$B" ipam release --ip 10.0.0.1 --from-report r
t "release: dry run alone" 2 "--dry-run goes with --from-report or --empty-blocks" "$B" ipam release --ip 10.0.0.1 --dry-run
t "split: N not a power of two" 2 "N must be a power of two from 2 to 65536, not '3'" "$B" ipam split p 3
t "split: N is 1" 2 "not '1'" "$B" ipam split p 1
t "split: N junk" 2 "not '4x'" "$B" ipam split p 4x
t "split: no N" 2 "missing argument" "$B" ipam split p
t "configure: nothing" 2 "nothing to change" "$B" ipam configure
t "configure: bad bool" 2 "invalid value 'maybe' for --strict-affinity (want true or false)" \
	"$B" ipam configure --strict-affinity=maybe
t "configure: bad number" 2 "invalid value '-1' for --max-blocks-per-host" \
	"$B" ipam configure --max-blocks-per-host=-1
t "check: argument" 2 "unexpected argument 'x'" "$B" ipam check x
t "gc: nothing to do" 2 "nothing to collect" "$B" gc
t "gc: live and network" 2 "--live excludes --network" "$B" gc --live a --network n --attachments b
t "gc: network alone" 2 "--network and --attachments go together" "$B" gc --network n
t "gc: bad grace" 2 "invalid --grace 'soon'" "$B" gc --live a --grace soon
t "gc: missing live file" 1 "cannot open '$tmp/nonexistent'" "$B" gc --live "$tmp/nonexistent"
: >"$tmp/empty.txt"
t "gc: empty live list" 1 "lists nothing alive" "$B" gc --live "$tmp/empty.txt"
echo '[{"containerID": "abc"}]' >"$tmp/badatt.json"
t "gc: bad attachments" 1 "attachment 1: want" "$B" gc --network n --attachments "$tmp/badatt.json"
t "node set: nothing" 2 "nothing to change" "$B" node set n1
t "node set: bad cidr" 2 "host bits set in CIDR '10.0.0.1/24'" "$B" node set n1 --pod-cidr 10.0.0.1/24
t "node set: bad label" 2 "invalid --label 'zone'" "$B" node set n1 --label zone
t "node set: bad address" 2 "invalid address 'x' for --address" "$B" node set n1 --address x
t "node release: no name" 2 "Usage: blockipamctl node release NAME" "$B" node release
t "bad store address" 1 "unknown scheme" "$B" --store ftp://x get pools
t "relative sqlite path" 1 "must be absolute" "$B" --store sqlite://rel.db get pools

# --- manifests refused before the store is opened ------------------------------------------------

m=$tmp/m.yaml
t "missing manifest" 1 "cannot open '$tmp/none.yaml'" "$B" apply -f "$tmp/none.yaml"
printf 'apiVersion: blockipam.io/v1\nkind: Pool\nmetadata: {name: a\nspec: {}\n' >"$m"
t "malformed YAML: line and column" 1 "m.yaml: line 4, column 5: did not find expected ',' or '}'" \
	"$B" apply -f "$m"
printf '{\n  "apiVersion": "blockipam.io/v1",\n  "kind": "Pool"\n  "spec": {}\n}\n' >"$m"
t "malformed JSON: line and column" 1 "m.yaml: line 4, column 8:" "$B" apply -f "$m"
printf 'a: 1\na: 2\n' >"$m"
t "duplicate key" 1 "line 2, column 4: duplicate key 'a'" "$B" apply -f "$m"
printf '# nothing here\n' >"$m"
t "no documents" 1 "no documents" "$B" apply -f "$m"
printf 'apiVersion: v1\nkind: Pod\nmetadata: {name: x}\n' >"$m"
t "unknown apiVersion (stdin)" 1 "stdin: document 1: unsupported apiVersion 'v1'" "$B" apply -f - <"$m"
cat >"$m" <<'EOF'
apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: p1}
spec: {cidr: 10.0.0.0/33}
EOF
t "bad CIDR" 1 "document 1 (IPPool p1): spec.cidr: invalid CIDR '10.0.0.0/33'" "$B" apply -f "$m"
sed -i 's#10.0.0.0/33#10.0.0.1/16#' "$m"
t "host bits" 1 "CIDR '10.0.0.1/16' has host bits set (the network is 10.0.0.0/16)" "$B" apply -f "$m"
sed -i 's#cidr: 10.0.0.1/16#cidr: 10.0.0.0/16, nodeSelecter: all()#' "$m"
t "unknown field" 1 "unknown field 'spec.nodeSelecter'" "$B" create -f "$m"
cat >"$tmp/overlap.yaml" <<'EOF'
apiVersion: blockipam.io/v1
kind: Pool
metadata: {name: wide}
spec: {cidr: 10.60.0.0/16}
---
apiVersion: blockipam.io/v1
kind: Pool
metadata: {name: narrow}
spec: {cidr: 10.60.4.0/24}
EOF
t "overlapping pools in one manifest" 1 \
	"document 2 (Pool narrow): cidr 10.60.4.0/24 overlaps document 1 (Pool wide)" \
	"$B" apply -f "$tmp/overlap.yaml"
cat >"$tmp/third-bad.yaml" <<'EOF'
apiVersion: blockipam.io/v1
kind: Pool
metadata: {name: first}
spec: {cidr: 10.61.0.0/24}
---
apiVersion: blockipam.io/v1
kind: Reservation
metadata: {name: second}
spec: {reservedCIDRs: [10.61.0.1]}
---
apiVersion: blockipam.io/v1
kind: Pool
metadata: {name: third}
spec: {cidr: 10.62.0.0/24, blockSize: eight}
EOF
t "multi-document: the bad one is named" 1 \
	"document 3 (Pool third): spec.blockSize: want an integer from 0 to 128, got string 'eight'" \
	"$B" apply -f "$tmp/third-bad.yaml"
t "same resource twice" 1 "pool 'wide' is also defined in document 1" \
	"$B" apply -f <(sed -n 1,4p "$tmp/overlap.yaml"; echo ---; sed -n 1,4p "$tmp/overlap.yaml")

# --- resources (engine) ----------------------------------------------------------------------------

for f in "$data"/calico/*; do
	e "apply Calico $(basename "$f")" 0 "" "$B" apply -f "$f" && not_in "no warnings" "warning"
done
e "Calico pool is listed" 0 "default-ipv4-ippool" "$B" get ippools
e "calicoctl kind names" 0 "zone-east-ippool" "$B" get IPPool zone-east-ippool
e "our kind names" 0 "10.10.0.0/20" "$B" get pools
e "Calico fields kept: yaml" 0 "ipipMode: Always" "$B" get pool default-ipv4-ippool -o yaml
e "Calico fields kept: json" 0 '"natOutgoing": true' "$B" get pool default-ipv4-ippool -o json
e "Calico fields kept: wide" 0 "disableBGPExport=true" "$B" get pools -o wide
e "manual pool" 0 "Manual" "$B" get pool dmz-manual
e "IPv6 pool" 0 "fd00:10:244::/48" "$B" get pool default-ipv6-ippool
e "list items" 0 "list-pool-b" "$B" get pool list-pool-b -o wide
e "reservation" 0 "192.168.2.3/32,10.0.2.3/32,cafe:f00d::/123" "$B" get ipreservations
e "IPAM configuration" 0 "maxBlocksPerHost: 4" "$B" get ipamconfiguration default -o yaml
e "get everything" 0 "ipamconfig/default" "$B" get
e "get one that is not there" 1 "pool 'nope' not found" "$B" get pool nope
e "apply again: configured" 0 "pool/default-ipv4-ippool configured" \
	"$B" apply -f "$data/calico/ippool-default.yaml"
e "create again: refused" 1 "pool 'default-ipv4-ippool' already exists" \
	"$B" create -f "$data/calico/ippool-default.yaml"
e "dry run" 0 "pool/json-pool configured (dry run)" "$B" apply --dry-run -f "$data/calico/ippool.json"
e "overlap with a stored pool" 1 "overlaps the stored pool 'default-ipv4-ippool'" \
	"$B" apply -f - <<'EOF'
apiVersion: blockipam.io/v1
kind: Pool
metadata: {name: before}
spec: {cidr: 10.70.0.0/24}
---
apiVersion: blockipam.io/v1
kind: Pool
metadata: {name: inside}
spec: {cidr: 192.168.7.0/24}
EOF
e "nothing of it was written" 1 "pool 'before' not found" "$B" get pool before
e "nothing of a bad manifest was written" 1 "pool 'first' not found" "$B" get pool first
e "cidr cannot change" 1 "cannot change in place (stored 192.168.0.0/16, manifest 192.169.0.0/16)" \
	"$B" apply -f <(sed 's#192.168.0.0/16#192.169.0.0/16#' "$data/calico/ippool-default.yaml")
e "block size cannot change" 1 "block size of a pool cannot change in place (stored 26, manifest 27)" \
	"$B" apply -f <(sed 's#blockSize: 26#blockSize: 27#' "$data/calico/ippool-default.yaml")

# round trips: what get prints, apply takes back unchanged
if e "get -o yaml" 0 "kind: List" "$B" get -o yaml; then
	cp "$tmp/out" "$tmp/all.yaml"
	e "apply the yaml" 0 "configured" "$B" apply -f "$tmp/all.yaml"
	e "get -o yaml again" 0 "" "$B" get -o yaml
	if cmp -s "$tmp/out" "$tmp/all.yaml"; then pass "yaml round trip"; else fail "yaml round trip" "differs"; fi
fi
if e "get -o json" 0 '"kind": "List"' "$B" get -o json; then
	cp "$tmp/out" "$tmp/all.json"
	e "apply the json" 0 "configured" "$B" apply -f "$tmp/all.json"
	e "get -o json again" 0 "" "$B" get -o json
	if cmp -s "$tmp/out" "$tmp/all.json"; then pass "json round trip"; else fail "json round trip" "differs"; fi
fi
if e "one pool as yaml" 0 "kind: Pool" "$B" get pool zone-west-ippool -o yaml; then
	cp "$tmp/out" "$tmp/one.yaml"
	e "delete it" 0 "pool/zone-west-ippool deleted" "$B" delete pool zone-west-ippool
	e "it is gone" 1 "not found" "$B" get pool zone-west-ippool
	e "apply it back" 0 "pool/zone-west-ippool created" "$B" apply -f "$tmp/one.yaml"
	e "back as it was" 0 "" "$B" get pool zone-west-ippool -o yaml
	if cmp -s "$tmp/out" "$tmp/one.yaml"; then pass "one pool round trip"; else fail "one pool round trip" "differs"; fi
fi

# our own kinds
e "apply own kinds" 0 "namespace/team-a created" "$B" apply -f - <<'EOF'
apiVersion: blockipam.io/v1
kind: Node
metadata:
  name: node-1
  labels: {zone: east, kubernetes.io/os: linux}
spec:
  addresses: [192.168.100.10]
  podCIDRs: [10.200.1.0/24]
---
apiVersion: blockipam.io/v1
kind: Namespace
metadata: {name: team-a, labels: {env: dmz}}
spec: {pools: [dmz-manual]}
---
apiVersion: blockipam.io/v1
kind: Reservation
metadata: {name: gateways}
spec: {reservedCIDRs: [10.10.0.1, 10.10.16.1]}
EOF
e "node" 0 "10.200.1.0/24" "$B" get node node-1
e "node labels (wide)" 0 "kubernetes.io/os=linux" "$B" get nodes -o wide
e "namespace" 0 "dmz-manual" "$B" get namespaces
e "node set" 0 "node/node-1 configured" "$B" node set node-1 --label zone=west --label kubernetes.io/os- \
	--pod-cidr 10.200.2.0/24 --pod-cidr fd00:200::/64 --address fd00::10
e "node set result" 0 "zone: west" "$B" get node node-1 -o yaml && not_in "label removed" "kubernetes.io/os"
e "pod CIDR of a family replaced" 0 "fd00:200::/64" "$B" get node node-1 && not_in "old pod CIDR gone" "10.200.1.0/24"
e "node set creates" 0 "node/node-2 created" "$B" node set node-2 --label zone=east
e "node set: bad label key" 1 "invalid label key 'bad key'" "$B" node set node-2 --label 'bad key=x'

# patch
e "patch a pool" 0 "pool/list-pool-a patched" "$B" patch pool list-pool-a --patch '{"spec":{"disabled":true}}'
e "patched" 0 "disabled: true" "$B" get pool list-pool-a -o yaml
e "patch removes a kept field" 0 "patched" "$B" patch pool list-pool-a --patch '{"spec":{"ipipMode":null}}'
e "removed" 0 "" "$B" get pool list-pool-a -o yaml && not_in "ipipMode gone" "ipipMode"
e "patch in YAML" 0 "patched" "$B" patch ipamconfig default --patch '{spec: {maxBlocksPerHost: 6}}'
e "patch: no rename" 1 "cannot change the kind or name" "$B" patch pool list-pool-a --patch '{"metadata":{"name":"b"}}'
e "patch: no new cidr" 1 "cannot change in place" "$B" patch pool list-pool-a --patch '{"spec":{"cidr":"172.17.0.0/20"}}'
e "patch: validated" 1 "spec.disabled: want true or false, got string 'no'" \
	"$B" patch pool list-pool-a --patch '{"spec":{"disabled":"no"}}'
e "patch: missing" 1 "pool 'nope' not found" "$B" patch pool nope --patch '{}'
e "patch node labels" 0 "patched" "$B" patch node node-2 --patch '{"metadata":{"labels":{"rack":"r1"}}}'
e "patched node" 0 "rack=r1" "$B" get node node-2 -o wide

# --- ipam (engine) --------------------------------------------------------------------------------

e "show" 0 "65536" "$B" ipam show
e "show: pool names" 0 "default-ipv4-ippool" "$B" ipam show
e "show json" 0 '"capacity": 65536' "$B" ipam show -o json
e "show yaml" 0 "capacity: 65536" "$B" ipam show -o yaml
e "show blocks" 0 "BLOCK" "$B" ipam show --show-blocks
e "show blocks wide" 0 "EMPTYSINCE" "$B" ipam show --show-blocks -o wide
e "show borrowed" 0 "BLOCKOWNER" "$B" ipam show --show-borrowed
e "show configuration" 0 "MaxBlocksPerHost" "$B" ipam show --show-configuration
e "show a free address" 0 "Assigned" "$B" ipam show --ip 192.168.0.1
e "configure" 0 "STRICTAFFINITY" "$B" ipam configure --strict-affinity=true --max-blocks-per-host=8 \
	--empty-block-release=600
e "configured" 0 "600 s" "$B" ipam show --show-configuration
e "configure (calicoctl spelling)" 0 "true" "$B" ipam configure --strictaffinity=true
e "check a clean store" 0 "No problems found." "$B" ipam check
e "check -o json" 0 '"problemCount": 0' "$B" ipam check -o json && cp "$tmp/out" "$tmp/report.json"
e "check --repair" 0 "" "$B" ipam check --repair
e "release from a clean report" 0 "0 released, 0 repaired, 0 skipped, 0 failed" \
	"$B" ipam release --from-report "$tmp/report.json"
e "release from a non-report" 1 "not an 'ipam check -o json' report" \
	"$B" ipam release --from-report "$data/calico/ipamconfig.yaml"
e "release a free address" 1 "192.168.0.1 is not assigned" "$B" ipam release --ip 192.168.0.1
e "release an unknown handle" 1 "handle 'nope' holds no addresses" "$B" ipam release --handle nope
e "split an enabled pool" 1 "is enabled; disable it first" "$B" ipam split zone-east-ippool 2
e "split too fine" 1 "cannot be split into 128: each part would be a /27, smaller than one block" \
	"$B" ipam split list-pool-a 128
e "split" 0 "split into 4 pools" "$B" ipam split list-pool-a 4
e "parts" 0 "172.16.12.0/22" "$B" get pool list-pool-a-3
e "parent gone" 1 "not found" "$B" get pool list-pool-a
e "parts disabled" 0 "disabled: true" "$B" get pool list-pool-a-0 -o yaml
e "split a missing pool" 1 "pool 'nope' not found" "$B" ipam split nope 2

# --- gc and nodes (engine) ------------------------------------------------------------------------

printf 'container-1\n# comment\n' >"$tmp/live.txt"
printf 'node-1\n' >"$tmp/nodes.txt"
echo '[{"containerID": "container-1", "ifname": "eth0"}]' >"$tmp/att.json"
e "gc --live" 0 "gc: 0 handles released" "$B" gc --live "$tmp/live.txt"
e "gc --network --attachments" 0 "gc: 0 handles" "$B" gc --network net1 --attachments "$tmp/att.json"
e "gc --nodes-live --dry-run" 0 "would release node node-2" "$B" gc --nodes-live "$tmp/nodes.txt" --dry-run
e "gc json" 0 '"dryRun": true' "$B" gc --nodes-live "$tmp/nodes.txt" --dry-run -o json
e "node release" 0 "node/node-2 released" "$B" node release node-2

# --- with addresses allocated by the plugin (engine and plugin) -----------------------------------

cni_add() { # NETWORK CONTAINER IFNAME NODE
	printf '{"cniVersion":"1.0.0","name":"%s","type":"bridge","ipam":{"type":"blockipam","store":"%s","node":"%s"}}' \
		"$1" "$BLOCKIPAM_STORE" "$4" |
		CNI_COMMAND=ADD CNI_CONTAINERID=$2 CNI_IFNAME=$3 CNI_NETNS=/var/run/netns/cli-test \
			CNI_PATH=$build "$PLUGIN"
}
if [ "$engine" = 1 ] && [ "$plugin" = 1 ]; then
	"$B" patch pool list-pool-a-0 --patch '{"spec":{"disabled":false}}' >/dev/null 2>&1
	# node-3 has no pod CIDR: its pods get addresses from blocks of the automatic pools
	cni_add net1 container-1 eth0 node-3 >"$tmp/add1" 2>&1 &&
		cni_add net1 container-2 eth0 node-3 >"$tmp/add2" 2>&1 || plugin=0
	[ "$plugin" = 0 ] && echo "# plugin ADD failed: $(cat "$tmp/add1" "$tmp/add2" 2>/dev/null)"
	addr2=$(grep -oE '"address": *"[^"/]+' "$tmp/add2" 2>/dev/null | head -n 1 | sed 's/.*"//')
	touch "$tmp/live.txt" # the live list is taken after the allocations
fi
p "show an allocated address" 0 "net1.container-2.eth0" "$B" ipam show --ip "${addr2:-0.0.0.0}"
p "show blocks with one" 0 "node-3" "$B" ipam show --show-blocks
p "routes" 0 "node-3" "$B" routes
p "routes -o json" 0 '"kind": "block"' "$B" routes -o json
p "routes --node -o yaml" 0 "kind: blackhole" "$B" routes --node node-3 -o yaml
p "gc keeps the live, releases the rest" 0 "released handle net1.container-2.eth0" \
	"$B" gc --live "$tmp/live.txt" --grace 0 --node node-3
p "address freed" 0 "Assigned" "$B" ipam show --ip "${addr2:-0.0.0.0}" && not_in "no holder" "container-2"
p "release by handle" 0 "released handle net1.container-1.eth0" "$B" ipam release --handle net1.container-1.eth0

# --- deleting (engine) ----------------------------------------------------------------------------

e "delete a namespace" 0 "namespace/team-a deleted" "$B" delete ns team-a
e "delete: all must exist" 1 "pool 'nope' not found; nothing was deleted" "$B" delete pool dmz-manual nope
e "delete: untouched" 0 "dmz-manual" "$B" get pool dmz-manual
e "delete -f" 0 "pool/zone-east-ippool deleted" "$B" delete -f "$data/calico/ippools-topology.yaml"
e "deleted" 1 "not found" "$B" get pool dmz-manual
e "delete the config: defaults" 0 "ipamconfig/default reset to defaults" "$B" delete ipamconfig default
e "delete a missing node" 1 "node 'nope' not found" "$B" delete node nope
if e "no namespaces left" 0 "items: []" "$B" get namespaces -o yaml; then
	cp "$tmp/out" "$tmp/none.yaml"
	e "apply an empty list" 0 "nothing to do" "$B" apply -f "$tmp/none.yaml"
	e "delete an empty list" 0 "nothing to do" "$B" delete -f "$tmp/none.yaml"
fi

echo "cli: $passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]

#!/usr/bin/env bash
# blockipamctl end to end: every command and its error paths, exec'd on a temporary SQLite store.
#
# Every check is a `t` row: a command, its exit status and a text in its output. The part that
# needs allocated addresses gets them from the CNI plugin. Ends with "cli: N passed, N failed,
# N skipped".
set -u
name=cli
. "$(dirname "$0")/lib.sh"
B=$ctl
PLUGIN=$plugin
data=$root/tests/data
make_tmp
export BLOCKIPAM_STORE=sqlite://$tmp/ipam.db
unset BLOCKIPAM_NODE

# t NAME WANT_RC TEXT CMD... (tests/lib.sh): CMD exits WANT_RC, and TEXT (a fixed string; '' =
# anything) is in its stdout or stderr. The output stays in $tmp/out and $tmp/err for further
# checks (not_in, grep).

for f in "$B" "$PLUGIN"; do
	[ -x "$f" ] || { bad "no $f: build it first (make)"; finish; }
done
echo "# store: $BLOCKIPAM_STORE"

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
# did you mean: the nearest by edit distance, of commands, options, kinds and stored names
t "unknown command: the nearest" 2 "unknown command 'aply' (did you mean 'apply'?)" "$B" aply -f x
t "a kind as a command" 2 "unknown command 'poool' (did you mean 'pool'? It is a kind: 'blockipamctl get pool')" "$B" poool
t "unknown subcommand: the nearest" 2 "blockipamctl ipam: unknown command 'chek' (did you mean 'check'?)" "$B" ipam chek
t "nothing near: no guess" 2 "" "$B" frob && not_in "no guess for frob" "did you mean"
t "unknown option: the nearest" 2 "unknown option '--dry-rn' (did you mean '--dry-run'?)" "$B" apply --dry-rn -f x
t "unknown option with a value" 2 "unknown option '--show-blocs=1' (did you mean '--show-blocks'?)" \
	"$B" ipam show --show-blocs=1
t "a global option misspelt" 2 "(did you mean '--store'?)" "$B" get --stor x
t "unknown kind: the nearest" 2 "unknown kind 'poool' (did you mean 'pool'?)" "$B" get poool
t "unknown kind, any case" 2 "unknown kind 'IPPOLS' (did you mean 'ippools'?)" "$B" get IPPOLS
t "unknown kind: nothing near lists them" 2 "unknown kind 'gadget' (want pool, reservation" "$B" delete gadget x
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

# --- resources -------------------------------------------------------------------------------------

for f in "$data"/calico/*; do
	t "apply Calico $(basename "$f")" 0 "" "$B" apply -f "$f" && not_in "no warnings" "warning"
done
t "Calico pool is listed" 0 "default-ipv4-ippool" "$B" get ippools
t "calicoctl kind names" 0 "zone-east-ippool" "$B" get IPPool zone-east-ippool
t "our kind names" 0 "10.10.0.0/20" "$B" get pools
t "Calico fields kept: yaml" 0 "ipipMode: Always" "$B" get pool default-ipv4-ippool -o yaml
t "Calico fields kept: json" 0 '"natOutgoing": true' "$B" get pool default-ipv4-ippool -o json
t "Calico fields kept: wide" 0 "disableBGPExport=true" "$B" get pools -o wide
t "manual pool" 0 "Manual" "$B" get pool dmz-manual
t "IPv6 pool" 0 "fd00:10:244::/48" "$B" get pool default-ipv6-ippool
t "list items" 0 "list-pool-b" "$B" get pool list-pool-b -o wide
t "reservation" 0 "192.168.2.3/32,10.0.2.3/32,cafe:f00d::/123" "$B" get ipreservations
t "IPAM configuration" 0 "maxBlocksPerHost: 4" "$B" get ipamconfiguration default -o yaml
t "get everything" 0 "ipamconfig/default" "$B" get
t "get one that is not there" 1 "pool 'nope' not found" "$B" get pool nope
t "a stored name misspelt: the nearest" 1 "pool 'default-ipv4-ipool' not found (did you mean 'default-ipv4-ippool'?)" \
	"$B" get ippool default-ipv4-ipool
# the store's revision: a write of any record moves it
store_rev() { "$B" version -o json | sed -n 's/^ *"revision": \([0-9]*\).*/\1/p'; }
rev_before=$(store_rev)
t "apply again: unchanged" 0 "pool/default-ipv4-ippool unchanged" \
	"$B" apply -f "$data/calico/ippool-default.yaml"
check "an unchanged apply writes nothing (revision $rev_before)" test "$(store_rev)" = "$rev_before"
t "apply a change: configured" 0 "pool/default-ipv4-ippool configured" \
	"$B" apply -f <(sed 's/natOutgoing: true/natOutgoing: false/' "$data/calico/ippool-default.yaml")
check "a change is written" test "$(store_rev)" -gt "$rev_before"
t "and back: configured" 0 "pool/default-ipv4-ippool configured" \
	"$B" apply -f "$data/calico/ippool-default.yaml"
rev_before=$(store_rev)
t_all "a manifest of many, unchanged: unchanged each" 0 "ipamconfig/default unchanged" \
	"reservation/my-ipreservation-1 unchanged" "pool/zone-west-ippool unchanged" -- \
	"$B" apply -f <(for f in "$data"/calico/*.yaml; do echo ---; cat "$f"; done)
not_in "none of them configured" "configured"
check "nor written" test "$(store_rev)" = "$rev_before"
t "blockSize left out: as stored, unchanged" 0 "pool/default-ipv4-ippool unchanged" \
	"$B" apply -f <(grep -v blockSize "$data/calico/ippool-default.yaml")
t "create again: refused" 1 "pool 'default-ipv4-ippool' already exists" \
	"$B" create -f "$data/calico/ippool-default.yaml"
t "dry run" 0 "pool/json-pool configured (dry run)" \
	"$B" apply --dry-run -f <(sed 's/"natOutgoing": true/"natOutgoing": false/' "$data/calico/ippool.json")
t "dry run, unchanged" 0 "pool/json-pool unchanged (dry run)" "$B" apply --dry-run -f "$data/calico/ippool.json"
t "overlap with a stored pool" 1 "overlaps the stored pool 'default-ipv4-ippool'" \
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
t "nothing of it was written" 1 "pool 'before' not found" "$B" get pool before
t "nothing of a bad manifest was written" 1 "pool 'first' not found" "$B" get pool first
t "cidr cannot change" 1 "cannot change in place (stored 192.168.0.0/16, manifest 192.169.0.0/16)" \
	"$B" apply -f <(sed 's#192.168.0.0/16#192.169.0.0/16#' "$data/calico/ippool-default.yaml")
t "block size cannot change" 1 "block size of a pool cannot change in place (stored 26, manifest 27)" \
	"$B" apply -f <(sed 's#blockSize: 26#blockSize: 27#' "$data/calico/ippool-default.yaml")

# round trips: what get prints, apply takes back unchanged
if t "get -o yaml" 0 "kind: List" "$B" get -o yaml; then
	cp "$tmp/out" "$tmp/all.yaml"
	t "apply the yaml" 0 "unchanged" "$B" apply -f "$tmp/all.yaml" && not_in "all of it unchanged" "configured"
	t "get -o yaml again" 0 "" "$B" get -o yaml
	if cmp -s "$tmp/out" "$tmp/all.yaml"; then pass "yaml round trip"; else fail "yaml round trip" "differs"; fi
fi
if t "get -o json" 0 '"kind": "List"' "$B" get -o json; then
	cp "$tmp/out" "$tmp/all.json"
	t "apply the json" 0 "unchanged" "$B" apply -f "$tmp/all.json" && not_in "all of it unchanged" "configured"
	t "get -o json again" 0 "" "$B" get -o json
	if cmp -s "$tmp/out" "$tmp/all.json"; then pass "json round trip"; else fail "json round trip" "differs"; fi
fi
if t "one pool as yaml" 0 "kind: Pool" "$B" get pool zone-west-ippool -o yaml; then
	cp "$tmp/out" "$tmp/one.yaml"
	t "delete it" 0 "pool/zone-west-ippool deleted" "$B" delete pool zone-west-ippool
	t "it is gone" 1 "not found" "$B" get pool zone-west-ippool
	t "apply it back" 0 "pool/zone-west-ippool created" "$B" apply -f "$tmp/one.yaml"
	t "back as it was" 0 "" "$B" get pool zone-west-ippool -o yaml
	if cmp -s "$tmp/out" "$tmp/one.yaml"; then pass "one pool round trip"; else fail "one pool round trip" "differs"; fi
fi

# Calico's form: its words print it, every kept field in it, and apply takes it back as it was
if t "ippools as Calico's list" 0 "kind: IPPoolList" "$B" get ippools -o yaml; then
	cp "$tmp/out" "$tmp/calico-all.yaml"
	check "every item is a projectcalico.org/v3 IPPool" \
		test "$(grep -c '^  kind: IPPool$' "$tmp/calico-all.yaml")" = "$(grep -c '^- apiVersion: projectcalico.org/v3$' "$tmp/calico-all.yaml")"
	t "apply Calico's list" 0 "pool/default-ipv4-ippool" "$B" apply -f "$tmp/calico-all.yaml"
	t "get ippools again" 0 "" "$B" get ippools -o yaml
	if cmp -s "$tmp/out" "$tmp/calico-all.yaml"; then pass "Calico list round trip"; else fail "Calico list round trip" "differs"; fi
fi
if t "one ippool in Calico's form" 0 "apiVersion: projectcalico.org/v3" \
	"$B" get ippool default-ipv4-ippool -o yaml; then
	cp "$tmp/out" "$tmp/calico-one.yaml"
	check "its Calico fields are there, natOutgoing a boolean" \
		grep -qx "  natOutgoing: true" "$tmp/calico-one.yaml"
	check "and ipipMode" grep -qx "  ipipMode: Always" "$tmp/calico-one.yaml"
	t "delete the ippool" 0 "deleted" "$B" delete ippool default-ipv4-ippool
	t "apply the Calico form back" 0 "pool/default-ipv4-ippool created" "$B" apply -f "$tmp/calico-one.yaml"
	t "get it again" 0 "" "$B" get ippool default-ipv4-ippool -o yaml
	if cmp -s "$tmp/out" "$tmp/calico-one.yaml"; then pass "Calico pool round trip"; else fail "Calico pool round trip" "differs"; fi
fi
t "apply says which fields do nothing here" 0 \
	"note: document 1 (IPPool default-ipv4-ippool): ipipMode, natOutgoing, vxlanMode are kept for Calico's dataplane and have no effect in blockipam" \
	"$B" apply -f "$data/calico/ippool-default.yaml"
t "get ipreservations: Calico's form" 0 "kind: IPReservation" "$B" get ipreservations -o yaml
# a priority is blockipam's own: Calico's IPPool cannot say it, so that pool stays in our form
t "a pool with a priority" 0 "pool/zone-a-first created" "$B" apply -f - <<'EOF'
apiVersion: blockipam.io/v1
kind: Pool
metadata: {name: zone-a-first}
spec: {cidr: 10.78.0.0/24, priority: 10, ipipMode: CrossSubnet}
EOF
t "asked for as an ippool: our form, priority kept" 0 "priority: 10" \
	"$B" get ippool zone-a-first -o yaml && not_in "not Calico's kind" "kind: IPPool"
cp "$tmp/out" "$tmp/prio.yaml"
t "and it applies back unchanged" 0 "pool/zone-a-first unchanged" "$B" apply -f "$tmp/prio.yaml"
t "in Calico's list, as a Pool item" 0 "kind: Pool" "$B" get ippools -o yaml
t "delete it" 0 "pool/zone-a-first deleted" "$B" delete pool zone-a-first
t "get pools: our form" 0 "kind: Pool" "$B" get pool default-ipv4-ippool -o yaml
calico_pool() { # SPEC [NAME]
	printf 'apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: %s}\nspec: %s\n' \
		"${2:-calico-bad}" "$1" | "$B" apply -f -
}
t "ipipMode: Sometimes refused" 1 "spec.ipipMode: want Never, Always or CrossSubnet, got string 'Sometimes'" \
	calico_pool "{cidr: 10.77.0.0/24, ipipMode: Sometimes}"
t "natOutgoing: yes refused" 1 "spec.natOutgoing: want true or false, got string 'yes'" \
	calico_pool "{cidr: 10.77.0.0/24, natOutgoing: yes}"
t "disableBGPExport: a string refused" 1 "spec.disableBGPExport: want true or false" \
	calico_pool "{cidr: 10.77.0.0/24, disableBGPExport: 'true'}"
t "IPIP and VXLAN at once refused" 1 "Calico enables one encapsulation per pool" \
	calico_pool "{cidr: 10.77.0.0/24, ipipMode: CrossSubnet, vxlanMode: Always}"
t "IPIP on IPv6 refused" 1 "Calico has no IPIP for IPv6" \
	calico_pool "{cidr: 'fd00:77::/64', ipipMode: Always}"
t "a bad nodeSelector refused" 1 "invalid nodeSelector" \
	calico_pool "{cidr: 10.77.0.0/24, nodeSelector: 'zone = a'}"
t "a bad allowedUses refused" 1 "spec.allowedUses[0]: unknown use 'Pods'" \
	calico_pool "{cidr: 10.77.0.0/24, allowedUses: [Pods]}"
t "unknown field: blockipam's and Calico's fields listed" 1 \
	"(known: cidr, blockSize, disabled, nodeSelector, namespaceSelector, allowedUses, assignmentMode; Calico's, kept for its dataplane: ipipMode, vxlanMode, natOutgoing, disableBGPExport, awsSubnetID)" \
	calico_pool "{cidr: 10.77.0.0/24, ipipmode: Always}"
t "none of them was written" 1 "pool 'calico-bad' not found" "$B" get ippool calico-bad
t "VXLAN on IPv6, an AWS subnet: taken" 0 "pool/calico-bad created" \
	calico_pool "{cidr: 'fd00:77::/64', vxlanMode: CrossSubnet, awsSubnetID: subnet-0123456789abcdef0, nat-outgoing: false}"
t "kept as given" 0 "awsSubnetID: subnet-0123456789abcdef0" "$B" get ippool calico-bad -o yaml &&
	not_in "Calico's v1 nat-outgoing: false is not kept" "nat-outgoing"
t "delete it" 0 "pool/calico-bad deleted" "$B" delete pool calico-bad

# names: Kubernetes' rules (a lowercase RFC 1123 subdomain; a namespace a label), nothing written
rev_before=$(store_rev)
t "Bad_Name refused, the value and the rule named" 1 \
	"metadata.name: invalid name 'Bad_Name' (want a lowercase RFC 1123 subdomain: at most 253 of a-z, 0-9, '-' and '.'" \
	calico_pool "{cidr: 10.77.0.0/24}" Bad_Name
t "an upper-case name refused" 1 "invalid name 'Pool1'" calico_pool "{cidr: 10.77.0.0/24}" Pool1
t "a name ending in '-' refused" 1 "invalid name 'pool-'" calico_pool "{cidr: 10.77.0.0/24}" pool-
t "a namespace with a dot refused" 1 "invalid name 'team.a' (want a lowercase RFC 1123 label" \
	"$B" apply -f - <<'EOF'
apiVersion: blockipam.io/v1
kind: Namespace
metadata: {name: team.a}
EOF
check "none of them written" test "$(store_rev)" = "$rev_before"
t "a dotted pool name is a subdomain: taken" 0 "pool/pool.zone-1 created" \
	calico_pool "{cidr: 10.77.0.0/24}" pool.zone-1
t "delete it" 0 "pool/pool.zone-1 deleted" "$B" delete pool pool.zone-1

# our own kinds
cat >"$tmp/own.yaml" <<'EOF'
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
t "apply own kinds" 0 "namespace/team-a created" "$B" apply -f "$tmp/own.yaml"
rev_before=$(store_rev)
t_all "own kinds again: unchanged" 0 "node/node-1 unchanged" "namespace/team-a unchanged" \
	"reservation/gateways unchanged" -- "$B" apply -f "$tmp/own.yaml"
check "and not written" test "$(store_rev)" = "$rev_before"
t "node" 0 "10.200.1.0/24" "$B" get node node-1
t "node labels (wide)" 0 "kubernetes.io/os=linux" "$B" get nodes -o wide
t "namespace" 0 "dmz-manual" "$B" get namespaces
t "node set" 0 "node/node-1 configured" "$B" node set node-1 --label zone=west --label kubernetes.io/os- \
	--pod-cidr 10.200.2.0/24 --pod-cidr fd00:200::/64 --address fd00::10
t "node set result" 0 "zone: west" "$B" get node node-1 -o yaml && not_in "label removed" "kubernetes.io/os"
t "pod CIDR of a family replaced" 0 "fd00:200::/64" "$B" get node node-1 && not_in "old pod CIDR gone" "10.200.1.0/24"
t "node set creates" 0 "node/node-2 created" "$B" node set node-2 --label zone=east
t "node set: bad label key" 1 "invalid label key 'bad key'" "$B" node set node-2 --label 'bad key=x'

# patch
t "patch a pool" 0 "pool/list-pool-a patched" "$B" patch pool list-pool-a --patch '{"spec":{"disabled":true}}'
t "patched" 0 "disabled: true" "$B" get pool list-pool-a -o yaml
t "patch removes a kept field" 0 "patched" "$B" patch pool list-pool-a --patch '{"spec":{"ipipMode":null}}'
t "removed" 0 "" "$B" get pool list-pool-a -o yaml && not_in "ipipMode gone" "ipipMode"
t "patch in YAML" 0 "patched" "$B" patch ipamconfig default --patch '{spec: {maxBlocksPerHost: 6}}'
t "patch: no rename" 1 "cannot change the kind or name" "$B" patch pool list-pool-a --patch '{"metadata":{"name":"b"}}'
t "patch: no new cidr" 1 "cannot change in place" "$B" patch pool list-pool-a --patch '{"spec":{"cidr":"172.17.0.0/20"}}'
t "patch: validated" 1 "spec.disabled: want true or false, got string 'no'" \
	"$B" patch pool list-pool-a --patch '{"spec":{"disabled":"no"}}'
t "patch: missing" 1 "pool 'nope' not found" "$B" patch pool nope --patch '{}'
t "patch node labels" 0 "patched" "$B" patch node node-2 --patch '{"metadata":{"labels":{"rack":"r1"}}}'
t "patched node" 0 "rack=r1" "$B" get node node-2 -o wide

# --- ipam -----------------------------------------------------------------------------------------

t "show" 0 "65536" "$B" ipam show
t "show: pool names" 0 "default-ipv4-ippool" "$B" ipam show
t "show json" 0 '"capacity": 65536' "$B" ipam show -o json
t "show yaml" 0 "capacity: 65536" "$B" ipam show -o yaml
t "show blocks: none yet, said so" 0 "No blocks." "$B" ipam show --show-blocks
t "show blocks wide: none" 0 "No blocks." "$B" ipam show --show-blocks -o wide
t "show borrowed: none" 0 "No borrowed addresses." "$B" ipam show --show-borrowed
t "show configuration" 0 "MaxBlocksPerHost" "$B" ipam show --show-configuration
t "show a free address" 0 "Assigned" "$B" ipam show --ip 192.168.0.1
t "configure" 0 "STRICTAFFINITY" "$B" ipam configure --strict-affinity=true --max-blocks-per-host=8 \
	--empty-block-release=600
t "configured" 0 "600 s" "$B" ipam show --show-configuration
t "configure (calicoctl spelling)" 0 "true" "$B" ipam configure --strictaffinity=true
t "check a clean store" 0 "No problems found." "$B" ipam check
t "check -o json" 0 '"problemCount": 0' "$B" ipam check -o json && cp "$tmp/out" "$tmp/report.json"
t "check --repair" 0 "" "$B" ipam check --repair
t "release from a clean report" 0 "0 released, 0 repaired, 0 skipped, 0 failed" \
	"$B" ipam release --from-report "$tmp/report.json"
t "release from a non-report" 1 "not an 'ipam check -o json' report" \
	"$B" ipam release --from-report "$data/calico/ipamconfig.yaml"
t "release a free address" 1 "192.168.0.1 is not assigned" "$B" ipam release --ip 192.168.0.1
t "release an unknown handle" 1 "handle 'nope' holds no addresses" "$B" ipam release --handle nope
t "split an enabled pool" 1 "is enabled; disable it first" "$B" ipam split zone-east-ippool 2
t "split too fine" 1 "cannot be split into 128: each part would be a /27, smaller than one block" \
	"$B" ipam split list-pool-a 128
t "split" 0 "split into 4 pools" "$B" ipam split list-pool-a 4
t "parts" 0 "172.16.12.0/22" "$B" get pool list-pool-a-3
t "parent gone" 1 "not found" "$B" get pool list-pool-a
t "parts disabled" 0 "disabled: true" "$B" get pool list-pool-a-0 -o yaml
t "split a missing pool" 1 "pool 'nope' not found" "$B" ipam split nope 2

# --- gc and nodes ---------------------------------------------------------------------------------

printf 'container-1\n# comment\n' >"$tmp/live.txt"
printf 'node-1\n' >"$tmp/nodes.txt"
echo '[{"containerID": "container-1", "ifname": "eth0"}]' >"$tmp/att.json"
t "gc --live" 0 "gc: 0 handles released" "$B" gc --live "$tmp/live.txt"
t "gc --network --attachments" 0 "gc: 0 handles" "$B" gc --network net1 --attachments "$tmp/att.json"
t "gc --nodes-live --dry-run" 0 "would release node node-2" "$B" gc --nodes-live "$tmp/nodes.txt" --dry-run
t "gc json" 0 '"dryRun": true' "$B" gc --nodes-live "$tmp/nodes.txt" --dry-run -o json
t "node release" 0 "node/node-2 released" "$B" node release node-2

# --- with addresses allocated by the plugin -------------------------------------------------------

cni_add() { # NETWORK CONTAINER IFNAME NODE
	printf '{"cniVersion":"1.0.0","name":"%s","type":"bridge","ipam":{"type":"blockipam","store":"%s","node":"%s"}}' \
		"$1" "$BLOCKIPAM_STORE" "$4" |
		CNI_COMMAND=ADD CNI_CONTAINERID=$2 CNI_IFNAME=$3 CNI_NETNS=/var/run/netns/cli-test \
			CNI_PATH=$build "$PLUGIN"
}
"$B" patch pool list-pool-a-0 --patch '{"spec":{"disabled":false}}' >/dev/null 2>&1
# node-3 has no pod CIDR: its pods get addresses from blocks of the automatic pools
if cni_add net1 container-1 eth0 node-3 >"$tmp/add1" 2>&1 &&
	cni_add net1 container-2 eth0 node-3 >"$tmp/add2" 2>&1; then
	ok "plugin ADDs for node-3"
else
	bad "plugin ADDs for node-3: $(cat "$tmp/add1" "$tmp/add2" 2>/dev/null)"
fi
addr2=$(grep -oE '"address": *"[^"/]+' "$tmp/add2" 2>/dev/null | head -n 1 | sed 's/.*"//')
touch "$tmp/live.txt" # the live list is taken after the allocations
t "show an allocated address" 0 "net1.container-2.eth0" "$B" ipam show --ip "${addr2:-0.0.0.0}"
t "show blocks with one" 0 "node-3" "$B" ipam show --show-blocks
t "show blocks wide" 0 "EMPTYSINCE" "$B" ipam show --show-blocks -o wide
t "routes" 0 "node-3" "$B" routes
t "routes -o json" 0 '"kind": "block"' "$B" routes -o json
t "routes --node -o yaml" 0 "kind: blackhole" "$B" routes --node node-3 -o yaml
t "gc keeps the live, releases the rest" 0 "released handle net1.container-2.eth0" \
	"$B" gc --live "$tmp/live.txt" --grace 0 --node node-3
t "address freed" 0 "Assigned" "$B" ipam show --ip "${addr2:-0.0.0.0}" && not_in "no holder" "container-2"
t "release by handle" 0 "released handle net1.container-1.eth0" "$B" ipam release --handle net1.container-1.eth0

# --- deleting -------------------------------------------------------------------------------------

t "delete a namespace" 0 "namespace/team-a deleted" "$B" delete ns team-a
t "delete: all must exist" 1 "pool 'nope' not found; nothing was deleted" "$B" delete pool dmz-manual nope
t "delete: untouched" 0 "dmz-manual" "$B" get pool dmz-manual
t "delete -f" 0 "pool/zone-east-ippool deleted" "$B" delete -f "$data/calico/ippools-topology.yaml"
t "deleted" 1 "not found" "$B" get pool dmz-manual
t "delete the config: defaults" 0 "ipamconfig/default reset to defaults" "$B" delete ipamconfig default
t "delete a missing node" 1 "node 'nope' not found" "$B" delete node nope
if t "no namespaces left" 0 "items: []" "$B" get namespaces -o yaml; then
	cp "$tmp/out" "$tmp/none.yaml"
	t "apply an empty list" 0 "nothing to do" "$B" apply -f "$tmp/none.yaml"
	t "delete an empty list" 0 "nothing to do" "$B" delete -f "$tmp/none.yaml"
fi

finish

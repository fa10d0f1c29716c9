#!/usr/bin/env bash
# valgrind memcheck on the plugin's main paths, exec'd like a runtime runs it: ADD (a new block,
# dual stack), a repeated ADD, host-local ranges, CHECK, DEL, GC, STATUS, VERSION and error paths
# (a bad config, an address another holds, a store that cannot be opened); then a few CLI commands.
# Every run is `valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite`:
# any memory error or definite leak fails it, and so does a wrong answer from the command.
# Skipped loudly when valgrind is missing, and in a sanitizer build (valgrind cannot run ASan
# binaries; the normal build's run covers the same code). Ends with
# "valgrind: N passed, N failed, N skipped".
set -u
name=valgrind
. "$(dirname "$0")/lib.sh"
# The plugin on the shared libc (build/blockipam-dyn, the same code): memcheck cannot follow a
# static glibc's own start-up (it reports its allocator and _dl_non_dynamic_init).
P=$build/blockipam-dyn
B=$ctl
cases="ADD ADD-again ADD-host-local ADD-second CHECK GC STATUS VERSION DEL DEL-again error-config
error-taken error-store error-version error-env cli-show cli-show-blocks cli-check cli-get cli-routes
cli-node-set cli-gc"

# shellcheck disable=SC2086 # the case names are words
skip_cases() { skip_all "$1" $cases; }
if [ ! -x "$P" ] || [ ! -x "$B" ]; then
	bad "$P and $B must be built"
	finish
fi
command -v valgrind >/dev/null || skip_cases "valgrind is not installed (scripts/deps.sh test)"
command -v jq >/dev/null || skip_cases "jq is not installed (scripts/deps.sh test)"
if ldd "$P" 2>/dev/null | grep -q libasan; then
	skip_cases "a sanitizer build: valgrind cannot run ASan binaries"
fi

tmp=$(mktemp -d /tmp/bip-valgrind.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
S=sqlite://$tmp/ipam.db
VG=(valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite
	--log-file="$tmp/vg.log")

"$B" --store "$S" apply -f - >/dev/null <<'EOF' || { bad "setup"; finish; }
apiVersion: blockipam.io/v1
kind: Pool
metadata: {name: p4}
spec: {cidr: 10.95.0.0/16, blockSize: 26}
---
apiVersion: blockipam.io/v1
kind: Pool
metadata: {name: p6}
spec: {cidr: 'fd00:95::/112', blockSize: 122}
EOF

conf() { # VERSION [JQ]: a network configuration
	jq -nc --arg s "$S" --arg v "$1" '{cniVersion: $v, name: "vg", type: "ptp",
		ipam: {type: "blockipam", store: $s, node: "node-v", assign_ipv6: true,
		routes: [{dst: "0.0.0.0/0"}], dns: {nameservers: ["10.95.0.53"]}}}' | jq -c "${2:-.}"
}

# v NAME WANT_RC CHECK CMD CONTAINER CONFIG: the plugin under valgrind; it must exit WANT_RC (not
# 99), valgrind must report nothing, and the jq expression CHECK must hold on its output.
v() {
	local name=$1 want=$2 check=$3 cmd=$4 ctr=$5 cfg=$6 rc
	env -i PATH=/usr/bin:/bin CNI_COMMAND="$cmd" CNI_CONTAINERID="$ctr" CNI_IFNAME=eth0 \
		CNI_NETNS=/var/run/netns/vg CNI_PATH=/opt/cni/bin "${VG[@]}" "$P" \
		<<<"$cfg" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	if [ "$rc" = 99 ] || [ -s "$tmp/vg.log" ]; then
				bad "$name: valgrind found errors (exit $rc):"
		sed 's/^/    | /' "$tmp/vg.log" | head -n 40
	elif [ "$rc" != "$want" ]; then
				bad "$name: exit $rc, want $want: $(head -c 400 "$tmp/out")"
	elif [ -n "$check" ] && ! jq -e "$check" "$tmp/out" >/dev/null 2>&1; then
				bad "$name: output fails '$check': $(head -c 400 "$tmp/out")"
	else
				ok "$name (exit $rc, valgrind clean)"
	fi
}

c10=$(conf 1.0.0)
c11=$(conf 1.1.0)
v ADD 0 '.ips | length == 2' ADD ctr-1 "$c10"
cp "$tmp/out" "$tmp/add1"
v ADD-again 0 '.ips | length == 2' ADD ctr-1 "$c10"
if ! cmp -s "$tmp/out" "$tmp/add1"; then
		bad "ADD-again: a different result: $(cat "$tmp/out")"
fi
v ADD-host-local 0 '.ips[0].address == "10.96.0.2/24"' ADD ctr-hl \
	"$(conf 1.0.0 '.name = "vg-hl" | .ipam |= (del(.assign_ipv6) | .ranges = [[{subnet: "10.96.0.0/24"}]])')"
v ADD-second 0 '.ips | length == 2' ADD ctr-2 "$c11"
v CHECK 0 '' CHECK ctr-1 "$(jq -c --slurpfile r "$tmp/add1" '. + {prevResult: $r[0]}' <<<"$c10")"
v GC 0 '' GC "" "$(jq -c '. + {"cni.dev/valid-attachments": [{containerID: "ctr-1", ifname: "eth0"}]}' <<<"$c11")"
v STATUS 0 '' STATUS "" "$c11"
v VERSION 0 '.supportedVersions | length == 5' VERSION "" "$c11"
v DEL 0 '' DEL ctr-1 "$c10"
v DEL-again 0 '' DEL ctr-1 "$c10"
v error-config 1 '.code == 7' ADD ctr-3 "$(conf 1.0.0 '.ipam.routes = [{dst: "10.0.0.1/8"}]')"
v error-taken 1 '.code == 101' ADD ctr-3 \
	"$(conf 1.0.0 '.ipam.assign_ipv6 = false | .runtimeConfig = {ips: ["10.96.0.2"]} |
		.ipam.ranges = [[{subnet: "10.96.0.0/24"}]] | del(.ipam.assign_ipv6) | .name = "vg-hl"')"
v error-store 1 '.code == 5' ADD ctr-3 "$(conf 1.0.0 ".ipam.store = \"sqlite://$tmp/none/ipam.db\"")"
v error-version 1 '.code == 1' ADD ctr-3 "$(conf 9.9.9)"
v error-env 1 '.code == 4' ADD ../x "$c10"

# the CLI: reading, checking, writing
for args in "ipam show" "ipam show --show-blocks" "ipam check" "get -o yaml" "routes" \
	"node set node-v --label zone=a" "gc --live $tmp/live.txt --grace 0"; do
	echo ctr-2 >"$tmp/live.txt"
	# shellcheck disable=SC2086
	"${VG[@]}" "$B" --store "$S" $args >"$tmp/out" 2>"$tmp/err"
	rc=$?
	if [ "$rc" = 0 ] && [ ! -s "$tmp/vg.log" ]; then
				ok "cli: $args (valgrind clean)"
	else
				bad "cli: $args: exit $rc"
		sed 's/^/    | /' "$tmp/vg.log" "$tmp/err" | head -n 40
	fi
done
finish

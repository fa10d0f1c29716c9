#!/usr/bin/env bash
# scripts/check-deps catches what it says it catches: on a small tree of its own (a git
# repository in a temporary directory, with lib/, store/, cni/, cli/, public headers and an
# allowlist), the clean tree passes, and each kind of violation, made one at a time, fails with
# its message: an include across layers, a public header including a private one, the store
# including the library's header, libyaml outside the CLI, lib/ calling a backend or
# bip_store_open, the CLI calling the plugin, an undeclared export, a stale allowlist entry.
# Runs in a few seconds. Ends with "check_deps: N passed, N failed, N skipped".
set -u
name=check_deps
. "$(dirname "$0")/lib.sh"
why=$(why_not_cmd git nm cc)
[ -n "$why" ] && skip_all "$why" everything
tmp=$(mktemp -d /tmp/bip-check-deps.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
t=$tmp/tree
mkdir -p "$t/scripts" "$t/include/blockipam" "$t/lib" "$t/store/etcd" "$t/cni" "$t/cli"
cp "$root/scripts/check-deps" "$t/scripts/"

# The clean tree: lib/ uses the store interface only; the CLI and the plugin use lib/.
cat >"$t/include/blockipam/store.h" <<'EOF'
int bip_store_open(void);
int bip_store_get(void);
int bip_etcd_open(void);
EOF
cat >"$t/include/blockipam/ipam.h" <<'EOF'
#include "blockipam/store.h"
int bip_ipam_do(void);
EOF
echo 'int bip__helper(void);' >"$t/lib/internal.h"
cat >"$t/lib/ipam.c" <<'EOF'
#include "blockipam/ipam.h"
#include "internal.h"
int bip__helper(void) { return 1; }
int bip_ipam_do(void) { return bip__helper() + bip_store_get(); }
EOF
cat >"$t/store/store.c" <<'EOF'
#include "blockipam/store.h"
int bip_store_get(void) { return 0; }
int bip_store_open(void) { return bip_etcd_open(); }
EOF
echo 'int bip_etcd_open(void);' >"$t/store/etcd/etcd.h"
cat >"$t/store/etcd/etcd.c" <<'EOF'
#include "blockipam/store.h"
#include "etcd.h"
int bip_etcd_open(void) { return bip_store_get(); }
EOF
cat >"$t/cni/run.c" <<'EOF'
#include "blockipam/ipam.h"
int bip_cni_run(void);
int bip_cni_run(void) { return bip_store_open() + bip_ipam_do(); }
EOF
cat >"$t/cli/main.c" <<'EOF'
#include "blockipam/ipam.h"
int ctl_main(void);
int ctl_main(void) { return bip_store_open() + bip_ipam_do(); }
EOF
printf '# internals\nbip__helper\n' >"$t/scripts/check-deps.allow"
(cd "$t" && git init -q && git add -A) || { bad "setup: git"; finish; }

compile() { # FILE.c...: (re)compile into build/obj, then archive lib/ and store/ again
	local f o
	for f in "$@"; do
		o=$t/build/obj/${f%.c}.o
		mkdir -p "$(dirname "$o")"
		cc -std=c11 -w -I"$t/include" -c "$t/$f" -o "$o" || return 1
	done
	rm -f "$t/build/libblockipam.a"
	ar rcs "$t/build/libblockipam.a" "$t"/build/obj/lib/*.o "$t"/build/obj/store/*.o \
		"$t"/build/obj/store/etcd/*.o
}
build() { compile $(cd "$t" && git ls-files '*.c'); }

run_check() { (cd "$t" && scripts/check-deps build) >"$tmp/out" 2>&1; }

if build && run_check; then
	ok "the clean tree passes ($(tail -n 1 "$tmp/out"))"
else
	bad "the clean tree fails: $(cat "$tmp/out")"
	finish
fi

# violation NAME FILE 'TEXT TO APPEND' 'EXPECTED MESSAGE' [nobuild]: append to FILE (recompiled
# when it is a .c), expect the failure, then put FILE back. nobuild: an include that would not
# compile; the include check reads the sources, so the clean tree's objects serve.
violation() {
	local what=$1 rel=$2 f=$t/$2 add=$3 want=$4 nobuild=${5:-} c=
	[ -z "$nobuild" ] && [[ $rel == *.c ]] && c=$rel
	cp "$f" "$tmp/saved"
	printf '%s\n' "$add" >>"$f"
	(cd "$t" && git add -A)
	if [ -n "$c" ] && ! compile "$c"; then
		bad "$what: the tree does not compile"
	elif run_check; then
		bad "$what: check-deps passed"
	elif ! grep -qF -- "$want" "$tmp/out"; then
		bad "$what: no '$want' in: $(cat "$tmp/out")"
	else
		ok "$what: $(grep -F -- "$want" "$tmp/out" | head -n 1)"
	fi
	cp "$tmp/saved" "$f"
	(cd "$t" && git add -A)
	[ -z "$c" ] || compile "$c" || bad "$what: the tree put back does not compile"
}

violation "include across layers" lib/ipam.c '#include "../store/etcd/etcd.h"' \
	'lib/ipam.c includes "../store/etcd/etcd.h": only blockipam/*.h'
violation "a header from another directory" cli/main.c '#include "run.h"' \
	'cli/main.c includes "run.h", which is not in cli/' nobuild
violation "a public header includes a private one" include/blockipam/ipam.h '#include "internal.h"' \
	'include/blockipam/ipam.h includes "internal.h": a public header includes only' nobuild
violation "the store includes the library" store/etcd/etcd.c '#include "blockipam/ipam.h"' \
	'store/etcd/etcd.c includes "blockipam/ipam.h": the store knows nothing of the library'
violation "libyaml outside the CLI" lib/ipam.c '#include <yaml.h>' \
	'lib/ipam.c includes <yaml.h>: libyaml is the CLI'
violation "lib/ calls a backend" lib/ipam.c 'int bip_etcd_open(void); int bip_ipam_x(void); int bip_ipam_x(void) { return bip_etcd_open(); }' \
	'lib/ipam.c uses bip_etcd_open: lib/ never reaches a backend'
violation "lib/ opens the store" lib/ipam.c 'int bip_ipam_x(void); int bip_ipam_x(void) { return bip_store_open(); }' \
	'lib/ipam.c uses bip_store_open: lib/ never reaches a backend or a binary'
violation "the store calls the library" store/store.c 'int bip_ipam_do(void); int bip_store_x(void) { return bip_ipam_do(); }' \
	'store/store.c uses bip_ipam_do: store/ never uses the library'
violation "the CLI calls the plugin" cli/main.c 'int bip_cni_run(void); int ctl_x(void) { return bip_cni_run(); }' \
	"cli/main.c uses bip_cni_run: the CLI never uses the plugin's objects"
violation "an undeclared export" lib/ipam.c 'int leaky(void) { return 2; }' \
	'libblockipam.a exports leaky, which no public header declares'
violation "a stale allowlist entry" scripts/check-deps.allow 'gone_helper' \
	'scripts/check-deps.allow lists gone_helper, which libblockipam.a no longer exports'

if build && run_check; then ok "the tree put back passes again"; else bad "the tree put back: $(cat "$tmp/out")"; fi
finish

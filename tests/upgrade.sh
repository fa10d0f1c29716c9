#!/usr/bin/env bash
# The schema-1 -> 2 upgrade of the embedded store (store/sqlite/schema.c), on the fixture a
# b7648e5 build wrote (tests/fixtures/make-schema1.sh): a read-only open serves schema 1 as it
# is; the first writable open upgrades it with every record kept (keys and a digest of key, rev
# and value compared before and after); it is then served (ipam show the same, check clean, ADD
# and DEL); store migrate copies a schema-1 file to a new (schema-2) one; a process SIGKILLed
# during the upgrade, BIP_UPGRADE_KILLS times (default 20), leaves schema 1 or 2, never half.
# With BIP_OLD_BUILD (a build of b7648e5) the old CLI must refuse the upgraded file clearly.
set -u
name=upgrade
. "$(dirname "$0")/lib.sh"
B=$ctl
fx=$root/tests/fixtures
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"; finish' EXIT
unset BLOCKIPAM_STORE BLOCKIPAM_NODE
command -v sqlite3 >/dev/null || skip_all "sqlite3 is not installed" upgrade
db=$tmp/s1.db S=sqlite://$tmp/s1.db
digest() { sqlite3 "$1" 'SELECT key, rev, hex(value) FROM kv ORDER BY key' | sha256sum; }
ver() { sqlite3 "$1" 'PRAGMA user_version'; }
check() { if [ "$2" = "$3" ]; then ok "$1"; else bad "$1: got '$2', want '$3'"; fi; }
echo '{"cniVersion": "1.0.0", "name": "fix-net", "ipam": {"type": "blockipam", "assign_ipv6": true}}' >"$tmp/net.conf"
cni() { # COMMAND POD NODE STORE
	CNI_COMMAND=$1 CNI_CONTAINERID="ctr-$2" CNI_NETNS="/var/run/netns/ctr-$2" CNI_IFNAME=eth0 \
	CNI_PATH="$build" BLOCKIPAM_NODE="$3" BLOCKIPAM_STORE="${4:-$S}" "$plugin" <"$tmp/net.conf"
}

cp "$fx/schema1.db" "$db"
check "fixture is schema 1" "$(ver "$db")" 1
before=$(digest "$db")
check "read-only open serves schema 1" "$("$B" --store "$S" ipam show | cmp - "$fx/schema1.show" && echo same)" same
check "read-only open leaves schema 1" "$(ver "$db")" 1
"$B" store migrate --from "$S" --to "sqlite://$tmp/m.db" >/dev/null 2>&1
check "migrate schema 1 -> new file: schema 2" "$(ver "$tmp/m.db")" 2
kvsum() { sqlite3 "$1" 'SELECT key, hex(value) FROM kv ORDER BY key' | sha256sum; }
check "migrate: every key and value (migrate renumbers revisions)" "$(kvsum "$tmp/m.db")" "$(kvsum "$db")"
cni DEL 999 fix-node-1 >/dev/null
check "writable open upgrades" "$(ver "$db")" 2
check "upgrade: the same keys" "$(sqlite3 "$db" 'SELECT key FROM kv ORDER BY key' | cmp - "$fx/schema1.keys" && echo same)" same
check "upgrade: key, rev and value digest" "$(digest "$db")" "$before"
check "upgrade: no kv2 left" "$(sqlite3 "$db" "SELECT count(*) FROM sqlite_schema WHERE name = 'kv2'")" 0
check "upgrade: key-only list uses the covering index" \
	"$(sqlite3 "$db" "EXPLAIN QUERY PLAN SELECT key, rev FROM kv WHERE key >= 'blocks/' AND key < 'blocks0' ORDER BY key" | grep -c 'COVERING INDEX kv_keys')" 1
check "served: ipam show" "$("$B" --store "$S" ipam show | cmp - "$fx/schema1.show" && echo same)" same
check "served: ipam check" "$("$B" --store "$S" ipam check >/dev/null && echo clean)" clean
check "served: ADD" "$(cni ADD 50 fix-node-1 | grep -c 10.80.0.)" 1
check "served: DEL" "$(cni DEL 50 fix-node-1 >/dev/null && echo ok)" ok
check "served: check after ADD and DEL" "$("$B" --store "$S" ipam check >/dev/null && echo clean)" clean
if [ -n "${BIP_OLD_BUILD:-}" ]; then
	out=$("$BIP_OLD_BUILD/blockipamctl" --store "$S" ipam show 2>&1)
	check "the old release refuses schema 2" "$(echo "$out" | grep -c "schema version 2, newer than this program's (1): upgrade blockipam")" 1
else
	skip "old release refuses schema 2 (set BIP_OLD_BUILD to a build of b7648e5)"
fi

# --- SIGKILL during the upgrade: a big schema-1 file (the fixture plus 3,000 5 KB rows)
cp "$fx/schema1.db" "$tmp/big.db"
sqlite3 "$tmp/big.db" "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)
	INSERT INTO kv (key, value, rev) SELECT printf('zfill/%05d', i), randomblob(5000), 1 FROM n;"
bigsum=$(digest "$tmp/big.db")
kills=${BIP_UPGRADE_KILLS:-20} at1=0 at2=0 half=0
for k in $(seq 1 "$kills"); do
	[ "$(ver "$tmp/big.db")" = 2 ] && rm -f "$tmp"/big.db* && cp "$fx/schema1.db" "$tmp/big.db" &&
		sqlite3 "$tmp/big.db" "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)
		INSERT INTO kv (key, value, rev) SELECT printf('zfill/%05d', i), randomblob(5000), 1 FROM n;" &&
		bigsum=$(digest "$tmp/big.db")
	cni DEL 999 fix-node-1 "sqlite://$tmp/big.db" >/dev/null 2>&1 &
	sleep "0.0$((RANDOM % 80 + 10))"
	kill -9 $! 2>/dev/null
	wait $! 2>/dev/null
	v=$(ver "$tmp/big.db")
	ok1=$(sqlite3 "$tmp/big.db" 'PRAGMA integrity_check')
	kv2=$(sqlite3 "$tmp/big.db" "SELECT count(*) FROM sqlite_schema WHERE name = 'kv2'")
	if [ "$ok1" != ok ] || [ "$kv2" != 0 ] || [ "$(digest "$tmp/big.db")" != "$bigsum" ]; then
		half=$((half + 1))
	fi
	case $v in 1) at1=$((at1 + 1)) ;; 2) at2=$((at2 + 1)) ;; *) half=$((half + 1)) ;; esac
done
echo "     $kills kills during the upgrade: $at1 left schema 1, $at2 schema 2, $half neither or lost records"
check "killed upgrades: never half, nothing lost" "$half" 0
[ "$at1" -gt 0 ] && ok "some kills landed inside the upgrade" || skip "no kill landed inside the upgrade"

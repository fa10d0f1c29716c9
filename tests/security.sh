#!/usr/bin/env bash
# Security properties of the plugin and the CLI, as tests:
#   modes      a store the plugin or the CLI creates is 0600 (its lock file too), whatever the
#              umask; the default directory they create is 0700 (as root, in a private mount
#              namespace over a tmpfs /var/lib, so the host is not touched)
#   refusal    a world-writable store directory (0777, 1777, /tmp itself) is refused with a
#              message that says so, and nothing is created in it
#   no shell   no system(), popen(), exec*(), fork(), posix_spawn() or wordexp() in lib/ store/
#              cni/ cli/ include/, and none imported by the built binaries; the one exception is
#              `blockipamctl k8s watch`, which runs kubectl by design (DESIGN.md, Kubernetes):
#              cli/k8s_watch.c may fork() and execvp() a fixed argv, and nothing else, and the
#              CLI imports those two only
#   keys       container ids, interface names and names given to the CLI never make a key
#              outside its prefix: '../', '/', '%2f', '\' are refused, or kept literally inside
#              handles/ (every key of the store checked after each)
#   secrets    files named by the config or the command line (TLS key paths, resolvConf,
#              manifests, live lists, reports) are named in messages by path, never by content
# Ends with "security: N passed, N failed, N skipped".
set -u
name=security
. "$(dirname "$0")/lib.sh"
P=$plugin
B=$ctl
if [ ! -x "$P" ] || [ ! -x "$B" ]; then
	bad "$P and $B must be built"
	finish
fi
for t in jq sqlite3; do
	command -v "$t" >/dev/null || { skip "everything: $t is not installed (scripts/deps.sh test)"; finish; }
done
tmp=$(mktemp -d /tmp/bip-security.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
pool_yaml='apiVersion: blockipam.io/v1
kind: Pool
metadata: {name: p4}
spec: {cidr: 10.98.0.0/16}'

# cni CMD CONTAINER IFNAME CONFIG: the plugin like a runtime runs it; stdout in $tmp/out.
cni() {
	env -i PATH=/usr/bin:/bin CNI_COMMAND="$1" CNI_CONTAINERID="$2" CNI_IFNAME="$3" \
		CNI_NETNS=/var/run/netns/sec CNI_PATH=/opt/cni/bin "$P" <<<"$4" >"$tmp/out" 2>&1
}
conf() { # STORE [JQ]
	jq -nc --arg s "$1" '{cniVersion: "1.1.0", name: "net", type: "ptp",
		ipam: {type: "blockipam", store: $s, node: "node-s"}}' | jq -c "${2:-.}"
}
mode() { stat -c %a "$1" 2>/dev/null; }

# --- modes ------------------------------------------------------------------------------------

mkdir -m 0700 "$tmp/p" "$tmp/c"
"$B" --store "sqlite://$tmp/p/ipam.db" apply -f - <<<"$pool_yaml" >/dev/null 2>&1
rm -f "$tmp/p/ipam.db" "$tmp/p/ipam.db.lock"
(umask 000 && cni ADD ctr-1 eth0 "$(conf "sqlite://$tmp/p/ipam.db")")
if [ "$(mode "$tmp/p/ipam.db")" = 600 ] && [ "$(mode "$tmp/p/ipam.db.lock")" = 600 ]; then
	ok "the plugin creates its store 0600 and its lock file 0600 under umask 000"
else
	bad "plugin, umask 000: store $(mode "$tmp/p/ipam.db"), lock $(mode "$tmp/p/ipam.db.lock"), want 600"
fi
(umask 000 && "$B" --store "sqlite://$tmp/c/ipam.db" apply -f - <<<"$pool_yaml" >/dev/null 2>&1)
if [ "$(mode "$tmp/c/ipam.db")" = 600 ] && [ "$(mode "$tmp/c/ipam.db.lock")" = 600 ]; then
	ok "the CLI creates its store 0600 and its lock file 0600 under umask 000"
else
	bad "CLI, umask 000: store $(mode "$tmp/c/ipam.db"), lock $(mode "$tmp/c/ipam.db.lock"), want 600"
fi
# The plugin keeps -wal and -shm between execs (store/sqlite/sqlite.c, "Checkpoints"): they
# hold recent commits, so they must be as private as the file; the CLI's close removes them.
wal_modes=$(for f in "$tmp/p/ipam.db-wal" "$tmp/p/ipam.db-shm"; do [ -e "$f" ] && mode "$f"; done | tr '\n' ' ')
if [ "$wal_modes" = "600 600 " ]; then
	ok "the plugin's -wal and -shm files are 0600 under umask 000"
else
	bad "plugin, umask 000: -wal/-shm modes '$wal_modes', want '600 600 '"
fi
left=$(ls "$tmp/c" | grep -cE -- '-(wal|shm)$')
[ "$left" = 0 ] && ok "the CLI leaves no -wal or -shm file behind" || bad "the CLI left $left -wal/-shm files"

# The default store directory, created by the plugin and by the CLI: only as root, in a mount
# namespace of its own with a tmpfs on /var/lib (the host's /var/lib is not touched).
if [ "$(id -u)" != 0 ]; then
	skip "the default directory /var/lib/blockipam: not root"
	skip "the default directory, by the CLI: not root"
elif ! command -v unshare >/dev/null || ! unshare -m true 2>/dev/null; then
	skip "the default directory /var/lib/blockipam: no mount namespaces (unshare -m)"
	skip "the default directory, by the CLI: no mount namespaces (unshare -m)"
else
	cfg=$(conf x 'del(.ipam.store)')
	got=$(unshare -m --propagation private sh -c '
		mount -t tmpfs -o mode=0755 none /var/lib || exit 1
		umask 000
		printf "%s" "$3" | env -i PATH=/usr/bin:/bin CNI_COMMAND=ADD CNI_CONTAINERID=c \
			CNI_IFNAME=eth0 CNI_NETNS=/x "$1" >/dev/null
		stat -c "%a %n" /var/lib/blockipam /var/lib/blockipam/ipam.db
		umount /var/lib && mount -t tmpfs -o mode=0755 none /var/lib || exit 1
		env -u BLOCKIPAM_STORE "$2" get pools >/dev/null 2>&1
		[ -e /var/lib/blockipam ] && echo "a read created /var/lib/blockipam"
		printf "%s\n" "$4" | env -u BLOCKIPAM_STORE "$2" apply -f - >/dev/null
		stat -c "%a %n" /var/lib/blockipam /var/lib/blockipam/ipam.db' \
		sh "$P" "$B" "$cfg" "$pool_yaml" 2>&1)
	want=$'700 /var/lib/blockipam\n600 /var/lib/blockipam/ipam.db'
	if [ "$(sed -n 1,2p <<<"$got")" = "$want" ]; then
		ok "the plugin creates /var/lib/blockipam 0700 and ipam.db 0600 under umask 000"
	else
		bad "the plugin's default directory: got '$(sed -n 1,2p <<<"$got")', want '$want'"
	fi
	if [ "$(sed -n 3,4p <<<"$got")" = "$want" ]; then
		ok "the CLI creates /var/lib/blockipam 0700 and ipam.db 0600 under umask 000 (a read creates nothing)"
	else
		bad "the CLI's default directory: got '$(sed -n 3,5p <<<"$got")', want '$want'"
	fi
fi

# --- world-writable directories -------------------------------------------------------------------

mkdir -m 0777 "$tmp/ww" && chmod 0777 "$tmp/ww"
mkdir -m 1777 "$tmp/sticky" && chmod 1777 "$tmp/sticky"
for d in "$tmp/ww" "$tmp/sticky" /tmp; do
	f=$d/bip-security-$$.db
	for cmd in ADD DEL; do
		cni $cmd ctr-1 eth0 "$(conf "sqlite://$f")"
		if [ "$(jq -r .code "$tmp/out")" = 109 ] &&
			grep -qF "store directory '$d' is world-writable (mode $(stat -c %04a "$d"))" "$tmp/out" &&
			[ ! -e "$f" ] && [ ! -e "$f.lock" ]; then
			ok "plugin $cmd refuses a store in $d ($(stat -c %04a "$d")) and creates nothing"
		else
			bad "plugin $cmd with a store in $d: $(cat "$tmp/out"); created: $(ls "$f"* 2>/dev/null)"
		fi
	done
	"$B" --store "sqlite://$f" apply -f - <<<"$pool_yaml" >"$tmp/out" 2>&1
	rc=$?
	if [ "$rc" = 1 ] && grep -qF "store directory '$d' is world-writable" "$tmp/out" && [ ! -e "$f" ]; then
		ok "the CLI refuses a store in $d and creates nothing"
	else
		bad "CLI with a store in $d: exit $rc: $(cat "$tmp/out")"
	fi
done

# --- no shell, no exec --------------------------------------------------------------------------

calls='\b(system|popen|execl|execle|execlp|execv|execve|execvp|execvpe|fexecve|fork|vfork|posix_spawnp?|wordexp|clone)[[:space:]]*\('
hits=$(cd "$root" && grep -nE "$calls|/bin/sh|\"sh\"|\bsh -c" -r lib store cni cli include 2>/dev/null |
	grep -vE '^[^:]+:[0-9]+:[[:space:]]*(\*|/\*|//)' |
	grep -vE '^cli/k8s_watch\.c:[0-9]+:[[:space:]]*(pid = fork\(\);|execvp\(argv\[0\], \(char \*const \*\)argv\);)$')
if [ -z "$hits" ]; then
	ok "no system, popen, exec, fork, posix_spawn, wordexp or shell in lib/ store/ cni/ cli/ include/"
else
	bad "the sources start processes or shells:"
	sed 's/^/    | /' <<<"$hits"
fi
if command -v nm >/dev/null; then
	for bin in "$P" "$B"; do
		imp=$(nm -D --undefined-only "$bin" 2>/dev/null | awk '{print $NF}' | sed 's/@.*//' |
			grep -xE 'system|popen|execl|execle|execlp|execv|execve|execvp|execvpe|fexecve|fork|vfork|posix_spawnp?|wordexp|clone' | tr '\n' ' ')
		# k8s watch runs kubectl (fork + execvp of a fixed argv); the plugin runs nothing
		[ "$bin" = "$B" ] && imp=$(tr ' ' '\n' <<<"$imp" | grep -vxE 'fork|execvp' | tr '\n' ' ' | sed 's/ *$//')
		if [ -z "$imp" ] && [ "$bin" = "$B" ]; then
			ok "$(basename "$bin") imports no function that runs a program but fork and execvp (k8s watch runs kubectl)"
		elif [ -z "$imp" ]; then
			ok "$(basename "$bin") imports no function that runs a program"
		else
			bad "$(basename "$bin") imports $imp"
		fi
	done
else
	skip "binary imports: nm is not installed (binutils)"
fi

# --- keys stay in their prefix ------------------------------------------------------------------

mkdir -m 0700 "$tmp/k"
db=$tmp/k/ipam.db
S=sqlite://$db
"$B" --store "$S" apply -f - <<<"$pool_yaml" >/dev/null 2>&1
keys() { sqlite3 "$db" 'select key from kv order by key'; }
# every key is one of the record kinds, and none holds a path step
outside() {
	keys | grep -vE '^(pools|blocks|blockidx|affinity|handles|nodes|namespaces|reservations)/[^/]|^(config|poolset|format)$'
	keys | grep -E '(^|/)\.\.?(/|$)'
}

refused=("../etc" "a/b" "a%2fb" 'a\b' "/" ".." "-x" "." "x/../y")
for id in "${refused[@]}"; do
	keys >"$tmp/k0"
	cni ADD "$id" eth0 "$(conf "$S")"
	if [ "$(jq -r .code "$tmp/out")" = 4 ] && keys | cmp -s - "$tmp/k0"; then
		ok "container id '$id' is refused (4), no key written"
	else
		bad "container id '$id': $(cat "$tmp/out")"
	fi
done
for ifn in "../x" "a/b" "/" ".." "." 'a:b' 'eth\0' 'a"b' "it's"; do
	keys >"$tmp/k0"
	cni ADD ctr-k "$ifn" "$(conf "$S")"
	if [ "$(jq -r .code "$tmp/out")" = 4 ] && keys | cmp -s - "$tmp/k0"; then
		ok "interface name '$ifn' is refused (4), no key written"
	else
		bad "interface name '$ifn': $(cat "$tmp/out")"
	fi
done
# legal but odd: kept literally, inside handles/
contained=("ctr-k:eth%2f" "ctr-k:..x" "a..b:eth0" "a.b:..%2e" "ctr-k:%2e%2e" "ctr-k:-eth0")
for pair in "${contained[@]}"; do
	id=${pair%%:*} ifn=${pair#*:}
	keys >"$tmp/k0"
	cni ADD "$id" "$ifn" "$(conf "$S")"
	rc=$?
	new=$(keys | comm -13 "$tmp/k0" -)
	if [ "$rc" = 0 ] && grep -qxF "handles/net.$id.$ifn" <<<"$new" && [ -z "$(outside)" ]; then
		ok "container '$id' interface '$ifn' is kept literally as handles/net.$id.$ifn"
	else
		bad "container '$id' interface '$ifn': exit $rc: $(cat "$tmp/out"); new keys: $new; outside: $(outside)"
	fi
	cni DEL "$id" "$ifn" "$(conf "$S")"
	keys | grep -qxF "handles/net.$id.$ifn" && bad "DEL left handles/net.$id.$ifn"
done
keys >"$tmp/k0"
for args in "ipam release --handle ../pools/p4" "ipam release --handle handles/../pools/p4" \
	"node set ../x --label a=b" "node set a%2fb --label a=b" "delete pool ../p4" \
	"node release ../pools" "get pool ../p4" "patch pool ../p4 --patch {}"; do
	# shellcheck disable=SC2086
	"$B" --store "$S" $args >"$tmp/out" 2>&1
	rc=$?
	if [ "$rc" != 0 ] && grep -qE "invalid (handle|node name|pool name)" "$tmp/out" &&
		keys | cmp -s - "$tmp/k0"; then
		ok "blockipamctl $args: refused ($(head -c 80 "$tmp/out"))"
	else
		bad "blockipamctl $args: exit $rc: $(cat "$tmp/out")"
	fi
done

# --- secrets: paths, never contents --------------------------------------------------------------

secret=SECRET-$$-d3adb33f
mkdir -m 0700 "$tmp/s"
printf -- '-----BEGIN PRIVATE KEY-----\nMIIEv%sQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n' "$secret" >"$tmp/s/key.pem"
printf 'root:$y$j9T$%s:19000:0:99999:7:::\n' "$secret" >"$tmp/s/shadow"
printf '%s\n' "$secret" >"$tmp/s/plain"
printf '{"token": "%s", "n": [1, 2,]}\n' "$secret" >"$tmp/s/broken.json"
printf 'password: %s\n  bad: indentation\n' "$secret" >"$tmp/s/broken.yaml"
chmod 0600 "$tmp/s"/*
leaks=0 tries=0
check_leak() { # WHAT: the last output must not hold the secret
	tries=$((tries + 1))
	if grep -qF "$secret" "$tmp/out"; then
		leaks=$((leaks + 1))
		echo "    leak: $1: $(grep -F "$secret" "$tmp/out" | head -c 200)"
	fi
}
for f in "$tmp/s"/*; do
	for field in store_key_file store_cert_file store_ca_file; do
		cni ADD ctr-s eth0 "$(conf "etcds://127.0.0.1:2379" ".ipam.$field = \"$f\"")"
		check_leak "plugin ipam.$field=$f"
	done
	cni ADD ctr-s eth0 "$(conf "$S" ".ipam.resolvConf = \"$f\"")"
	check_leak "plugin ipam.resolvConf=$f"
	for args in "apply -f" "create -f" "delete -f" "apply --dry-run -f" "gc --dry-run --live" \
		"gc --dry-run --nodes-live" "ipam release --dry-run --from-report" \
		"gc --dry-run --network net --attachments"; do
		# shellcheck disable=SC2086
		"$B" --store "$S" $args "$f" >"$tmp/out" 2>&1
		check_leak "blockipamctl $args $f"
	done
	# a file named where a store is expected
	"$B" --store "sqlite://$f" get pools >"$tmp/out" 2>&1
	check_leak "blockipamctl --store sqlite://$f"
	cni ADD ctr-s eth0 "$(conf "sqlite://$f")"
	check_leak "plugin ipam.store=sqlite://$f"
done
if [ "$leaks" = 0 ]; then
	ok "$tries commands given secret-holding files (keys, shadow, JSON, YAML) never print their contents"
else
	bad "$leaks of $tries commands printed a file's secret content"
fi
finish

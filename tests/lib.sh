# tests/lib.sh: what the shell tests share: the counters, the closing line, loud skips and the
# preamble of the tests that need root and network namespaces. A test names itself and sources
# this file first (scripts/run-tests does not run it: it has no closing line of its own):
#
#   set -u
#   name=foo
#   . "$(dirname "$0")/lib.sh"
#
# It then has:
#   root build        the checkout and the build directory: $BIP_ROOT and $BIP_BUILD, as
#                     scripts/run-tests exports them, else this checkout and its build/
#   plugin ctl        $build/blockipam and $build/blockipamctl
#   cnidir            the real CNI plugins (/usr/lib/cni, Debian's containernetworking-plugins)
#   ok MSG            a check passed:   prints "ok   MSG"
#   bad MSG           a check failed:   prints "FAIL MSG" (through t_fail, which a test's own bad
#                     that also shows the output calls)
#   skip MSG [WHY]    a check that cannot run here, counted and loud: "skip MSG: WHY: SKIPPED"
#   skip_all WHY NAME...  one skip per NAME, with the reason, then finish
#   finish            prints "$name: N passed, N failed, N skipped" (the line scripts/run-tests
#                     adds up) and exits, 1 if anything failed
#   make_tmp          makes $tmp, a fresh directory /tmp/bip-$name.XXXXXX, removed at exit
#   damage_records DB  overwrites the root page of an embedded store's records table
#   at_exit CMD       CMD (a string, eval'd) runs at exit, the last given first, before $tmp
#                     goes and after etcd_cleanup (when tests/etcd-harness.sh is sourced).
#                     lib.sh owns the EXIT trap: a test gives its clean-up to at_exit instead
#
# and the rows of the tests that run a command and look at its output:
#   pass NAME         ok with $t_prefix (when set) before NAME
#   fail NAME [WHY]   bad "NAME: WHY", with the head of $tmp/out and $tmp/err once a t has run
#                     (or the test has set fail_output=1: its own rows leave their output there)
#                     and the tail of the file $fail_log when the test names one (a daemon's log)
#   t NAME WANT_RC TEXT CMD...   CMD exits WANT_RC and TEXT (a fixed string; '' = anything) is in
#                     its stdout or stderr, which stay in $tmp/out and $tmp/err (its status in $rc)
#   t_all NAME WANT_RC TEXT... -- CMD...   the same with every TEXT
#   not_in NAME TEXT  the last t's output does not hold TEXT
#   check NAME CMD... passes when CMD (a test) succeeds; its output is shown only when it fails
# VERBOSE=1 shows each t's stderr.
#
# and what the tests of rootful podman (tests/podman.sh, tests/image.sh) keep tidy:
#   podman_note_outside   remembers which of the paths podman 4.3 writes outside the directories
#                     a test gives it ($podman_outside) exist already
#   podman_tidy CGPARENT  after podman: unmounts what is mounted under $tmp, removes the cgroup
#                     CGPARENT, and the outside paths that did not exist before
#   why_not_netns     prints why tests of root and `ip netns` cannot run here, nothing if they can
#   why_not_cmd CMD...  prints the first command that is not installed, as a reason, or nothing
# A test never passes silently: what cannot run is a skip with its reason, and a test that
# ends without its closing line (a crash, an unexpected exit) counts as a failure.

root=${BIP_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
build=${BIP_BUILD:-$root/build}
plugin=$build/blockipam
ctl=$build/blockipamctl
cnidir=/usr/lib/cni
passed=0 failed=0 skipped=0
tmp=
t_prefix=
fail_log=
fail_output=0
rc=0
t_exits=()

ok() {
	passed=$((passed + 1))
	echo "ok   $*"
}

# bad is t_fail, so that a test can redefine bad to add the failed case's output.
t_fail() {
	failed=$((failed + 1))
	echo "FAIL $*"
}

bad() { t_fail "$@"; }

skip() {
	skipped=$((skipped + 1))
	echo "skip $1${2:+: $2}: SKIPPED"
}

finish() {
	echo "$name: $passed passed, $failed failed, $skipped skipped"
	exit $((failed > 0))
}

skip_all() {
	local why=$1 c
	shift
	for c in "$@"; do skip "$c: $why"; done
	finish
}

why_not_netns() {
	if [ "$(id -u)" != 0 ]; then
		echo "not root"
	elif ! ip netns list >/dev/null 2>&1; then
		echo "'ip netns' is not available"
	fi
}

why_not_cmd() {
	local c
	for c in "$@"; do
		if ! command -v "$c" >/dev/null; then
			echo "$c is not installed"
			return
		fi
	done
}

# damage_records DB: overwrite the whole root page of the embedded store's records table (kv),
# wherever the schema puts it, after folding the WAL into the file: every read through it fails.
damage_records() {
	local root psize
	sqlite3 "$1" "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null
	root=$(sqlite3 "$1" "SELECT rootpage FROM sqlite_master WHERE type = 'table' AND name = 'kv'")
	psize=$(sqlite3 "$1" "PRAGMA page_size")
	python3 -c '
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek((int(sys.argv[2]) - 1) * int(sys.argv[3]))
    f.write(b"\xa5" * int(sys.argv[3]))' "$1" "$root" "$psize"
}

make_tmp() {
	tmp=$(mktemp -d "/tmp/bip-$name.XXXXXX") || {
		bad "cannot make a temporary directory"
		finish
	}
}

at_exit() { t_exits+=("$1"); }

# The EXIT trap: a clean-up never changes the exit status (bash keeps the status of exit).
t_exit() {
	local i
	for ((i = ${#t_exits[@]} - 1; i >= 0; i--)); do eval "${t_exits[$i]}"; done
	declare -F etcd_cleanup >/dev/null && etcd_cleanup
	[ -n "$tmp" ] && rm -rf "$tmp"
}
trap t_exit EXIT

pass() { ok "$t_prefix$1"; }

fail() {
	bad "$t_prefix$1${2:+: $2}"
	[ "$fail_output" = 1 ] && sed 's/^/    | /' "$tmp/out" "$tmp/err" 2>/dev/null | head -n 20
	[ -n "$fail_log" ] && sed 's/^/    | /' "$fail_log" 2>/dev/null | tail -n 25
	return 0
}

t_all() {
	local name=$1 want=$2 texts=() x
	shift 2
	while [ "$1" != "--" ]; do
		texts+=("$1")
		shift
	done
	shift
	"$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	fail_output=1
	[ -n "${VERBOSE:-}" ] && sed 's/^/    > /' "$tmp/err"
	if [ "$rc" != "$want" ]; then
		fail "$name" "exit $rc, want $want"
		return 1
	fi
	for x in "${texts[@]}"; do
		if [ -n "$x" ] && ! grep -qF -- "$x" "$tmp/out" "$tmp/err"; then
			fail "$name" "no '$x' in the output"
			return 1
		fi
	done
	pass "$name"
}

t() {
	local name=$1 want=$2 text=$3
	shift 3
	t_all "$name" "$want" "$text" -- "$@"
}

not_in() {
	if grep -qF -- "$2" "$tmp/out" "$tmp/err"; then
		fail "$1" "'$2' should not be in the output"
	else
		pass "$1"
	fi
}

check() {
	local name=$1
	shift
	if "$@" >"$tmp/check.out" 2>&1; then
		pass "$name"
	else
		fail "$name" "condition failed: $*"
		sed 's/^/    > /' "$tmp/check.out" | head -n 20
	fi
}

podman_outside="/var/lib/containers/cache/blob-info-cache-v1.boltdb /var/lib/containers/cache
/var/lib/containers /var/lib/cni/results /var/lib/cni"
podman_preexisting=

podman_note_outside() {
	local p
	podman_preexisting=
	for p in $podman_outside; do [ -e "$p" ] && podman_preexisting="$podman_preexisting $p"; done
}

podman_tidy() {
	local cg=$1 m s p
	awk -v t="$tmp/" 'index($2, t) == 1 {print $2}' /proc/mounts | sort -r |
		while read -r m; do umount -l "$m" 2>/dev/null; done
	# A conmon that is still exiting keeps its cgroup busy for a moment: retry for up to 3 s.
	for m in $(seq 30); do
		for s in /sys/fs/cgroup/*/"$cg" /sys/fs/cgroup/"$cg"; do
			[ -d "$s" ] && find "$s" -depth -type d -exec rmdir {} + 2>/dev/null
		done
		compgen -G "/sys/fs/cgroup/*/$cg" >/dev/null || [ -d "/sys/fs/cgroup/$cg" ] || break
		sleep 0.1
	done
	for p in $podman_outside; do
		case " $podman_preexisting " in *" $p "*) continue ;; esac
		if [ -d "$p" ]; then rmdir "$p" 2>/dev/null; else rm -f "$p"; fi
	done
}

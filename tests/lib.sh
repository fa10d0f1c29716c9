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
#   skip MSG          a check that cannot run here, counted and loud: "skip MSG: SKIPPED"
#   skip_all WHY NAME...  one skip per NAME, with the reason, then finish
#   finish            prints "$name: N passed, N failed, N skipped" (the line scripts/run-tests
#                     adds up) and exits, 1 if anything failed
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
	echo "skip $*: SKIPPED"
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

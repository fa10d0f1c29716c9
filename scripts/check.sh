#!/usr/bin/env bash
# What CI runs (make check): the static checks (layering and exports, clang-format on the
# formatted files, cppcheck), every test with -Werror, the whole suite again under ASan + UBSan,
# then every fuzz target for a short while. Each stage prints its own totals; the last line adds
# them up. Stops at the first stage that fails.
set -uo pipefail
make=${MAKE:-make}
total_p=0 total_f=0 total_s=0
stage() {
	local name=$1 log
	shift
	log=$(mktemp)
	echo "=== $name: $*"
	"$@" 2>&1 | tee "$log"
	local rc=${PIPESTATUS[0]}
	local line
	line=$(grep -E '^([a-z_-]+: )?[0-9]+ passed, [0-9]+ failed(, [0-9]+ skipped)?$' "$log" | tail -n 1)
	rm -f "$log"
	if [ -n "$line" ]; then
		set -- $(echo "$line" | sed -E 's/^([a-z_-]+: )?([0-9]+) passed, ([0-9]+) failed(, ([0-9]+) skipped)?$/\2 \3 \5/')
		total_p=$((total_p + $1)) total_f=$((total_f + $2)) total_s=$((total_s + ${3:-0}))
	fi
	if [ "$rc" != 0 ]; then
		echo "=== $name failed (exit $rc)"
		echo "$total_p passed, $((total_f > 0 ? total_f : 1)) failed, $total_s skipped"
		exit 1
	fi
}
stage static $make WERROR=1 check-deps check-format analyze
stage test $make WERROR=1 test
stage sanitizers $make WERROR=1 san
stage fuzz $make WERROR=1 FUZZ_SECONDS="${FUZZ_SECONDS:-20}" fuzz
echo
echo "$total_p passed, $total_f failed, $total_s skipped"

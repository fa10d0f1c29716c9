#!/usr/bin/env bash
# make fuzz-long: each libFuzzer target in BUILDDIR (fuzz/fuzz.mk) for FUZZ_LONG_SECONDS
# (default 3600) or FUZZ_LONG_RUNS executions (default 10000000), whichever ends first, on a
# copy of its corpus; the inputs that add coverage are then merged back into fuzz/corpus/<target>/
# (the corpus is kept in the repository), and fuzz/RESULTS.md gets one row per target:
# executions, time, coverage (libFuzzer's cov and ft), corpus size before and after, crashes.
# A crash input is kept in BUILDDIR/fuzz-artifacts/ and the run exits non-zero.
#
#   scripts/fuzz-long.sh build-fuzz        FUZZ_LONG_SECONDS=60 FUZZ_TARGETS="fuzz_http" ...
set -u
build=${1:?usage: fuzz-long.sh BUILDDIR}
secs=${FUZZ_LONG_SECONDS:-3600}
runs=${FUZZ_LONG_RUNS:-10000000}
max_len=${FUZZ_MAX_LEN:-2048}
root=$(cd "$(dirname "$0")/.." && pwd)
out=${FUZZ_RESULTS:-$root/fuzz/RESULTS.md}
artifacts=$build/fuzz-artifacts
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$artifacts"
rows=() bad=0
for t in "$build"/fuzz_*; do
	[ -f "$t" ] && [ -x "$t" ] || continue
	name=$(basename "$t")
	[ -n "${FUZZ_TARGETS:-}" ] && [[ " $FUZZ_TARGETS " != *" $name "* ]] && continue
	keep=$root/fuzz/corpus/$name
	mkdir -p "$keep" "$work/$name"
	cp -R "$keep/." "$work/$name/"
	before=$(find "$keep" -type f | wc -l)
	log=$work/$name.log
	t0=$(date +%s)
	"$t" -max_total_time="$secs" -runs="$runs" -max_len="$max_len" -print_final_stats=1 \
		-artifact_prefix="$artifacts/$name-" "$work/$name" >"$log" 2>&1
	rc=$?
	el=$(($(date +%s) - t0))
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$log" | tail -n 1)
	# Keep what adds coverage, not every input the run made.
	"$t" -merge=1 -max_len="$max_len" "$keep" "$work/$name" >"$work/$name.merge" 2>&1
	after=$(find "$keep" -type f | wc -l)
	if [ "$rc" != 0 ]; then
		bad=1
		crash="exit $rc: $(ls "$artifacts" | grep -c "^$name-") artifact(s)"
		tail -n 20 "$log" | sed 's/^/    /'
	else
		crash=none
	fi
	echo "$name: ${execs:-?} executions in ${el}s, ${cov:-?}, corpus $before -> $after, crashes: $crash"
	rows+=("| $name | ${execs:-?} | ${el} s | ${cov:-?} | $before → $after | $crash |")
done
{
	echo "# Fuzzing campaigns"
	echo
	echo "Written by \`make fuzz-long\` (scripts/fuzz-long.sh) on $(date -u +%Y-%m-%d), $(nproc) vCPUs"
	echo "shared with other work: each target for at most ${secs} s or ${runs} executions, from the"
	echo "corpus in fuzz/corpus/<target>/, into which the inputs that added coverage were merged."
	echo
	echo "| target | executions | time | coverage | corpus files | crashes |"
	echo "| --- | --- | --- | --- | --- | --- |"
	printf '%s\n' "${rows[@]}"
} >"$out.new"
mv "$out.new" "$out"
echo "fuzz-long: wrote $out"
exit $bad

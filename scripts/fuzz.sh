#!/usr/bin/env bash
# fuzz.sh - runs every libFuzzer target for SECONDS each (default 60) and reports
# executions and crashes per target. CI replays every corpus (meson test --suite
# fuzz) and runs this for 5 s per target; long campaigns are run by hand.
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]
# New interesting inputs go to tests/fuzz/corpus-new/TARGET (git-ignored); crash
# inputs to build-fuzz/crashes/TARGET. Copy a crash into tests/fuzz/corpus/TARGET
# once fixed: the fuzz suite then replays it forever.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/deps.sh
. scripts/deps.sh
rv_install_deps "${RV_BUILD_DEPS[@]}" clang libclang-rt-14-dev

secs=${1:-60}
shift || true
targets=("$@")
# Default: every target meson builds (the list in tests/fuzz/meson.build), so a
# new target cannot be left out here.
if [ ${#targets[@]} -eq 0 ]; then
	read -r -a targets < <(sed -n "s/^fuzz_targets = \[\(.*\)\]/\1/p" tests/fuzz/meson.build | tr -d "',")
fi
[ ${#targets[@]} -gt 0 ] || { echo "fuzz.sh: no targets found in tests/fuzz/meson.build" >&2; exit 1; }

CC=clang rv_build build-fuzz -Dfuzzing=true -Dtests=disabled -Dbuildtype=debugoptimized

printf '%-10s %12s %10s %8s\n' target executions exec/s crashes
total_crashes=0
for t in "${targets[@]}"; do
	mkdir -p "tests/fuzz/corpus-new/$t" "build-fuzz/crashes/$t"
	log="build-fuzz/fuzz-$t.log"
	set +e
	"build-fuzz/tests/fuzz/fuzz_$t" -max_total_time="$secs" -print_final_stats=1 \
		-artifact_prefix="build-fuzz/crashes/$t/" -max_len=70000 \
		"tests/fuzz/corpus-new/$t" "tests/fuzz/corpus/$t" >"$log" 2>&1
	set -e
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
	crashes=$(find "build-fuzz/crashes/$t" -type f | wc -l)
	total_crashes=$((total_crashes + crashes))
	printf '%-10s %12s %10s %8s\n' "$t" "${execs:-?}" "${rate:-?}" "$crashes"
done
[ "$total_crashes" -eq 0 ] || {
	echo "crash inputs are in build-fuzz/crashes/" >&2
	exit 1
}

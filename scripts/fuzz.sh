#!/usr/bin/env bash
# fuzz.sh - runs every libFuzzer target for SECONDS each (default 60) and reports
# executions and crashes per target. CI replays every corpus (meson test --suite
# fuzz) and runs this for 5 s per target; long campaigns are run by hand.
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]
#        scripts/fuzz.sh --merge [TARGET...]
# New interesting inputs go to tests/fuzz/corpus-new/TARGET (git-ignored); crash
# inputs to build-fuzz/crashes/TARGET. Copy a crash into tests/fuzz/corpus/TARGET
# once fixed: the fuzz suite then replays it forever. --merge adds to the
# committed tests/fuzz/corpus/TARGET the inputs of corpus-new/TARGET that reach
# coverage it lacks (libFuzzer -merge=1), so CI replays what a campaign found.
# A target that does not run (no final stats) is a failure, like a crash.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/deps.sh
. scripts/deps.sh
rv_install_deps "${RV_BUILD_DEPS[@]}" clang libclang-rt-14-dev

merge=0
if [ "${1:-}" = --merge ]; then
	merge=1
	shift
	secs=0
else
	secs=${1:-60}
	shift || true
fi
case $secs in '' | *[!0-9]*) echo "fuzz.sh: SECONDS must be a number, not '$secs'" >&2; exit 2 ;; esac
targets=("$@")
# Default: every target meson builds (the list in tests/fuzz/meson.build), so a
# new target cannot be left out here.
if [ ${#targets[@]} -eq 0 ]; then
	# The list may span lines: join tests/fuzz/meson.build's "fuzz_targets = [...]".
	# (read fails at an end of input without a newline; the check below
	# catches an empty list)
	read -r -a targets < <(tr '\n' ' ' <tests/fuzz/meson.build |
		sed -n "s/.*fuzz_targets = \[\([^]]*\)\].*/\1/p" | tr -d "',") || true
fi
[ ${#targets[@]} -gt 0 ] || { echo "fuzz.sh: no targets found in tests/fuzz/meson.build" >&2; exit 1; }

CC=clang rv_build build-fuzz -Dfuzzing=true -Dtests=disabled -Dbuildtype=debugoptimized
for t in "${targets[@]}"; do
	[ -x "build-fuzz/tests/fuzz/fuzz_$t" ] || { echo "fuzz.sh: no target '$t' (build-fuzz/tests/fuzz/fuzz_$t)" >&2; exit 1; }
done

if [ "$merge" -eq 1 ]; then
	printf '%-10s %8s %8s %10s\n' target before after bytes
	for t in "${targets[@]}"; do
		mkdir -p "tests/fuzz/corpus-new/$t"
		before=$(find "tests/fuzz/corpus/$t" -type f | wc -l)
		"build-fuzz/tests/fuzz/fuzz_$t" -merge=1 -max_len=70000 \
			"tests/fuzz/corpus/$t" "tests/fuzz/corpus-new/$t" >"build-fuzz/merge-$t.log" 2>&1 || {
			echo "fuzz.sh: merge of $t failed, see build-fuzz/merge-$t.log" >&2
			exit 1
		}
		after=$(find "tests/fuzz/corpus/$t" -type f | wc -l)
		printf '%-10s %8s %8s %10s\n' "$t" "$before" "$after" "$(du -sb "tests/fuzz/corpus/$t" | cut -f1)"
	done
	exit 0
fi

printf '%-10s %12s %10s %8s\n' target executions exec/s crashes
total_crashes=0
not_run=()
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
	# No stats and no crash file: the target never fuzzed (did not start,
	# died in its initialization...), which must not read as "0 crashes".
	if [ -z "$execs" ] && [ "$crashes" -eq 0 ]; then not_run+=("$t"); fi
	printf '%-10s %12s %10s %8s\n' "$t" "${execs:-?}" "${rate:-?}" "$crashes"
done
status=0
if [ ${#not_run[@]} -gt 0 ]; then
	echo "fuzz.sh: did not run: ${not_run[*]} (see build-fuzz/fuzz-TARGET.log)" >&2
	status=1
fi
if [ "$total_crashes" -ne 0 ]; then
	echo "crash inputs are in build-fuzz/crashes/" >&2
	status=1
fi
exit "$status"

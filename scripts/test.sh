#!/usr/bin/env bash
# test.sh - installs what the tests need, builds, and runs every suite:
#   1. a normal -Dwerror=true build: unit, fuzz-replay and integration suites (real named)
#   2. an ASan+UBSan build: the same suites
#   3. valgrind over the unit suite
# Usage: scripts/test.sh [--quick]   (--quick runs only step 1)
# Every test must run: RV_REQUIRE_ALL=1 turns a missing prerequisite (named,
# root, python3, ...) into a failure, builds use -Dtests=enabled (no cmocka: the
# build fails; likewise libmaxminddb and libsystemd, whose code paths the tests
# cover), and a test meson reports as skipped counts as failed. Ends with
# the line "test.sh: N passed, N failed" over every test of every run.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/deps.sh
. scripts/deps.sh

quick=0
case "${1:-}" in
--quick) quick=1 ;;
-h | --help)
	sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
	exit 0
	;;
"") ;;
*)
	echo "usage: scripts/test.sh [--quick]" >&2
	exit 2
	;;
esac

rv_install_deps "${RV_BUILD_DEPS[@]}" "${RV_RUN_DEPS[@]}" "${RV_TEST_DEPS[@]}"

export RV_REQUIRE_ALL=1

passed=0
failed=0
summary=()

# build DIR [meson options...]: configures DIR with these options (also when it
# exists already, so an old build dir cannot keep e.g. tests=auto) and compiles.
build() {
	local dir=$1
	shift
	if [ -f "$dir/build.ninja" ]; then
		meson configure "$dir" "$@" >/dev/null
	fi
	rv_build "$dir" "$@"
}

# run_suites LABEL DIR [meson test options...]: runs meson test and adds its
# results (from meson's testlog*.json) to the totals. A test meson reports as
# skipped is counted as failed: under RV_REQUIRE_ALL nothing may skip.
run_suites() {
	local label=$1 dir=$2 log setup='' a
	shift 2
	for a in "$@"; do
		case $a in --setup=*) setup=-${a#--setup=} ;; esac
	done
	log=$dir/meson-logs/testlog$setup.json
	rm -f "$log"
	echo "==> $label: meson test -C $dir $*"
	local rc=0
	meson test -C "$dir" --print-errorlogs --num-processes 2 "$@" || rc=$?
	local ok=0 xfail=0 fail=0 skip=0 other=0 r n
	if [ -f "$log" ]; then
		# "result" of each test (one JSON object per line; the same text inside
		# a test's output is escaped, \"result\", so it does not match).
		while read -r n r; do
			case $r in
			OK) ok=$n ;;
			EXPECTEDFAIL) xfail=$n ;;
			FAIL) fail=$n ;;
			SKIP) skip=$n ;;
			*) other=$((other + n)) ;; # TIMEOUT, ERROR, UNEXPECTEDPASS
			esac
		done < <(grep -o '[^\\]"result": "[A-Z]*"' "$log" | sed 's/.*"\([A-Z]*\)"$/\1/' | sort | uniq -c)
	fi
	local bad=$((fail + skip + other))
	if [ $((ok + xfail + bad)) -eq 0 ] || { [ "$rc" -ne 0 ] && [ "$bad" -eq 0 ]; }; then
		# meson test failed without a test result to show for it (build error...)
		bad=$((bad + 1))
		other=$((other + 1))
		echo "test.sh: $label: meson test exited $rc without recording a failed test" >&2
	fi
	passed=$((passed + ok + xfail))
	failed=$((failed + bad))
	summary+=("$label: $((ok + xfail)) passed, $fail failed, $skip skipped (counted as failed), $other timed out/errors")
	if [ "$skip" -gt 0 ]; then
		echo "test.sh: $label: $skip test(s) skipped; see the SKIP reason above (RV_REQUIRE_ALL=1 expects every test to run)" >&2
	fi
}

features=(-Dtests=enabled -Dmaxminddb=enabled -Dsystemd=enabled)
build build -Dwerror=true "${features[@]}"
run_suites "build" build

if [ "$quick" -eq 0 ]; then
	# -fno-sanitize-recover makes UBSan findings fatal, so they fail the test.
	build build-asan -Dwerror=true "${features[@]}" -Db_sanitize=address,undefined \
		-Db_lundef=false -Dc_args=-fno-sanitize-recover=all -Dbuildtype=debug
	export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
	export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
	run_suites "build-asan" build-asan
	unset ASAN_OPTIONS UBSAN_OPTIONS
	run_suites "build, valgrind" build --setup=valgrind --suite unit
fi

echo
printf '%s\n' "${summary[@]}"
echo "test.sh: $passed passed, $failed failed"
if [ "$failed" -ne 0 ]; then
	exit 1
fi

#!/usr/bin/env bash
# test.sh - installs what the tests need, builds, and runs every suite:
#   1. a normal -Dwerror=true build: unit, fuzz-replay and integration suites (real named)
#   2. an ASan+UBSan build: the same suites
#   3. valgrind over the unit suite
# Usage: scripts/test.sh [--quick]   (--quick runs only step 1)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/deps.sh
. scripts/deps.sh

quick=0
case "${1:-}" in
--quick) quick=1 ;;
-h | --help)
	sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'
	exit 0
	;;
"") ;;
*)
	echo "usage: scripts/test.sh [--quick]" >&2
	exit 2
	;;
esac

rv_install_deps "${RV_BUILD_DEPS[@]}" "${RV_RUN_DEPS[@]}" "${RV_TEST_DEPS[@]}"

status=0
run() {
	echo "==> $*"
	"$@" || status=1
}

rv_build build -Dwerror=true
run meson test -C build --print-errorlogs --num-processes 2

if [ "$quick" -eq 0 ]; then
	# -fno-sanitize-recover makes UBSan findings fatal, so they fail the test.
	rv_build build-asan -Dwerror=true -Db_sanitize=address,undefined -Db_lundef=false \
		-Dc_args=-fno-sanitize-recover=all -Dbuildtype=debug
	run env ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		meson test -C build-asan --print-errorlogs --num-processes 2
	run meson test -C build --setup=valgrind --suite unit --print-errorlogs --num-processes 2
fi

if [ "$status" -ne 0 ]; then
	echo "scripts/test.sh: FAILED" >&2
	exit 1
fi
echo "scripts/test.sh: all suites passed"

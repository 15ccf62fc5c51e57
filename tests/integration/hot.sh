#!/usr/bin/env bash
# Integration: the hot zone (rpz-hot-zone). The xray view lists a small policy
# zone before the main one; the agent writes every change into it and moves
# its addresses into the main zone in batches, so named's whole-zone policy
# rebuild after each write walks the small zone (README "A busy resolver").
#   1. new addresses land in the hot zone only, and the xray view answers them;
#   2. a move (here started by a reload that shortens rpz-hot-move-interval)
#      leaves the main zone with every address and its name and the hot zone
#      empty, and the answers stay the same;
#   3. a name that changes for an address the main zone holds goes to the hot
#      zone, the xray view answers the new name at once (hot listed first),
#      and the next move brings it into the main zone;
#   4. hot copies left by a stopped agent are found by the next start's
#      reconcile (hot zone first) and moved, with no snapshot to tell it;
#   5. removals (here: addresses evicted from a full table) leave the main
#      zone at the next move;
#   6. rearview-report --hot-zone reads both zones as the xray view answers
#      (checked in step 3).
# Run by meson (suite "integration") with RV_AGENT, RV_LOADGEN, RV_REPORT and RV_SRCDIR.
set -euo pipefail

srcdir=${RV_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=scripts/lab.sh
. "$srcdir/scripts/lab.sh"
LAB_HOT_ZONE="hot.$LAB_RPZ"
lab_test_begin
[[ -x ${RV_LOADGEN:-} ]] || { echo "RV_LOADGEN is not an executable: '${RV_LOADGEN:-}'"; exit 1; }

lab_init
lab_start_upstream
lab_start_bind

# "address<TAB>name" for every PTR of ZONE, sorted.
zone_pairs() { lab_zone_ptrs "$1"; }
zone_count() { zone_pairs "$1" | wc -l; }
hot_empty() { test "$(zone_count "$LAB_HOT_ZONE")" -eq 0; }
want_pairs() { # EXPECT-FILES...: loadgen's address<TAB>name lines as zone_pairs prints them
    cat "$@" | awk -F'\t' -v OFS='\t' '{print $1, tolower($2)}' | sort
}
zone_is() { # ZONE FILE: the zone's pairs are exactly FILE's
    zone_pairs "$1" >"$LAB/got"
    cmp -s "$LAB/got" "$2"
}
write_conf() { # MOVE-INTERVAL [KEY VALUE...]
    local iv=$1
    shift
    lab_write_agent_conf rpz-hot-move-interval "$iv" rpz-hot-max 1000000 snapshot-file '""' \
        stats-interval 0 "$@"
}
feed() { # OUT-EXPECT COUNT [loadgen args...]
    local out=$1 n=$2
    shift 2
    "$RV_LOADGEN" --unix "$LAB_SOCK" --count "$n" --names "$n" --addresses "$n" --sequential \
        --nxdomain 0 --nodata 0 --other 0 --time-base now --expect-out "$out" --timeout 60 "$@" \
        >"$LAB/loadgen.out" 2>&1 || { cat "$LAB/loadgen.out"; return 1; }
}
xray_matches() { # FILE: the xray view answers the first 5 pairs of FILE
    local a n got
    while IFS=$'\t' read -r a n; do
        got=$(lab_xray_ptr "$a" | tr '[:upper:]' '[:lower:]')
        [[ ${got%.} == "$n" ]] || { echo "# $a: xray says '$got', want '$n'"; return 1; }
    done < <(head -n 5 "$1")
}

lab_phase "1. new addresses go to the hot zone only"
write_conf 1h
lab_start_agent
lab_check "start-up reconcile read both zones" lab_agent_log_has "reconcile: zone .* serial" 15
feed "$LAB/e1" 300
want_pairs "$LAB/e1" >"$LAB/want1"
lab_check "the hot zone holds the 300 addresses with their names" \
    lab_wait_until 30 zone_is "$LAB_HOT_ZONE" "$LAB/want1"
lab_check "the main zone holds none of them ($(zone_count "$LAB_RPZ"))" \
    test "$(zone_count "$LAB_RPZ")" -eq 0
lab_check "the xray view answers them from the hot zone" xray_matches "$LAB/want1"

lab_phase "2. a move: everything into the main zone, the hot zone emptied"
write_conf 1s
kill -HUP "$LAB_AGENT_PID"
lab_check "the main zone holds the 300 addresses with their names" \
    lab_wait_until 30 zone_is "$LAB_RPZ" "$LAB/want1"
lab_check "the hot zone is empty again" lab_wait_until 30 hot_empty
lab_check "the xray view answers the same" xray_matches "$LAB/want1"
moves=$(lab_agent_stat hot_moves)
lab_check "the agent counts the move (hot_moves=$moves)" test "${moves:-0}" -ge 1

lab_phase "3. a new name for an address the main zone holds"
write_conf 1h
kill -HUP "$LAB_AGENT_PID"
lab_check "reload applied" lab_agent_log_has "rpz-hot-move-interval: 1s -> 1h" 10
# The same 300 addresses, each now asked five times under another domain: the
# new names win (score), and the agent writes them into the hot zone.
feed "$LAB/e3" 1500 --names 300 --addresses 300 --domain changed.test
want_pairs "$LAB/e3" | sort -u >"$LAB/want3"
lab_check "the new names are new (not those of step 1)" \
    test "$(comm -12 "$LAB/want1" "$LAB/want3" | wc -l)" -eq 0
lab_check "the hot zone holds the 300 new names" lab_wait_until 30 zone_is "$LAB_HOT_ZONE" "$LAB/want3"
lab_check "the main zone still holds the old ones" zone_is "$LAB_RPZ" "$LAB/want1"
lab_check "the xray view answers the new names (hot zone first)" xray_matches "$LAB/want3"
if [[ -x ${RV_REPORT:-} ]]; then
    "$RV_REPORT" --server "$LAB_XRAY#$LAB_PORT" --zone "$LAB_RPZ" --hot-zone "$LAB_HOT_ZONE" \
        --key-file "$LAB/rearview.key" --format csv >"$LAB/report.csv" 2>"$LAB/report.err" || true
    lab_check "rearview-report --hot-zone lists the new names (as the xray view answers)" \
        test "$(grep -c 'changed\.test' "$LAB/report.csv" || true)" -ge 300
else
    lab_not_ok "RV_REPORT is not an executable: '${RV_REPORT:-}'"
fi
write_conf 1s
kill -HUP "$LAB_AGENT_PID"
lab_check "after the move the main zone holds the new names" \
    lab_wait_until 30 zone_is "$LAB_RPZ" "$LAB/want3"
lab_check "and the hot zone is empty" lab_wait_until 30 hot_empty

lab_phase "4. hot copies left by a stopped agent are moved by the next one"
write_conf 1h
lab_stop_agent
lab_start_agent
lab_check "start-up reconcile" lab_agent_log_has "reconcile: zone .* serial" 15
feed "$LAB/e4" 200 --addr-offset 300
want_pairs "$LAB/e4" >"$LAB/want4"
lab_check "the 200 new addresses are in the hot zone" lab_wait_until 30 zone_is "$LAB_HOT_ZONE" "$LAB/want4"
lab_stop_agent
lab_check "they stay there after the agent stopped" zone_is "$LAB_HOT_ZONE" "$LAB/want4"
# No snapshot: only the zones can tell the new agent what they hold.
write_conf 2s max-addresses 500
lab_start_agent
sort -u "$LAB/want3" "$LAB/want4" >"$LAB/want34"
lab_check "the main zone ends with all 500 addresses and their names" \
    lab_wait_until 40 zone_is "$LAB_RPZ" "$LAB/want34"
lab_check "the hot zone is empty" lab_wait_until 30 hot_empty
lab_check "the xray view answers the moved ones" xray_matches "$LAB/want4"

lab_phase "5. removals: evicted addresses leave the main zone at the next move"
# The table is full (max-addresses 500): 100 new addresses evict 100 old
# ones, whose records only the main zone holds.
feed "$LAB/e5" 100 --addr-offset 500
want_pairs "$LAB/e5" >"$LAB/want5"
main_has_new_500() {
    zone_pairs "$LAB_RPZ" >"$LAB/got5"
    [[ $(wc -l <"$LAB/got5") -eq 500 ]] && [[ $(comm -12 "$LAB/got5" "$LAB/want5" | wc -l) -eq 100 ]]
}
lab_check "the main zone ends with 500 addresses, the 100 new among them" \
    lab_wait_until 30 main_has_new_500
evicted=$(lab_agent_stat evicted)
lab_check "the table evicted 100 (evicted=$evicted)" test "${evicted:-0}" -eq 100
lab_check "the hot zone is empty" lab_wait_until 30 hot_empty

lab_stop_agent TERM
lab_check "SIGTERM: exit status 0 (status $LAB_AGENT_STATUS)" test "$LAB_AGENT_STATUS" = 0
lab_check "no error logged by the agent" \
    bash -c "! grep -E ' (error|crit) ' '$LAB_AGENT_LOG'"
lab_check "no sanitizer reports" lab_no_sanitizer_reports

LAB_SUMMARIZED=1 # the EXIT trap prints the summary last

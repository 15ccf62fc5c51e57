#!/usr/bin/env bash
# Integration: BIND unreachable while a flood of one-off names overflows the
# table. 1,000,000 one-off names (each with its own address) go into an agent
# capped at max-addresses 10000 while the RPZ primary is down:
#   - pending writes stay bounded by the addresses the table holds (evicted
#     addresses cancel their pending write), so RSS stays within a stated bound
#     instead of growing with every sighting;
#   - when BIND is back, the zone holds exactly the table's 10,000 addresses,
#     each with the right name, and no orphan owner (no address the table
#     evicted while its write was pending).
# Run by meson (suite "integration") with RV_AGENT, RV_LOADGEN and RV_SRCDIR.
set -euo pipefail

srcdir=${RV_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=scripts/lab.sh
. "$srcdir/scripts/lab.sh"
lab_test_begin
[[ -x ${RV_LOADGEN:-} ]] || { echo "RV_LOADGEN is not an executable: '${RV_LOADGEN:-}'"; exit 1; }

CAP=10000
FLOOD=1000000
# The bound: the table's own cost (README "Memory": <= 200 B + names per
# address) plus the outbox's (~56 B per pending address) for CAP addresses,
# with room for allocator slack. Before the outbox was bounded, pending items
# grew with every sighting: 18 B x 1M = 18 MB and more (ring doubling).
RSS_BOUND_KB=$((CAP * 1024 / 1024 + 4096))

lab_init
lab_start_upstream
lab_start_bind
lab_write_agent_conf max-addresses "$CAP" snapshot-file '""' stats-interval 0 \
    retry-min 1s retry-max 2s update-timeout 2s
lab_start_agent
lab_check "start-up reconcile read the (empty) zone" lab_agent_log_has "reconcile: zone .* serial" 10

lab_phase "BIND down, $FLOOD one-off names into max-addresses $CAP"
lab_stop_bind
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$LAB_AGENT_PID/status"; }
rss0=$(rss_kb)
"$RV_LOADGEN" --unix "$LAB_SOCK" --count "$FLOOD" --names "$FLOOD" --addresses "$FLOOD" \
    --sequential --v6-names 30 --time-base now --expect-out "$LAB/expect" --timeout 300 \
    >"$LAB/loadgen.out" 2>&1
sed 's/^/# loadgen: /' "$LAB/loadgen.out"
rss1=$(rss_kb)
size=$(lab_agent_stat size)
queued=$(lab_agent_stat queued)
evicted=$(lab_agent_stat evicted)
echo "# RSS ${rss0} kB -> ${rss1} kB (+$((rss1 - rss0)) kB; bound ${RSS_BOUND_KB} kB); table $size, queued $queued, evicted $evicted"
lab_check "the table holds $CAP addresses ($size)" test "$size" = "$CAP"
lab_check "$((FLOOD - CAP)) evicted ($evicted)" test "$evicted" = "$((FLOOD - CAP))"
lab_check "pending writes bounded by the table: queued $queued <= $CAP + one batch" \
    test "$queued" -le "$((CAP + 1000))"
if lab_asan_build; then
    lab_ok "RSS bound # SKIP AddressSanitizer build ($LAB_ASAN_WHY): its quarantine and redzones are RSS; enforced in the plain build"
else
    lab_check "RSS grew by at most ${RSS_BOUND_KB} kB (+$((rss1 - rss0)) kB)" \
        test "$((rss1 - rss0))" -le "$RSS_BOUND_KB"
fi

lab_phase "BIND back: the zone converges to exactly the table"
lab_start_bind
# The last CAP names of the sequential stream are the ones the table kept.
tail -n "$CAP" "$LAB/expect" | awk -F'\t' -v OFS='\t' '{print $1, tolower($2)}' | sort >"$LAB/want"
converged() {
    lab_zone_ptrs >"$LAB/got"
    cmp -s "$LAB/got" "$LAB/want"
}
deadline=$(($(lab_now_ms) + 120000))
until converged || (($(lab_now_ms) > deadline)); do sleep 1; done
got_n=$(wc -l <"$LAB/got")
orphans=$(comm -23 <(cut -f1 "$LAB/got" | sort -u) <(cut -f1 "$LAB/want" | sort -u) | wc -l)
missing=$(comm -13 <(cut -f1 "$LAB/got" | sort -u) <(cut -f1 "$LAB/want" | sort -u) | wc -l)
echo "# zone: $got_n PTRs, $orphans orphan owners, $missing of the table's addresses missing"
lab_check "the zone holds exactly the table's $CAP addresses with their names" cmp -s "$LAB/got" "$LAB/want"
lab_check "no orphan owner ($orphans)" test "$orphans" = 0
lab_check "agent still running" lab__alive "$LAB_AGENT_PID"
lab_stop_agent TERM
lab_check "SIGTERM: exit status 0 (status $LAB_AGENT_STATUS)" test "$LAB_AGENT_STATUS" = 0
lab_check "no sanitizer reports" lab_no_sanitizer_reports

LAB_SUMMARIZED=1 # the EXIT trap prints the summary last

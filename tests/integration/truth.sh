#!/usr/bin/env bash
# Integration: the xray answer holds against manipulation and restarts, on a
# real named (README "Scoring: threat model", "Restarts lose nothing").
#   1. depth hijack: one lookup of hj0.example.test, 10 CNAMEs ahead of
#      hj-real.example.test's address, against 5 lookups of hj-real itself:
#      the xray PTR stays hj-real (it used to answer hj0: 2^(0.25*10) > 5).
#   2. history at start: the zone holds a PTR whose TXT says count=300; the
#      agent starts with no snapshot while named is down, and one sighting of
#      that address arrives (rv-loadgen) before the zone can be read. No UPDATE goes out
#      until the start-up AXFR has read the zone, which merges its history:
#      the TXT still says count>=300 (it used to become count=1 for good).
#   3. SIGUSR2 and other signals the agent has no use for do not kill it.
# Run by meson (suite "integration") with RV_AGENT and RV_SRCDIR; needs root.
set -euo pipefail

srcdir=${RV_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=scripts/lab.sh
. "$srcdir/scripts/lab.sh"
lab_test_begin

PTR_TIMEOUT=20
lab_init
lab_start_upstream
lab_start_bind
lab_write_agent_conf snapshot-file "$LAB/state.snap"
lab_start_agent
lab_check "start-up reconcile done" lab_agent_log_has "reconcile: zone .* serial" 10

# The TXT metadata of an address in the xray view.
xray_txt() { # ADDR
    dig @"$LAB_XRAY" -p "$LAB_PORT" +short +time=2 +tries=1 -x "$1" TXT 2>/dev/null | tr -d '"'
}
txt_count() { # ADDR
    xray_txt "$1" | grep -oE 'count=[0-9]+' | cut -d= -f2
}

# ---------------------------------------------------------------- 1. depth hijack
lab_phase "depth hijack: one lookup through a 10-CNAME chain vs 5 real lookups"
chain=$(dig @"$LAB_CLIENT" -p "$LAB_PORT" +noall +answer hj0.example.test A | grep -c CNAME || true)
lab_check "hj0.example.test reaches 192.0.2.90 through 10 CNAMEs ($chain)" test "$chain" = 10
for i in 1 2 3 4 5; do
    lab_lookup hj-real.example.test A >/dev/null
    # distinct dnstap frames even if named answers from cache: that is the point
    sleep 0.05
done
lab_check "5 real lookups: 192.0.2.90 -> hj-real.example.test" \
    lab_wait_ptr 192.0.2.90 hj-real.example.test "$PTR_TIMEOUT"
lab_lookup hj0.example.test A >/dev/null
# Wait until the agent has seen the hijack attempt (its candidate exists and
# any write it caused has been made), then ask the xray view.
seen_hijack() {
    local learned
    learned=$(lab_agent_stat learned)
    ((learned >= 6))
}
lab_check "the agent saw the hijack lookup" lab_wait_until 10 seen_hijack
sleep 3 # flush-interval + named's min-update-interval: a write would be visible
got=$(lab_xray_ptr 192.0.2.90)
echo "# 192.0.2.90 -> $got ($(xray_txt 192.0.2.90))"
lab_check "after the hijack lookup the PTR is still hj-real.example.test. ($got)" \
    test "$got" = "hj-real.example.test."

# ---------------------------------------------------------------- 2. history at start
lab_phase "history in the zone survives a start with no snapshot and named down"
# One sighting from rv-loadgen (its address and name known in advance), so it
# reaches the agent while named is down, before the zone can be read.
gen() {
    "$RV_LOADGEN" --count 1 --names 1 --addresses 1 --sequential --v6-names 0 \
        --nxdomain 0 --nodata 0 --other 0 --addr-offset 9000000 --time-base now "$@"
}
gen --expect-out "$LAB/one.expect" >/dev/null 2>&1
read -r ADDR NAME <"$LAB/one.expect"
OWNER=$(lab_revname "$ADDR").$LAB_RPZ
now=$(date +%s)
nsupdate -k "$LAB/rearview.key" <<EOF
server $LAB_XRAY $LAB_PORT
zone $LAB_RPZ
update delete $OWNER
update add $OWNER 600 PTR $NAME.
update add $OWNER 600 TXT "first=$((now - 86400)) last=$((now - 60)) count=300 depth=0 score=40.00"
send
EOF
lab_check "planted: $ADDR -> $NAME, count=300" test "$(txt_count "$ADDR")" = 300
lab_stop_agent TERM
rm -f "$LAB/state.snap"
lab_stop_bind
: >"$LAB_AGENT_LOG"
lab_start_agent
lab_check "named down: the start-up reconcile cannot read the zone, updates wait" \
    lab_agent_log_has "updates wait for the zone's contents" 10
lab_check "one sighting of $ADDR reaches the agent while named is down" \
    gen --unix "$LAB_SOCK" --timeout 20 >"$LAB/one.out" 2>&1
lab_check "...and is learned" test "$(lab_agent_stat learned)" = 1
lab_start_bind
lab_check "the start-up reconcile then read the zone" lab_agent_log_has "reconcile: zone .* serial" 30
sleep 3 # flush-interval + named's min-update-interval: a write would be visible
count=$(txt_count "$ADDR")
echo "# $ADDR -> $(lab_xray_ptr "$ADDR") ($(xray_txt "$ADDR"))"
lab_check "the PTR is still $NAME." test "$(lab_xray_ptr "$ADDR")" = "$NAME."
lab_check "its history survived: TXT count=$count >= 300" test "${count:-0}" -ge 300

# ---------------------------------------------------------------- 3. stray signals
lab_phase "signals the agent has no use for do not kill it"
for sig in USR2 ALRM PIPE IO; do
    kill -s "$sig" "$LAB_AGENT_PID"
done
sleep 0.5
lab_check "SIGUSR2, SIGALRM, SIGPIPE, SIGIO: the agent is still running" lab__alive "$LAB_AGENT_PID"

lab_stop_agent TERM
lab_check "SIGTERM: exit status 0 (status $LAB_AGENT_STATUS)" test "$LAB_AGENT_STATUS" = 0
lab_check "no sanitizer reports in the agent's output" lab_no_sanitizer_reports

LAB_SUMMARIZED=1 # the EXIT trap prints the summary last

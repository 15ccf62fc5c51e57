#!/usr/bin/env bash
# Integration: what the agent learned survives restarts, and drift in the zone
# is repaired, against a real named on loopback.
#   - SIGTERM: the snapshot holds every address; the restarted agent loads it and
#     its startup AXFR finds the zone in step (nothing adopted, nothing re-sent).
#   - SIGKILL: addresses learned after the last snapshot come back from the zone
#     (adopted by the startup AXFR); every PTR is still served.
#   - corrupt snapshot: reported and ignored; the zone's entries are adopted.
#   - a frame stamped 3 days ahead: saved with the rest, and the restart loads
#     every address (its time is clamped; the file is not thrown away).
#   - hand edits (nsupdate): a changed PTR is restored, a deleted one re-sent, an
#     unknown one removed; a foreign record is reported and left alone.
#   - names with escapes (a dot, a space in a label) written as PTR targets are
#     read back by the restart's AXFR as the same names.
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
# Frequent snapshots and drift checks so the test does not wait minutes.
lab_write_agent_conf snapshot-interval 1s reconcile-interval 2s
SNAP=$LAB/state.snap

# g$1 .. g$2 looked up through the client view; waits for every PTR.
learn() { # FIRST LAST
    local i
    for ((i = $1; i <= $2; i++)); do
        lab_lookup "g$i.example.test" A >/dev/null
    done
    for ((i = $1; i <= $2; i++)); do
        lab_wait_ptr "198.51.100.$i" "g$i.example.test" "$PTR_TIMEOUT" || return 1
    done
}

# Every g$1 .. g$2 is served by the xray view with its own name.
all_served() { # FIRST LAST
    local i got
    for ((i = $1; i <= $2; i++)); do
        got=$(lab_xray_ptr "198.51.100.$i")
        [[ $got == "g$i.example.test." ]] || { echo "# 198.51.100.$i -> '$got'"; return 1; }
    done
}

# The last reconcile summary line of the agent log.
last_reconcile() { grep -aE 'reconcile: zone .* serial' "$LAB_AGENT_LOG" | tail -n 1; }

owner() { printf '%s.%s' "$(lab_revname "$1")" "$LAB_RPZ"; }

# ---------------------------------------------------------------- 1. SIGTERM
lab_phase "restart after SIGTERM"
lab_start_agent
lab_check "no snapshot at first start is reported, not fatal" \
    lab_agent_log_has "no snapshot at .* \(first start\)" 5
lab_check "learned g1..g20" learn 1 20
lab_stop_agent TERM
lab_check "SIGTERM: exit status 0 (status $LAB_AGENT_STATUS)" test "$LAB_AGENT_STATUS" = 0
lab_check "SIGTERM: snapshot saved with 20 addresses" \
    lab_agent_log_has "saved 20 addresses to $SNAP" 1
: >"$LAB_AGENT_LOG"
lab_start_agent
lab_check "restart: the snapshot's 20 addresses are loaded" \
    lab_agent_log_has "loaded 20 addresses from $SNAP" 5
lab_check "restart: the startup AXFR ran" lab_agent_log_has "reconcile: zone .* serial" 10
line=$(last_reconcile)
echo "# $line"
lab_check "restart: zone and table agree (20 addresses, 0 adopted, 0 re-sent)" \
    grep -qE ': 20 addresses, .* 0 adopted, 0 removed, 0 re-sent' <<<"$line"
lab_check "restart: every PTR still served" all_served 1 20

# ---------------------------------------------------------------- 2. SIGKILL
lab_phase "restart after SIGKILL"
lab_check "learned g21..g25" learn 21 25
lab_stop_agent KILL
lab_check "SIGKILL: agent killed (status $LAB_AGENT_STATUS)" test "$LAB_AGENT_STATUS" = 137
: >"$LAB_AGENT_LOG"
lab_start_agent
lab_check "after SIGKILL: the startup AXFR ran" lab_agent_log_has "reconcile: zone .* serial" 10
line=$(last_reconcile)
echo "# $line"
# Whatever the last snapshot missed is adopted from the zone: 25 in all, none lost.
lab_check "after SIGKILL: all 25 addresses known again, none re-sent" \
    grep -qE ': 25 addresses, .* 0 removed, 0 re-sent' <<<"$line"
lab_check "after SIGKILL: every PTR still served" all_served 1 25
lab_check "after SIGKILL: new lookups still learned" learn 26 27

# ---------------------------------------------------------------- 3. corrupt snapshot
lab_phase "corrupt snapshot"
lab_stop_agent TERM
size=$(stat -c %s "$SNAP")
truncate -s $((size / 2)) "$SNAP"
: >"$LAB_AGENT_LOG"
lab_start_agent
lab_check "truncated snapshot: reported and ignored" \
    lab_agent_log_has "snapshot: .*truncated.*ignored" 5
lab_check "truncated snapshot: the startup AXFR ran" lab_agent_log_has "reconcile: zone .* serial" 10
line=$(last_reconcile)
echo "# $line"
lab_check "truncated snapshot: the zone's 27 addresses are adopted" \
    grep -qE ': 27 addresses, 0 matched, 0 rewritten, 27 adopted' <<<"$line"
lab_check "truncated snapshot: every PTR still served" all_served 1 27
lab_stop_agent TERM
printf 'not a snapshot at all' >"$SNAP"
: >"$LAB_AGENT_LOG"
lab_start_agent
lab_check "garbage snapshot: reported and ignored" lab_agent_log_has "snapshot: .*ignored" 5
lab_check "garbage snapshot: agent keeps running and learning" learn 28 28

# ---------------------------------------------------------------- 4. hand edits
lab_phase "drift repair after hand edits"
lab_check "the agent's startup AXFR is done" lab_agent_log_has "reconcile: zone .* serial" 10
nsupdate -k "$LAB/rearview.key" <<EOF
server $LAB_XRAY $LAB_PORT
zone $LAB_RPZ
update delete $(owner 198.51.100.1) PTR
update add $(owner 198.51.100.1) 600 PTR evil.example.
update delete $(owner 198.51.100.2) PTR
update delete $(owner 198.51.100.2) TXT
update add $(owner 198.51.100.240) 600 PTR planted.example.
update add note.$LAB_RPZ 600 TXT "left by an operator"
send
EOF
lab_check "hand edit visible: 198.51.100.1 -> evil.example." \
    lab_wait_ptr 198.51.100.1 evil.example 5
lab_check "drift repair restores the changed PTR (198.51.100.1)" \
    lab_wait_ptr 198.51.100.1 g1.example.test 20
lab_check "drift repair re-sends the deleted PTR (198.51.100.2)" \
    lab_wait_ptr 198.51.100.2 g2.example.test 20
planted_gone() {
    local deadline=$(($(lab_now_ms) + 20000))
    while (($(lab_now_ms) < deadline)); do
        [[ -z $(lab_xray_ptr 198.51.100.240) ]] && return 0
        sleep 0.2
    done
    return 1
}
lab_check "drift repair removes the unknown PTR (198.51.100.240)" planted_gone
lab_check "drift repair reports the foreign TXT record" \
    lab_agent_log_has "foreign records left alone, e.g. note\." 10
lab_check "the foreign record is left in the zone" \
    grep -q "^note\.$LAB_RPZ\..*TXT" <(lab_axfr +noall +answer)
lab_check "after the repair every PTR is served" all_served 1 28

# ---------------------------------------------------------------- 5. drift repair under steady learning
lab_phase "drift repair keeps its schedule while new addresses stream in"
runs0=$(lab_agent_stat reconciles)
# ~40 new addresses/s for 8 s: the writer always has something queued, which
# used to postpone drift repair indefinitely.
"$RV_LOADGEN" --unix "$LAB_SOCK" --count 320 --rate 40 --names 320 --addresses 320 \
    --sequential --addr-offset 7000000 --time-base now --timeout 60 >"$LAB/steady.out" 2>&1
runs1=$(lab_agent_stat reconciles)
echo "# reconciles during 8 s of steady learning (reconcile-interval 2s): $((runs1 - runs0))"
lab_check "drift repair ran on schedule under steady learning ($((runs1 - runs0)) runs in 8 s)" \
    test "$((runs1 - runs0))" -ge 2

# ---------------------------------------------------------------- 6. a frame from the future
lab_phase "a future-stamped frame changes nothing and loses nothing"
clamped0=$(lab_agent_stat clamped)
"$RV_LOADGEN" --unix "$LAB_SOCK" --count 1 --names 1 --addresses 1 --sequential \
    --addr-offset 8000000 --time-base "$(($(date +%s) + 3 * 86400))" --timeout 20 >"$LAB/future.out" 2>&1
lab_check "the frame stamped 3 days ahead is clamped to the agent's clock and counted" \
    test "$(lab_agent_stat clamped)" = "$((clamped0 + 1))"
n_before=$(lab_agent_stat size)
lab_stop_agent TERM
lab_check "SIGTERM: snapshot saved with $n_before addresses" \
    lab_agent_log_has "saved $n_before addresses to $SNAP" 1
: >"$LAB_AGENT_LOG"
lab_start_agent
lab_check "restart: all $n_before addresses of the snapshot are loaded (none refused)" \
    lab_agent_log_has "loaded $n_before addresses from $SNAP" 5
lab_check "restart: every PTR still served" all_served 1 28
lab_check "future frame: the snapshot is not ignored" \
    bash -c "! grep -aqE 'snapshot: .*(ignored|out of range)' '$LAB_AGENT_LOG'"

# ---------------------------------------------------------------- 7. escaped names
lab_phase "names with escapes"
# A dot and a space inside a label: the table holds them as esc\.dot and
# sp\032ace (RFC 1035 5.1), the UPDATE carries the octets, and the AXFR
# reconcile must read the zone's PTR back as the same name, or every restart
# would rewrite them.
lab_lookup 'esc\.dot.example.test' A >/dev/null
lab_lookup 'sp\032ace.example.test' A >/dev/null
lab_check "PTR with an escaped dot: 192.0.2.77 -> esc\\.dot.example.test." \
    lab_wait_ptr 192.0.2.77 'esc\.dot.example.test' "$PTR_TIMEOUT"
lab_check "PTR with a space: 192.0.2.78 -> sp\\032ace.example.test." \
    lab_wait_ptr 192.0.2.78 'sp\032ace.example.test' "$PTR_TIMEOUT"
lab_stop_agent TERM
: >"$LAB_AGENT_LOG"
lab_start_agent
lab_check "escaped names: the startup AXFR ran" lab_agent_log_has "reconcile: zone .* serial" 10
line=$(last_reconcile)
echo "# $line"
lab_check "escaped names: the zone's PTRs match the table (0 rewritten, 0 re-sent)" \
    grep -qE ' 0 rewritten, 0 adopted, 0 removed, 0 re-sent' <<<"$line"

lab_stop_agent TERM
lab_check "final SIGTERM: exit status 0 (status $LAB_AGENT_STATUS)" test "$LAB_AGENT_STATUS" = 0
lab_check "no sanitizer reports in the agent's output" lab_no_sanitizer_reports

LAB_SUMMARIZED=1 # the EXIT trap prints the summary last

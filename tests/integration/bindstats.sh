#!/usr/bin/env bash
# Integration: loss accounting against named's own dnstap counters (issue 12).
# A real named from the shipped fragments, with bind-conf/statistics.conf's
# statistics channel; the agent with statistics-channel set. In order:
#   A. lookups: named's sent count (DNSTAPsuccess) > 0, dropped == 0, and
#      named's sent minus the agent's frames grows by exactly 0 over them;
#   B. lookups while the agent is stopped: named counts them as sent, the
#      agent never sees them: sent - received grows by exactly that many;
#   C. named (and so its channel) down: the failed polls are counted, "up" is
#      0, ONE warning line; named back: ONE notice, up again, ingest went on;
#   D. garbage on the channel's port (python3 -m http.server serving a
#      non-JSON json/v1/server) and a channel that never answers: counted,
#      logged once each, the agent keeps running and learning; the file
#      replaced by named's real JSON: recovery logged once;
#   E. the shipped alert rules (promtool check rules, and promtool test rules
#      against series shaped like A-C) and the Grafana dashboard (valid JSON;
#      every rearview_* series it and the rules use is one the agent exports).
# Metric values come from the agent's SIGUSR1 statistics line (every metric
# of the registry as key=value; bind_* are this feature's).
# Run by meson (suite "integration") with RV_AGENT and RV_SRCDIR; needs root.
set -euo pipefail

srcdir=${RV_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=scripts/lab.sh
. "$srcdir/scripts/lab.sh"
lab_need_tools curl python3 promtool
lab_test_begin

PTR_TIMEOUT=20
POLL=500ms # statistics-interval: fast, so the test does not wait long

lab_init
lab_start_upstream
lab_start_bind
CHANNEL=$LAB_CLIENT:$LAB_STATS_PORT
FAKE_PORT=$((LAB_PORT + 2)) # reserved free by lab_init; nothing of the lab's uses it

# ---------------------------------------------------------------- helpers

agent_alive() { lab__alive "$(cat "$LAB/pids/agent" 2>/dev/null)"; }

# One SIGUSR1 statistics line into STATS (lab_agent_stat waits for it).
snap() {
    lab_agent_stat frames >/dev/null || return 1
    STATS=$(grep -a 'stats: SIGUSR1' "$LAB_AGENT_LOG" | tail -n 1)
}
# Value of KEY in the last snap.
val() { grep -oE "[ (]$1=[0-9]+" <<<"$STATS" | head -n 1 | cut -d= -f2; }

# Waits until named's dnstap count and the agent's have stopped moving: two
# snapshots 1.5 s apart (named flushes dnstap about once a second; the agent
# polls every $POLL) with the same sent and poll_frames, and a poll made after
# the agent's last frame (poll_frames == frames). Sets SENT, PFRAMES, FRAMES,
# DROPPED.
settle() {
    local deadline=$(($(lab_now_ms) + 30000)) prev=
    while (($(lab_now_ms) < deadline)); do
        snap || return 1
        local cur
        cur="$(val bind_sent) $(val bind_poll_frames) $(val frames) $(val bind_up)"
        read -r SENT PFRAMES FRAMES UP <<<"$cur"
        DROPPED=$(val bind_dropped)
        if [[ $UP == 1 && $PFRAMES == "$FRAMES" && $cur == "$prev" ]]; then
            return 0
        fi
        prev=$cur
        sleep 1.5
    done
    echo "# not settled after 30 s: $cur"
    return 1
}

# Lines of the agent log since line $1 that match regex $2.
log_count_since() { # FROM_LINE REGEX
    tail -n +"$(($1 + 1))" "$LAB_AGENT_LOG" | grep -Eac -- "$2" || true
}
log_lines() { wc -l <"$LAB_AGENT_LOG"; }
# Polls (up to $3 s) until a line after line $1 matches regex $2.
log_has_since() { # FROM_LINE REGEX TIMEOUT_S
    # shellcheck disable=SC2016 # expanded by the inner bash, from its arguments
    lab_wait_until "$3" bash -c 'tail -n +"$(($1 + 1))" "$3" | grep -Eaq -- "$2"' _ "$1" "$2" "$LAB_AGENT_LOG"
}

WARN_RX='warning bindstats: named.s statistics channel'
BACK_RX='notice bindstats: named.s statistics channel .* answers again'

restart_agent_with() { # CHANNEL
    lab_stop_agent TERM
    lab_write_agent_conf statistics-channel "$1" statistics-interval "$POLL"
    lab_start_agent
}

# ---------------------------------------------------------------- A
lab_phase "A. lookups: named's count and the agent's agree"
lab_write_agent_conf statistics-channel "$CHANNEL" statistics-interval "$POLL"
lab_start_agent
lab_check "agent logs that it polls named's statistics channel" \
    lab_agent_log_has "bindstats: polling named's statistics channel http://$CHANNEL/json/v1/server" 5
lab_check "the first poll succeeds (reading named's dnstap counters)" \
    lab_agent_log_has "bindstats: reading named's dnstap counters from http://$CHANNEL" 5
settle
s0=$SENT
f0=$PFRAMES
echo "# before: named sent=$SENT dropped=$DROPPED, agent frames=$FRAMES (named queued" \
    "$((SENT - FRAMES)) before the agent connected: its readiness probes)"
lab_check "20 fresh lookups became PTRs" lab_fresh_ptrs 20
mapfile -t expect < <(lab_expectations)
for line in "${expect[@]}"; do
    read -r q t _ _ <<<"$line"
    lab_lookup "$q" "$t" >/dev/null
done
settle
echo "# after: named sent=$SENT dropped=$DROPPED, agent frames=$FRAMES poll_frames=$PFRAMES"
lab_check "named's sent count (DNSTAPsuccess) > 0: $SENT" test "$SENT" -gt 0
lab_check "named's sent count grew by at least the 30 lookups: $((SENT - s0))" \
    test $((SENT - s0)) -ge 30
lab_check "named sent - agent received grew by 0 over the lookups ($((SENT - s0)) - $((PFRAMES - f0)))" \
    test $((SENT - s0 - (PFRAMES - f0))) -eq 0
lab_check "named dropped no dnstap message: $DROPPED" test "$DROPPED" -eq 0
lab_check "no poll failed: $(val bind_poll_failures)" test "$(val bind_poll_failures)" -eq 0
lab_check "bind_up = 1" test "$UP" -eq 1
lab_check "no bindstats warning so far" test "$(log_count_since 0 "$WARN_RX")" -eq 0

# ---------------------------------------------------------------- B
lab_phase "B. lookups while the agent is stopped are visible as loss"
s_before=$SENT
lab_stop_agent TERM
LOST=7
for ((i = 0; i < LOST; i++)); do lab_fresh_lookup; done
lab_start_agent
lab_check "3 lookups after the restart became PTRs" lab_fresh_ptrs 3
settle
# The agent's counters restarted at 0 (a counter reset, as Prometheus sees
# it); named's did not: named's growth minus what the new agent received is
# what was lost while no agent read.
lab_check "named's sent grew by the $LOST + 3 lookups ($((SENT - s_before)))" \
    test $((SENT - s_before)) -eq $((LOST + 3))
lab_check "the agent received only the 3 made after its restart ($PFRAMES)" test "$PFRAMES" -eq 3
lab_check "named sent - agent received = the $LOST lookups made while no agent read ($((SENT - s_before - PFRAMES)))" \
    test $((SENT - s_before - PFRAMES)) -eq "$LOST"
lab_check "named dropped none of them for a full queue (dropped = $DROPPED): they were lost downstream of its queue" \
    test "$DROPPED" -eq 0

# ---------------------------------------------------------------- C
lab_phase "C. named's statistics channel down: counted, logged once"
from=$(log_lines)
snap
fail0=$(val bind_poll_failures)
lab_stop_bind
sleep 4 # about 8 polls at 500 ms
snap
lab_check "failed polls counted while named is down ($(($(val bind_poll_failures) - fail0)) >= 4)" \
    test $(($(val bind_poll_failures) - fail0)) -ge 4
lab_check "bind_up = 0 while named is down" test "$(val bind_up)" -eq 0
lab_check "named's last counts kept while down (bind_sent=$(val bind_sent))" test "$(val bind_sent)" -eq "$SENT"
n=$(log_count_since "$from" "$WARN_RX")
lab_check "the outage is logged exactly once at warning level ($n lines)" test "$n" -eq 1
grep -a "$WARN_RX" "$LAB_AGENT_LOG" | tail -n 1 | sed 's/^/# /'
lab_check "the agent is still running" agent_alive
lab_start_bind
lab_check "recovery logged at notice level" log_has_since "$from" "$BACK_RX" 10
settle
lab_check "bind_up = 1 again" test "$UP" -eq 1
n=$(log_count_since "$from" "$BACK_RX")
lab_check "the recovery is logged exactly once ($n lines)" test "$n" -eq 1
n=$(log_count_since "$from" "$WARN_RX")
lab_check "still exactly one warning for the whole outage ($n)" test "$n" -eq 1
lab_check "lookups after named's restart become PTRs" lab_fresh_ptrs 3

# ---------------------------------------------------------------- D
lab_phase "D. garbage and silence on the channel's port"
mkdir -p "$LAB/www/json/v1"
printf '<html><body>This is not the statistics channel</body></html>\n' >"$LAB/www/json/v1/server"
python3 -m http.server --bind "$LAB_CLIENT" --directory "$LAB/www" "$FAKE_PORT" \
    >"$LAB/http-server.log" 2>&1 &
lab_register_pid garbage-http $!
lab_check "python3 http.server listens on $LAB_CLIENT:$FAKE_PORT" \
    lab_wait_until 10 curl -sf -o /dev/null "http://$LAB_CLIENT:$FAKE_PORT/json/v1/server"
from=$(log_lines)
restart_agent_with "$LAB_CLIENT:$FAKE_PORT"
sleep 3
snap
lab_check "garbage answers are counted as failed polls ($(val bind_poll_failures) >= 3)" \
    test "$(val bind_poll_failures)" -ge 3
lab_check "bind_up = 0 on garbage" test "$(val bind_up)" -eq 0
n=$(log_count_since "$from" "$WARN_RX.*not named's JSON statistics")
lab_check "garbage is logged exactly once, as not named's JSON ($n)" test "$n" -eq 1
grep -a "$WARN_RX" "$LAB_AGENT_LOG" | tail -n 1 | sed 's/^/# /'
lab_check "the agent keeps running on garbage" agent_alive
lab_check "...and keeps learning (3 fresh lookups -> PTRs)" lab_fresh_ptrs 3
snap
lab_check "frames still counted ($(val frames) >= 3)" test "$(val frames)" -ge 3
# named's real answer in place of the garbage: the poller recovers.
curl -sf "http://$CHANNEL/json/v1/server" >"$LAB/www/json/v1/server.new"
mv "$LAB/www/json/v1/server.new" "$LAB/www/json/v1/server"
lab_check "named's real JSON on the same port: recovery logged" log_has_since "$from" "$BACK_RX" 10
snap
lab_check "bind_up = 1 with named's JSON" test "$(val bind_up)" -eq 1
lab_check "bind_sent = named's DNSTAPsuccess in that file ($(val bind_sent))" \
    test "$(val bind_sent)" -eq "$(grep -o '"DNSTAPsuccess":[0-9]*' "$LAB/www/json/v1/server" | cut -d: -f2)"
lab__stop_pid garbage-http "$(cat "$LAB/pids/garbage-http")" 5
rm -f "$LAB/pids/garbage-http"

# A port that accepts and never answers: each poll times out.
python3 - "$LAB_CLIENT" "$FAKE_PORT" "$LAB" >"$LAB/silent.log" 2>&1 <<'PY' &
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(64)
held = []
while True:
    c, _ = s.accept()
    held.append(c)  # read nothing, answer nothing
PY
lab_register_pid silent $!
lab_wait_until 10 bash -c "ss -Hlnt 'sport = :$FAKE_PORT' | grep -q ." || true
from=$(log_lines)
restart_agent_with "$LAB_CLIENT:$FAKE_PORT"
sleep 3
snap
lab_check "polls without an answer time out and are counted ($(val bind_poll_failures) >= 2)" \
    test "$(val bind_poll_failures)" -ge 2
n=$(log_count_since "$from" "$WARN_RX.*no complete answer in time")
lab_check "the silent channel is logged exactly once, as a timeout ($n)" test "$n" -eq 1
lab_check "the agent keeps running on a silent channel" agent_alive
lab_check "...and keeps learning" lab_fresh_ptrs 2
lab_stop_agent TERM
lab_check "agent exits 0 after SIGTERM with a poll in flight (status $LAB_AGENT_STATUS)" \
    test "${LAB_AGENT_STATUS:-x}" = 0

# ---------------------------------------------------------------- E
lab_phase "E. alert rules and dashboard"
rules=$srcdir/doc/prometheus/rearview.rules.yml
dash=$srcdir/doc/grafana/rearview.json
lab_check "promtool check rules $rules" promtool check rules "$rules"
lab_check "promtool test rules (the alerts fire on loss, drops, silence, failures, a growing queue; not on a healthy agent)" \
    promtool test rules "$srcdir/tests/prometheus/rearview.rules.test.yml"
lab_check "the Grafana dashboard is valid JSON" python3 -m json.tool "$dash" /dev/null
# Every rearview_* series the rules and the dashboard use is one the agent
# registers (stats.h's list or an rv_stats_register call), so a renamed
# metric cannot leave an alert silently empty.
known_metric() { # NAME
    grep -rqF "\"$1\"" "$srcdir/agent/stats.h" "$srcdir"/agent/*.c
}
unknown=()
while read -r m; do
    known_metric "$m" || unknown+=("$m")
done < <(grep -ohE 'rearview_[a-z0-9_]+' "$rules" "$dash" | sort -u)
lab_check "every rearview_* series in the rules and dashboard exists in the agent${unknown[*]:+ (unknown: ${unknown[*]})}" \
    test "${#unknown[@]}" -eq 0
lab_check "no sanitizer reports" lab_no_sanitizer_reports

LAB_SUMMARIZED=1

#!/usr/bin/env bash
# Integration: a BIND host's dnstap through rearview-relay to a central agent.
#   lab named -> unix socket -> rearview-relay -> TCP -> central agent (its
#   tcp: listener) -> TSIG UPDATE -> xray PTRs; the central agent down for a
#   while (a flood meanwhile: the relay's memory stays bounded, what it drops
#   is counted), then back (the relay reconnects, PTRs flow again); a peer
#   outside dnstap-allow refused and logged once; the same over TLS with a
#   client certificate; a client certificate from another CA refused.
# Run by meson (suite "integration") with RV_AGENT, RV_RELAY, RV_LOADGEN and
# RV_SRCDIR; needs root.
set -euo pipefail

srcdir=${RV_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=scripts/lab.sh
. "$srcdir/scripts/lab.sh"

lab_need_tools openssl python3
lab_test_begin
[[ -x ${RV_RELAY:-} ]] || { echo "RV_RELAY is not an executable: '${RV_RELAY:-}'"; exit 1; }
[[ -x ${RV_LOADGEN:-} ]] || { echo "RV_LOADGEN is not an executable: '${RV_LOADGEN:-}'"; exit 1; }

PTR_TIMEOUT=20
FLOOD=200000          # frames written to the relay while the central agent is down
QUEUE=4096            # the relay's queue (frames)
RSS_BOUND_KB=40960    # relay RSS growth allowed during the flood

lab_init
lab_start_upstream
lab_start_bind

TCP_PORT=$((LAB_PORT + 5))
TLS_PORT=$((LAB_PORT + 6))
CENTRAL_SOCK=$LAB/central.sock

# --- certificates: CA 1 signs the central agent and the good relay; CA 2 a rogue relay.
pki=$LAB/pki
lab_mkcert ca1
lab_mkcert ca2
lab_mkcert central ca1
lab_mkcert relay-good ca1
lab_mkcert relay-rogue ca2

# --- the central agent: a unix socket nobody uses, tcp: and tls: listeners.
lab_write_agent_conf dnstap-socket "$CENTRAL_SOCK" \
    dnstap-listen "\"unix:$CENTRAL_SOCK tcp:$LAB_CLIENT:$TCP_PORT tls:$LAB_CLIENT:$TLS_PORT\"" \
    dnstap-allow "$LAB_CLIENT/32" \
    dnstap-tls-cert "$pki/central.pem" dnstap-tls-key "$pki/central.key" \
    dnstap-tls-client-ca "$pki/ca1.pem" stats-interval 0
listening() { ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }
start_central() {
    "$RV_AGENT" -c "$LAB_AGENT_CONF" >>"$LAB_AGENT_LOG" 2>&1 &
    LAB_AGENT_PID=$!
    printf '%s\n' "$LAB_AGENT_PID" >"$LAB/pids/agent"
    lab_wait_until 10 listening "$TLS_PORT" || lab_die "central agent not listening"
}
start_central

# --- the relay, where named's socket is.
RELAY_LOG=$LAB/relay.log
relay_pid=
start_relay() { # extra relay options
    "$RV_RELAY" --socket "$LAB_SOCK" --socket-group root --writer-user root \
        --queue "$QUEUE" --reconnect 1 --io-timeout 2000 --stats-interval 0 --log-level info \
        "$@" >>"$RELAY_LOG" 2>&1 &
    relay_pid=$!
    lab_register_pid relay "$relay_pid"
    lab_wait_until 10 test -S "$LAB_SOCK" || lab_die "relay socket not created"
    lab_rndc dnstap -reopen >/dev/null 2>&1 || true
    lab_wait_until 10 lab__dnstap_connected || lab_die "named did not connect to the relay"
}
stop_relay() {
    lab__stop_pid relay "$relay_pid" 15
    rm -f "$LAB/pids/relay"
}
relay_stat() { lab_agent_stat "$1" "$relay_pid" "$RELAY_LOG"; }
relay_log_has() { # REGEX TIMEOUT_S
    lab_wait_until "$2" grep -Eqi -- "$1" "$RELAY_LOG"
}

lab_phase "named -> relay (unix) -> central agent (TCP) -> PTRs"
start_relay --central "$LAB_CLIENT:$TCP_PORT"
lab_check "relay connected to the central agent" relay_log_has "connected to the central agent tcp" 10
lab_check "3 fresh lookups become PTRs through the relay" lab_fresh_ptrs 3
lab_check "central agent saw a tcp peer" lab_agent_log_has "tcp $LAB_CLIENT:[0-9]+ fd [0-9]+: connected" 5
sent=$(relay_stat relay_sent)
in=$(relay_stat relay_in)
lab_check "relay: every frame received was sent (in $in, sent $sent)" test "$sent" = "$in"

lab_phase "central agent down: bounded memory, drops counted"
lab_stop_agent TERM
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$relay_pid/status"; }
rss0=$(rss_kb)
"$RV_LOADGEN" --unix "$LAB_SOCK" --count "$FLOOD" --names 5000 --time-base now --timeout 120 \
    >"$LAB/loadgen.out" 2>&1 || true
sed 's/^/# loadgen: /' "$LAB/loadgen.out"
lab_fresh_lookup # a real lookup while down: lost, counted
sleep 1
rss1=$(rss_kb)
# An idle connection's loss shows at the next write (the flood's first frames).
lab_check "relay logged the loss" relay_log_has "lost the central agent" 10
in=$(relay_stat relay_in)
lost=$(relay_stat relay_lost)
rejected=$(relay_stat relay_rejected)
queued=$(relay_stat relay_queued)
echo "# relay: in $in, lost $lost, rejected $rejected, queued $queued; RSS $rss0 kB -> $rss1 kB"
lab_check "relay took the flood ($in frames in >= $FLOOD)" test "$in" -ge "$FLOOD"
lab_check "drops counted: lost + rejected >= $FLOOD - $QUEUE" \
    test "$((lost + rejected))" -ge "$((FLOOD - QUEUE))"
lab_check "queue bounded: $queued <= $QUEUE" test "$queued" -le "$QUEUE"
if lab_asan_build "$RV_RELAY"; then
    lab_ok "relay RSS bound # SKIP AddressSanitizer build ($LAB_ASAN_WHY)"
else
    lab_check "relay RSS grew by at most $RSS_BOUND_KB kB (+$((rss1 - rss0)) kB)" \
        test "$((rss1 - rss0))" -le "$RSS_BOUND_KB"
fi

lab_phase "central agent back: the relay reconnects"
start_central
lab_check "relay reconnected" relay_log_has "connected to the central agent tcp .*connection 2" 15
lab_check "3 fresh lookups become PTRs again" lab_fresh_ptrs 3

lab_phase "a peer outside dnstap-allow"
# From the xray address (not in dnstap-allow $LAB_CLIENT/32), 10 times.
denied_peer() {
    python3 - "$LAB_XRAY" "$LAB_CLIENT" "$TCP_PORT" <<'PY'
import socket, sys
src, dst, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
closed = 0
for _ in range(10):
    s = socket.socket()
    s.settimeout(5)
    s.bind((src, 0))
    s.connect((dst, port))
    try:
        if s.recv(1) == b"":
            closed += 1
    except ConnectionResetError:
        closed += 1
    s.close()
sys.exit(0 if closed == 10 else 1)
PY
}
lab_check "10 connections from $LAB_XRAY closed at once" denied_peer
denied=$(lab_agent_stat denied)
lab_check "denied counted ($denied = 10)" test "$denied" = 10
nlines=$(grep -c "tcp $LAB_XRAY:[0-9]* fd [0-9]*: denied" "$LAB_AGENT_LOG" || true)
lab_check "denied logged with the peer, rate-limited ($nlines lines, 1..5)" \
    test "$nlines" -ge 1 -a "$nlines" -le 5

lab_phase "TLS with a client certificate from the central agent's CA"
stop_relay
start_relay --central "$LAB_CLIENT:$TLS_PORT" --tls-ca "$pki/ca1.pem" --tls-name central \
    --tls-cert "$pki/relay-good.pem" --tls-key "$pki/relay-good.key"
lab_check "relay connected over TLS" relay_log_has "connected to the central agent tls" 10
lab_check "central agent: TLS established, the relay is a writer" \
    lab_agent_log_has "tls $LAB_CLIENT:[0-9]+ fd [0-9]+ cn relay-good \\(writer\\): TLS established" 5
lab_check "3 fresh lookups become PTRs over TLS" lab_fresh_ptrs 3

lab_phase "a client certificate from another CA"
rogue_log=$LAB/rogue.log
"$RV_RELAY" --socket "$LAB/rogue.sock" --socket-group root --writer-user root --reconnect 1 \
    --io-timeout 2000 --stats-interval 0 --central "$LAB_CLIENT:$TLS_PORT" \
    --tls-ca "$pki/ca1.pem" --tls-cert "$pki/relay-rogue.pem" --tls-key "$pki/relay-rogue.key" \
    >"$rogue_log" 2>&1 &
lab_register_pid rogue $!
lab_check "central agent refused it, naming the reason" \
    lab_agent_log_has "tls $LAB_CLIENT:[0-9]+ fd [0-9]+: TLS handshake failed: client certificate refused" 10
tls_failed=$(lab_agent_stat tls_failed)
lab_check "TLS failures counted ($tls_failed >= 1)" test "$tls_failed" -ge 1
lab__stop_pid rogue "$(<"$LAB/pids/rogue")" 10
rm -f "$LAB/pids/rogue"

lab_phase "relay SIGTERM: STOP answered with FINISH by the central agent"
stop_relay
lab_check "relay exited 0 (status $LAB_LAST_STATUS)" test "$LAB_LAST_STATUS" = 0
lab_check "central agent: the relay's session ended with STOP/FINISH" \
    lab_agent_log_has "tls .*cn relay-good \\(writer\\): STOP after [0-9]+ frames, FINISH sent" 5

lab_stop_agent TERM
lab_check "agent exited 0 (status $LAB_AGENT_STATUS)" test "$LAB_AGENT_STATUS" = 0
lab_check "no sanitizer reports in the logs" lab_no_sanitizer_reports

LAB_SUMMARIZED=1

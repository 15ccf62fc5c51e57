#!/usr/bin/env bash
# Integration: other dnstap sources than BIND (README "Fleets").
#   - dnsdist 1.7 on 127.X.Y.9, forwarding to the lab's upstream, logging
#     responses by DnstapLogResponseAction to the agent's socket; the cache
#     hits too (addCacheHitResponseAction): lookups through it become PTRs.
#   - Knot Resolver 5.6 (kresd) on 127.X.Y.8, stub-forwarding to the
#     upstream, with its dnstap module: started AFTER the agent (it connects
#     to the socket only when it starts); lookups through it become PTRs.
#   - PowerDNS Recursor 4.8: its dnstap holds only RESOLVER_* messages, which
#     the agent skips: frames counted, nothing learned.
# Run by meson (suite "integration") with RV_AGENT and RV_SRCDIR; needs root.
set -euo pipefail

srcdir=${RV_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=scripts/lab.sh
. "$srcdir/scripts/lab.sh"

lab_need_tools dnsdist kresd pdns_recursor curl
lab_test_begin

PTR_TIMEOUT=20

lab_init
lab_start_upstream
lab_start_bind
lab_start_agent

# lookup_at SERVER NAME [TYPE]: addresses answered by SERVER.
lookup_at() {
    dig @"$1" -p "$LAB_PORT" +time=2 +tries=2 +short "$2" "${3:-A}" | grep -E '^[0-9a-fA-F.:]+$' || true
}

# ------------------------------------------------------------------ dnsdist
lab_phase "dnsdist as a source"
DD=$LAB_NET.9
lab_add_addr 9
mkdir -p "$LAB/dnsdist"
cat >"$LAB/dnsdist/dnsdist.conf" <<EOF
-- Lab dnsdist: a front end forwarding to the lab's upstream, feeding the
-- agent. Lab dir: $LAB
setLocal("$DD:$LAB_PORT")
newServer({address="$LAB_UPSTREAM:$LAB_PORT", source="$DD"})
pc = newPacketCache(10000)
getPool(""):setCache(pc)
tap = newFrameStreamUnixLogger("$LAB_SOCK")
-- Responses from the backend, and (a separate hook) answers from the cache:
-- without the second, a name answered from dnsdist's cache is never seen.
addResponseAction(AllRule(), DnstapLogResponseAction("dnsdist-lab", tap))
addCacheHitResponseAction(AllRule(), DnstapLogResponseAction("dnsdist-lab", tap))
EOF
dnsdist --check-config -C "$LAB/dnsdist/dnsdist.conf" >&2
dnsdist --supervised --disable-syslog -C "$LAB/dnsdist/dnsdist.conf" >"$LAB/dnsdist/dnsdist.log" 2>&1 &
lab_register_pid dnsdist $!
lab_wait_until 20 lab__dig_ok "$DD" example.test \
    || { tail -20 "$LAB/dnsdist/dnsdist.log"; lab_die "dnsdist did not answer"; }
lab_log "dnsdist ready on $DD"

lab_fresh
n1=g$LAB_FRESH.example.test a1=198.51.100.$LAB_FRESH
frames0=$(lab_agent_stat frames)
lab_check "dnsdist answers $n1" grep -qxF "$a1" <<<"$(lookup_at "$DD" "$n1")"
lab_check "xray: $a1 -> $n1. (dnsdist, backend response)" lab_wait_ptr "$a1" "$n1" "$PTR_TIMEOUT"
# The same name again: answered from dnsdist's cache, logged only through
# addCacheHitResponseAction. The frame counter shows the second message.
frames1=$(lab_agent_stat frames)
lookup_at "$DD" "$n1" >/dev/null
frames_above() { local f; f=$(lab_agent_stat frames) && ((f > $1)); }
lab_check "a cache hit at dnsdist reaches the agent as a frame" lab_wait_until 10 frames_above "$frames1"
echo "# agent frames: $frames0 before, $frames1 after the first lookup, $(lab_agent_stat frames) after the cache hit"

# ------------------------------------------------------------------ kresd
lab_phase "Knot Resolver as a source (started after the agent)"
KR=$LAB_NET.8
lab_add_addr 8
mkdir -p "$LAB/kresd"
cat >"$LAB/kresd/kresd.conf" <<EOF
-- Lab kresd: stub-forwards to the lab's upstream, dnstap to the agent.
net.listen('$KR', $LAB_PORT, { kind = 'dns' })
-- The lab has no internet and no signed zones: no trust anchor.
trust_anchors.remove('.')
cache.open(10 * MB, 'lmdb://$LAB/kresd/cache')
policy.add(policy.all(policy.STUB('$LAB_UPSTREAM@$LAB_PORT')))
modules.load('dnstap')
dnstap.config({
    socket_path = '$LAB_SOCK',
    identity = 'kresd-lab',
    client = { log_queries = false, log_responses = true },
})
EOF
# The agent runs already: kresd opens its dnstap connection at start.
kresd -n -c "$LAB/kresd/kresd.conf" "$LAB/kresd" >"$LAB/kresd/kresd.log" 2>&1 &
lab_register_pid kresd $!
lab_wait_until 20 lab__dig_ok "$KR" example.test \
    || { tail -20 "$LAB/kresd/kresd.log"; lab_die "kresd did not answer"; }
lab_log "kresd ready on $KR"
lab_fresh
n2=g$LAB_FRESH.example.test a2=198.51.100.$LAB_FRESH
lab_check "kresd answers $n2" grep -qxF "$a2" <<<"$(lookup_at "$KR" "$n2")"
lab_check "xray: $a2 -> $n2. (kresd)" lab_wait_ptr "$a2" "$n2" "$PTR_TIMEOUT"
lookup_at "$KR" "h$LAB_FRESH.example.test" AAAA >/dev/null
lab_check "xray: 2001:db8:6::$LAB_FRESH -> h$LAB_FRESH.example.test. (kresd, AAAA)" \
    lab_wait_ptr "2001:db8:6::$LAB_FRESH" "h$LAB_FRESH.example.test" "$PTR_TIMEOUT"

# Start order. kresd opens its dnstap connection when it starts; started
# while the agent is down it never connects (checked for 20 s of lookups).
# A connection that breaks later (agent restart) is noticed when a write
# fails and reopened: the first lookups after the restart are lost, later
# ones arrive. So: agent first, then kresd. (README "Fleets")
start_kresd() {
    kresd -n -c "$LAB/kresd/kresd.conf" "$LAB/kresd" >>"$LAB/kresd/kresd.log" 2>&1 &
    lab_register_pid kresd $!
    lab_wait_until 20 lab__dig_ok "$KR" example.test
}
# until_ptr ADDR NAME TIMEOUT_S: look NAME up through kresd once a second
# until the xray view answers; KR_MS = time to the PTR.
until_ptr() {
    local t0 deadline
    t0=$(lab_now_ms)
    deadline=$((t0 + $3 * 1000))
    while (($(lab_now_ms) < deadline)); do
        lookup_at "$KR" "$2" >/dev/null
        if [[ $(lab_xray_ptr "$1") == "$2." ]]; then
            KR_MS=$(($(lab_now_ms) - t0))
            return 0
        fi
        sleep 1
    done
    return 1
}
lab_phase "agent restart under a running kresd"
# shellcheck disable=SC2119 # default signal
lab_stop_agent
lab_start_agent
lab_fresh
n3=g$LAB_FRESH.example.test a3=198.51.100.$LAB_FRESH
if until_ptr "$a3" "$n3" 40; then
    lab_ok "kresd reconnects to a restarted agent: lookups repeated each second became a PTR after $KR_MS ms"
else
    lab_not_ok "kresd's lookups never reached the restarted agent in 40 s"
fi

lab_phase "kresd started while the agent is down"
lab__stop_pid kresd "$(<"$LAB/pids/kresd")" 20
# shellcheck disable=SC2119 # default signal
lab_stop_agent
start_kresd || lab_die "kresd did not start"
lab_start_agent
lab_fresh
n4=g$LAB_FRESH.example.test a4=198.51.100.$LAB_FRESH
# 10 s: a connection kresd lost is reopened within ~4 s of lookups (the
# restart phase above), so 10 s of lookups without a PTR says it never
# connects.
if until_ptr "$a4" "$n4" 10; then
    lab_not_ok "kresd started before the agent connected later (PTR after $KR_MS ms): the README says it never does"
else
    lab_ok "kresd started before the agent never connects: no PTR after 10 s of lookups through it"
fi
lab__stop_pid kresd "$(<"$LAB/pids/kresd")" 20
start_kresd || lab_die "kresd did not restart"
lab_fresh
n5=g$LAB_FRESH.example.test a5=198.51.100.$LAB_FRESH
lookup_at "$KR" "$n5" >/dev/null
lab_check "agent first, then kresd: $a5 -> $n5. from one lookup" lab_wait_ptr "$a5" "$n5" "$PTR_TIMEOUT"

# ------------------------------------------------------------ pdns-recursor
# PowerDNS Recursor 4.8 logs only its own traffic to upstreams
# (RESOLVER_QUERY / RESOLVER_RESPONSE): the agent counts those frames as
# skip-msg-type and learns nothing from them (README "Fleets").
lab_phase "PowerDNS Recursor 4.8: frames arrive, nothing is learned"
PR=$LAB_NET.10
lab_add_addr 10
mkdir -p "$LAB/pdns"
printf 'dnstapFrameStreamServer({"%s"}, {logQueries=true, logResponses=true})\n' "$LAB_SOCK" >"$LAB/pdns/recursor.lua"
pdns_recursor --config-dir="$LAB/pdns" --socket-dir="$LAB/pdns" --local-address="$PR" \
    --local-port="$LAB_PORT" --query-local-address="$PR" --forward-zones-recurse=".=$LAB_UPSTREAM:$LAB_PORT" \
    --lua-config-file="$LAB/pdns/recursor.lua" --daemon=no --dnssec=off --disable-syslog=yes \
    --write-pid=no >"$LAB/pdns/recursor.log" 2>&1 &
lab_register_pid pdns-recursor $!
lab_wait_until 20 lab__dig_ok "$PR" example.test \
    || { tail -20 "$LAB/pdns/recursor.log"; lab_die "pdns_recursor did not answer"; }
skips() { curl -s "http://$LAB_HTTP/metrics" | sed -n 's/^rearview_dnstap_frames_by_verdict_total{verdict="skip-msg-type"} //p'; }
skip0=$(skips)
lab_fresh
n6=g$LAB_FRESH.example.test a6=198.51.100.$LAB_FRESH
# forward-zones-recurse, not forward-zones: with RD=0 forwarding pdns
# caches the upstream's NS records and then asks ns.example.test directly
# (port 53, and 127/8 is in its dont-query list): SERVFAIL from the second
# lookup on. Retried anyway: its first answers after start can be slow.
pr_answers() { grep -qxF "$a6" <<<"$(lookup_at "$PR" "$n6")"; }
if lab_wait_until 15 pr_answers; then
    lab_ok "pdns_recursor answers $n6"
else
    lab_not_ok "pdns_recursor answers $n6: $(dig @"$PR" -p "$LAB_PORT" +time=2 +tries=1 "$n6" | grep -E 'status|IN' | tr '\n' ' ')"
fi
skips_above() { local k; k=$(skips) && ((k > $1)); }
lab_check "its frames reach the agent and are skipped as skip-msg-type" lab_wait_until 10 skips_above "${skip0:-0}"
echo "# skip-msg-type frames: ${skip0:-0} before, $(skips) after one lookup through pdns_recursor"
sleep 3
lab_check "no PTR from pdns_recursor's lookup ($a6)" test -z "$(lab_xray_ptr "$a6")"

if ((LAB_FAILED > 0)); then
    lab__tail "$LAB/dnsdist/dnsdist.log" "$LAB/kresd/kresd.log"
fi
LAB_SUMMARIZED=1

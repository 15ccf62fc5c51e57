#!/usr/bin/env bash
# Integration: the RPZ on its own named at idle CPU priority (README "A busy
# resolver"), the topology that keeps named's RPZ work off a saturated
# resolver's CPU:
#
#   front: the clients' resolver (the shipped options.conf and
#          view-client.conf, no xray view) -> dnstap -> the agent
#   rpz:   a second named with key.conf and view-xray.conf only, started
#          under SCHED_IDLE (chrt -i 0, what the README's unit does with
#          CPUSchedulingPolicy=idle); the agent's UPDATEs go here and the
#          analysts' `dig -x` too
#
#   - a lookup at the front becomes a PTR (IPv4 and IPv6) at the RPZ's named;
#   - every thread of the RPZ's named runs SCHED_IDLE;
#   - the front holds no RPZ: it does no policy work, and answers neither the
#     RPZ's SOA nor the synthesized PTR;
#   - the agent exits 0.
# Run by meson (suite "integration") with RV_AGENT and RV_SRCDIR; needs root.
set -euo pipefail

srcdir=${RV_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=scripts/lab.sh
. "$srcdir/scripts/lab.sh"

lab_skip_under_sanitizers "busy" \
    "it checks how two name servers share the work (where the RPZ lives, their CPU policy); the agent's part is pipeline.sh's, which runs there"

lab_test_begin
lab_need_tools chrt

PTR_TIMEOUT=30

lab_init
FRONT=$LAB_NET.6
RPZ=$LAB_NET.7
lab_start_upstream
LAB_NAMED_WRAP="chrt -i 0" lab_start_rpz_named rpz 7
# The agent first: the front connects to its socket when it starts.
mkdir -p "$LAB/front"
LAB_SOCK=$LAB/front/dnstap.sock
lab_write_agent_conf dnstap-socket "$LAB_SOCK" server "$RPZ"
lab_start_agent
lab_start_resolver front 6
sock_connected() { ss -Hx src "$1" 2>/dev/null | grep -q ESTAB; }
lab_wait_until 15 sock_connected "$LAB_SOCK" || lab_die "the front resolver did not connect to the agent"

lab_phase "lookups at the front -> PTRs at the RPZ's own named"
lab_lookup_at "$FRONT" www.example.test A >/dev/null
lab_lookup_at "$FRONT" shop.example.test AAAA >/dev/null
lab_check "RPZ named: 192.0.2.10 -> www.example.test." lab_wait_ptr_at "$RPZ" 192.0.2.10 www.example.test "$PTR_TIMEOUT"
lab_check "RPZ named: 2001:db8::21 -> shop.example.test." lab_wait_ptr_at "$RPZ" 2001:db8::21 shop.example.test "$PTR_TIMEOUT"

lab_phase "the RPZ's named runs at idle CPU priority"
rpid=$(<"$LAB/pids/rpz")
policies=$(for t in /proc/"$rpid"/task/*; do chrt -p "${t##*/}" | sed -n 's/.*scheduling policy: //p'; done | sort | uniq -c)
echo "# RPZ named's threads by policy: $(tr -s ' \n' ' ' <<<"$policies")"
lab_check "every thread of the RPZ's named is SCHED_IDLE" \
    bash -c '[[ -n $1 ]] && ! grep -v "SCHED_IDLE" <<<"$1"' _ "$policies"
fpid=$(<"$LAB/pids/front")
lab_check "the front resolver runs SCHED_OTHER (unchanged)" \
    bash -c 'chrt -p "$1" | grep -q SCHED_OTHER' _ "$fpid"

lab_phase "the front holds no RPZ"
soa_at() { dig @"$1" -p "$LAB_PORT" +time=2 +tries=1 "$2" SOA 2>/dev/null; }
lab_check "RPZ named answers the RPZ's SOA" bash -c 'grep -q "status: NOERROR" <<<"$1"' _ "$(soa_at "$RPZ" "$LAB_RPZ")"
lab_check "front does not serve the RPZ (no SOA answer for $LAB_RPZ)" \
    bash -c '! grep -qE "^$2\.[[:space:]].*SOA" <<<"$1"' _ "$(soa_at "$FRONT" "$LAB_RPZ")" "$LAB_RPZ"
lab_check "front does not synthesize the PTR" \
    bash -c '[[ $1 != www.example.test. ]]' _ "$(lab_ptr_at "$FRONT" 192.0.2.10)"
n_rpz=$(grep -c "rpz: $LAB_RPZ" "$LAB/front/named.log" || true)
lab_check "front's log has no policy-zone work (rpz lines: $n_rpz)" test "${n_rpz:-0}" -eq 0
n_rpz=$(grep -c "rpz: $LAB_RPZ: reload done" "$LAB/rpz/named.log" || true)
lab_check "the RPZ's named rebuilt its policy data ($n_rpz)" test "${n_rpz:-0}" -ge 1

lab_stop_agent TERM
lab_check "agent exited 0 (status $LAB_AGENT_STATUS)" test "$LAB_AGENT_STATUS" = 0
((LAB_FAILED == 0)) || lab__tail "$LAB/rpz/named.log" "$LAB/front/named.log"
LAB_SUMMARIZED=1

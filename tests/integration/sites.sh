#!/usr/bin/env bash
# Integration: one agent per site, each with its own zone, and an analysts'
# xray server that lists every site's zone in its response-policy
# (README "Fleets", second topology):
#
#   site A: the lab's resolver (client view, xray view = primary of
#           rpz.rearview) <- agent A (unix socket)
#   site B: resolver siteB (client view, xray view = primary of
#           rpz.site-b) <- agent B (unix socket)
#   analysts: named on .8, view-xray-secondary.conf rendered with
#           RPZ_ZONE=rpz.rearview OTHER_ZONES="rpz.site-b ADDR port P":
#           secondary of both zones, NOTIFY + IXFR from both primaries
#
#   - a lookup at either site becomes a PTR at that site's xray server and
#     at the analysts' server;
#   - an address both sites learned under different names (news and blog ->
#     192.0.2.50): each site answers its own name, the analysts' server the
#     one of the zone listed first (site A);
#   - each agent writes only its own zone: neither zone holds the other
#     site's names.
# Run by meson (suite "integration") with RV_AGENT and RV_SRCDIR; needs root.
set -euo pipefail

srcdir=${RV_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=scripts/lab.sh
. "$srcdir/scripts/lab.sh"

lab_skip_under_sanitizers "sites" \
    "it checks what happens between name servers (two sites' zones on one xray server); the agents' part is pipeline.sh's, which runs there"

lab_test_begin

PTR_TIMEOUT=30
ZONE_B=rpz.site-b

lab_init
SITEB_CLIENT=$LAB_NET.6
SITEB_XRAY=$LAB_NET.7
ANALYST=$LAB_NET.8
lab_add_key rearview-xfr
LAB_XFR_KEY_NAME=rearview-xfr
LAB_RENDER_ARGS=(SECONDARIES="$ANALYST port $LAB_PORT" XFR_KEY_NAME=rearview-xfr NOTIFY_DELAY=1 MIN_UPDATE_INTERVAL=1)
lab_start_upstream
# Site A: the lab's resolver and agent, as in every other test.
lab_start_bind
lab_write_agent_conf
lab_start_agent
# Site B: its own resolver (client view .6, xray view .7: zone rpz.site-b)
# and agent; the agent first (named connects at start).
mkdir -p "$LAB/siteB"
conf_a=$LAB_AGENT_CONF
LAB_AGENT_CONF=$LAB/agent-b.conf
lab_write_agent_conf dnstap-socket "$LAB/siteB/dnstap.sock" rpz-zone "$ZONE_B" server "$SITEB_XRAY" \
    snapshot-file "$LAB/state-b.snap" http-listen '""'
LAB_AGENT_CONF=$conf_a
AGENT_B_LOG=$LAB/agent-b.log
"$RV_AGENT" -c "$LAB/agent-b.conf" >>"$AGENT_B_LOG" 2>&1 &
lab_register_pid agent-b $!
lab_wait_until 10 test -S "$LAB/siteB/dnstap.sock" || lab_die "agent B: no socket"
lab_start_site siteB 6 "$ZONE_B" "$ANALYST port $LAB_PORT"
sock_connected() { ss -Hx src "$1" 2>/dev/null | grep -q ESTAB; }
lab_wait_until 15 sock_connected "$LAB/siteB/dnstap.sock" || lab_die "siteB did not connect to agent B"

# The analysts' server: the shipped secondary fragment with both zones.
lab_start_secondary analyst 8 OTHER_ZONES="$ZONE_B $SITEB_XRAY port $LAB_PORT"
both_zones() { lab__dig_ok "$ANALYST" "$LAB_RPZ" && lab__dig_ok "$ANALYST" "$ZONE_B"; }
lab_wait_until 30 both_zones || lab_die "analysts' server did not load both zones"

# --- 1. Each site's lookups: PTRs at the site and at the analysts' server.
lab_phase "lookups at each site -> PTRs at the site and at the analysts' server"
lab_lookup www.example.test A >/dev/null       # site A
lab_lookup_at "$SITEB_CLIENT" shop.example.test A >/dev/null  # site B
lab_lookup_at "$SITEB_CLIENT" shop.example.test AAAA >/dev/null
lab_check "site A xray: 192.0.2.10 -> www.example.test." lab_wait_ptr_at "$LAB_XRAY" 192.0.2.10 www.example.test "$PTR_TIMEOUT"
lab_check "site B xray: 192.0.2.21 -> shop.example.test." lab_wait_ptr_at "$SITEB_XRAY" 192.0.2.21 shop.example.test "$PTR_TIMEOUT"
lab_check "analysts: 192.0.2.10 -> www.example.test. (site A's zone)" lab_wait_ptr_at "$ANALYST" 192.0.2.10 www.example.test "$PTR_TIMEOUT"
lab_check "analysts: 192.0.2.21 -> shop.example.test. (site B's zone)" lab_wait_ptr_at "$ANALYST" 192.0.2.21 shop.example.test "$PTR_TIMEOUT"
lab_check "analysts: 2001:db8::21 -> shop.example.test. (site B, IPv6)" lab_wait_ptr_at "$ANALYST" 2001:db8::21 shop.example.test "$PTR_TIMEOUT"

# --- 2. One address, a different name at each site.
lab_phase "one address, two sites, two names"
lab_lookup news.example.test A >/dev/null            # site A: 192.0.2.50
lab_lookup_at "$SITEB_CLIENT" blog.example.test A >/dev/null # site B: 192.0.2.50
lab_check "site A xray: 192.0.2.50 -> news.example.test." lab_wait_ptr_at "$LAB_XRAY" 192.0.2.50 news.example.test "$PTR_TIMEOUT"
lab_check "site B xray: 192.0.2.50 -> blog.example.test." lab_wait_ptr_at "$SITEB_XRAY" 192.0.2.50 blog.example.test "$PTR_TIMEOUT"
in_zone_at() { # SERVER ZONE OWNER_PREFIX NAME: the analysts' copy of ZONE has it
    dig @"$1" -p "$LAB_PORT" +time=2 +tries=1 +short PTR "$3.$2" 2>/dev/null | grep -qx "$4."
}
lab_check "analysts' copy of $ZONE_B has blog (IXFR from site B)" \
    lab_wait_until "$PTR_TIMEOUT" in_zone_at "$ANALYST" "$ZONE_B" 50.2.0.192.in-addr.arpa blog.example.test
lab_check "analysts: 192.0.2.50 -> news.example.test. (the zone listed first wins)" \
    lab_wait_ptr_at "$ANALYST" 192.0.2.50 news.example.test "$PTR_TIMEOUT"

# --- 3. Each agent writes its own zone only.
lab_phase "each agent writes its own zone"
axfr_of() { # SERVER ZONE KEYFILE
    dig @"$1" -p "$LAB_PORT" +time=3 +tries=1 -k "$3" AXFR "$2" 2>/dev/null
}
za=$(axfr_of "$LAB_XRAY" "$LAB_RPZ" "$LAB/rearview.key")
zb=$(axfr_of "$SITEB_XRAY" "$ZONE_B" "$LAB/rearview.key")
lab_check "site A's zone: www, no shop or blog" \
    bash -c 'grep -q "PTR.*www.example.test" <<<"$1" && ! grep -qE "PTR.*(shop|blog).example.test" <<<"$1"' _ "$za"
lab_check "site B's zone: shop and blog, no www or news" \
    bash -c 'grep -q "PTR.*shop.example.test" <<<"$1" && grep -q "PTR.*blog.example.test" <<<"$1" && ! grep -qE "PTR.*(www|news).example.test" <<<"$1"' _ "$zb"
n_ixfr=$(grep -cE "client @[^ ]+ $ANALYST#[0-9]+/key rearview-xfr .*IXFR started" "$LAB/siteB/named.log" || true)
lab_check "site B's primary served the analysts IXFRs ($n_ixfr)" test "${n_ixfr:-0}" -ge 1
n_ixfr=$(grep -cE "client @[^ ]+ $ANALYST#[0-9]+/key rearview-xfr .*IXFR started" "$LAB/resolver/named.log" || true)
lab_check "site A's primary served the analysts IXFRs ($n_ixfr)" test "${n_ixfr:-0}" -ge 1

lab_stop_agent TERM
lab_check "agent A exited 0 (status $LAB_AGENT_STATUS)" test "$LAB_AGENT_STATUS" = 0
lab__stop_pid agent-b "$(<"$LAB/pids/agent-b")" 15
lab_check "agent B exited 0 (status $LAB_LAST_STATUS)" test "$LAB_LAST_STATUS" = 0
rm -f "$LAB/pids/agent-b"
((LAB_FAILED == 0)) || lab__tail "$AGENT_B_LOG" "$LAB/analyst/named.log" "$LAB/siteB/named.log"
LAB_SUMMARIZED=1

#!/usr/bin/env bash
# Integration: Unbound as an xray server (README "Fleets").
#   The lab's resolver is the primary (the agent writes its RPZ); two Unbound
#   instances on other addresses of the lab's block copy the RPZ (rpz:
#   primary:, module-config "respip validator iterator") and answer dig -x:
#   - "lan": with unblock-lan-zones / insecure-lan-zones, so PTRs of
#     private-range (RFC 1918) addresses come through;
#   - "stock": Unbound's defaults, whose local zones for the private and
#     documentation reverse ranges answer before the RPZ: the pitfall, shown.
#   Unbound 1.17 cannot sign zone transfers (no TSIG for auth-zone/rpz), so
#   the primary allows them by address (XFR_ACL) and sends NOTIFY from its
#   own address (Unbound accepts notifies from its primary: addresses).
# Run by meson (suite "integration") with RV_AGENT and RV_SRCDIR; needs root.
set -euo pipefail

srcdir=${RV_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=scripts/lab.sh
. "$srcdir/scripts/lab.sh"

lab_skip_under_sanitizers "unbound-xray" \
    "it checks Unbound serving the RPZ it transfers from the primary; the agent's part is pipeline.sh's, which runs there"

lab_need_tools unbound unbound-checkconf
lab_test_begin

PTR_TIMEOUT=30

lab_init
UB_LAN=$LAB_NET.6
UB_STOCK=$LAB_NET.7
# XFR_ACL: on loopback a TCP connection to a local address leaves FROM that
# address, and Unbound 1.17 does not bind its outgoing-interface for zone
# transfers (seen here: the primary refused "127.X.Y.2#port" until allowed),
# so the transfers arrive from the primary's own xray address. On a network
# it is the Unbound host's address. The NOTIFYs (unsigned: Unbound 1.17
# answers with FORMERR when signed, hence SECONDARIES_NOKEY) leave from
# notify-source, the address Unbound knows as primary.
LAB_RENDER_ARGS=(SECONDARIES_NOKEY="$UB_LAN port $LAB_PORT; $UB_STOCK port $LAB_PORT"
    XFR_ACL="$LAB_XRAY;" NOTIFY_DELAY=1)
LAB_RESOLVER_OPTIONS_EXTRA="    notify-source $LAB_XRAY;"
lab_start_upstream
lab_start_bind
lab_start_agent
LAB_UNBOUND_EXTRA_CONF='unblock-lan-zones: yes
    insecure-lan-zones: yes'
lab_start_unbound ub-lan 6
LAB_UNBOUND_EXTRA_CONF=
lab_start_unbound ub-stock 7

# www: public; v6only: IPv6; priv10 / priv192: RFC 1918.
lab_phase "lookups -> PTRs through Unbound"
declare -A want=(
    [192.0.2.10]=www.example.test
    [2001:db8::60]=v6only.example.test
    [10.53.1.10]=priv10.example.test
    [192.168.53.10]=priv192.example.test
)
t0=$(lab_now_ms)
lab_lookup www.example.test A >/dev/null
lab_lookup v6only.example.test AAAA >/dev/null
lab_lookup priv10.example.test A >/dev/null
lab_lookup priv192.example.test A >/dev/null
for a in 192.0.2.10 2001:db8::60 10.53.1.10 192.168.53.10; do
    lab_check "primary xray: dig -x $a -> ${want[$a]}." lab_wait_ptr "$a" "${want[$a]}" "$PTR_TIMEOUT"
done
for a in 192.0.2.10 2001:db8::60 10.53.1.10 192.168.53.10; do
    if lab_wait_ptr_at "$UB_LAN" "$a" "${want[$a]}" "$PTR_TIMEOUT"; then
        lab_ok "unbound (unblock-lan-zones): dig -x $a -> ${want[$a]}."
    else
        lab_not_ok "unbound (unblock-lan-zones): dig -x $a -> ${want[$a]}.: got '$(lab_ptr_at "$UB_LAN" "$a")'"
    fi
done
echo "# lookups -> all 4 PTRs served by Unbound: $(($(lab_now_ms) - t0)) ms (notify-delay 1 s)"

# The stock instance copies the RPZ too (its zone file holds every rule),
# yet answers none of these PTRs: Unbound's default local zones cover the
# private (RFC 1918) reverse ranges and the documentation ones the lab uses
# (192.0.2.0/24, 2001:db8::/32) and answer before the RPZ is consulted.
# unblock-lan-zones removes them all (only localhost's remain); a
# `local-zone: "<zone>" nodefault` per range removes one.
stock_has() { # REVNAME: the stock instance's copy of the RPZ has the rule
    grep -qiE "^$1\.$LAB_RPZ\.[[:space:]].*PTR" "$LAB/ub-stock/$LAB_RPZ.zone" 2>/dev/null
}
for a in 192.0.2.10 2001:db8::60 10.53.1.10 192.168.53.10; do
    rev=$(lab_revname "$a")
    lab_check "unbound (defaults) copied the rule for $a" lab_wait_until "$PTR_TIMEOUT" stock_has "${rev%.}"
    got=$(lab_ptr_at "$UB_STOCK" "$a")
    rc=$(dig @"$UB_STOCK" -p "$LAB_PORT" +time=1 +tries=1 -x "$a" | sed -n 's/.*status: \([A-Z]*\),.*/\1/p')
    echo "# unbound (defaults): dig -x $a -> status $rc, answer '${got}'"
    lab_check "unbound (defaults): its local zone hides the PTR of $a (status $rc)" test -z "$got"
done

# Updates keep flowing: a fresh lookup after the first transfers.
lab_phase "a later change reaches Unbound"
lab_fresh_lookup
t1=$(lab_now_ms)
if lab_wait_ptr_at "$UB_LAN" "$FRESH_ADDR" "$FRESH_NAME" "$PTR_TIMEOUT"; then
    lab_ok "unbound: later PTR $FRESH_ADDR -> $FRESH_NAME. ($(($(lab_now_ms) - t1)) ms after the lookup)"
else
    lab_not_ok "unbound: later PTR $FRESH_ADDR -> $FRESH_NAME."
fi
no_error() { ! grep -qiE "error|fail" "$1"; }
lab_check "unbound's log shows no error" no_error "$LAB/ub-lan/unbound.log"

if ((LAB_FAILED > 0)); then
    lab__tail "$LAB/ub-lan/unbound.log" "$LAB/ub-stock/unbound.log" "$LAB/ub-lan/unbound.stderr"
fi
LAB_SUMMARIZED=1

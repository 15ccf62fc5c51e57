#!/usr/bin/env bash
# Integration: the whole pipeline against a real named on loopback.
#   client-view lookups -> dnstap -> rearview-agent -> TSIG UPDATE -> RPZ ->
#   xray-view PTR answers; AXFR contents and access; what must NOT be
#   learned; named restart; agent SIGKILL + restart; SIGTERM exit status.
# Run by meson (suite "integration") with RV_AGENT and RV_SRCDIR; needs root.
# Prints one "ok - " / "not ok - " line per check and "N passed, M failed".
set -euo pipefail

srcdir=${RV_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=scripts/lab.sh
. "$srcdir/scripts/lab.sh"

lab_test_begin

PTR_TIMEOUT=20 # seconds; typical is ~2 s (dnstap flush 1 s + RPZ rebuild 1 s)

lab_init
lab_start_upstream
lab_start_bind
# The test .mmdb maps 192.0.2.0/24 to AU and 2001:db8::/32 to JP (tests/data).
lab_write_agent_conf geoip-database "$srcdir/tests/data/test-country.mmdb"
lab_start_agent

# --- 1. lookups through the client view become PTRs of the question name.
lab_phase "lookups -> PTRs"
mapfile -t expect < <(lab_expectations)
declare -A want_name=() want_depth=()
for line in "${expect[@]}"; do
    read -r q t a d <<<"$line"
    want_name[$a]=$q
    want_depth[$a]=$d
done
declare -A done_lookup=()
for line in "${expect[@]}"; do
    read -r q t a d <<<"$line"
    [[ -v "done_lookup[$q/$t]" ]] && continue
    done_lookup[$q/$t]=1
    got=$(lab_lookup "$q" "$t")
    lab_check "client view answers $t $q with $a" grep -qxF "$a" <<<"$got"
done
t_last=$(lab_now_ms)
for line in "${expect[@]}"; do
    read -r q t a d <<<"$line"
    if lab_wait_ptr "$a" "$q" "$PTR_TIMEOUT"; then
        lab_ok "xray: dig -x $a -> $q. ($t, CNAME depth $d)"
    else
        lab_not_ok "xray: dig -x $a -> $q. ($t, CNAME depth $d): got '$(lab_xray_ptr "$a")'"
    fi
done
t_all=$(lab_now_ms)
echo "# last lookup -> all ${#expect[@]} PTRs served: $((t_all - t_last)) ms"

# Two names share one address: the PTR must be one of them.
for q in news.example.test blog.example.test news.example.test; do lab_lookup "$q" A >/dev/null; done
shared_ok() {
    local deadline=$(($(lab_now_ms) + PTR_TIMEOUT * 1000)) got
    while (($(lab_now_ms) < deadline)); do
        got=$(lab_xray_ptr 192.0.2.50)
        [[ $got == news.example.test. || $got == blog.example.test. ]] && return 0
        sleep 0.1
    done
    echo "# 192.0.2.50 -> '$got'"
    return 1
}
lab_check "xray: shared address 192.0.2.50 -> one of its two names" shared_ok
want_name[192.0.2.50]=shared
want_depth[192.0.2.50]=0

# --- 2. AXFR with the key shows PTR + TXT(first= last= count= depth= score= country=).
lab_phase "AXFR"
axfr=$(lab_axfr +noall +answer +onesoa)
rpz_has() { # ADDR: PTR and TXT present, TXT well-formed, depth right
    local a=$1 owner txt
    owner="$(lab_revname "$a").$LAB_RPZ."
    if [[ ${want_name[$a]} != shared ]]; then
        grep -Eq "^${owner//./\\.}[[:space:]].*IN[[:space:]]+PTR[[:space:]]+${want_name[$a]//./\\.}\.$" <<<"$axfr" \
            || { echo "# no PTR at $owner"; return 1; }
    fi
    txt=$(grep -E "^${owner//./\\.}[[:space:]].*IN[[:space:]]+TXT" <<<"$axfr") \
        || { echo "# no TXT at $owner"; return 1; }
    local f
    local cc=AU
    [[ $a == *:* ]] && cc=JP
    for f in first= last= count= "depth=${want_depth[$a]}" score= "country=$cc"; do
        [[ $txt == *"$f"* ]] || { echo "# TXT at $owner lacks '$f': $txt"; return 1; }
    done
}
for a in "${!want_name[@]}"; do
    lab_check "AXFR (TSIG): PTR + TXT first/last/count/depth/score/country for $a" rpz_has "$a"
done
v6owner="$(lab_revname 2001:db8::10).$LAB_RPZ."
lab_check "AXFR: IPv6 address stored under its 32-nibble ip6.arpa name ($v6owner)" \
    grep -qF "$v6owner" <<<"$axfr"
lab_check "xray: dig -x 2001:db8::10 answers www.example.test." \
    test "$(lab_xray_ptr 2001:db8::10)" = www.example.test.

nokey=$(lab_axfr --nokey +noall +answer 2>&1 || true)
axfr_refused() {
    ! grep -Eq 'IN[[:space:]]+(PTR|TXT)' <<<"$nokey" && grep -qi 'transfer failed' <<<"$nokey"
}
lab_check "AXFR without the key is refused" axfr_refused
# The xray view also matches anything signed with the key, whatever address
# it arrives on (agent default server 127.0.0.1): AXFR via the client address.
via_client() {
    dig @"$LAB_CLIENT" -p "$LAB_PORT" +time=3 +tries=1 -k "$LAB/rearview.key" +noall +answer \
        AXFR "$LAB_RPZ" | grep -qE 'IN[[:space:]]+PTR[[:space:]]+www\.example\.test\.$'
}
lab_check "TSIG-signed AXFR sent to the client address is served by the xray view" via_client

# --- 3. Things that must teach the agent nothing.
lab_phase "nothing to learn"
ptr_owners() { lab_axfr +noall +answer | grep -cE 'IN[[:space:]]+PTR' || true; }
before=$(ptr_owners)
lab_check "client view answers a PTR question (99.2.0.192.in-addr.arpa)" \
    test "$(dig @"$LAB_CLIENT" -p "$LAB_PORT" +short -x 192.0.2.99)" = real-ptr.example.test.
lab_check "client view: nothere.example.test is NXDOMAIN" \
    test "$(lab_lookup_rcode nothere.example.test A)" = NXDOMAIN
lab_check "client view: dangling.example.test (CNAME to nothing) is NXDOMAIN" \
    test "$(lab_lookup_rcode dangling.example.test A)" = NXDOMAIN
lab_check "client view: MX www.example.test is NODATA" \
    test "$(lab_lookup_rcode www.example.test MX)" = NOERROR
# Sentinel: once a later lookup is served, the earlier frames were processed.
lab_fresh
sent=$LAB_FRESH
lab_lookup "g$sent.example.test" A >/dev/null
lab_check "sentinel g$sent.example.test -> 198.51.100.$sent served" \
    lab_wait_ptr "198.51.100.$sent" "g$sent.example.test" "$PTR_TIMEOUT"
# named writes frames from one queue per worker, not in time order: give a
# frame of the earlier lookups one more flush period (1 s) plus the agent's
# flush (0.2 s) before concluding it taught nothing. (Proving an absence
# needs a settle time; everything else here polls.)
sleep 1.5
after=$(ptr_owners)
lab_check "PTR question, NXDOMAIN and NODATA created nothing (PTRs $before -> $after, +1 sentinel)" \
    test "$after" -eq "$((before + 1))"
lab_check "xray: the PTR-question address 192.0.2.99 stays NXDOMAIN" \
    test -z "$(lab_xray_ptr 192.0.2.99)"
nx_fast() {
    local t0 rc
    t0=$(lab_now_ms)
    rc=$(dig @"$LAB_XRAY" -p "$LAB_PORT" +time=2 +tries=1 -x 10.99.98.97 | sed -n 's/.*status: \([A-Z]*\),.*/\1/p')
    echo "# dig -x of an unknown address: $rc in $(($(lab_now_ms) - t0)) ms"
    [[ $rc == NXDOMAIN ]] && (($(lab_now_ms) - t0 < 1000))
}
lab_check "xray: unknown address -> NXDOMAIN in < 1 s" nx_fast

# --- 4. named restarted: dnstap and UPDATE paths reconnect.
lab_phase "named restart"
lab_stop_bind
lab_start_bind
# The RPZ comes back from its journal; named applies the journal's policy
# one min-update-interval (1 s) after startup, hence a short wait.
if lab_wait_ptr 192.0.2.41 video.example.test 5; then
    lab_ok "after named restart: earlier PTR 192.0.2.41 served again from the journal (${LAB_WAIT_MS} ms)"
else
    lab_not_ok "after named restart: earlier PTR 192.0.2.41 served again from the journal"
fi
lab_fresh
n=$LAB_FRESH
lab_lookup "c$n.example.test" A >/dev/null
lab_check "after named restart: new lookup c$n.example.test -> 203.0.113.$n becomes a PTR" \
    lab_wait_ptr "203.0.113.$n" "c$n.example.test" "$PTR_TIMEOUT"
lab_fresh
n=$LAB_FRESH
lab_lookup "h$n.example.test" AAAA >/dev/null
lab_check "after named restart: new AAAA lookup h$n.example.test -> 2001:db8:6::$n" \
    lab_wait_ptr "2001:db8:6::$n" "h$n.example.test" "$PTR_TIMEOUT"

# --- 5. agent SIGKILLed and restarted.
lab_phase "agent SIGKILL + restart"
lab_stop_agent KILL
lab_check "agent killed with SIGKILL (status $LAB_AGENT_STATUS)" test "$LAB_AGENT_STATUS" = 137
lab_check "agent down: earlier PTR 192.0.2.31 still served" \
    test "$(lab_xray_ptr 192.0.2.31)" = img.example.test.
lab_start_agent
lab_fresh
n=$LAB_FRESH
lab_lookup "g$n.example.test" A >/dev/null
lab_check "after agent restart: new lookup g$n.example.test -> 198.51.100.$n becomes a PTR" \
    lab_wait_ptr "198.51.100.$n" "g$n.example.test" "$PTR_TIMEOUT"
still_all() {
    local line q t a d bad=0
    for line in "${expect[@]}"; do
        read -r q t a d <<<"$line"
        [[ $(lab_xray_ptr "$a") == "$q." ]] || { echo "# $a lost its PTR"; bad=1; }
    done
    return "$bad"
}
lab_check "after agent restart: all earlier PTRs still served" still_all

# --- 6. SIGTERM: clean exit.
lab_phase "SIGTERM"
lab_stop_agent TERM
lab_check "agent exits 0 on SIGTERM (status $LAB_AGENT_STATUS)" test "$LAB_AGENT_STATUS" = 0

# Writes to new addresses skip the deletions (the zone is known to be empty
# there): no owner may ever end up with a second PTR or TXT.
one_each() {
    lab_axfr +noall +answer | awk '$4 == "PTR" || $4 == "TXT" { n[$1 " " $4]++ }
        END { bad = 0; for (k in n) if (n[k] > 1) { print "# " n[k] "x " k; bad = 1 }; exit bad }'
}
lab_check "AXFR after restarts: at most one PTR and one TXT per owner" one_each
lab_check "no sanitizer reports in the agent's output" lab_no_sanitizer_reports

LAB_SUMMARIZED=1 # the EXIT trap prints the summary last

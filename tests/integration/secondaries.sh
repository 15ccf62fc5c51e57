#!/usr/bin/env bash
# Integration: the RPZ on many servers (README "Fleets").
#   one primary (the lab's resolver: the agent writes its xray view's RPZ,
#   rendered with SECONDARIES=...) and two secondary named instances on
#   other addresses of the lab's block (the shipped view-xray-secondary.conf):
#   - the PTRs the agent writes are served by both secondaries (dig -x);
#   - after the first transfer the secondaries copy the changes by IXFR
#     (NOTIFY from the primary, signed with a transfer key that cannot write);
#   - the agent's reconcile AXFRs go to the primary only;
#   - staleness: lookup at the resolver -> PTR served by each secondary
#     (p50 / max over STALE_N lookups), printed as "# staleness ...".
# Run by meson (suite "integration") with RV_AGENT and RV_SRCDIR; needs root.
set -euo pipefail

srcdir=${RV_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=scripts/lab.sh
. "$srcdir/scripts/lab.sh"

lab_skip_under_sanitizers "secondaries" \
    "it checks what happens between name servers (NOTIFY, IXFR, the policy rebuild); the agent's part is pipeline.sh's, which runs there"

lab_test_begin

PTR_TIMEOUT=30
STALE_N=${STALE_N:-20}
# The primary's notify-delay for this test (named's default is 5 s: add ~4 s
# to every figure below with the default).
NOTIFY_DELAY=${NOTIFY_DELAY:-1}

lab_init
lab_start_rpz_primary_and_secondaries "$NOTIFY_DELAY"
# A short reconcile interval: several of the agent's AXFRs during the test.
lab_write_agent_conf reconcile-interval 5s
lab_start_agent

no_match() { ! grep -qE -- "$1" "$2"; } # REGEX FILE
sec_logs() {
    lab__tail "$LAB/sec1/named.log" "$LAB/sec2/named.log"
}

# --- 1. PTRs written by the agent are served by both secondaries.
lab_phase "PTRs on the secondaries"
mapfile -t expect < <(lab_expectations)
declare -A seen=()
for line in "${expect[@]}"; do
    read -r q t a d <<<"$line"
    [[ -v "seen[$q/$t]" ]] && continue
    seen[$q/$t]=1
    lab_lookup "$q" "$t" >/dev/null
done
for line in "${expect[@]}"; do
    read -r q t a d <<<"$line"
    lab_check "primary xray: dig -x $a -> $q." lab_wait_ptr "$a" "$q" "$PTR_TIMEOUT"
    for s in "$SEC1" "$SEC2"; do
        lab_check "secondary $s: dig -x $a -> $q." lab_wait_ptr_at "$s" "$a" "$q" "$PTR_TIMEOUT"
    done
done

# --- 2. Staleness: lookup -> PTR at each secondary.
lab_phase "staleness over $STALE_N lookups"
st1=() st2=()
for ((i = 0; i < STALE_N; i++)); do
    lab_fresh
    name=g$LAB_FRESH.example.test
    addr=198.51.100.$LAB_FRESH
    t0=$(lab_now_ms)
    lab_lookup "$name" A >/dev/null
    got1='' got2=''
    deadline=$((t0 + PTR_TIMEOUT * 1000))
    while [[ -z $got1 || -z $got2 ]] && (($(lab_now_ms) < deadline)); do
        [[ -n $got1 || $(lab_ptr_at "$SEC1" "$addr") != "$name." ]] || got1=$(($(lab_now_ms) - t0))
        [[ -n $got2 || $(lab_ptr_at "$SEC2" "$addr") != "$name." ]] || got2=$(($(lab_now_ms) - t0))
        sleep 0.02
    done
    if [[ -n $got1 && -n $got2 ]]; then
        st1+=("$got1")
        st2+=("$got2")
    else
        lab_not_ok "staleness: $name ($addr) not served by both secondaries in ${PTR_TIMEOUT}s (sec1 '${got1}' sec2 '${got2}')"
    fi
done
pctl() { # p50 / max of the arguments (ms)
    local sorted
    mapfile -t sorted < <(printf '%s\n' "$@" | sort -n)
    printf 'p50 %d ms, max %d ms' "${sorted[$(((${#sorted[@]} - 1) / 2))]}" "${sorted[-1]}"
}
if ((${#st1[@]} == STALE_N)); then
    lab_ok "all $STALE_N fresh PTRs served by both secondaries"
    echo "# staleness (lookup -> PTR at the secondary; notify-delay $NOTIFY_DELAY s, min-update-interval 1 s, agent flush-interval 200ms):"
    echo "#   sec1: $(pctl "${st1[@]}")"
    echo "#   sec2: $(pctl "${st2[@]}")"
fi

# --- 3. Changes after the first transfer arrive by IXFR. The primary logs
# each outgoing transfer ("client @... SRC#port/key K (zone): view xray:
# transfer of 'zone/IN': IXFR started ..."); the secondary logs its own side
# of it ("transfer of 'zone/IN/xray' from PRIMARY: ...").
lab_phase "IXFR, not AXFR"
plog=$LAB/resolver/named.log
lab_check_ixfr_served
# named 9.18 logs the transfer type only on the serving side at level info;
# the secondary logs each completed transfer: one AXFR (its first) + the
# IXFRs above, nothing else (no other source, no fallback to AXFR).
for i in 1 2; do
    n=sec$i
    s=$LAB_NET.$((3 + i))
    f=$LAB/$n/named.log
    n_done=$(grep -cE "transfer of '$LAB_RPZ/IN/xray' from $LAB_XRAY#[0-9]+: Transfer completed" "$f" || true)
    n_srv=$(grep -cE "client @[^ ]+ $s#[0-9]+/key rearview-xfr .*(IXFR|AXFR) started" "$plog" || true)
    lab_check "$n completed $n_done transfers = the $n_srv the primary served it" test "${n_done:-0}" -eq "${n_srv:-0}"
    lab_check "$n's log shows NOTIFYs from the primary" grep -qE "zone $LAB_RPZ/IN/xray: notify from .*: serial" "$f"
done

# --- 4. The agent talks to the primary only: its reconcile AXFRs appear in
# the primary's log (signed with the agent's key), and no secondary was
# asked for a transfer by anyone (they allow none).
lab_phase "the agent's AXFRs go to the primary"
n_agent=$(grep -cE "/key $LAB_KEY_NAME .*transfer of '$LAB_RPZ/IN': AXFR started" "$plog" || true)
lab_check "primary's log shows the agent's AXFRs (start + reconcile; got $n_agent)" test "${n_agent:-0}" -ge 2
for n in sec1 sec2; do
    # Outgoing transfers are logged with the client ("client @0x... ADDR#port
    # ... transfer of ..."); the secondary's own incoming ones are not.
    lab_check "$n served no transfer (no 'client ... transfer of' line)" no_match "client @.*transfer of" "$LAB/$n/named.log"
    lab_check "$n: no query or transfer from the agent's key" no_match "/key $LAB_KEY_NAME " "$LAB/$n/named.log"
done

# --- 5. The transfer key cannot write the RPZ.
lab_phase "transfer key is read-only"
upd=$(printf 'server %s %s\nzone %s\nupdate add 9.9.9.9.in-addr.arpa.%s 60 PTR evil.test.\nsend\n' \
    "$LAB_XRAY" "$LAB_PORT" "$LAB_RPZ" "$LAB_RPZ" | nsupdate -k "$LAB/rearview-xfr.key" 2>&1 || true)
lab_check "UPDATE signed with the transfer key is REFUSED" grep -q REFUSED <<<"$upd"

((LAB_FAILED == 0)) || sec_logs
LAB_SUMMARIZED=1

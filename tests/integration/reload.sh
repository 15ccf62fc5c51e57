#!/usr/bin/env bash
# Integration: live reload (SIGHUP) against a real named on loopback.
#   (a) log-level, max-update-rate and ignore-suffix change live: logged, and
#       the new guard decides what is learned;
#   (b) dnstap-socket changed: "restart needed", the old socket keeps working;
#   (c) a file with errors: file:line logged, nothing changes, learning goes on;
#   (d) key rotation on real named: new secret in the key file, rndc
#       reconfig, SIGHUP; UPDATEs and AXFRs keep succeeding with the new key;
#   (e) an unusable key file (world-readable; garbage): the running key stays;
#   (f) SIGHUPs during a burst of lookups: every lookup becomes its PTR.
# Run by meson (suite "integration") with RV_AGENT and RV_SRCDIR; needs root.
set -euo pipefail

srcdir=${RV_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=scripts/lab.sh
. "$srcdir/scripts/lab.sh"

lab_need_tools curl
lab_test_begin

PTR_TIMEOUT=20

lab_init
lab_start_upstream
lab_start_bind
# A short reconcile period: the AXFRs after the key rotation must be signed
# with the new key too.
BASE=(reconcile-interval 2s stats-interval 0)
lab_write_agent_conf "${BASE[@]}"
lab_start_agent
AGENT_PID=$(<"$LAB/pids/agent")

# Summary lines of completed reloads (applied, or kept because of errors).
reloads_done() { grep -acE 'reload: .*(options? applied|keeping the running configuration)' "$LAB_AGENT_LOG" || true; }
reloads_above() { (($(reloads_done) > $1)); }
# SIGHUP and wait for its summary line; the log lines of this reload are
# then in RELOAD_LOG.
hup() {
    local before lines
    before=$(reloads_done)
    lines=$(wc -l <"$LAB_AGENT_LOG")
    kill -HUP "$AGENT_PID"
    lab_wait_until 10 reloads_above "$before" || { echo "# no reload summary after SIGHUP"; return 1; }
    RELOAD_LOG=$(tail -n +"$((lines + 1))" "$LAB_AGENT_LOG" | grep -a 'reload: ' || true)
    printf '# %s\n' "${RELOAD_LOG//$'\n'/$'\n# '}"
}
reload_said() { grep -qE -- "$1" <<<"$RELOAD_LOG"; }
not_said() { ! reload_said "$1"; }

lab_phase "before: learning works"
lab_check "a fresh lookup becomes its PTR" lab_fresh_ptrs 1

# --- (a) live options.
lab_phase "(a) log-level, max-update-rate, ignore-suffix applied live"
lab_fresh
IGN_N=$LAB_FRESH
IGNORED=g$IGN_N.example.test
lab_write_agent_conf "${BASE[@]}" log-level debug max-update-rate 1000 ignore-suffix "$IGNORED"
hup
lab_check "log: log-level info -> debug applied" reload_said 'log-level: info -> debug'
lab_check "log: max-update-rate 0 -> 1000 applied" reload_said 'max-update-rate: 0 -> 1000'
lab_check "log: ignore-suffix applied" reload_said "ignore-suffix: \"\" -> $IGNORED"
lab_check "log: summary counts 3 applied, 0 restart" reload_said '3 options applied, 0 need a restart, key unchanged'
lab_lookup "$IGNORED" A >/dev/null
lab_fresh
n=$LAB_FRESH
lab_lookup "g$n.example.test" A >/dev/null
lab_check "a name outside the new ignore-suffix is still learned (g$n)" \
    lab_wait_ptr "198.51.100.$n" "g$n.example.test" "$PTR_TIMEOUT"
# named sends frames per worker, not in time order: one more flush period
# before concluding the ignored lookup taught nothing (as pipeline.sh does).
sleep 1.5
lab_check "a lookup of the newly ignored $IGNORED is not learned" \
    test -z "$(lab_xray_ptr "198.51.100.$IGN_N")"
lab_check "debug lines are logged after the reload (new log level in force)" \
    lab_agent_log_has 'debug +rpz: UPDATE id' 5

# --- (b) a restart-only option.
lab_phase "(b) dnstap-socket: restart needed, the old socket stays"
lab_write_agent_conf "${BASE[@]}" log-level debug max-update-rate 1000 ignore-suffix "$IGNORED" \
    dnstap-socket "$LAB/other.sock"
hup
lab_check "log: dnstap-socket changed: restart needed (keeping $LAB_SOCK)" \
    reload_said "dnstap-socket changed to $LAB/other.sock: restart needed \\(keeping $LAB_SOCK\\)"
lab_check "log: summary counts 0 applied, 1 restart" reload_said '0 options applied, 1 needs a restart'
lab_check "no socket at the new path" test ! -e "$LAB/other.sock"
# ss's whole output first: `ss | grep -q` under pipefail fails when grep's
# early exit kills ss with SIGPIPE, i.e. exactly when it matches.
still_connected() {
    local socks
    socks=$(ss -Hx state established 2>/dev/null || true)
    grep -qF "$LAB_SOCK" <<<"$socks"
}
lab_check "named is still connected to the old socket" still_connected
lab_check "a fresh lookup still becomes its PTR through the old socket" lab_fresh_ptrs 1

# --- (c) a file with errors.
lab_phase "(c) a file with errors changes nothing"
lab_write_agent_conf "${BASE[@]}" log-level debug max-update-rate 1000 ignore-suffix "$IGNORED" \
    dnstap-socket "$LAB/other.sock" max-update-rate 7 no-such-option 1 flush-interval banana
bad_line=$(grep -n '^no-such-option' "$LAB_AGENT_CONF" | cut -d: -f1)
bad_line2=$(grep -n '^flush-interval banana' "$LAB_AGENT_CONF" | cut -d: -f1)
hup
lab_check "log: agent.conf:$bad_line: unknown option" reload_said "agent\\.conf:$bad_line: unknown option 'no-such-option'"
lab_check "log: agent.conf:$bad_line2: flush-interval 'banana'" reload_said "agent\\.conf:$bad_line2: flush-interval 'banana'"
lab_check "log: 2 errors; keeping the running configuration" \
    reload_said '2 errors \(above\); keeping the running configuration and key'
lab_check "nothing from the broken file was applied (max-update-rate 7)" \
    not_said 'max-update-rate: .* -> 7'
lab_check "the agent keeps learning" lab_fresh_ptrs 1
# The running configuration is still the one of (b): the ignored name stays ignored.
lab_fresh
n=$LAB_FRESH
lab_write_agent_conf "${BASE[@]}" log-level debug max-update-rate 1000 ignore-suffix "\"$IGNORED g$n.example.test\""
hup
lab_check "a good file after the broken one is applied (ignore-suffix +g$n)" reload_said "ignore-suffix: .* -> \"$IGNORED g$n.example.test\""

# --- (d) key rotation on real named.
lab_phase "(d) TSIG key rotation: named and the agent"
ok0=$(lab_agent_stat ok)
tsig0=$(lab_agent_stat tsig)
old_secret=$(grep -o 'secret "[^"]*"' "$LAB/rearview.key")
# Same key name, new secret (the shipped bind-conf names one key, in one file
# that named and the agent share): named first, then the agent.
tsig-keygen -a hmac-sha256 "$LAB_KEY_NAME" >"$LAB/rearview.key.new"
chmod 0640 "$LAB/rearview.key.new"
mv "$LAB/rearview.key.new" "$LAB/rearview.key"
lab_check "the key file holds a new secret" \
    test "$(grep -o 'secret "[^"]*"' "$LAB/rearview.key")" != "$old_secret"
lab_check "rndc reconfig (named loads the new secret)" lab_rndc reconfig
hup
lab_check "log: key rotated" reload_said 'TSIG key rearview-key\. \(hmac-sha256\.\) signs from now on'
lab_check "log: summary says key rotated" reload_said 'key rotated'
rfail0=$(lab_agent_stat reconcile_failures)
runs0=$(lab_agent_stat reconciles)
lab_check "after rotation: fresh lookups become PTRs (UPDATEs signed with the new key)" lab_fresh_ptrs 3
ok1=$(lab_agent_stat ok)
tsig1=$(lab_agent_stat tsig)
lab_check "rearview_rpz_updates_ok grew ($ok0 -> $ok1)" test "$ok1" -gt "$ok0"
lab_check "no TSIG errors through the rotation ($tsig0 -> $tsig1)" test "$tsig1" -eq "$tsig0"
reconciled_twice() { (($(lab_agent_stat reconciles) >= runs0 + 2)); }
lab_check "AXFR reconciles keep running after the rotation" lab_wait_until 15 reconciled_twice
rfail1=$(lab_agent_stat reconcile_failures)
lab_check "no reconcile failed with the new key ($rfail0 -> $rfail1)" test "$rfail1" -eq "$rfail0"
# named no longer knows the old secret: the agent can only be using the new one.
old_key_refused() {
    local secret=${old_secret#secret \"}
    secret=${secret%\"}
    ! dig @"$LAB_XRAY" -p "$LAB_PORT" +time=2 +tries=1 -y "hmac-sha256:$LAB_KEY_NAME:$secret" \
        AXFR "$LAB_RPZ" | grep -qE 'IN[[:space:]]+PTR'
}
new_key_served() { lab_axfr +noall +answer | grep -qE 'IN[[:space:]]+PTR'; }
lab_check "an AXFR signed with the new secret is served" new_key_served
lab_check "an AXFR signed with the old secret is refused by named" old_key_refused

# --- (e) unusable key files.
lab_phase "(e) an unusable key file keeps the running key"
chmod 0644 "$LAB/rearview.key"
hup
chmod 0640 "$LAB/rearview.key"
lab_check "log: world-readable key file refused, running key kept" \
    reload_said 'rearview\.key.*; keeping the running key rearview-key\.'
lab_check "log: summary says key kept" reload_said 'key kept \(key file unusable\)'
printf 'this is not a key file\n' >"$LAB/garbage.key"
chmod 0600 "$LAB/garbage.key"
lab_write_agent_conf "${BASE[@]}" log-level debug max-update-rate 1000 ignore-suffix "\"$IGNORED g$n.example.test\"" \
    key-file "$LAB/garbage.key"
hup
lab_check "log: garbage key file refused, running key kept" \
    reload_said 'garbage\.key.*; keeping the running key rearview-key\.'
lab_check "log: key-file not changed to the garbage file" \
    reload_said "key-file changed to $LAB/garbage.key: not usable \\(above\\), keeping $LAB/rearview.key"
tsig2=$(lab_agent_stat tsig)
lab_check "UPDATEs keep succeeding with the kept key" lab_fresh_ptrs 2
lab_check "no TSIG errors ($tsig2 -> $(lab_agent_stat tsig))" test "$(lab_agent_stat tsig)" -eq "$tsig2"

# --- (f) SIGHUPs during a burst.
lab_phase "(f) SIGHUP during a burst of lookups loses nothing"
BURST=60
burst_names=() burst_addrs=()
for ((i = 0; i < BURST; i++)); do
    lab_fresh
    burst_names+=("g$LAB_FRESH.example.test")
    burst_addrs+=("198.51.100.$LAB_FRESH")
done
(
    for name in "${burst_names[@]}"; do
        dig @"$LAB_CLIENT" -p "$LAB_PORT" +time=2 +tries=2 +short "$name" A >/dev/null &
        sleep 0.02
    done
    wait
) &
burst_pid=$!
lab_register_pid burst "$burst_pid"
# Each reload changes the writer's pacing (the queue and the UPDATE in flight
# must survive it).
for flush in 50ms 2s 100ms; do
    lab_write_agent_conf "${BASE[@]}" log-level debug max-update-rate 1000 \
        ignore-suffix "\"$IGNORED g$n.example.test\"" flush-interval "$flush" batch-size 2000
    hup >/dev/null || true
    sleep 0.3
done
wait "$burst_pid" || true
all_ptrs() {
    local i bad=0
    for ((i = 0; i < BURST; i++)); do
        lab_wait_ptr "${burst_addrs[i]}" "${burst_names[i]}" "$PTR_TIMEOUT" || bad=$((bad + 1))
    done
    echo "# $((BURST - bad)) of $BURST burst lookups became PTRs"
    ((bad == 0))
}
lab_check "every one of the $BURST burst lookups became its PTR" all_ptrs
lab_check "the agent is still the same process" lab__alive "$AGENT_PID"

# --- (g) the HTTP API key.
lab_phase "(g) http-api-key-file set, then rotated, live"
http_status() { # KEY (or "") PATH
    local h=()
    [[ -z $1 ]] || h=(-H "X-API-Key: $1")
    curl -s -o /dev/null -w '%{http_code}' --max-time 5 "${h[@]}" "http://$LAB_HTTP$2"
}
KNOWN=${burst_addrs[0]} # learned in (f)
lab_check "before: /v1/address needs no key (200)" test "$(http_status "" "/v1/address/$KNOWN")" = 200
umask_old=$(umask)
umask 077
printf 'first-api-key-0123456789\n' >"$LAB/api.key"
umask "$umask_old"
lab_write_agent_conf "${BASE[@]}" log-level debug max-update-rate 1000 ignore-suffix "\"$IGNORED g$n.example.test\"" \
    http-api-key-file "$LAB/api.key"
hup
lab_check "log: http-api-key-file applied" reload_said "http-api-key-file: \"\" -> $LAB/api.key"
lab_check "after: without the key, 401" test "$(http_status "" "/v1/address/$KNOWN")" = 401
lab_check "after: with the key, 200" test "$(http_status first-api-key-0123456789 "/v1/address/$KNOWN")" = 200
printf 'second-api-key-9876543210\n' >"$LAB/api.key.new"
chmod 0600 "$LAB/api.key.new"
mv "$LAB/api.key.new" "$LAB/api.key"
hup
lab_check "rotated in place: the old API key gets 401" test "$(http_status first-api-key-0123456789 "/v1/address/$KNOWN")" = 401
lab_check "rotated in place: the new API key gets 200" test "$(http_status second-api-key-9876543210 "/v1/address/$KNOWN")" = 200

lab_phase "SIGTERM"
lab_stop_agent TERM
lab_check "agent exits 0 on SIGTERM (status $LAB_AGENT_STATUS)" test "$LAB_AGENT_STATUS" = 0
lab_check "no sanitizer reports in the agent's output" lab_no_sanitizer_reports

LAB_SUMMARIZED=1

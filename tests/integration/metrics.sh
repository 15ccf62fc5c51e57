#!/usr/bin/env bash
# Integration: the HTTP listener's operations routes on the real lab (named +
# agent + lookups), read by the real clients an operator uses:
#   1. GET /metrics: Prometheus text 0.0.4 (Content-Type), accepted by
#      `promtool check metrics`, counters that match the traffic; 404 / 405
#      for other paths and methods, counted.
#   2. A real Prometheus server (generated prometheus.yml, scraping the agent
#      every second, its TSDB in the lab dir, on the lab's own address)
#      stores rearview_dnstap_frames_total: its HTTP API answers the value
#      the agent shows.
#   3. GET /healthz: 200 "ok" while BIND is up; with BIND stopped and
#      changes pending (frames written to the agent's socket by rv-loadgen,
#      since named is down) 503 with the reason; 200 again once BIND is back.
#   4. Start-up errors: a listener that cannot bind, a world-readable API key
#      file: exit non-zero with a message naming the cause.
# Prometheus is stopped by PID. Run by meson (suite "integration") with
# RV_AGENT, RV_LOADGEN and RV_SRCDIR; needs root.
set -euo pipefail

srcdir=${RV_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=scripts/lab.sh
. "$srcdir/scripts/lab.sh"
lab_need_tools curl promtool prometheus python3
lab_test_begin

LOADGEN=${RV_LOADGEN:-$(dirname "$RV_AGENT")/../tests/bench/rv-loadgen}
[[ -x $LOADGEN ]] || { echo "rv-loadgen not found at $LOADGEN (build it, or set RV_LOADGEN)"; exit 1; }

lab_init
lab_start_upstream
lab_start_bind
# Short retries: the health check must see BIND's return within seconds.
lab_write_agent_conf retry-min 200ms retry-max 1s
lab_start_agent

URL=http://$LAB_HTTP
# The value of one unlabelled metric in the agent's /metrics.
metric() { # NAME
    curl -sf --max-time 5 "$URL/metrics" | awk -v m="$1" '$1 == m {print $2}'
}

# ---------------------------------------------------------------- 1. /metrics
lab_phase "/metrics"
lab_check "5 lookups become PTRs" lab_fresh_ptrs 5
hdrs=$(curl -sf --max-time 5 -D - -o "$LAB/metrics.txt" "$URL/metrics") || hdrs=
lab_check "GET /metrics: 200 with Content-Type text/plain; version=0.0.4; charset=utf-8" \
    grep -qi '^content-type: text/plain; version=0.0.4; charset=utf-8' <<<"$hdrs"
promtool_ok() {
    local out
    out=$(promtool check metrics <"$LAB/metrics.txt" 2>&1) || { echo "# promtool: $out"; return 1; }
    [[ -z $out ]] || echo "# promtool: $out"
}
lab_check "promtool check metrics accepts the exposition" promtool_ok
frames=$(awk '$1 == "rearview_dnstap_frames_total" {print $2}' "$LAB/metrics.txt")
lab_check "rearview_dnstap_frames_total counts the lookups (${frames:-none} >= 5)" \
    test "${frames:-0}" -ge 5
ok_updates=$(awk '$1 == "rearview_rpz_updates_ok_total" {print $2}' "$LAB/metrics.txt")
lab_check "rearview_rpz_updates_ok_total > 0 (${ok_updates:-none})" test "${ok_updates:-0}" -gt 0
for m in process_resident_memory_bytes process_cpu_seconds_total process_open_fds \
    process_start_time_seconds rearview_http_requests_total \
    rearview_rpz_last_success_timestamp_seconds rearview_rpz_zone_serial \
    rearview_reconcile_last_success_timestamp_seconds rearview_snapshot_age_seconds \
    rearview_snapshot_duration_seconds; do
    lab_check "/metrics has $m" grep -q "^$m " "$LAB/metrics.txt"
done
val() { awk -v m="$1" '$1 == m {print $2}' "$LAB/metrics.txt"; }
lab_check "UPDATE latency histogram: every acknowledged UPDATE counted ($(val rearview_rpz_update_duration_seconds_count) = ${ok_updates:-none})" \
    test "$(val rearview_rpz_update_duration_seconds_count)" = "${ok_updates:-x}"
lab_check "UPDATE latency histogram: +Inf bucket = count" \
    test "$(val 'rearview_rpz_update_duration_seconds_bucket{le="+Inf"}')" = "$(val rearview_rpz_update_duration_seconds_count)"
lab_check "last successful UPDATE within the last minute" \
    test "$(($(date +%s) - $(val rearview_rpz_last_success_timestamp_seconds | cut -d. -f1)))" -lt 60
lab_check "zone serial seen by the start-up reconcile (> 0)" test "$(val rearview_rpz_zone_serial)" -gt 0
lab_check "table candidates >= table addresses ($(val rearview_table_candidates) >= $(val rearview_table_addresses))" \
    test "$(val rearview_table_candidates)" -ge "$(val rearview_table_addresses)"
lab_check "UPDATE failures by rcode: the family is there (REFUSED 0 on a healthy lab)" \
    test "$(val 'rearview_rpz_update_failures_by_rcode_total{rcode="REFUSED"}')" = 0
lab_check "frames by message type: client-response counts the lookups" \
    test "$(val 'rearview_dnstap_frames_by_type_total{type="client-response"}')" -ge 5
start_s=$(awk '$1 == "process_start_time_seconds" {print $2}' "$LAB/metrics.txt")
now_s=$(date +%s)
lab_check "process_start_time_seconds is the agent's start ($start_s, now $now_s)" \
    test "$((now_s - ${start_s:-0}))" -lt 120
code() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@"; }
lab_check "GET /nothing-here: 404" test "$(code "$URL/nothing-here")" = 404
lab_check "POST /metrics: 405" test "$(code -X POST "$URL/metrics")" = 405
lab_check "GET /metrics%zz (bad %-escape): 400" test "$(code "$URL/metrics%zz")" = 400
lab_check "the three are counted (rearview_http_client_errors_total >= 3)" \
    test "$(metric rearview_http_client_errors_total)" -ge 3

# ---------------------------------------------------------------- 2. Prometheus
lab_phase "a real Prometheus scrapes the agent"
PROM=$LAB/prometheus
mkdir -p "$PROM/data"
PROM_PORT=$(lab__random_port)
cat >"$PROM/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: rearview
    static_configs:
      - targets: ['$LAB_HTTP']
EOF
prometheus --config.file="$PROM/prometheus.yml" --storage.tsdb.path="$PROM/data" \
    --web.listen-address="$LAB_CLIENT:$PROM_PORT" --log.level=warn \
    >"$PROM/prometheus.log" 2>&1 &
PROM_PID=$!
lab_register_pid prometheus "$PROM_PID"
PROM_URL=http://$LAB_CLIENT:$PROM_PORT
lab_check "Prometheus ready on $LAB_CLIENT:$PROM_PORT" \
    lab_wait_until 60 curl -sf --max-time 2 -o /dev/null "$PROM_URL/-/ready"
# The value of an instant query (first series), "" when there is none.
prom_value() { # QUERY
    curl -sf --max-time 5 --get --data-urlencode "query=$1" "$PROM_URL/api/v1/query" |
        python3 -c 'import json, sys
r = json.load(sys.stdin)["data"]["result"]
print(r[0]["value"][1] if r else "")' 2>/dev/null || true
}
up_is_1() { [[ $(prom_value 'up{job="rearview"}') == 1 ]]; }
lab_check "Prometheus scrapes the agent: up{job=\"rearview\"} = 1" lab_wait_until 30 up_is_1
# No lookups now: the agent's counter stands still, so the stored sample must
# reach exactly the value /metrics shows.
same_value() {
    local p a
    p=$(prom_value rearview_dnstap_frames_total)
    a=$(metric rearview_dnstap_frames_total)
    PROM_FRAMES=$p AGENT_FRAMES=$a
    [[ -n $p && -n $a && $p -gt 0 && $p == "$a" ]]
}
if lab_wait_until 20 same_value; then
    lab_ok "Prometheus API: rearview_dnstap_frames_total = $PROM_FRAMES, as the agent says ($AGENT_FRAMES)"
else
    lab_not_ok "Prometheus API: rearview_dnstap_frames_total = '${PROM_FRAMES:-}' > 0 and = the agent's '${AGENT_FRAMES:-}'"
fi
cpu=$(prom_value process_cpu_seconds_total)
lab_check "Prometheus stores process_cpu_seconds_total as a number ($cpu)" \
    python3 -c "import sys; sys.exit(0 if float('$cpu') >= 0 else 1)"
lab__stop_pid prometheus "$PROM_PID" 20
rm -f "$LAB/pids/prometheus"
lab_check "Prometheus stopped by PID" test -z "$(ps -o pid= -p "$PROM_PID" 2>/dev/null)"

# ---------------------------------------------------------------- 3. /healthz
lab_phase "/healthz"
health() { curl -s --max-time 5 -o "$LAB/healthz.body" -w '%{http_code}' "$URL/healthz"; }
healthz_ok() { [[ $(curl -s --max-time 5 "$URL/healthz") == ok ]]; }
lab_check "GET /healthz with BIND up: 200 ok" healthz_ok
lab_stop_bind
# named is down, so it writes no dnstap: new addresses come from rv-loadgen.
"$LOADGEN" --seed 9 --sequential --count 20 --names 20 --addresses 20 --nxdomain 0 \
    --nodata 0 --other 0 --time-base now --unix "$LAB_SOCK" --timeout 30 \
    >"$LAB/loadgen.out" 2>&1 || lab_log "rv-loadgen failed: $(cat "$LAB/loadgen.out")"
unhealthy() { [[ $(health) == 503 ]]; }
lab_check "BIND down + changes pending: /healthz answers 503" lab_wait_until 20 unhealthy
reason=$(cat "$LAB/healthz.body" 2>/dev/null || true)
echo "# /healthz: $reason"
one_line_reason() {
    [[ $(wc -l <"$LAB/healthz.body") == 1 ]] && grep -q "pending.*UPDATE.*failed" "$LAB/healthz.body"
}
lab_check "the 503 says why, in one line (pending changes, failed UPDATE)" one_line_reason
lab_start_bind
healthy() { [[ $(health) == 200 ]]; }
lab_check "BIND back: /healthz answers 200 again" lab_wait_until 30 healthy

# ---------------------------------------------------------------- 4. start-up errors
lab_phase "start-up errors"
# An agent that must fail before it runs: exit status and the log's message.
startup_fails() { # DESC REGEX [KEY VALUE]...
    local desc=$1 rx=$2 rc=0
    shift 2
    LAB_AGENT_CONF=$LAB/bad.conf lab_write_agent_conf dnstap-socket "$LAB/bad.sock" \
        snapshot-file '""' "$@"
    timeout 10 "$RV_AGENT" -c "$LAB/bad.conf" >"$LAB/bad.log" 2>&1 || rc=$?
    head -n 3 "$LAB/bad.log" | sed "s/^/# $desc: /"
    lab_check "$desc: exits non-zero at once (rc=$rc)" test "$rc" -ne 0 -a "$rc" -ne 124
    lab_check "$desc: the message says why" grep -Eqi -- "$rx" "$LAB/bad.log"
}
startup_fails "http-listen already in use" "http-listen ${LAB_HTTP//./\\.}: cannot listen: address already in use"
printf 'a-key\n' >"$LAB/api.key"
chmod 0644 "$LAB/api.key"
startup_fails "world-readable http-api-key-file" "api\.key: key file is readable by everyone" \
    http-listen "$LAB_CLIENT:8054" http-api-key-file "$LAB/api.key"
: >"$LAB/empty.key"
chmod 0600 "$LAB/empty.key"
startup_fails "empty http-api-key-file" "empty\.key: no API key" \
    http-listen "$LAB_CLIENT:8054" http-api-key-file "$LAB/empty.key"
lab_check "the lab's agent is still serving /healthz" healthy

lab_check "no sanitizer reports" lab_no_sanitizer_reports
LAB_SUMMARIZED=1

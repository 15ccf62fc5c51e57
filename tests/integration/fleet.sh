#!/usr/bin/env bash
# Integration: the whole fleet on loopback (README "Fleets"):
#
#   resA (named, client view) -> unix -> rearview-relay --TLS (mutual)--\
#                                                                       central agent -> TSIG UPDATE -> primary
#   resB (named, client view) -> unix -> rearview-relay --TCP-----------/           (xray view, the RPZ)
#                                                                          NOTIFY + IXFR | (transfer key)
#                                                                         sec1, sec2 (secondary xray views)
#
#   - lookups at either resolver become PTRs on the primary and on both
#     secondaries (dig -x), through the relays;
#   - the central agent tells the sources apart by their dnstap identity
#     (per-source counters on /metrics, the history's sensor_id);
#   - the secondaries copy the changes by IXFR; only the primary hears
#     from the agent;
#   - staleness: lookup at a resolver -> PTR served by each secondary,
#     p50/p99/max over STALE_N lookups one after the other, with its parts
#     read from the servers' logs (printed as "# fleet-..." lines, which
#     scripts/bench.sh --only fleetlab turns into figures).
# Run by meson (suite "integration") with RV_AGENT, RV_RELAY and RV_SRCDIR;
# needs root.
set -euo pipefail

srcdir=${RV_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=scripts/lab.sh
. "$srcdir/scripts/lab.sh"

lab_skip_under_sanitizers "fleet" \
    "it checks what happens between relays and name servers; the relay and the agent run there in relay.sh and pipeline.sh"

lab_need_tools openssl python3 curl
lab_test_begin
[[ -x ${RV_RELAY:-} ]] || { echo "RV_RELAY is not an executable: '${RV_RELAY:-}'"; exit 1; }

PTR_TIMEOUT=30
STALE_N=${STALE_N:-6}
# The primary's notify-delay (named's default is 5 s).
NOTIFY_DELAY=${NOTIFY_DELAY:-1}

lab_init
# Roles on the lab's block: .1 the central agent's listeners (and the
# primary's client view, unused here), .2 the primary's xray view, .3 the
# upstream, .4/.5 the secondaries, .6/.7 the resolvers.
RESA=$LAB_NET.6
RESB=$LAB_NET.7
lab_start_rpz_primary_and_secondaries "$NOTIFY_DELAY"

# --- the central agent: TCP and TLS listeners for the relays (allow-list:
# the lab's block), mutual TLS with the fleet's CA; the history on, so the
# sources show as sensors.
TCP_PORT=$((LAB_PORT + 5))
TLS_PORT=$((LAB_PORT + 6))
pki=$LAB/pki
lab_mkcert fleet-ca
lab_mkcert central fleet-ca
lab_mkcert relay-a fleet-ca
lab_write_agent_conf dnstap-socket "$LAB/central.sock" \
    dnstap-listen "\"tcp:$LAB_CLIENT:$TCP_PORT tls:$LAB_CLIENT:$TLS_PORT\"" \
    dnstap-allow "$LAB_NET.0/24" \
    dnstap-tls-cert "$pki/central.pem" dnstap-tls-key "$pki/central.key" \
    dnstap-tls-client-ca "$pki/fleet-ca.pem" \
    history-database "$LAB/history.db" history-flush-interval 1s \
    reconcile-interval 10s stats-interval 0
listening() { ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }
"$RV_AGENT" -c "$LAB_AGENT_CONF" >>"$LAB_AGENT_LOG" 2>&1 &
LAB_AGENT_PID=$!
printf '%s\n' "$LAB_AGENT_PID" >"$LAB/pids/agent"
lab_wait_until 10 listening "$TLS_PORT" || lab_die "central agent not listening"

# --- the resolvers, each with its relay on the socket named writes to.
# Relay first: named connects at start (and retries every reopen interval).
start_relay() { # NAME ARGS...
    local name=$1
    shift
    mkdir -p "$LAB/$name"
    "$RV_RELAY" --socket "$LAB/$name/dnstap.sock" --socket-group root --writer-user root \
        --queue 16384 --reconnect 1 --stats-interval 0 --log-level info "$@" \
        >>"$LAB/relay-$name.log" 2>&1 &
    lab_register_pid "relay-$name" $!
    lab_wait_until 10 test -S "$LAB/$name/dnstap.sock" || lab_die "relay for $name: no socket"
}
start_relay resA --central "$LAB_CLIENT:$TLS_PORT" --tls-ca "$pki/fleet-ca.pem" --tls-name central \
    --tls-cert "$pki/relay-a.pem" --tls-key "$pki/relay-a.key"
start_relay resB --central "$LAB_CLIENT:$TCP_PORT"
lab_start_resolver resA 6
lab_start_resolver resB 7
relay_connected() { # NAME: the relay has a reader (named) and a central agent
    grep -q "connected to the central agent" "$LAB/relay-$1.log" &&
        ss -Hx src "$LAB/$1/dnstap.sock" 2>/dev/null | grep -q ESTAB
}

lab_phase "the fleet is up"
lab_check "relay A: named connected, central agent over TLS" lab_wait_until 15 relay_connected resA
lab_check "relay B: named connected, central agent over TCP" lab_wait_until 15 relay_connected resB
lab_check "central agent: relay A is a TLS writer (cn relay-a)" \
    lab_agent_log_has "tls $LAB_NET\\.[0-9]+:[0-9]+ fd [0-9]+ cn relay-a \\(writer\\): TLS established" 10
lab_check "central agent: relay B connected over TCP" \
    lab_agent_log_has "tcp $LAB_NET\\.[0-9]+:[0-9]+ fd [0-9]+: connected" 10

# --- 1. Lookups at either resolver: PTRs on the primary and both secondaries.
lab_phase "lookups at resA and resB -> PTRs on every server"
mapfile -t expect < <(lab_expectations)
declare -A seen=() at=()
k=0
for line in "${expect[@]}"; do
    read -r q t a d <<<"$line"
    [[ -v "seen[$q/$t]" ]] && continue
    seen[$q/$t]=1
    # Alternate the resolvers name by name (www, shop, video at resA;
    # v6only, img at resB).
    if [[ ! -v "at[$q]" ]]; then
        if ((k++ % 2 == 0)); then at[$q]=$RESA; else at[$q]=$RESB; fi
    fi
    lab_lookup_at "${at[$q]}" "$q" "$t" >/dev/null
done
for line in "${expect[@]}"; do
    read -r q t a d <<<"$line"
    r=resA
    [[ ${at[$q]} == "$RESA" ]] || r=resB
    lab_check "looked up at $r: primary xray dig -x $a -> $q." lab_wait_ptr "$a" "$q" "$PTR_TIMEOUT"
    for s in "$SEC1" "$SEC2"; do
        lab_check "looked up at $r: secondary $s dig -x $a -> $q." lab_wait_ptr_at "$s" "$a" "$q" "$PTR_TIMEOUT"
    done
done
# The same fresh name at both resolvers is one address, one PTR.
lab_fresh
both=g$LAB_FRESH.example.test
both_addr=198.51.100.$LAB_FRESH
lab_lookup_at "$RESA" "$both" >/dev/null
lab_lookup_at "$RESB" "$both" >/dev/null
for s in "$LAB_XRAY" "$SEC1" "$SEC2"; do
    lab_check "$both looked up at both resolvers: $s dig -x $both_addr -> $both." \
        lab_wait_ptr_at "$s" "$both_addr" "$both" "$PTR_TIMEOUT"
done

# --- 2. Sources told apart: per-source counters, the history's sensor.
lab_phase "sources: dnstap identities"
metrics=$(curl -fsS "http://$LAB_HTTP/metrics" || true)
src_count() { sed -n "s/^rearview_observations_by_source_total{source=\"$1\"} \\([0-9]*\\)$/\\1/p" <<<"$metrics"; }
na=$(src_count resA)
nb=$(src_count resB)
lab_check "/metrics: observations from resA (${na:-none}) > 0" test "${na:-0}" -gt 0
lab_check "/metrics: observations from resB (${nb:-none}) > 0" test "${nb:-0}" -gt 0
sensors_of() { # NAME: the sensor_ids of its records in the history, sorted
    curl -fsS "http://$LAB_HTTP/dnsdb/v2/lookup/rrset/name/$1" 2>/dev/null |
        python3 -c '
import json, sys
s = set()
for line in sys.stdin:
    o = json.loads(line).get("obj")
    if o:
        s.add(o.get("sensor_id", ""))
print(" ".join(sorted(s)))'
}
history_has_both() { [[ $(sensors_of "$both") == "resA resB" ]]; }
lab_check "history: $both seen by sensors resA and resB" lab_wait_until 10 history_has_both
lab_check "history: www.example.test (looked up at resA) by sensor resA only" \
    test "$(sensors_of www.example.test)" = resA
lab_check "history: img.example.test (a CNAME, looked up at resB) by sensor resB only" \
    test "$(sensors_of img.example.test)" = resB

# --- 3. Staleness, one lookup after the other, alternating the resolvers.
lab_phase "staleness over $STALE_N lookups"
samples=$LAB/staleness.tsv
in_table() { curl -s -o /dev/null -w '%{http_code}' "http://$LAB_HTTP/v1/address/$1" || true; }
: >"$samples"
for ((i = 0; i < STALE_N; i++)); do
    lab_fresh
    name=g$LAB_FRESH.example.test
    addr=198.51.100.$LAB_FRESH
    res=$RESA
    ((i % 2 == 0)) || res=$RESB
    t0=$(lab_now_ms)
    lab_lookup_at "$res" "$name" >/dev/null
    got1='' got2='' seen=''
    deadline=$((t0 + PTR_TIMEOUT * 1000))
    while [[ -z $got1 || -z $got2 ]] && (($(lab_now_ms) < deadline)); do
        # In the central agent's table: the frame came through named's
        # dnstap buffer and the relay.
        [[ -n $seen || $(in_table "$addr") != 200 ]] || seen=$(lab_now_ms)
        [[ -n $got1 || $(lab_ptr_at "$SEC1" "$addr") != "$name." ]] || got1=$(lab_now_ms)
        [[ -n $got2 || $(lab_ptr_at "$SEC2" "$addr") != "$name." ]] || got2=$(lab_now_ms)
        sleep 0.01
    done
    if [[ -n $got1 && -n $got2 && -n $seen ]]; then
        printf '%s\t%s\t%s\t%s\t%s\n' "$addr" "$t0" "$seen" "$got1" "$got2" >>"$samples"
    else
        lab_not_ok "staleness: $name ($addr) not served by both secondaries in ${PTR_TIMEOUT}s"
    fi
done
n_ok=$(wc -l <"$samples")
lab_check "all $STALE_N fresh PTRs served by both secondaries ($n_ok)" test "$n_ok" -eq "$STALE_N"
# The parts: the address in the central agent's table (/v1/address, polled:
# named's dnstap flush and the relay's), then from the log lines (named's
# print-time, ms) that follow: the primary's UPDATE (the agent's batching and
# the UPDATE), its NOTIFY (notify-delay), each secondary's IXFR, its policy
# rebuild ("rpz: ZONE: reload done") and the first answer seen (polled, one
# round of dig + curl takes ~20-40 ms).
staleness_report() {
    python3 - "$samples" "$LAB_RPZ" "$LAB/resolver/named.log" "$LAB/sec1/named.log" "$LAB/sec2/named.log" <<'PY'
import re, sys, time, datetime
samples, zone, plog, s1log, s2log = sys.argv[1:6]

def epoch_ms(stamp):  # named's print-time is local time, as mktime's
    d = datetime.datetime.strptime(stamp, "%d-%b-%Y %H:%M:%S.%f")
    return int(time.mktime(d.timetuple())) * 1000 + d.microsecond // 1000

def lines(path):
    out = []
    for l in open(path, errors="replace"):
        m = re.match(r"(\d\d-\w\w\w-\d{4} \d\d:\d\d:\d\d\.\d{3}) (.*)", l)
        if m:
            out.append((epoch_ms(m.group(1)), m.group(2)))
    return out

P, S = lines(plog), [lines(s1log), lines(s2log)]
def first(log, after, pat):
    for t, text in log:
        if t >= after and re.search(pat, text):
            return t
    return None

def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, max(0, int(round(p / 100.0 * len(v) + 0.5)) - 1))]

zq = re.escape(zone)
parts = {k: [] for k in ("agent", "update", "notify", "ixfr1", "rebuild1", "answer1", "ixfr2", "rebuild2", "answer2")}
total = [[], []]
missing = 0
for row in open(samples):
    addr, t0, seen, g1, g2 = row.split()
    t0, seen, g = int(t0), int(seen), (int(g1), int(g2))
    rev = ".".join(reversed(addr.split("."))) + ".in-addr.arpa." + zone
    # Clocks: named logs ms, the lookup time is ms; allow 5 ms of rounding.
    tu = first(P, t0 - 5, r"updating zone '%s/IN': adding an RR at '%s' PTR" % (zq, re.escape(rev)))
    tn = tu and first(P, tu, r"zone %s/IN/xray: sending notifies" % zq)
    for k in (0, 1):
        total[k].append(g[k] - t0)
    if not tn:
        missing += 1
        continue
    parts["agent"].append(seen - t0)
    parts["update"].append(max(0, tu - seen))
    parts["notify"].append(tn - tu)
    for k in (0, 1):
        tx = first(S[k], tn, r"transfer of '%s/IN/xray' from .*: Transfer completed" % zq)
        tr = tx and first(S[k], tx, r"rpz: %s: reload done" % zq)
        if not tr:
            missing += 1
            continue
        parts["ixfr%d" % (k + 1)].append(tx - tn)
        parts["rebuild%d" % (k + 1)].append(tr - tx)
        parts["answer%d" % (k + 1)].append(max(0, g[k] - tr))
for k in (0, 1):
    v = total[k]
    print("# fleet-staleness sec%d n=%d p50=%d p99=%d max=%d" % (k + 1, len(v), pct(v, 50), pct(v, 99), max(v)))
desc = {
    "agent": "lookup -> in the central agent's table (named's dnstap flush, the relay's flush)",
    "update": "-> UPDATE applied at the primary (the agent's batching, the UPDATE)",
    "notify": "UPDATE -> NOTIFY sent (the primary's notify-delay)",
    "ixfr1": "NOTIFY -> IXFR done at sec1", "rebuild1": "IXFR -> policy rebuilt at sec1",
    "answer1": "rebuilt -> PTR seen at sec1 (poll)",
    "ixfr2": "NOTIFY -> IXFR done at sec2", "rebuild2": "IXFR -> policy rebuilt at sec2",
    "answer2": "rebuilt -> PTR seen at sec2 (poll)",
}
for k, v in parts.items():
    if v:
        print("# fleet-part %s n=%d p50=%d p99=%d max=%d  %s" % (k, len(v), pct(v, 50), pct(v, 99), max(v), desc[k]))
print("# fleet-parts-unmatched %d" % missing)
sys.exit(0 if missing == 0 else 1)
PY
}
report=$(staleness_report) || true
printf '%s\n' "$report"
lab_check "every sample's parts found in the servers' logs" grep -q "^# fleet-parts-unmatched 0$" <<<"$report"

# --- 4. Changes reach the secondaries by IXFR; the agent talks to the
# primary only.
lab_phase "IXFR to the secondaries, the agent only at the primary"
plog=$LAB/resolver/named.log
lab_check_ixfr_served
for n in sec1 sec2; do
    lab_check "$n: no query or transfer from the agent's key" \
        bash -c "! grep -q '/key $LAB_KEY_NAME ' '$LAB/$n/named.log'"
done
n_agent=$(grep -cE "/key $LAB_KEY_NAME .*transfer of '$LAB_RPZ/IN': AXFR started" "$plog" || true)
lab_check "the agent's AXFRs went to the primary (got $n_agent)" test "${n_agent:-0}" -ge 1

# --- 5. Nothing lost on the way: every frame a relay took was sent.
lab_phase "relays: nothing dropped"
for r in resA resB; do
    pid=$(<"$LAB/pids/relay-$r")
    in=$(lab_agent_stat relay_in "$pid" "$LAB/relay-$r.log")
    sent=$(lab_agent_stat relay_sent "$pid" "$LAB/relay-$r.log")
    lab_check "relay $r: took $in frames, sent $sent" test "${in:-0}" -gt 0 -a "${in:-x}" = "${sent:-y}"
done

lab_stop_agent TERM
lab_check "central agent exited 0 (status $LAB_AGENT_STATUS)" test "$LAB_AGENT_STATUS" = 0
lab_check "no sanitizer reports in the logs" lab_no_sanitizer_reports
((LAB_FAILED == 0)) || lab__tail "$LAB/relay-resA.log" "$LAB/relay-resB.log" "$LAB/resA/named.log" "$LAB/resB/named.log"
LAB_SUMMARIZED=1

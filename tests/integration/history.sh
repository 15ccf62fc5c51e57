#!/usr/bin/env bash
# Integration: passive DNS on a real named (README "Passive DNS history").
#   1. Lookups through the lab resolver (a 3-link CNAME chain, a 10-link one,
#      two addresses behind one CNAME, names that need escapes) become history
#      records: every CNAME link and every address, with counts and times.
#   2. The stock Debian dnsdbq, unchanged, reads them in both of its modes
#      (-u dnsdb2: DNSDB API v2 with SAF; -u circl: COF), and curl reads the
#      bro-pdns shape and the live table (/v1/address, /v1/name).
#   3. Bad requests get a clear HTTP error: wrong key (401, logged once per
#      peer), bad address, prefix, rrtype, wildcard, limit, path, method.
#   4. The COF log holds interval and per-sighting lines (client, transport)
#      and is reopened on SIGHUP (logrotate).
#   5. The history survives a restart; a corrupt database is reported, the
#      agent runs on without a history and the RPZ keeps working.
# Run by meson (suite "integration") with RV_AGENT and RV_SRCDIR; needs root.
set -euo pipefail

srcdir=${RV_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=scripts/lab.sh
. "$srcdir/scripts/lab.sh"
lab_test_begin
lab_need_tools curl dnsdbq python3 promtool

PTR_TIMEOUT=20
KEY=k-$RANDOM-$RANDOM-history
lab_init
lab_start_upstream
lab_start_bind
HTTP=$LAB_CLIENT:8053
BASE=http://$HTTP
(umask 077 && printf '%s\n' "$KEY" >"$LAB/api.key")
lab_write_agent_conf history-database "$LAB/history.db" history-flush-interval 1s \
    cof-log "$LAB/cof.log" cof-log-every yes http-listen "$HTTP" \
    http-api-key-file "$LAB/api.key" http-timeout 2s
lab_start_agent

# dnsdbq reads its server and key from ~/.dnsdb-query.conf.
export HOME=$LAB/home
mkdir -p "$HOME"
cat >"$HOME/.dnsdb-query.conf" <<EOF
DNSDB_SERVER=$BASE
DNSDB_API_KEY=$KEY
CIRCL_SERVER=$BASE/pdns/query
CIRCL_AUTH=analyst:$KEY
EOF

get() { # PATH [curl args...]: body of an authorized GET
    local p=$1
    shift
    curl -sS --max-time 10 -H "X-API-Key: $KEY" "$@" "$BASE$p"
}
status() { # PATH [curl args...]: HTTP status only
    local p=$1
    shift
    curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$@" "$BASE$p"
}

# ---------------------------------------------------------------- 1. records
lab_phase "lookups become history records"
lab_lookup video.example.test A >/dev/null
lab_lookup video.example.test A >/dev/null
lab_lookup hj0.example.test A >/dev/null
for i in 1 2 3; do
    lab_lookup hj-real.example.test A >/dev/null
    sleep 0.05
done
lab_lookup shop.example.test A >/dev/null
lab_lookup 'esc\.dot.example.test' A >/dev/null
lab_lookup 'sp\032ace.example.test' A >/dev/null
lab_lookup www.example.test AAAA >/dev/null
has_node7() { get /dnsdb/v2/lookup/rrset/name/node7.pop.edge.test | grep -q '192.0.2.41'; }
lab_check "the chain's address is in the history within 10 s" lab_wait_until 10 has_node7
# The last lookup's record: once it is there, every earlier one is (batches
# are written in order).
has_last() { get /dnsdb/v2/lookup/rrset/name/www.example.test/AAAA | grep -q '2001:db8::10'; }
lab_check "the last lookup's record is in the history within 10 s" lab_wait_until 10 has_last

# ---------------------------------------------------------------- 2. clients
lab_phase "dnsdbq -u dnsdb2 (DNSDB API v2, SAF)"
out=$(dnsdbq -u dnsdb2 -r video.example.test 2>&1 || true)
echo "$out" | sed 's/^/# /'
lab_check "rrset video.example.test: its CNAME" grep -q 'video.example.test.  *CNAME  *video.cdn.test.' <<<"$out"
lab_check "count 2 for two lookups" grep -q 'count: 2' <<<"$out"
out=$(dnsdbq -u dnsdb2 -r video.cdn.test/CNAME 2>&1 || true)
lab_check "the second link: video.cdn.test CNAME v.edge.test" grep -q 'video.cdn.test.  *CNAME  *v.edge.test.' <<<"$out"
out=$(dnsdbq -u dnsdb2 -j -i 192.0.2.41 2>&1 || true)
lab_check "rdata/ip 192.0.2.41 -> node7.pop.edge.test (JSON)" \
    grep -q '"rrname":"node7.pop.edge.test."' <<<"$out"
lab_check "objects carry sensor_id" grep -q '"sensor_id":' <<<"$out"
out=$(dnsdbq -u dnsdb2 -i 192.0.2.0/24 2>&1 || true)
echo "$out" | grep -E '^[a-z]' | sed 's/^/# /'
lab_check "a /24: the chain end, both shop addresses and hj-real" \
    bash -c 'grep -q "192.0.2.41" <<<"$1" && grep -q "192.0.2.21" <<<"$1" && grep -q "192.0.2.22" <<<"$1" && grep -q "hj-real.example.test.  *A  *192.0.2.90" <<<"$1"' _ "$out"
out=$(dnsdbq -u dnsdb2 -r '*.edge.test/A' 2>&1 || true)
lab_check "left-hand wildcard *.edge.test/A" grep -q 'node7.pop.edge.test.  *A  *192.0.2.41' <<<"$out"
out=$(dnsdbq -u dnsdb2 -n v.edge.test 2>&1 || true)
lab_check "rdata/name v.edge.test: who points at it" grep -q 'video.cdn.test.  *CNAME  *v.edge.test.' <<<"$out"
out=$(dnsdbq -u dnsdb2 -r hj5.example.test 2>&1 || true)
lab_check "a link in the middle of the 10-CNAME chain" grep -q 'hj5.example.test.  *CNAME  *hj6.example.test.' <<<"$out"
out=$(dnsdbq -u dnsdb2 -r video.example.test -A 1d 2>&1 || true)
lab_check "-A 1d (time_last_after, relative) keeps it" grep -q 'CNAME' <<<"$out"
out=$(dnsdbq -u dnsdb2 -r video.example.test -B 1000000000 2>&1 || true)
lab_check "-B in 2001 (time_first_before) finds nothing" bash -c '! grep -q CNAME <<<"$1"' _ "$out"
out=$(dnsdbq -u dnsdb2 -I 2>&1 || true)
lab_check "dnsdbq -I (rate_limit) works" grep -q 'unlimited' <<<"$out"

lab_phase "dnsdbq -u circl (COF)"
out=$(dnsdbq -u circl -r video.example.test 2>&1 || true)
echo "$out" | sed 's/^/# /'
lab_check "circl rrset video.example.test" grep -q 'video.example.test  *CNAME  *video.cdn.test' <<<"$out"
out=$(dnsdbq -u circl -i 192.0.2.90 2>&1 || true)
lab_check "circl rdata/ip 192.0.2.90 -> hj-real.example.test" grep -q 'hj-real.example.test  *A  *192.0.2.90' <<<"$out"

lab_phase "SAF framing, escapes, bro-pdns, the live table"
body=$(get '/dnsdb/v2/lookup/rrset/name/video.example.test')
lab_check "SAF: begin first" test "$(head -n1 <<<"$body")" = '{"cond":"begin"}'
lab_check "SAF: succeeded last" test "$(tail -n1 <<<"$body")" = '{"cond":"succeeded"}'
body=$(get '/dnsdb/v2/lookup/rdata/ip/192.0.2.0,24?limit=1')
lab_check "SAF: limit=1 ends with limited" grep -q '^{"cond":"limited"' <<<"$(tail -n1 <<<"$body")"
lab_check "SAF: limit=1 gives one object" test "$(grep -c '"obj"' <<<"$body")" = 1
body=$(get '/pdns/query/esc%5C.dot.example.test')
lab_check "escaped dot round-trips: esc\\.dot.example.test" \
    grep -qF '"rrname":"esc\\.dot.example.test","rrtype":"A","rdata":"192.0.2.77"' <<<"$(python3 -c 'import sys,json
for l in sys.stdin:
    o=json.loads(l); print(json.dumps({k:o[k] for k in ("rrname","rrtype","rdata")},separators=(",",":")))' <<<"$body")"
body=$(get '/pdns/query/sp%5C032ace.example.test')
lab_check "escaped space round-trips: sp\\032ace.example.test" grep -qF '"sp\\032ace.example.test"' <<<"$body"
body=$(get /dns/node7.pop.edge.test)
lab_check "bro-pdns /dns/: records with query/type/answer/first/last" python3 -c '
import json,sys
d=json.loads(sys.argv[1]); r=[x for x in d["records"] if x["answer"]=="192.0.2.41"]
assert r and r[0]["query"]=="node7.pop.edge.test" and r[0]["type"]=="A" and r[0]["count"]>=2, d
assert len(r[0]["first"])==19 and r[0]["ttl"]>0' "$body"
body=$(get /dns/v.edge.test)
lab_check "bro-pdns of a name: owned and pointing records" python3 -c '
import json,sys
d=json.loads(sys.argv[1]); t=sorted((x["query"],x["type"],x["answer"]) for x in d["records"])
assert ("v.edge.test","CNAME","node7.pop.edge.test") in t and ("video.cdn.test","CNAME","v.edge.test") in t, t' "$body"
lab_check "192.0.2.90 -> hj-real.example.test in the xray view" lab_wait_ptr 192.0.2.90 hj-real.example.test "$PTR_TIMEOUT"
body=$(get /v1/address/192.0.2.90)
echo "# $body"
lab_check "/v1/address: best, what the RPZ holds, candidates with scores" python3 -c '
import json,sys
d=json.loads(sys.argv[1]); names={c["name"]:c for c in d["candidates"]}
assert d["best"]=="hj-real.example.test" and d["rpz"]["name"]=="hj-real.example.test" and d["rpz"]["state"]=="written", d
assert names["hj0.example.test"]["depth"]==10 and names["hj-real.example.test"]["best"], d' "$body"
body=$(get /v1/name/hj-real.example.test)
lab_check "/metrics with the history on passes promtool check metrics" \
    bash -c 'curl -sS --max-time 10 "$1/metrics" | promtool check metrics' _ "$BASE"
lab_check "/metrics: records written, sightings, history up" bash -c '
m=$(curl -sS --max-time 10 "$1/metrics")
grep -qE "^rearview_history_rows_written_total [1-9]" <<<"$m" &&
grep -qE "^rearview_history_sightings_total [1-9]" <<<"$m" &&
grep -qE "^rearview_history_up 1" <<<"$m"' _ "$BASE"
lab_check "/v1/name: the addresses whose candidates include it" python3 -c '
import json,sys
d=json.loads(sys.argv[1]); assert d["complete"] and [a["address"] for a in d["addresses"]]==["192.0.2.90"], d' "$body"

# ---------------------------------------------------------------- 3. bad input
lab_phase "bad requests get clear errors"
lab_check "no key: 401" test "$(status /dnsdb/v2/ping)" = 401
for i in 1 2 3; do status /dnsdb/v2/ping -H 'X-API-Key: wrong' >/dev/null; done
lab_check "wrong key: 401" test "$(status /dnsdb/v2/ping -H 'X-API-Key: wrong')" = 401
lab_check "4 failures from one peer: logged once" \
    test "$(grep -ci 'api key' "$LAB_AGENT_LOG")" = 1
lab_check "right key: 200" test "$(status /dnsdb/v2/ping -H "X-API-Key: $KEY")" = 200
bad() { # EXPECTED PATH
    local got
    got=$(status "$2" -H "X-API-Key: $KEY")
    [[ $got == "$1" ]] || { echo "# $2: $got, expected $1"; return 1; }
}
lab_check "bad address: 400" bad 400 /dnsdb/v2/lookup/rdata/ip/192.0.2.999
lab_check "bad prefix: 400" bad 400 '/dnsdb/v2/lookup/rdata/ip/192.0.2.0,33'
lab_check "unknown rrtype: 400" bad 400 /dnsdb/v2/lookup/rrset/name/www.example.test/BOGUS
lab_check "wildcard inside a name: 400" bad 400 '/dnsdb/v2/lookup/rrset/name/www.%2A.example.test'
lab_check "wildcard in rdata/name: 400" bad 400 '/dnsdb/v2/lookup/rdata/name/%2A.example.test'
lab_check "huge limit: 400" bad 400 '/dnsdb/v2/lookup/rrset/name/www.example.test?limit=99999999999'
lab_check "bad time filter: 400" bad 400 '/dnsdb/v2/lookup/rrset/name/www.example.test?time_last_after=soon'
lab_check "label over 63 octets: 400" bad 400 "/dnsdb/v2/lookup/rrset/name/$(printf 'a%.0s' {1..70}).test"
lab_check "unknown lookup: 404" bad 404 /dnsdb/v2/lookup/rrset/raw/00
lab_check "unknown path: 404" bad 404 /nothing/here
lab_check "over-long path: 400" bad 400 "/dns/$(printf 'a%.0s' {1..9000})"
lab_check "POST: 405" test "$(status /dnsdb/v2/ping -X POST -H "X-API-Key: $KEY")" = 405
lab_check "address not in the table: 404" bad 404 /v1/address/203.0.113.254

# ---------------------------------------------------------------- 4. COF log
lab_phase "the COF log"
has_cof() { grep -q '"rrname":"v.edge.test","rrtype":"CNAME","rdata":"node7.pop.edge.test"' "$LAB/cof.log"; }
lab_check "an interval line for the chain's last link" lab_wait_until 5 has_cof
lab_check "per-sighting lines name the client and the transport" \
    grep -q "\"client\":\"$LAB_CLIENT\",\"transport\":\"udp\"" "$LAB/cof.log"
lab_check "every line is JSON" python3 -c '
import json,sys
[json.loads(l) for l in open(sys.argv[1])]' "$LAB/cof.log"
mv "$LAB/cof.log" "$LAB/cof.log.1"
kill -HUP "$(cat "$LAB/pids/agent")"
lab_fresh_lookup
new_cof() { grep -q "\"rrname\":\"$FRESH_NAME\"" "$LAB/cof.log" 2>/dev/null; }
lab_check "SIGHUP: a new file for new lines" lab_wait_until 5 new_cof

# ---------------------------------------------------------------- 5. restarts
lab_phase "restart and a corrupt database"
before=$(get /dnsdb/v2/lookup/rrset/name/video.example.test | grep -c '"obj"')
lab_stop_agent
lab_start_agent
after=$(get /dnsdb/v2/lookup/rrset/name/video.example.test | grep -c '"obj"' || true)
lab_check "after a restart the history still answers ($before -> $after)" test "$after" = "$before"
lab_stop_agent
rm -f "$LAB/history.db-wal" "$LAB/history.db-shm"
head -c 65536 /dev/urandom >"$LAB/history.db"
lab_start_agent
lab_check "a corrupt database is reported" lab_agent_log_has "history.db: .*running without a history" 5
lab_check "... and the RPZ path keeps working" lab_fresh_ptrs 2
lab_check "... the API says the history cannot be read (503)" \
    test "$(status /dnsdb/v2/lookup/rrset/name/video.example.test -H "X-API-Key: $KEY")" = 503
lab_check "no sanitizer reports" lab_no_sanitizer_reports
LAB_SUMMARIZED=1

#!/usr/bin/env bash
# Integration: rearview-report against the real lab.
#   lookups -> agent -> RPZ; then rearview-report reads the RPZ by TSIG-signed
#   AXFR from the xray view and must show exactly what the agent wrote (checked
#   against dig's AXFR); --compare-ptr through the client view against real
#   reverse zones on the lab upstream (same / different / NXDOMAIN); bad
#   transfers (wrong key, refused, not authoritative, nothing listening) fail
#   with the cause named; --hot-zone: the hot zone (rendered with HOT_ZONE,
#   listed first in the xray view) is read first and its addresses hide the
#   main zone's, as named answers them; the HTML renders in headless Chromium
#   without console errors (screenshot kept as an artifact).
# Run by meson (suite "integration") with RV_AGENT, RV_REPORT and RV_SRCDIR.
set -euo pipefail

srcdir=${RV_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=scripts/lab.sh
. "$srcdir/scripts/lab.sh"

lab_test_begin
[[ -x ${RV_REPORT:-} ]] || { echo "RV_REPORT is not an executable: '${RV_REPORT:-}'"; exit 1; }
command -v python3 >/dev/null || lab_prereq_missing "python3" "Debian: apt-get install python3"

PTR_TIMEOUT=20

lab_init
# A reverse zone for the gN addresses on the upstream ("the internet"), so the
# comparison meets every case: g1 real PTR in the same registered domain, g2
# in another one, g3 a name the zone does not have (NXDOMAIN).
# shellcheck disable=SC2016 # $TTL is zone-file syntax, not a shell variable
printf '%s\n' '$TTL 300' \
    '@ IN SOA ns.example.test. hostmaster.example.test. 1 3600 600 86400 30' \
    '@ IN NS ns.example.test.' \
    '1 PTR g1-real.example.test.' \
    '2 PTR host2.hoster.test.' >"$LAB/rev198.db"
LAB_UPSTREAM_EXTRA_CONF="zone \"100.51.198.in-addr.arpa\" { type primary; file \"$LAB/rev198.db\"; };"
lab_start_upstream
# The xray view gets a hot zone, listed before the RPZ (bind-conf HOT_ZONE).
# The agent is not told of it: everything it writes goes to LAB_RPZ, which
# the checks below compare with dig's AXFR; the --hot-zone phase writes the
# hot zone with nsupdate.
LAB_HOT_ZONE=hot.$LAB_RPZ
lab_start_bind
lab_write_agent_conf geoip-database "$srcdir/tests/data/test-country.mmdb" rpz-hot-zone -
lab_start_agent

lab_phase "lookups -> PTRs"
declare -A want=(
    [192.0.2.10]=www.example.test [2001:db8::10]=www.example.test
    [192.0.2.21]=shop.example.test [192.0.2.22]=shop.example.test
    [198.51.100.1]=g1.example.test [198.51.100.2]=g2.example.test
    [198.51.100.3]=g3.example.test
)
for q in www.example.test shop.example.test g1.example.test g2.example.test g3.example.test; do
    lab_lookup "$q" A >/dev/null
done
lab_lookup www.example.test AAAA >/dev/null
lab_lookup 'esc\.dot.example.test' A >/dev/null
for a in "${!want[@]}"; do
    lab_check "xray: $a -> ${want[$a]}" lab_wait_ptr "$a" "${want[$a]}" "$PTR_TIMEOUT"
done
lab_check "xray: 192.0.2.77 -> esc\\.dot.example.test" \
    lab_wait_ptr 192.0.2.77 'esc\.dot.example.test' "$PTR_TIMEOUT"
# The PTR and the TXT of an address go in one UPDATE, but give the agent a
# moment anyway so both AXFRs below see the same zone.
sleep 2

lab_phase "report by AXFR == what the agent wrote"
R=("$RV_REPORT" --server "$LAB_XRAY#$LAB_PORT" --zone "$LAB_RPZ" --key-file "$LAB/rearview.key")
axfr=$(lab_axfr +noall +answer +onesoa)
csv_out=$("${R[@]}" --format csv) && rc=0 || rc=$?
lab_check "rearview-report --format csv by AXFR exits 0 (got $rc)" test "$rc" = 0
# Expected rows from dig's AXFR: address name first last count depth score country.
expect_py='
import sys, ipaddress, shlex
zone = sys.argv[1].rstrip(".").lower()
rows = {}
for line in sys.stdin:
    f = line.split(None, 4)
    if len(f) < 5 or f[3] not in ("PTR", "TXT"):
        continue
    owner = f[0].rstrip(".").lower()
    rev = owner[:-len(zone) - 1]
    labels = rev.split(".")
    if rev.endswith(".in-addr.arpa"):
        addr = ".".join(reversed(labels[:4]))
    else:
        addr = str(ipaddress.IPv6Address(int("".join(reversed(labels[:32])), 16)))
    r = rows.setdefault(addr, {})
    if f[3] == "PTR":
        r["name"] = f[4].strip().rstrip(".")
    else:
        text = " ".join(shlex.split(f[4])).replace(",", " ")
        r.update(t.split("=", 1) for t in text.split() if "=" in t)
for a in sorted(rows):
    r = rows[a]
    print(a, r.get("name", "-").lower(), r.get("first"), r.get("last"), r.get("count"),
          r.get("depth"), r.get("score"), r.get("country", ""))
'
expect=$(python3 -c "$expect_py" "$LAB_RPZ" <<<"$axfr")
got=$(python3 -c '
import csv, sys
for r in sorted(csv.DictReader(sys.stdin), key=lambda r: r["address"]):
    print(r["address"], r["name"], r["first"], r["last"], r["count"], r["depth"], r["score"], r["country"])
' <<<"$csv_out")
# shellcheck disable=SC2001 # sed prefixes every line of a multi-line value
same_rows() {
    [[ -n $expect && $got == "$expect" ]] && return 0
    echo "# expected (from dig AXFR):"; sed 's/^/#   /' <<<"$expect"
    echo "# rearview-report:"; sed 's/^/#   /' <<<"$got"
    return 1
}
lab_check "per-address rows equal the AXFR (address, name, first, last, count, depth, score, country)" same_rows
nrows=$(wc -l <<<"$expect")
lab_check "at least the 8 looked-up addresses are in the report ($nrows)" test "$nrows" -ge 8
json_out=$("${R[@]}" --format json)
json_ok() {
    python3 -c '
import json, sys
j = json.load(sys.stdin)
n = int(sys.argv[1])
assert j["complete"] is True, j["complete"]
assert j["totals"]["addresses"] == n, (j["totals"], n)
assert j["totals"]["ipv6"] == 1, j["totals"]
d = {r["address"]: r for r in j["addresses"]}
assert d["192.0.2.21"]["registered_domain"] == "example.test", d["192.0.2.21"]
assert d["192.0.2.10"]["country"] == "AU" and d["2001:db8::10"]["country"] == "JP"
assert j["top_domains_by_addresses"][0]["key"] == "example.test", j["top_domains_by_addresses"]
assert d["192.0.2.77"]["name"] == "esc\\.dot.example.test", d["192.0.2.77"]
' "$nrows" <<<"$json_out"
}
lab_check "JSON: valid, complete, totals, registered domains, countries, escaped name" json_ok
table_out=$("${R[@]}" --top 3)
lab_check "table: header with the IPv4/IPv6 split" \
    grep -qE "^addresses: $nrows of $nrows selected \(IPv4 $((nrows - 1)), IPv6 1\)" <<<"$table_out"
filtered=$("${R[@]}" --format csv --cidr 198.51.100.0/24 | tail -n +2 | cut -d, -f1 | sort | tr '\n' ' ')
lab_check "--cidr 198.51.100.0/24 selects g1..g3 ($filtered)" \
    test "$filtered" = "198.51.100.1 198.51.100.2 198.51.100.3 "

lab_phase "--compare-ptr through the client view"
cmp_json=$("${R[@]}" --format json --compare-ptr "$LAB_CLIENT#$LAB_PORT" --concurrency 4 \
    --timeout 1500 --rate 200) && rc=0 || rc=$?
lab_check "--compare-ptr exits 0 (got $rc)" test "$rc" = 0
cmp_ok() {
    python3 -c '
import json, sys
j = json.load(sys.stdin)
d = {r["address"]: r for r in j["addresses"]}
want = {"198.51.100.1": ("same", "g1-real.example.test"),
        "198.51.100.2": ("different", "host2.hoster.test"),
        "198.51.100.3": ("nxdomain", None),
        "192.0.2.10": ("nxdomain", None)}
for a, (c, n) in want.items():
    assert d[a]["compare"] == c and d[a]["actual_ptr"] == n, (a, d[a])
c = j["compare"]["counts"]
assert c["same"] >= 1 and c["different"] >= 1 and c["nxdomain"] >= 2 and c["timeout"] == 0, c
assert sum(c.values()) == j["totals"]["selected"], c
assert any(g["key"] == "hoster.test" for g in j["compare"]["top_actual_domains"])
' <<<"$cmp_json"
}
lab_check "compare: g1 same domain, g2 different (hoster.test), g3 and 192.0.2.10 NXDOMAIN, none timed out" cmp_ok
cmp_table=$("${R[@]}" --compare-ptr "$LAB_CLIENT#$LAB_PORT")
lab_check "compare table lists the disagreement g2" \
    grep -qE '^  198\.51\.100\.2 +g2\.example\.test  real host2\.hoster\.test$' <<<"$cmp_table"
lab_check "the PTR questions taught the agent nothing (still $nrows rows)" \
    test "$("${R[@]}" --format csv | tail -n +2 | wc -l)" = "$nrows"

lab_phase "bad transfers"
fails_with() { # REGEX ARGS...: non-zero exit, REGEX on stderr, nothing on stdout
    local re=$1 out err rc
    shift
    err=$("$RV_REPORT" "$@" 2>&1 >"$LAB/bad.out") && rc=0 || rc=$?
    out=$(cat "$LAB/bad.out")
    if ((rc != 0)) && [[ -z $out ]] && grep -qE "$re" <<<"$err"; then
        echo "# exit $rc: $err"
        return 0
    fi
    echo "# exit $rc, stderr: $err"
    echo "# stdout: ${out:0:200}"
    return 1
}
(umask 077 && tsig-keygen -a hmac-sha256 rearview-key >"$LAB/wrong.key")
lab_check "wrong secret: fails naming the TSIG error (BADSIG)" \
    fails_with 'TSIG error BADSIG' --server "$LAB_XRAY#$LAB_PORT" --zone "$LAB_RPZ" \
    --key-file "$LAB/wrong.key"
(umask 077 && tsig-keygen -a hmac-sha256 nobody-key >"$LAB/unknown.key")
lab_check "unknown key name: fails naming the TSIG error (BADKEY)" \
    fails_with 'TSIG error BADKEY' --server "$LAB_XRAY#$LAB_PORT" --zone "$LAB_RPZ" \
    --key-file "$LAB/unknown.key"
lab_check "zone the server is not authoritative for: fails with the rcode" \
    fails_with 'AXFR of example\.invalid from .*: (NOTAUTH|REFUSED|NOTIMP)' \
    --server "$LAB_XRAY#$LAB_PORT" --zone example.invalid --key-file "$LAB/rearview.key"
lab_check "server that does not know the key: fails with the rcode and TSIG error" \
    fails_with ": (REFUSED|NOTAUTH), TSIG error BADKEY" --server "$LAB_UPSTREAM#$LAB_PORT" --zone example.test \
    --key-file "$LAB/rearview.key"
lab_check "nothing listening: connection refused, non-zero" \
    fails_with 'Connection refused' --server "$LAB_UPSTREAM#$((LAB_PORT + 7))" --zone "$LAB_RPZ" \
    --key-file "$LAB/rearview.key" --transfer-timeout 2000
# A transfer cut off mid-stream: a relay in front of the xray view passes the
# query and the first 300 bytes of BIND's answer, then closes.
cut_port=$((LAB_PORT + 9))
python3 -c '
import socket, sys
host, port, up, upport = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind((host, port)); ls.listen(1); ls.settimeout(30)
print("ready", flush=True)
c, _ = ls.accept()
u = socket.create_connection((up, upport), timeout=10)
q = c.recv(65535); u.sendall(q)
got = b""
while len(got) < 300:
    b = u.recv(65535)
    if not b: break
    got += b
c.sendall(got[:300]); c.close(); u.close()
' "$LAB_UPSTREAM" "$cut_port" "$LAB_XRAY" "$LAB_PORT" >"$LAB/cut.log" 2>&1 &
cut_pid=$!
lab_register_pid cut-relay "$cut_pid"
for _ in $(seq 50); do grep -q ready "$LAB/cut.log" && break; sleep 0.1; done
lab_check "transfer closed mid-stream: fails as incomplete, no report" \
    fails_with 'connection closed after [0-9]+ messages .*transfer incomplete' \
    --server "$LAB_UPSTREAM#$cut_port" --zone "$LAB_RPZ" --key-file "$LAB/rearview.key" \
    --transfer-timeout 5000
wait "$cut_pid" 2>/dev/null || true
lab_axfr +noall +answer +onesoa >"$LAB/rpz.zone"
lab_check "zone file from dig AXFR reads to the same rows" \
    test "$("$RV_REPORT" --zone-file "$LAB/rpz.zone" --zone "$LAB_RPZ" --format csv | tail -n +2)" \
    = "$(tail -n +2 <<<"$csv_out")"
# A zone file cut off mid-record is an error, never a shorter report.
printf '%s\n' 'x.rpz.rearview. 300 IN TXT "cut' >>"$LAB/rpz.zone"
lab_check "truncated zone file: fails with the line, no report" \
    fails_with 'unterminated quoted string' --zone-file "$LAB/rpz.zone" --zone "$LAB_RPZ"

lab_phase "records the agent did not write"
# Signed with the agent's key, which may update the zone: two PTRs at one
# owner, a TXT that is not ours, a TXT without PTR, a PTR and a TXT at an
# owner outside the reverse trees, and a name made to look like markup (the
# zone's update-policy grants PTR and TXT only).
rev=$LAB_RPZ.
nsupdate -k "$LAB/rearview.key" <<EOF
server $LAB_XRAY $LAB_PORT
zone $LAB_RPZ
update add 99.99.0.10.in-addr.arpa.$rev 300 IN PTR dup-a.example.test.
update add 99.99.0.10.in-addr.arpa.$rev 300 IN PTR dup-b.other.test.
update add 98.99.0.10.in-addr.arpa.$rev 300 IN PTR garbage-txt.example.test.
update add 98.99.0.10.in-addr.arpa.$rev 300 IN TXT "hello" "first=x"
update add 97.99.0.10.in-addr.arpa.$rev 300 IN TXT "first=1 last=2 count=3"
update add evil.$rev 300 IN PTR x.example.test.
update add evil.$rev 300 IN TXT "not ours"
update add 96.99.0.10.in-addr.arpa.$rev 300 IN PTR <b>x</b>.example.test.
send
EOF
odd_json=$("${R[@]}" --format json --list-foreign)
odd_ok() {
    python3 -c '
import json, sys
j = json.load(sys.stdin)
n = int(sys.argv[1])
t = j["totals"]
assert t["addresses"] == n + 3 and t["duplicate_ptr_owners"] == 1 and t["foreign"] == 3, t
d = {r["address"]: r for r in j["addresses"]}
assert d["10.0.99.99"]["ptr_count"] == 2 and d["10.0.99.99"]["other_ptrs"] == "dup-b.other.test", d["10.0.99.99"]
g = d["10.0.99.98"]
assert g["txt_ok"] is False and g["first"] is None and g["txt"] == "hello first=x", g
assert "10.0.99.98" in j["weak"], j["weak"]
assert d["10.0.99.96"]["name"] == "<b>x</b>.example.test", d["10.0.99.96"]
f = " | ".join(j["foreign"])
assert "evil.rpz.rearview PTR (owner outside the reverse trees)" in f and "TXT without PTR" in f, f
' "$nrows" <<<"$odd_json"
}
lab_check "duplicate PTRs, garbage TXT, TXT without PTR, owners outside the reverse trees: counted and shown, nothing fails" odd_ok

lab_phase "--hot-zone: the hot zone first, its addresses hide the main zone's"
# 192.0.2.10 gets a newer name in the hot zone (the main zone keeps the
# agent's www.example.test), 10.0.99.95 is only there, and a record that is
# not ours sits in it too.
hot=$LAB_HOT_ZONE.
nsupdate -k "$LAB/rearview.key" <<EOF
server $LAB_XRAY $LAB_PORT
zone $LAB_HOT_ZONE
update add 10.2.0.192.in-addr.arpa.$hot 300 IN PTR newer.example.test.
update add 10.2.0.192.in-addr.arpa.$hot 300 IN TXT "first=1000 last=2000 count=9 depth=0"
update add 95.99.0.10.in-addr.arpa.$hot 300 IN PTR hot-only.example.test.
update add 95.99.0.10.in-addr.arpa.$hot 300 IN TXT "first=1000 last=2000 count=1 depth=0"
update add odd.$hot 300 IN TXT "not ours"
send
EOF
lab_check "named answers 192.0.2.10 from the hot zone (listed first): newer.example.test" \
    lab_wait_ptr 192.0.2.10 newer.example.test "$PTR_TIMEOUT"
hot_json=$("${R[@]}" --hot-zone "$LAB_HOT_ZONE" --format json --list-foreign) && rc=0 || rc=$?
lab_check "--hot-zone exits 0 (got $rc)" test "$rc" = 0
hot_ok() {
    python3 -c '
import json, sys
j = json.load(sys.stdin)
n, hot, main = int(sys.argv[1]), sys.argv[2], sys.argv[3]
t = j["totals"]
# the agent rows, the 3 of the previous phase, and the hot-only address
assert t["addresses"] == n + 4 and t["duplicate_ptr_owners"] == 1 and t["foreign"] == 4, t
d = {r["address"]: r for r in j["addresses"]}
w = d["192.0.2.10"]
assert w["name"] == "newer.example.test" and w["count"] == 9 and w["ptr_count"] == 1, w
assert w["other_ptrs"] is None and w["first"] == 1000, w
assert d["10.0.99.95"]["name"] == "hot-only.example.test", d["10.0.99.95"]
assert d["192.0.2.21"]["name"] == "shop.example.test", d["192.0.2.21"]  # main zone only
f = " | ".join(j["foreign"])
assert "odd." + hot + " TXT (owner outside the reverse trees)" in f, f
assert "evil." + main + " PTR (owner outside the reverse trees)" in f, f
assert j["source"].startswith("AXFR of " + hot + " (hot zone, serial "), j["source"]
assert (" and " + main + " from ") in j["source"], j["source"]
' "$nrows" "$LAB_HOT_ZONE" "$LAB_RPZ" <<<"$hot_json"
}
lab_check "hot address reported from the hot zone (name, TXT, one PTR), hot-only row, foreign of both zones" hot_ok
main_only() {
    python3 -c '
import json, sys
d = {r["address"]: r for r in json.load(sys.stdin)["addresses"]}
assert d["192.0.2.10"]["name"] == "www.example.test" and "10.0.99.95" not in d, d["192.0.2.10"]
' <<<"$("${R[@]}" --format json)"
}
lab_check "without --hot-zone: the main zone's own row for 192.0.2.10 (www.example.test)" main_only
"$RV_REPORT" --zone-file "$LAB/rpz.zone" --hot-zone "$LAB_HOT_ZONE" >/dev/null 2>&1 && rc=0 || rc=$?
lab_check "--hot-zone without --server: usage error, exit 2 (got $rc)" test "$rc" = 2
lab_check "--hot-zone equal to --zone: fails, no report" \
    fails_with "hot-zone '$LAB_RPZ': not a zone name other than --zone" "${R[@]:1}" --hot-zone "$LAB_RPZ"
lab_check "--hot-zone the server does not serve: fails naming the hot zone's transfer" \
    fails_with 'AXFR of hot\.example\.invalid from .*: (NOTAUTH|REFUSED|NOTIMP)' "${R[@]:1}" \
    --hot-zone hot.example.invalid

lab_phase "HTML in headless Chromium"
html=$LAB/report.html
"${R[@]}" --compare-ptr "$LAB_CLIENT#$LAB_PORT" --list-foreign --html "$html" >/dev/null
self_contained() {
    ! grep -qiE '(src|href)=|url\(|@import' "$html" ||
        { grep -noiE '(src|href)=[^ ]*|url\(|@import' "$html" | head; return 1; }
}
lab_check "HTML is self-contained (no src=, href=, url(), @import)" self_contained
chrome=$(command -v chromium || command -v chromium-browser || true)
if [[ -z $chrome ]]; then
    lab_skip_check "HTML renders in headless Chromium" \
        "chromium not installed (Debian: apt-get install chromium)"
else
    art=${RV_ARTIFACT_DIR:-$LAB}
    [[ -n ${RV_ARTIFACT_DIR:-} ]] || LAB_KEEP_DIR=1
    mkdir -p "$art"
    shot=$art/report-screenshot.png
    prof=$(mktemp -d "$LAB/chrome.XXXXXX")
    # Its own profile and HOME: nothing written outside the lab.
    common=(--headless --disable-gpu --no-sandbox --no-first-run --user-data-dir="$prof"
        --enable-logging=stderr --v=0 --virtual-time-budget=3000)
    run_chrome() {
        HOME=$prof XDG_CONFIG_HOME=$prof XDG_CACHE_HOME=$prof timeout 60 "$chrome" "${common[@]}" "$@"
    }
    run_chrome --dump-dom "file://$html" >"$LAB/dom.html" 2>"$LAB/chrome-dom.log" && rc=0 || rc=$?
    lab_check "chromium --dump-dom exits 0 (got $rc)" test "$rc" = 0
    dom_ok() {
        grep -q '<h1>rearview report</h1>' "$LAB/dom.html" &&
            grep -q 'g2\.example\.test' "$LAB/dom.html" &&
            grep -q 'host2\.hoster\.test' "$LAB/dom.html" &&
            grep -qF 'esc\.dot.example.test' "$LAB/dom.html" &&
            grep -q 'Synthesized vs real PTR' "$LAB/dom.html" &&
            grep -qF '&lt;b&gt;x&lt;/b&gt;.example.test' "$LAB/dom.html" &&
            ! grep -qF '<b>x</b>' "$LAB/dom.html"
    }
    lab_check "rendered page has the title, the names, the compare section; a markup name stays text" dom_ok
    console_clean() {
        ! grep -E 'CONSOLE|Uncaught|SyntaxError|Content.Security.Policy|Refused to' "$LAB/chrome-dom.log" ||
            { echo "# console errors above"; return 1; }
    }
    lab_check "no console errors (script, CSP)" console_clean
    run_chrome --hide-scrollbars --window-size=1200,2400 --screenshot="$shot" "file://$html" \
        >/dev/null 2>"$LAB/chrome-shot.log" || true
    lab_check "screenshot written" test -s "$shot"
    echo "# screenshot: $shot"
fi

LAB_SUMMARIZED=1

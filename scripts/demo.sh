#!/usr/bin/env bash
# demo.sh — rearview quick start: install, build, and show it working.
#
# Starts a private lab on loopback (scripts/lab.sh): an authoritative
# "upstream" with CNAME chains, a BIND resolver configured from the shipped
# bind-conf fragments (client view + xray view), and rearview-agent. Looks
# names up through the client view, then shows what the xray view answers to
# `dig -x` for each address. Exit 0 only if every expected PTR is served.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: scripts/demo.sh [--keep] [--no-install]
       scripts/demo.sh --stop DIR
       scripts/demo.sh --help

Run as root on Debian 12. Installs missing packages (apt-get), builds into
build/, starts a lab on a private 127.X.Y.0 block and a random port, looks
names up through the client view and prints the xray view's `dig -x` answers.

  --keep        leave the lab running and print how to use and stop it
  --no-install  do not check or install Debian packages
  --stop DIR    stop a lab left running by --keep (DIR as printed) and
                remove its addresses and files
Without --keep nothing is left running.
EOF
}

cd "$(dirname "${BASH_SOURCE[0]}")/.."

keep=0
install=1
while (($#)); do
    case $1 in
        -h|--help) usage; exit 0 ;;
        --keep) keep=1; shift ;;
        --no-install) install=0; shift ;;
        --stop)
            (($# == 2)) || { usage >&2; exit 2; }
            ((EUID == 0)) || { echo "demo.sh: must be run as root" >&2; exit 1; }
            # shellcheck source=scripts/lab.sh
            . scripts/lab.sh
            lab_stop_dir "$2"
            exit 0 ;;
        *) usage >&2; exit 2 ;;
    esac
done

((EUID == 0)) || { echo "demo.sh: must be run as root (apt-get, ip addr add, named)" >&2; exit 1; }

step() { printf '\n==> %s\n' "$*"; }

if ((install)); then
    step "checking Debian packages"
    # shellcheck source=scripts/deps.sh
    . scripts/deps.sh
    rv_install_deps "${RV_BUILD_DEPS[@]}" "${RV_RUN_DEPS[@]}" libcmocka-dev
fi

# RV_BUILDDIR: another build directory (e.g. a developer's own); default build/.
builddir=${RV_BUILDDIR:-build}
step "building (meson, $builddir/)"
buildlog=$(mktemp)
# Quiet on success; the whole output when something fails.
if ! { [[ -f $builddir/build.ninja ]] || meson setup "$builddir"; } >"$buildlog" 2>&1 \
    || ! meson compile -C "$builddir" >>"$buildlog" 2>&1; then
    cat "$buildlog" >&2
    rm -f "$buildlog"
    echo "demo.sh: build failed" >&2
    exit 1
fi
rm -f "$buildlog"
RV_AGENT=$(cd "$builddir" && pwd)/agent/rearview-agent
export RV_AGENT
"$RV_AGENT" --version

# shellcheck source=scripts/lab.sh
. scripts/lab.sh
status=1
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    local rc=$?
    ((status == 0 || rc != 0)) || rc=1
    # --keep: a working lab stays up for the user (see the printed commands).
    ((keep && status == 0)) && return 0
    lab_stop "$rc"
}
trap cleanup EXIT

step "starting the lab"
lab_init
lab_start_upstream
lab_start_bind
# Loss accounting: the agent reads named's dnstap counters from the lab
# resolver's statistics channel (bind-conf/statistics.conf).
lab_write_agent_conf history-database "$LAB/history.db" history-flush-interval 1s \
    statistics-channel "$LAB_CLIENT:$LAB_STATS_PORT" statistics-interval 1s
lab_start_agent

# What we look up: question, type, the address expected in the answer and the
# CNAME depth. Addresses shared by several names are shown, not checked.
mapfile -t expect < <(lab_expectations)

step "looking names up through the client view ($LAB_CLIENT port $LAB_PORT)"
declare -A want=()   # address -> question name
for line in "${expect[@]}"; do
    read -r q t a d <<<"$line"
    want[$a]=$q
done
declare -A looked=()
for line in "${expect[@]}"; do
    read -r q t a d <<<"$line"
    [[ -v "looked[$q/$t]" ]] && continue
    looked[$q/$t]=1
    got=$(lab_lookup "$q" "$t" | tr '\n' ' ')
    printf '  dig %-4s %-22s -> %s(depth %s)\n' "$t" "$q" "$got" "$d"
done
# Two names for one address: the agent's score picks one of them.
for q in news.example.test blog.example.test news.example.test; do
    printf '  dig A    %-22s -> %s\n' "$q" "$(lab_lookup "$q" A | tr '\n' ' ')"
done
# A lookup that fails teaches nothing.
printf '  dig A    %-22s -> %s\n' dangling.example.test "$(lab_lookup_rcode dangling.example.test A)"
t_last=$(lab_now_ms)

step "waiting for the xray view ($LAB_XRAY) to serve every PTR"
# Each address gets at most 20 s, all of them together at most 60 s.
deadline=$((t_last + 60000))
failed=0
for a in "${!want[@]}"; do
    left=$(((deadline - $(lab_now_ms)) / 1000))
    ((left > 20)) && left=20
    ((left < 1)) && left=1
    lab_wait_ptr "$a" "${want[$a]}" "$left" 2>/dev/null || failed=$((failed + 1))
done
t_all=$(lab_now_ms)

printf '\n%-22s %-5s %-16s %-6s %s\n' "looked up" type address depth "xray view: dig -x address"
printf '%-22s %-5s %-16s %-6s %s\n' "---------" ---- ------- ----- --------------------------
for line in "${expect[@]}"; do
    read -r q t a d <<<"$line"
    ans=$(lab_xray_ptr "$a" | tr '\n' ' ')
    mark=ok
    [[ $ans == "$q. " ]] || mark=MISSING
    printf '%-22s %-5s %-16s %-6s %-24s %s\n' "$q" "$t" "$a" "$d" "${ans:-NXDOMAIN}" "$mark"
done
ans=$(lab_xray_ptr 192.0.2.50 | tr '\n' ' ')
printf '%-22s %-5s %-16s %-6s %-24s %s\n' "news/blog.example.test" A 192.0.2.50 0 "${ans:-NXDOMAIN}" "(best guess)"
ans=$(lab_xray_ptr 192.0.2.99 | tr '\n' ' ')
printf '%-22s %-5s %-16s %-6s %-24s %s\n' "(never looked up)" - 192.0.2.99 - "${ans:-NXDOMAIN}" ""

echo
if ((failed == 0)); then
    printf 'All %d PTRs served; last lookup -> all PTRs served: %d ms\n' "${#want[@]}" "$((t_all - t_last))"
    status=0
else
    printf '%d of %d PTRs NOT served within the time limit (agent log: %s)\n' \
        "$failed" "${#want[@]}" "$LAB_AGENT_LOG"
    exit 1
fi

step "loss accounting: named's own dnstap counters against what the agent received"
# One poll of named's statistics channel after the last frame (every 1 s here).
sleep 2
lab_agent_stat frames >/dev/null || true
line=$(grep -a 'stats: SIGUSR1' "$LAB_AGENT_LOG" | tail -n 1)
stat_of() { grep -oE "[ (]$1=[0-9]+" <<<"$line" | head -n 1 | cut -d= -f2; }
sent=$(stat_of bind_sent) dropped=$(stat_of bind_dropped) got=$(stat_of bind_poll_frames)
printf '  named queued %s dnstap messages for the agent (DNSTAPsuccess), dropped %s (DNSTAPdropped)\n' \
    "${sent:-?}" "${dropped:-?}"
printf '  the agent had received %s of them when named was asked: %s lost on the way\n' \
    "${got:-?}" "$((${sent:-0} - ${got:-0}))"
echo "  (the lab's readiness lookups run before the agent starts: named queues their"
echo "  messages and discards them, which is exactly the loss this makes visible)"

echo
echo "The RPZ as the agent wrote it (AXFR with the TSIG key):"
lab_axfr +noall +answer | grep -E 'IN[[:space:]]+(PTR|TXT)' | head -n 12 || true

step "the analyst's report: rearview-report over a TSIG-signed AXFR of the RPZ"
# Exit 3 = report complete, but some real PTRs went unanswered (the lab has
# reverse data for few addresses): that is part of what it shows.
rc=0
"$(dirname "$RV_AGENT")/rearview-report" --server "$LAB_XRAY#$LAB_PORT" --zone "$LAB_RPZ" \
    --key-file "$LAB/rearview.key" --compare-ptr "$LAB_CLIENT#$LAB_PORT" --top 5 \
    --html "$LAB/report.html" 2>/dev/null || rc=$?
if ((rc != 0 && rc != 3)); then
    echo "rearview-report failed (exit $rc)" >&2
    exit 1
fi
echo "(the same report as one self-contained page: $LAB/report.html)"

step "passive DNS: the history of every answer, asked with the stock dnsdbq"
export HOME=$LAB/home
mkdir -p "$HOME"
# The lab's listener is on loopback without http-api-key-file, so any key
# does; dnsdbq insists on having one.
printf 'DNSDB_SERVER=http://%s\nDNSDB_API_KEY=demo\nCIRCL_SERVER=http://%s/pdns/query\nCIRCL_AUTH=demo:demo\n' \
    "$LAB_HTTP" "$LAB_HTTP" >"$HOME/.dnsdb-query.conf"
# Records reach the history at its next flush (history-flush-interval 1s).
hist_ready() { dnsdbq -u dnsdb2 -r video.example.test 2>/dev/null | grep -q CNAME; }
if ! lab_wait_until 10 hist_ready; then
    echo "the history did not answer (agent log: $LAB_AGENT_LOG)" >&2
    exit 1
fi
echo "\$ dnsdbq -u dnsdb2 -r video.example.test        # a chained name: what did it resolve to?"
dnsdbq -u dnsdb2 -r video.example.test
echo "\$ dnsdbq -u dnsdb2 -r v.edge.test"
dnsdbq -u dnsdb2 -r v.edge.test
echo "\$ dnsdbq -u dnsdb2 -i 192.0.2.41                 # an address: which names pointed at it?"
dnsdbq -u dnsdb2 -i 192.0.2.41
echo "\$ curl -s http://$LAB_HTTP/v1/address/192.0.2.50   # why the xray view says what it says"
curl -s "http://$LAB_HTTP/v1/address/192.0.2.50"

if ((keep)); then
    cat <<EOF

The lab keeps running (files in $LAB):
  look up through the client view:  dig @$LAB_CLIENT -p $LAB_PORT www.example.test
  ask the xray view:                dig @$LAB_XRAY -p $LAB_PORT -x 192.0.2.10
  read the RPZ:                     dig @$LAB_XRAY -p $LAB_PORT -k $LAB/rearview.key AXFR $LAB_RPZ
  passive DNS (DNSDB API v2):       curl -s http://$LAB_HTTP/dnsdb/v2/lookup/rrset/name/video.example.test
  agent log:                        $LAB_AGENT_LOG
  agent metrics, health:            curl http://$LAB_HTTP/metrics; curl http://$LAB_HTTP/healthz
  named's statistics (JSON):        curl http://$LAB_CLIENT:$LAB_STATS_PORT/json/v1/server
  rndc:                             rndc -c $LAB/rndc.conf status
  stop it:                          scripts/demo.sh --stop $LAB
EOF
fi
exit 0

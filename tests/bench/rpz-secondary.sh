#!/usr/bin/env bash
# rpz-secondary.sh [N] — the cost of an RPZ of N addresses (default 100000)
# on a BIND secondary (BENCHMARKS.md "Secondaries"): the lab's primary starts
# with a pre-written zone (N PTR + N TXT), one secondary copies it (AXFR),
# then three one-record UPDATEs reach it by IXFR. Prints the secondary's log
# lines (transfer sizes and times, "rpz: ... reload start/done": the policy
# rebuild) and, per UPDATE, the time until the secondary serves it.
# Needs root; uses scripts/lab.sh (loopback only, stopped by PID).
set -euo pipefail

srcdir=$(cd "$(dirname "$0")/../.." && pwd)
export RV_AGENT=${RV_AGENT:-$srcdir/build/agent/rearview-agent}
# shellcheck source=scripts/lab.sh
. "$srcdir/scripts/lab.sh"
n=${1:-100000}

lab_init
trap 'lab_stop 0' EXIT
mkdir -p "$LAB/resolver/zones"
# Written before the first render: render-bind-conf.sh keeps an existing RPZ.
{
    sed "s/@RPZ_ZONE@/$LAB_RPZ/g" "$srcdir/rpz/rpz.zone.in"
    for ((i = 0; i < n; i++)); do
        printf '%d.%d.%d.10.in-addr.arpa 600 IN PTR host%d.example.test.\n' \
            $((i & 255)) $((i >> 8 & 255)) $((i >> 16 & 255)) "$i"
        printf '%d.%d.%d.10.in-addr.arpa 600 IN TXT "first=1 last=1 count=1 depth=0 score=1.00"\n' \
            $((i & 255)) $((i >> 8 & 255)) $((i >> 16 & 255))
    done
} >"$LAB/resolver/zones/$LAB_RPZ.db"
lab_add_key rearview-xfr
LAB_XFR_KEY_NAME=rearview-xfr
LAB_RENDER_ARGS=(SECONDARIES="$LAB_NET.4 port $LAB_PORT" XFR_KEY_NAME=rearview-xfr NOTIFY_DELAY=1)
lab_start_upstream
lab_start_bind
LAB_SECONDARY_TIMEOUT=120 lab_start_secondary sec1 4
sleep 3
for k in 1 2 3; do
    printf 'server %s %s\nzone %s\nupdate add %d.9.9.9.in-addr.arpa.%s 600 PTR new%d.example.test.\nsend\n' \
        "$LAB_XRAY" "$LAB_PORT" "$LAB_RPZ" "$k" "$LAB_RPZ" "$k" | nsupdate -k "$LAB/rearview.key"
    lab_wait_ptr_at "$LAB_NET.4" "9.9.9.$k" "new$k.example.test" 60
    echo "update $k: served by the secondary $LAB_WAIT_MS ms after the UPDATE"
    sleep 2
done
echo "--- secondary"
grep -E "rpz: |Transfer completed" "$LAB/sec1/named.log"
echo "--- primary"
grep -E "rpz: " "$LAB/resolver/named.log"

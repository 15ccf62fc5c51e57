#!/usr/bin/env bash
# rpz-two-zones.sh — named's policy rebuild when the addresses are split over
# two policy zones (BENCHMARKS.md "One policy zone or two"): a big one of BIG
# addresses (default 234000, the size of the lost-queries runs) and a small
# one of SMALL (default 5000), both in one response-policy, each with
# min-update-interval 1. SECS seconds of UPDATEs (PER new addresses each
# second, nsupdate, TSIG) go first to the small zone, then to the big one.
# Prints named's CPU per phase and each zone's rebuild times, from its own
# "rpz: ZONE: reload start/done" lines. named 9.18 rebuilds a policy zone's
# summary by walking that whole zone after a batch of updates, so the small
# zone's rebuilds should cost a fraction of the big one's, and the big zone
# none while only the small one is written.
# Needs root; named on 127.77.0.1 (loopback) only, stopped by PID.
set -euo pipefail

srcdir=$(cd "$(dirname "$0")/../.." && pwd)
BIG=${BIG:-234000} SMALL=${SMALL:-5000} SECS=${SECS:-30} PER=${PER:-200}
ADDR=127.77.0.1 PORT=${PORT:-15353}
d=$(mktemp -d /tmp/rv-rpz2.XXXXXX)
npid=
cleanup() {
	if [[ -n $npid ]]; then kill "$npid" 2>/dev/null || true; wait "$npid" 2>/dev/null || true; fi
	ip addr del "$ADDR/32" dev lo 2>/dev/null || true
	rm -rf "$d"
}
trap cleanup EXIT

tsig-keygen -a hmac-sha256 rpz2 >"$d/key.conf"
secret=$(sed -n 's/.*secret "\(.*\)";/\1/p' "$d/key.conf")
python3 "$srcdir/tests/bench/gen-report-zone.py" "$BIG" --zone big.rearview >"$d/big.db"
python3 "$srcdir/tests/bench/gen-report-zone.py" "$SMALL" --zone small.rearview >"$d/small.db"
cat >"$d/named.conf" <<EOF
include "$d/key.conf";
options {
	directory "$d"; pid-file "$d/named.pid";
	listen-on port $PORT { $ADDR; }; listen-on-v6 { none; };
	recursion yes; allow-recursion { 127.0.0.0/8; };
	response-policy {
		zone "small.rearview" min-update-interval 1;
		zone "big.rearview" min-update-interval 1;
	};
};
logging {
	channel l { file "$d/named.log"; severity info; print-time yes; };
	category rpz { l; }; category default { l; }; category update { null; };
};
controls { };
zone "small.rearview" { type primary; file "$d/small.db"; allow-update { key rpz2; }; };
zone "big.rearview" { type primary; file "$d/big.db"; allow-update { key rpz2; }; };
EOF
named-checkconf "$d/named.conf"
ip addr add "$ADDR/32" dev lo 2>/dev/null || true
named -c "$d/named.conf" -f -u root >"$d/named.out" 2>&1 &
npid=$!
for ((i = 0; i < 600; i++)); do
	grep -q "rpz: big.rearview: reload done" "$d/named.log" 2>/dev/null && break
	kill -0 "$npid" 2>/dev/null || { cat "$d/named.out" >&2; exit 1; }
	sleep 0.2
done
grep -q "rpz: big.rearview: reload done" "$d/named.log" || { echo "rpz-two-zones: named did not load the zones" >&2; exit 1; }

cpu_ticks() { awk '{print $14 + $15}' "/proc/$npid/stat"; }
k=0
phase() { # ZONE
	local z=$1 c0 t0
	c0=$(cpu_ticks) t0=$(date +%s)
	echo "phase $z $(date +%s.%N)" >>"$d/phases"
	for ((s = 0; s < SECS; s++)); do
		{
			echo "server $ADDR $PORT"
			echo "zone $z"
			for ((j = 0; j < PER; j++)); do
				k=$((k + 1))
				echo "update add $((k % 250 + 1)).$((k / 250 % 250)).$((k / 62500 % 250)).198.in-addr.arpa.$z 600 IN PTR h$k.new.example."
			done
			echo send
		} >"$d/upd.txt"
		nsupdate -y "hmac-sha256:rpz2:$secret" "$d/upd.txt"
		sleep 1
	done
	sleep 5 # the last rebuild
	echo "$z: named CPU $(($(cpu_ticks) - c0)) ticks (1/100 s) over $(($(date +%s) - t0)) s, $((SECS * PER)) addresses written"
}
phase small.rearview
phase big.rearview
python3 - "$d/named.log" "$d/phases" <<'EOF'
import datetime, re, sys, time
# The phase a rebuild started in (named prints local time, as mktime reads it).
phases = [(float(t), z) for z, t in (l.split()[1:] for l in open(sys.argv[2]))]
starts, took = {}, {}
for line in open(sys.argv[1]):
    m = re.match(r'(\S+ \S+) rpz: (\S+): reload (start|done)', line)
    if not m:
        continue
    t = datetime.datetime.strptime(m.group(1), '%d-%b-%Y %H:%M:%S.%f')
    z = m.group(2)
    if m.group(3) == 'start':
        starts[z] = t
    elif z in starts:
        t0 = starts.pop(z)
        when = time.mktime(t0.timetuple()) + t0.microsecond / 1e6
        phase = 'start-up'
        for pt, pz in phases:
            if when >= pt:
                phase = pz
        took.setdefault((phase, z), []).append((t - t0).total_seconds())
for phase in ('small.rearview', 'big.rearview'):
    for z in ('small.rearview', 'big.rearview'):
        v = sorted(took.get((phase, z), []))
        what = (f"{len(v)} rebuilds, median {v[len(v) // 2] * 1000:.0f} ms, max {v[-1] * 1000:.0f} ms"
                if v else "no rebuild")
        print(f"writing {phase}: {z}: {what}")
EOF

#!/usr/bin/env bash
# make-named-stats.sh - regenerate named-stats-*.json: named's statistics
# channel (/json/v1/server) as a real BIND 9 writes it (see README.md).
#
# Runs the integration lab (scripts/lab.sh: a resolver from the shipped
# bind-conf fragments, its statistics channel on loopback, the agent as the
# dnstap reader), so it needs root, bind9, bind9-dnsutils, iproute2, python3
# and a built agent (RV_AGENT, default build/agent/rearview-agent). Every
# process it starts is stopped by its PID.
#
#   named-stats-nodnstap.json  the lab's authoritative upstream, which has no
#                           dnstap: no "dnstapstats" object at all
#   named-stats-drops.json  the resolver after lookups, and a burst of 40,000
#                           queries while the agent was stopped (SIGSTOP) so
#                           named's dnstap queue overflowed: DNSTAPsuccess and
#                           DNSTAPdropped
# Usage: tests/data/make-named-stats.sh [OUTPUT_DIR]
set -euo pipefail

srcdir=$(cd "$(dirname "$0")/../.." && pwd)
out=$(cd "${1:-$srcdir/tests/data}" && pwd)
RV_AGENT=${RV_AGENT:-$srcdir/build/agent/rearview-agent}
# shellcheck source=scripts/lab.sh
. "$srcdir/scripts/lab.sh"

lab_init
LAB_AGENT=$RV_AGENT
stopped_pid=
cleanup() {
    # A stopped agent would ignore lab_stop's SIGTERM until continued.
    [[ -z $stopped_pid ]] || kill -CONT "$stopped_pid" 2>/dev/null || true
    lab_stop 0
}
trap cleanup EXIT
url=http://$LAB_CLIENT:$LAB_STATS_PORT/json/v1/server

# The upstream gets a statistics channel too (its own address, the same port).
LAB_UPSTREAM_EXTRA_CONF="statistics-channels { inet $LAB_UPSTREAM port $LAB_STATS_PORT allow { 127.0.0.0/8; }; };"
lab_start_upstream
lab_start_bind
lab_write_agent_conf
lab_start_agent
lab_lookup www.example.test >/dev/null
curl -sf "http://$LAB_UPSTREAM:$LAB_STATS_PORT/json/v1/server" >"$out/named-stats-nodnstap.json"

for i in 1 2 3 4 5 6 7 8 9 10; do lab_lookup "g$i.example.test" >/dev/null; done
agent=$(<"$LAB/pids/agent")
kill -STOP "$agent"
stopped_pid=$agent
# 40,000 queries for a cached name, as fast as UDP goes: with the reader
# stopped, named's socket buffer and then its 16,384-message queue fill up.
python3 - "$LAB_CLIENT" "$LAB_PORT" <<'PY'
import socket, struct, sys
addr = (sys.argv[1], int(sys.argv[2]))
q = b"".join(bytes([len(l)]) + l for l in b"www.example.test".split(b".")) + b"\0"
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setblocking(False)
sent = 0
for i in range(40000):
    msg = struct.pack(">HHHHHH", i & 0xffff, 0x0100, 1, 0, 0, 0) + q + struct.pack(">HH", 1, 1)
    while True:
        try:
            s.sendto(msg, addr)
            break
        except BlockingIOError:
            pass
    sent += 1
    # Drain replies now and then so the socket's receive buffer never matters.
    try:
        while True:
            s.recv(4096)
    except BlockingIOError:
        pass
print("sent", sent, file=sys.stderr)
PY
sleep 3
kill -CONT "$agent"
stopped_pid=
sleep 3
curl -sf "$url" >"$out/named-stats-drops.json"
grep -o '"dnstapstats":{[^}]*}' "$out/named-stats-nodnstap.json" "$out/named-stats-drops.json" || true

#!/usr/bin/env bash
# Integration: hostile Frame Streams peers cannot lock named out of the
# agent's dnstap socket (max-connections 64), against a real named on loopback.
#
# A pool of hostile peers (tests/integration/hostile.sh writes it to the lab as
# hostile.py) keeps 64 connections open, as many as there are slots, and
# reopens every one the agent closes, a few per 100 ms. Each connection is one
# of four kinds, in turn:
#   silent            connects and never sends a byte
#   idle              READY + START, then nothing (as named between flushes)
#   trickle-handshake a READY, one byte every 500 ms
#   trickle-frame     START, then a 200-byte data frame, one byte every second
#                     (inside stall-timeout 3 s: each byte used to restart the
#                     stall timer)
# Before the fix the pool filled every slot for good, and a restarted named
# was refused at every reconnect. Now:
#   A. pool as root, the uid named runs as here: equals, behaviour decides.
#      named restarted, and `rndc dnstap -reopen`: named gets a slot, lookups
#      become PTRs; evictions and deadline drops are counted and logged, and the
#      log stays short (rate-limited) however many connections churn.
#   B. pool as nobody (not a writer: not root, not writer-user): the same, and
#      no slot named holds is ever taken by the pool.
# Run by meson (suite "integration") with RV_AGENT and RV_SRCDIR; needs root.
set -euo pipefail

srcdir=${RV_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=scripts/lab.sh
. "$srcdir/scripts/lab.sh"

lab_test_begin
command -v python3 >/dev/null 2>&1 || { echo "SKIP: python3 is needed (the hostile peers)"; exit 77; }

PTR_TIMEOUT=20
SLOTS=64
POOL_MAX_S=300 # the pool stops by itself after this long whatever happens

lab_init
lab_start_upstream
lab_start_bind
# socket-mode 0666 and a traversable lab directory: phase B's peers run as
# nobody. The lab's secrets keep their own modes (0640).
chmod 0711 "$LAB"
lab_write_agent_conf max-connections "$SLOTS" stall-timeout 3s socket-mode 0666
lab_start_agent

agent_alive() { lab__alive "$(cat "$LAB/pids/agent" 2>/dev/null)"; }


# True once the resolver named itself (not just anyone: the pool's peers are
# on the same socket) has an established connection to the agent's socket: one
# of named's unix sockets is the peer of a server-side socket on LAB_SOCK.
named_connected() {
    local pid
    pid=$(cat "$LAB/pids/resolver" 2>/dev/null) || return 1
    ss -Hxp state established 2>/dev/null | awk -v sock="$LAB_SOCK" -v me="pid=$pid," '
        $4 == sock { peer[$7] = 1; next }
        index($0, me) { mine[$5] = 1 }
        END { for (i in mine) if (i in peer) exit 0; exit 1 }'
}


cat >"$LAB/hostile.py" <<'EOF'
# Hostile Frame Streams peers: keep TARGET connections open on PATH, reopen
# any the server closes (at most 8 per 100 ms tick), stop after MAX_S seconds
# or on SIGTERM. Writes "opened=N closed=N open=N" to STATUS every tick.
import os, pwd, signal, socket, struct, sys, time

path, target, user, max_s = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
# Opened before dropping privileges: the lab directory is root's.
status = open(sys.argv[5], "w")
if user != "root":
    pw = pwd.getpwnam(user)
    os.setgroups([])
    os.setgid(pw.pw_gid)
    os.setuid(pw.pw_uid)

CT = b"protobuf:dnstap.Dnstap"
def control(ftype, with_ct=True):
    body = struct.pack(">I", ftype)
    if with_ct:
        body += struct.pack(">II", 1, len(CT)) + CT
    return struct.pack(">II", 0, len(body)) + body
READY, START = control(4), control(2)
FRAME = struct.pack(">I", 200) + b"x" * 200
KINDS = ["silent", "idle", "trickle-handshake", "trickle-frame"]

running = True
def stop(*_):
    global running
    running = False
signal.signal(signal.SIGTERM, stop)

class Peer:
    def __init__(self, kind):
        self.kind, self.pending, self.every, self.next = kind, b"", 0.0, 0.0
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.sock.setblocking(False)
        if kind == "idle":
            self.sock.send(READY + START)
        elif kind == "trickle-handshake":
            self.pending, self.every = READY, 0.5
        elif kind == "trickle-frame":
            self.sock.send(START)
            self.pending, self.every = FRAME, 1.0
    def alive(self, now):
        try:
            while True:
                data = self.sock.recv(4096)  # ACCEPT for READY, then nothing
                if not data:
                    return False
        except BlockingIOError:
            pass
        except OSError:
            return False
        if self.pending and now >= self.next:
            try:
                self.sock.send(self.pending[:1])
            except BlockingIOError:
                pass
            except OSError:
                return False
            self.pending, self.next = self.pending[1:], now + self.every
        return True

slots = [None] * target
opened = closed = 0
end = time.monotonic() + max_s
while running and time.monotonic() < end:
    now = time.monotonic()
    budget = 8
    for i in range(target):
        p = slots[i]
        if p is not None and not p.alive(now):
            p.sock.close()
            slots[i] = p = None
            closed += 1
        if p is None and budget > 0:
            budget -= 1
            try:
                slots[i] = Peer(KINDS[i % len(KINDS)])
                opened += 1
            except OSError:
                pass
    status.seek(0)
    status.write("opened=%-10d closed=%-10d open=%-6d\n" % (opened, closed,
                 sum(p is not None for p in slots)))
    status.flush()
    time.sleep(0.1)
for p in slots:
    if p is not None:
        p.sock.close()
EOF

POOL_PID=
pool_start() { # USER
    python3 "$LAB/hostile.py" "$LAB_SOCK" "$SLOTS" "$1" "$POOL_MAX_S" "$LAB/pool.status" \
        >>"$LAB/pool.log" 2>&1 &
    POOL_PID=$!
    lab_register_pid pool "$POOL_PID"
}
pool_stop() {
    lab__stop_pid pool "$POOL_PID" 10
    rm -f "$LAB/pids/pool"
}
pool_stat() { # KEY
    grep -oE "$1=[0-9]+" "$LAB/pool.status" 2>/dev/null | cut -d= -f2
}
agent_full() { local a; a=$(lab_agent_stat active) && ((${a:-0} == SLOTS)); }
pool_churned() { local n; n=$(pool_stat opened) && ((${n:-0} >= $1)); }
stat_of() { lab_agent_stat "$1" || echo 0; }
# Agent log lines from the Frame Streams server since line $1.
fstrm_lines_since() { tail -n "+$(($1 + 1))" "$LAB_AGENT_LOG" | grep -c ' fstrm: ' || true; }

# The same story for each pool owner.
run_phase() { # USER LABEL
    local user=$1 label=$2 ev0 to0 opened lines n
    PHASE_LOG0=$(wc -l <"$LAB_AGENT_LOG")
    : >"$LAB/pool.status"
    ev0=$(stat_of conn_evicted)
    to0=$(stat_of conn_timeouts)
    # named has delivered: lookups before the pool arrives.
    lab_check "$label: before the pool, named is connected" lab_wait_until 10 named_connected
    lab_check "$label: before the pool, lookups become PTRs" lab_fresh_ptrs 2
    pool_start "$user"
    lab_check "$label: the pool and named hold all $SLOTS slots" lab_wait_until 20 agent_full
    lab_check "$label: the pool churns (>= $((SLOTS + 40)) connections opened)" \
        lab_wait_until 30 pool_churned $((SLOTS + 40))
    lab_check "$label: the pool is running" lab__alive "$POOL_PID"
    lab_check "$label: named, already connected, keeps its slot: lookups become PTRs" lab_fresh_ptrs 3

    lab_stop_bind
    # The slot named freed is taken by the pool before named is back.
    sleep 1.5
    lab_check "$label: slots full again while named is down" lab_wait_until 10 agent_full
    lab_start_bind
    lab_check "$label: restarted named gets a slot (its dnstap connection is up)" \
        lab_wait_until 15 named_connected
    lab_check "$label: restarted named: lookups become PTRs" lab_fresh_ptrs 3

    lab_rndc dnstap -reopen >/dev/null
    sleep 1
    lab_check "$label: after rndc dnstap -reopen: lookups become PTRs" lab_fresh_ptrs 3
    lab_check "$label: named is still connected at the end" named_connected

    n=$(stat_of conn_evicted)
    lab_check "$label: evictions counted (conn_evicted $ev0 -> $n)" test "$n" -gt "$ev0"
    n=$(stat_of conn_timeouts)
    lab_check "$label: deadline drops counted (conn_timeouts $to0 -> $n)" test "$n" -gt "$to0"
    opened=$(pool_stat opened)
    lab_check "$label: the pool ran to the end" lab__alive "$POOL_PID"
    pool_stop
    echo "# $label: pool $(tr -s ' ' <"$LAB/pool.status" 2>/dev/null)"
    lines=$(fstrm_lines_since "$PHASE_LOG0")
    lab_check "$label: connection log lines bounded ($lines fstrm lines for $opened hostile connections)" \
        test "$lines" -le 80
    lab_check "$label: agent still running" agent_alive
}

# The agent is restarted between phases: fresh counters and a fresh log
# window; its exit flushes the summary of what the rate limit held back.
since_phase() { tail -n "+$((PHASE_LOG0 + 1))" "$LAB_AGENT_LOG"; }
# grep -c reads everything: with -q, tail would die of SIGPIPE (pipefail).
phase_log_has() { since_phase | grep -Ec -- "$1" >/dev/null; }

# ---------------------------------------------------------------- A. equals
lab_phase "A. hostile pool as root (named's uid in the lab): behaviour decides"
run_phase root "pool as root"
lab_stop_agent TERM
lab_check "pool as root: agent exits 0 on SIGTERM (status $LAB_AGENT_STATUS)" test "$LAB_AGENT_STATUS" = 0
lab_check "pool as root: evictions logged with context" \
    phase_log_has 'fstrm: fd [0-9]+ pid [0-9]+ uid 0 \(writer\): evicted for fd [0-9]+ pid [0-9]+ uid 0'
lab_check "pool as root: deadline drops logged" \
    phase_log_has 'no Frame Streams handshake within 5000 ms|a frame was still incomplete 3000 ms after its first byte'
lab_check "pool as root: the rest summarised (evicted, timed out)" \
    phase_log_has 'more connection events in the last [0-9]+ s not logged one by one \(.*evicted.*timed out'
since_phase | grep -E 'fstrm: .*(evicted for|incomplete|handshake within|more connection events)' \
    | head -n 4 | cut -c1-300 | sed 's/^/# agent: /' || true

# ---------------------------------------------------------------- B. not writers
lab_phase "B. hostile pool as nobody: named (root) is a writer"
start_log0=$(wc -l <"$LAB_AGENT_LOG")
lab_start_agent
writer_connected() { tail -n "+$((start_log0 + 1))" "$LAB_AGENT_LOG" | grep -c 'uid 0 (writer): connected' >/dev/null; }
nobody_uid=$(id -u nobody)
run_phase nobody "pool as nobody"
lab_stop_agent TERM
lab_check "pool as nobody: agent exits 0 on SIGTERM (status $LAB_AGENT_STATUS)" test "$LAB_AGENT_STATUS" = 0
lab_check "pool as nobody: named's connection is a writer" writer_connected
lab_check "pool as nobody: evictions hit the pool's connections (uid $nobody_uid)" \
    phase_log_has "uid $nobody_uid: evicted for"
no_writer_evicted() { ! since_phase | grep -cF '(writer): evicted for' >/dev/null; }
lab_check "pool as nobody: no writer's connection was evicted" no_writer_evicted

chmod 0700 "$LAB"
lab_check "no sanitizer reports in the agent's output" lab_no_sanitizer_reports

LAB_SUMMARIZED=1 # the EXIT trap prints the summary last

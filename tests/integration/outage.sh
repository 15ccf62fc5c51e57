#!/usr/bin/env bash
# Integration: outages and failures of the UPDATE path and of named, against a
# real named on loopback (issue 5, item 3). In the order run:
#   A. named restarted, killed with SIGKILL, `rndc dnstap -reopen` x5, while
#      lookups flow through the client view: the agent survives, answers STOP
#      with FINISH at once (rndc < 1 s), lookups after reconnection -> PTRs.
#   B. UPDATE answered NOTAUTH (zone the server does not serve) and REFUSED (a
#      key named knows but update-policy does not grant): one error line with
#      rcode, zone and server; counted; retried with backoff; fixed config +
#      restart -> what was learned meanwhile reaches the RPZ.
#   C. named down for 30 s while 20,000 new addresses pile up (rv-loadgen):
#      agent up, memory bounded, queue coalesced by address, ONE error line,
#      bounded retries; named back -> every address in the RPZ, drained in
#      batches, recovery logged once. While named is down:
#        - UPDATE timeout (a server that accepts and never answers) and reset
#          (accepts and closes): logged once, counted, backoff, ingest goes on;
#        - startup errors: socket in use, socket directory missing / not
#          writable, snapshot directory not writable, config unreadable /
#          malformed: exit non-zero, clear message.
#   D. SIGTERM while rv-loadgen is writing: exit 0 within shutdown-timeout,
#      every address the agent learned is in the RPZ, snapshot saved.
# Frames that do not come from named are written by rv-loadgen (seeded; its
# --expect-out says which name each address must get).
# Run by meson (suite "integration") with RV_AGENT and RV_SRCDIR; needs root.
set -euo pipefail

srcdir=${RV_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=scripts/lab.sh
. "$srcdir/scripts/lab.sh"
lab_need_tools python3 # fake DNS servers, AXFR checks
lab_test_begin

LOADGEN=${RV_LOADGEN:-$(dirname "$RV_AGENT")/../tests/bench/rv-loadgen}
[[ -x $LOADGEN ]] || { echo "rv-loadgen not found at $LOADGEN (build it, or set RV_LOADGEN)"; exit 1; }

PTR_TIMEOUT=20
OUTAGE_S=30          # how long named stays down in phase C
OUTAGE_N=20000       # addresses learned while it is down
# Under ASan the agent's resident memory is mostly shadow and quarantine.
RSS_LIMIT_MB=100
if lab_asan_build "$RV_AGENT"; then RSS_LIMIT_MB=600; fi

lab_init
# Known to named, granted nothing by update-policy: UPDATEs signed with it
# must be answered REFUSED (phase B).
lab_add_key lab-other
lab_start_upstream
lab_start_bind

# ---------------------------------------------------------------- helpers

agent_alive() { lab__alive "$(cat "$LAB/pids/agent" 2>/dev/null)"; }
rx() { printf '%s' "${1//./\\.}"; } # literal dots in a regex
RPZ_RX=$(rx "$LAB_RPZ")
SERVER_RX=$(rx "$LAB_XRAY#$LAB_PORT")


# Lookups through the client view in the background (cN names, depth 1), so
# that named writes dnstap frames while we restart, kill or reopen it. Stopped
# by removing the flag file (each dig gives up within 1 s).
loop_start() {
    : >"$LAB/loop.run"
    (
        i=0
        while [[ -e $LAB/loop.run ]]; do
            i=$((i % 250 + 1))
            dig @"$LAB_CLIENT" -p "$LAB_PORT" +time=1 +tries=1 +short "c$i.example.test" A \
                >/dev/null 2>&1 || true
        done
    ) &
    LOOP_PID=$!
}
loop_stop() {
    rm -f "$LAB/loop.run"
    wait "$LOOP_PID" 2>/dev/null || true
}


# -- other agents next to the lab's own: $LAB/NAME.{conf,log,sock,snap}; no
# HTTP listener (the lab's agent has the lab's port)
aux_conf() { # NAME [KEY VALUE]...
    local name=$1
    shift
    LAB_AGENT_CONF=$LAB/$name.conf lab_write_agent_conf \
        dnstap-socket "$LAB/$name.sock" snapshot-file "$LAB/$name.snap" \
        log-level debug retry-min 1s retry-max 8s shutdown-timeout 1s \
        http-listen '""' "$@"
}
# Starts agent NAME and waits until it listens.
aux_start() { # NAME
    local name=$1 pid
    "$RV_AGENT" -c "$LAB/$name.conf" >>"$LAB/$name.log" 2>&1 &
    pid=$!
    lab_register_pid "$name" "$pid"
    if ! lab_wait_until 10 grep -q 'listening on' "$LAB/$name.log"; then
        lab_log "agent $name did not start"
        lab__tail "$LAB/$name.log"
        return 1
    fi
}
aux_pid() { cat "$LAB/pids/$1" 2>/dev/null || true; }
aux_alive() { lab__alive "$(aux_pid "$1")"; }
# SIGTERM; AUX_STATUS = exit status, AUX_STOP_MS = how long it took.
aux_stop() { # NAME
    local t0
    t0=$(lab_now_ms)
    lab__stop_pid "$1" "$(aux_pid "$1")" 20
    AUX_STATUS=$LAB_LAST_STATUS
    AUX_STOP_MS=$(($(lab_now_ms) - t0))
    rm -f "$LAB/pids/$1"
}
# SIGTERM to several at once (each may wait its shutdown-timeout), then reap.
aux_stop_all() { # NAME...
    local a
    for a; do kill -TERM "$(aux_pid "$a")" 2>/dev/null || true; done
    for a; do aux_stop "$a"; done
}
aux_stat() { lab_agent_stat "$2" "$(aux_pid "$1")" "$LAB/$1.log"; }
# Lines of agent NAME's log matching an extended regex.
count_lines() { # LOG REGEX
    grep -Eac -- "$2" "$1" || true
}

# Retries of a failure, from the log: the lines matching REGEX (the failure,
# logged at error the first time and at debug after) are the attempts. Passes
# if at most MAX fall within WINDOW_S of the first, every gap is >= 0.9 s, no
# gap shrinks by more than 1 s (timer jitter), and with 3+ gaps the last is
# at least 2x the first (exponential backoff; for timeouts a gap is the
# timeout plus the backoff). Prints the gaps.
backoff_ok() { # LOG REGEX WINDOW_S MAX
    grep -Ea -- "$2" "$1" | python3 -c '
import sys
from datetime import datetime
window, most = float(sys.argv[1]), int(sys.argv[2])
t = [datetime.strptime(l.split()[0], "%Y-%m-%dT%H:%M:%S.%fZ").timestamp() for l in sys.stdin]
if len(t) < 2:
    print("# %d attempt(s): no retry seen" % len(t)); sys.exit(1)
gaps = [b - a for a, b in zip(t, t[1:])]
inwin = sum(1 for x in t if x - t[0] <= window)
print("# %d attempts, %d within %.0f s; gaps (s): %s" % (len(t), inwin, window,
      " ".join("%.1f" % g for g in gaps)))
ok = inwin <= most and min(gaps) >= 0.9
ok = ok and all(b >= a - 1.0 for a, b in zip(gaps, gaps[1:]))
ok = ok and (len(gaps) < 3 or gaps[-1] >= 2 * gaps[0])
sys.exit(0 if ok else 1)' "$3" "$4"
}

# -- rv-loadgen: N sequential names, one address each (name k <-> address k,
# so the first L frames teach exactly the first L lines of the expect file),
# every frame learnable, stamped with the current time (its default, 2024,
# would be expired within a minute). OFFSET keeps each experiment's
# addresses apart.
feed() { # SOCK OFFSET N EXPECT [more rv-loadgen options]
    local sock=$1 off=$2 n=$3 exp=$4
    shift 4
    "$LOADGEN" --seed 5 --sequential --count "$n" --names "$n" --addresses "$n" \
        --nxdomain 0 --nodata 0 --other 0 --addr-offset "$off" --time-base now \
        --expect-out "$exp" --unix "$sock" --timeout 60 "$@" >>"$LAB/loadgen.out" 2>&1
}

# Every address of the first N lines (-1: all) of EXPECT has its PTR in the
# zone, with its name. One AXFR; prints a summary line.
zone_has() { # EXPECT N
    lab_axfr +noall +answer >"$LAB/axfr.txt" 2>&1 || true
    python3 - "$1" "$2" "$LAB/axfr.txt" "$LAB_RPZ" <<'EOF'
import ipaddress, sys
exp, n, axfr, zone = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4].rstrip('.').lower()
want = {}
with open(exp) as f:
    for i, line in enumerate(f):
        if 0 <= n <= i:
            break
        a, name = line.rstrip('\n').split('\t')
        owner = ipaddress.ip_address(a).reverse_pointer + '.' + zone + '.'
        want[owner] = name.lower().rstrip('.') + '.'
have = {}
with open(axfr) as f:
    for line in f:
        p = line.split()
        if len(p) >= 5 and p[3] == 'PTR':
            have[p[0].lower()] = p[4].lower()
missing = [o for o in want if o not in have]
wrong = [o for o in want if o in have and have[o] != want[o]]
ex = ''
if missing:
    ex += ', e.g. missing ' + missing[0]
if wrong:
    ex += ', e.g. %s -> %s (want %s)' % (wrong[0], have[wrong[0]], want[wrong[0]])
print('# zone: %d PTRs; %d expected: %d missing, %d with another name%s'
      % (len(have), len(want), len(missing), len(wrong), ex))
sys.exit(1 if missing or wrong else 0)
EOF
}

# A TCP "DNS server" on the lab's upstream address that never answers
# (silent); reads the first message and then closes the connection (close:
# FIN) or resets it (reset: RST); or answers every message NOTZONE without a
# TSIG (notzone: what a forged reply would look like). It picks a free port
# and writes it to $LAB/fake-MODE.port; $LAB/fake-MODE.count = connections
# so far. (Closing before the request has arrived makes the agent see EOF or
# a reset depending on timing; see RELIABILITY.md.)
fake_server() { # MODE
    local mode=$1 pid
    cat >"$LAB/fake_dns.py" <<'EOF'
import os, socket, struct, sys, threading
mode, host, d = sys.argv[1], sys.argv[2], sys.argv[3]
def recv_all(c, n):
    b = b''
    while len(b) < n:
        r = c.recv(n - len(b))
        if not r:
            return None
        b += r
    return b
def read_msg(c):
    h = recv_all(c, 2)
    return h and recv_all(c, struct.unpack('>H', h)[0])
def drop(c):
    with c:
        read_msg(c)
        if mode == 'reset':
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
def notzone(c):
    # RFC 1035 4.2.2 framing; reply = the request's ID and opcode, QR=1,
    # RCODE 10 (NOTZONE), no sections, no TSIG.
    with c:
        while True:
            m = read_msg(c)
            if not m or len(m) < 12:
                return
            flags = 0x8000 | (m[2] & 0x78) << 8 | 10
            r = m[0:2] + struct.pack('>HHHHH', flags, 0, 0, 0, 0)
            c.sendall(struct.pack('>H', len(r)) + r)
def put(name, value):
    tmp = os.path.join(d, name + '.tmp')
    with open(tmp, 'w') as f:
        f.write('%s\n' % value)
    os.rename(tmp, os.path.join(d, name))
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind((host, 0))
s.listen(64)
put('fake-%s.count' % mode, 0)
put('fake-%s.port' % mode, s.getsockname()[1])
held, n = [], 0
while True:
    c, _ = s.accept()
    n += 1
    put('fake-%s.count' % mode, n)
    if mode == 'silent':
        held.append(c)      # read nothing, answer nothing, keep it open
    else:
        threading.Thread(target=notzone if mode == 'notzone' else drop, args=(c,),
                         daemon=True).start()
EOF
    python3 "$LAB/fake_dns.py" "$mode" "$LAB_UPSTREAM" "$LAB" >>"$LAB/fake-$mode.log" 2>&1 &
    pid=$!
    lab_register_pid "fake-$mode" "$pid"
    lab_wait_until 10 test -s "$LAB/fake-$mode.port" || { lab_log "fake server $mode did not start"; return 1; }
    FAKE_PORT=$(<"$LAB/fake-$mode.port")
}
fake_count() { cat "$LAB/fake-$1.count" 2>/dev/null || echo 0; }

# Runs the agent on CONF (optionally under a wrapper), which must fail at
# startup: not ok unless it exits non-zero within 10 s with a message that
# matches REGEX (case-insensitive). Output in $LAB/NAME.log.
startup_fails() { # NAME DESCRIPTION REGEX CONF [wrapper...]
    local name=$1 desc=$2 re=$3 conf=$4 rc=0 log=$LAB/$1.log
    shift 4
    timeout 10 "$@" "$RV_AGENT" -c "$conf" >"$log" 2>&1 || rc=$?
    STARTUP_RC=$rc
    grep -avE '^$' "$log" | grep -aivE 'no snapshot|removed stale' | head -n 2 | sed "s/^/# $name: /" || true
    if ((rc != 0 && rc != 124)); then
        lab_ok "$desc: exits non-zero at once (rc=$rc)"
    else
        lab_not_ok "$desc: exits non-zero at once (rc=$rc)"
    fi
    lab_check "$desc: clear message" grep -Eqai -- "$re" "$log"
}

# ================================================================ A. named
lab_phase "A. named restarted / killed / reopened while frames flow"
lab_write_agent_conf log-level info
lab_start_agent
lab_check "agent up: a lookup becomes a PTR" lab_fresh_ptrs 1
frames_grew() { local f; f=$(lab_agent_stat frames) && ((${f:-0} > FRAMES_BEFORE)); }
loop_start
FRAMES_BEFORE=$(lab_agent_stat frames)
lab_check "lookups in the background: frames flow to the agent" lab_wait_until 10 frames_grew

# -- graceful restart
npid=$(<"$LAB/pids/resolver")
t0=$(lab_now_ms)
lab_stop_bind
stop_ms=$(($(lab_now_ms) - t0))
echo "# named stopped in $stop_ms ms while frames were flowing"
lab_check "named stops in < 3 s while frames flow (FINISH answered at once; $stop_ms ms)" \
    test "$stop_ms" -lt 3000
lab_check "named stopped: its STOP was answered with FINISH (agent log)" \
    lab_agent_log_has "fstrm: .* pid $npid .*STOP after [0-9]+ frames, FINISH sent" 5
lab_check "named stopped: the agent keeps running" agent_alive
lab_start_bind
lab_check "named restarted: lookups after the reconnection become PTRs" lab_fresh_ptrs 3

# -- SIGKILL
FRAMES_BEFORE=$(lab_agent_stat frames)
lab_check "frames flow again before the SIGKILL" lab_wait_until 10 frames_grew
npid=$(<"$LAB/pids/resolver")
kill -KILL "$npid"
wait "$npid" 2>/dev/null || true
rm -f "$LAB/pids/resolver"
lab_check "named SIGKILLed: the agent logs the connection closed without STOP" \
    lab_agent_log_has "fstrm: .* pid $npid .*(closed without STOP|read failed)" 10
lab_check "named SIGKILLed: the agent keeps running" agent_alive
lab_start_bind
lab_check "named restarted after SIGKILL: dnstap connected again" lab__dnstap_connected
lab_check "named restarted after SIGKILL: lookups after the reconnection become PTRs" lab_fresh_ptrs 3

# -- rndc dnstap -reopen x5
# Counted, not grepped: lines about single connections are rate-limited.
finish_count() { lab_agent_stat finished; }
finish_before=$(finish_count)
FRAMES_BEFORE=$(lab_agent_stat frames)
lab_check "frames flow before the reopens" lab_wait_until 10 frames_grew
reopen_fast() {
    local t0 ms
    t0=$(lab_now_ms)
    lab_rndc dnstap -reopen >/dev/null || return 1
    ms=$(($(lab_now_ms) - t0))
    echo "# rndc dnstap -reopen: $ms ms"
    ((ms < 1000))
}
for i in 1 2 3 4 5; do
    lab_check "rndc dnstap -reopen #$i returns in < 1 s while frames flow" reopen_fast
    lab__wait_dnstap 5000
done
finished_5() { (($(finish_count) - finish_before >= 5)); }
lab_check "each reopen's STOP was answered with FINISH (stats finished=)" lab_wait_until 5 finished_5
lab_check "after the reopens: lookups become PTRs" lab_fresh_ptrs 3
loop_stop
lab_check "phase A: the agent is still running" agent_alive
lab_stop_agent TERM
lab_check "phase A: the agent exits 0 on SIGTERM (status $LAB_AGENT_STATUS)" test "$LAB_AGENT_STATUS" = 0

# ================================================================ B. NOTAUTH, REFUSED
lab_phase "B. UPDATE answered NOTAUTH and REFUSED"
# Both agents write to the real named; their frames come from rv-loadgen.
aux_conf notauth rpz-zone wrong.zone
aux_conf refused key-file "$LAB/lab-other.key" key-name lab-other
aux_start notauth
aux_start refused
feed "$LAB/notauth.sock" 100000 50 "$LAB/notauth.expect"
feed "$LAB/refused.sock" 200000 50 "$LAB/refused.expect"
b_t0=$(lab_now_ms)
WRONG_RX=$(rx wrong.zone)
lab_check "NOTAUTH: logged with server, zone and rcode" \
    lab_wait_until 10 grep -Eqa "error rpz: UPDATE to $SERVER_RX zone $WRONG_RX .*NOTAUTH" "$LAB/notauth.log"
lab_check "REFUSED: logged with server, zone and rcode" \
    lab_wait_until 10 grep -Eqa "error rpz: UPDATE to $SERVER_RX zone $RPZ_RX .*REFUSED" "$LAB/refused.log"
grep -ah 'error rpz' "$LAB/notauth.log" "$LAB/refused.log" | head -n 2 | sed 's/^/# /'
# Watch the retries for 8 s (retry-min 1 s, retry-max 8 s: 4 attempts).
while (($(lab_now_ms) < b_t0 + 8000)); do sleep 0.2; done
for a in notauth refused; do
    rc=${a^^}
    errors=$(count_lines "$LAB/$a.log" "error rpz: UPDATE to .*$rc")
    repeats=$(count_lines "$LAB/$a.log" "debug rpz: UPDATE to .*$rc")
    echo "# $a: $errors error line(s), $repeats repeat(s) at debug"
    lab_check "$rc: logged once at error level ($errors), repeats at debug ($repeats)" \
        test "$errors" -eq 1 -a "$repeats" -ge 1
    lab_check "$rc: retried with backoff (retry-min 1 s, retry-max 8 s: <= 5 attempts in 8 s)" \
        backoff_ok "$LAB/$a.log" "rpz: UPDATE to .*$rc" 8 5
    n=$(aux_stat "$a" rcode)
    lab_check "$rc: counted (stats rcode=$n)" test "${n:-0}" -ge 2
    lab_check "$rc: agent keeps running" aux_alive "$a"
done
lab_check "named logged the NOTAUTH ('not authoritative for update zone')" \
    grep -qa 'wrong.zone: not authoritative for update zone' "$LAB/resolver/named.log"
lab_check "named logged the REFUSED (update denied)" \
    grep -Eqa "update '$RPZ_RX/IN' denied|lab-other.*(denied|REFUSED)" "$LAB/resolver/named.log"
aux_stop_all notauth refused
# Fixed configs, same snapshots: what was learned while refused is written.
aux_conf notauth
aux_conf refused
aux_start notauth
aux_start refused
lab_check "NOTAUTH fixed (right zone) + restart: the 50 addresses learned meanwhile reach the RPZ" \
    lab_wait_until "$PTR_TIMEOUT" zone_has "$LAB/notauth.expect" -1
lab_check "REFUSED fixed (right key) + restart: the 50 addresses learned meanwhile reach the RPZ" \
    lab_wait_until "$PTR_TIMEOUT" zone_has "$LAB/refused.expect" -1
aux_stop_all notauth refused

# ================================================================ C. named down for 30 s
lab_phase "C. named unreachable for ${OUTAGE_S} s while $OUTAGE_N changes pile up"
: >"$LAB_AGENT_LOG"
lab_write_agent_conf log-level debug retry-min 1s retry-max 8s
lab_start_agent
lab_check "startup reconcile done before the outage" lab_agent_log_has "reconcile: zone .* serial" 10
lab_check "agent up: a lookup becomes a PTR" lab_fresh_ptrs 1
APID=$(<"$LAB/pids/agent")
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
rss0=$(rss_kb "$APID")
lab_stop_bind
c_t0=$(lab_now_ms)
EXP=$LAB/outage.expect
learned0=$(lab_agent_stat learned)
feed "$LAB_SOCK" 0 "$OUTAGE_N" "$EXP"
learned1=$(lab_agent_stat learned)
lab_check "outage: rv-loadgen wrote $OUTAGE_N frames, the agent learned from all of them ($((learned1 - learned0)))" \
    test "$((learned1 - learned0))" = "$OUTAGE_N"
rss1=$(rss_kb "$APID")
# The same addresses twice more: changes coalesce per address.
feed "$LAB_SOCK" 0 "$OUTAGE_N" "$EXP"
feed "$LAB_SOCK" 0 "$OUTAGE_N" "$EXP"
fail_rx="rpz: UPDATE to $SERVER_RX zone $RPZ_RX failed"
fails_now=$(count_lines "$LAB_AGENT_LOG" "$fail_rx")
more_fails() { (($(count_lines "$LAB_AGENT_LOG" "$fail_rx") > fails_now)); }
lab_check "outage: the writer retries after the repeated feeds" lab_wait_until 15 more_fails
queued=$(grep -a "$fail_rx" "$LAB_AGENT_LOG" | tail -n 1 | sed -n 's/.*(\([0-9]*\) addresses kept queued.*/\1/p')
lab_check "outage: the queue holds each address once after 3 feeds of the same $OUTAGE_N ($queued queued)" \
    test "$queued" = "$OUTAGE_N"

# ---------------------------------------------------------------- C.5 timeout and reset (named still down)
lab_phase "C.5 UPDATE timeout (server never answers) and reset (server closes)"
fake_server silent
silent_port=$FAKE_PORT
fake_server close
close_port=$FAKE_PORT
fake_server reset
reset_port=$FAKE_PORT
fake_server notzone
notzone_port=$FAKE_PORT
# These servers cannot answer the start-up AXFR either; the writer's own
# failure handling is what is tested here, so it may write before that.
aux_conf tmo server "$LAB_UPSTREAM" port "$silent_port" update-timeout 1s write-before-reconcile yes
aux_conf cls server "$LAB_UPSTREAM" port "$close_port" write-before-reconcile yes
aux_conf rst server "$LAB_UPSTREAM" port "$reset_port" write-before-reconcile yes
aux_conf nz server "$LAB_UPSTREAM" port "$notzone_port" write-before-reconcile yes
# ...and by default, against the same silent server, nothing is written until
# the zone has been read.
aux_conf hold server "$LAB_UPSTREAM" port "$silent_port" update-timeout 1s
for a in tmo cls rst nz hold; do aux_start "$a"; done
tmo_conns0=$(fake_count silent)
cls_conns0=$(fake_count close)
rst_conns0=$(fake_count reset)
nz_conns0=$(fake_count notzone)
e_t0=$(lab_now_ms)
feed "$LAB/tmo.sock" 300000 100 "$LAB/tmo.expect"
feed "$LAB/cls.sock" 350000 100 "$LAB/cls.expect"
feed "$LAB/rst.sock" 400000 100 "$LAB/rst.expect"
feed "$LAB/nz.sock" 500000 100 "$LAB/nz.expect"
feed "$LAB/hold.sock" 600000 100 "$LAB/hold.expect"
lab_check "timeout: logged with server, zone and the timeout" \
    lab_wait_until 10 grep -Eqa "error rpz: UPDATE to $(rx "$LAB_UPSTREAM#$silent_port") zone $RPZ_RX timed out: no reply within 1000 ms" "$LAB/tmo.log"
lab_check "connection closed: logged with server and zone" \
    lab_wait_until 10 grep -Eqa "error rpz: UPDATE to $(rx "$LAB_UPSTREAM#$close_port") zone $RPZ_RX failed: connection closed by the server" "$LAB/cls.log"
lab_check "connection reset: logged with server and zone" \
    lab_wait_until 10 grep -Eqa "error rpz: UPDATE to $(rx "$LAB_UPSTREAM#$reset_port") zone $RPZ_RX failed: Connection reset by peer" "$LAB/rst.log"
lab_check "unsigned NOTZONE reply: rejected, logged with server, zone and rcode" \
    lab_wait_until 10 grep -Eqa "error rpz: UPDATE to $(rx "$LAB_UPSTREAM#$notzone_port") zone $RPZ_RX failed the TSIG check: NOTZONE, reply not signed" "$LAB/nz.log"
grep -ah 'error rpz' "$LAB/tmo.log" "$LAB/cls.log" "$LAB/rst.log" "$LAB/nz.log" | head -n 4 | sed 's/^/# /'
# Ingest goes on while UPDATEs time out: 100 more frames are read and counted.
f0=$(aux_stat tmo frames)
feed "$LAB/tmo.sock" 300100 100 "$LAB/tmo2.expect"
f1=$(aux_stat tmo frames)
lab_check "timeout: ingest goes on (frames $f0 -> $f1)" test "$((f1 - f0))" -eq 100
# Watch the retries for 10 s.
while (($(lab_now_ms) < e_t0 + 10000)); do sleep 0.2; done
for a in tmo cls rst nz; do
    case $a in
    tmo) what=timeout re="timed out" conns=$(($(fake_count silent) - tmo_conns0)) ;;
    cls) what="connection closed" re="failed: connection closed" conns=$(($(fake_count close) - cls_conns0)) ;;
    rst) what="connection reset" re="failed: Connection reset" conns=$(($(fake_count reset) - rst_conns0)) ;;
    nz) what="unsigned NOTZONE" re="NOTZONE, reply not signed" conns=$(($(fake_count notzone) - nz_conns0)) ;;
    esac
    errors=$(count_lines "$LAB/$a.log" "error rpz: UPDATE to .*$re")
    repeats=$(count_lines "$LAB/$a.log" "debug rpz: UPDATE to .*$re")
    echo "# $what: $conns connections so far; $errors error line(s), $repeats repeat(s) at debug"
    lab_check "$what: logged once at error level ($errors), repeats at debug ($repeats)" \
        test "$errors" -eq 1 -a "$repeats" -ge 1
    lab_check "$what: retried with backoff (<= 5 attempts in 10 s)" \
        backoff_ok "$LAB/$a.log" "rpz: UPDATE to .*$re" 10 5
    lab_check "$what: no reconnect loop ($conns connections, <= 10)" test "$conns" -le 10
    lab_check "$what: agent keeps running" aux_alive "$a"
done
n=$(aux_stat tmo timeout)
lab_check "timeout: counted (stats timeout=$n)" test "${n:-0}" -ge 2
n=$(aux_stat cls conn)
lab_check "connection closed: counted (stats conn=$n)" test "${n:-0}" -ge 2
n=$(aux_stat rst conn)
lab_check "connection reset: counted (stats conn=$n)" test "${n:-0}" -ge 2
aux_stop tmo
lab_check "timeout: SIGTERM with UPDATEs pending exits 0 after shutdown-timeout 1 s ($AUX_STOP_MS ms, status $AUX_STATUS)" \
    test "$AUX_STATUS" = 0 -a "$AUX_STOP_MS" -lt 5000
n=$(aux_stat nz tsig)
lab_check "unsigned NOTZONE reply: counted (stats tsig=$n), nothing committed" \
    test "${n:-0}" -ge 2 -a "$(aux_stat nz ok)" = 0
lab_check "zone not read yet: the writer waits for the start-up reconcile (logged)" \
    grep -qa "updates wait for the zone's contents" "$LAB/hold.log"
n=$(aux_stat hold sent)
lab_check "zone not read yet: no UPDATE sent in 10 s (sent=$n), 100 addresses learned ($(aux_stat hold learned))" \
    test "${n:-1}" = 0 -a "$(aux_stat hold learned)" = 100
aux_stop_all cls rst nz hold
for m in silent close reset notzone; do
    lab__stop_pid "fake-$m" "$(cat "$LAB/pids/fake-$m")" 5
    rm -f "$LAB/pids/fake-$m"
done

# ---------------------------------------------------------------- C.7 startup errors (named still down)
lab_phase "C.7 startup errors"
sock_id=$(lab__sock_id)
aux_conf inuse dnstap-socket "$LAB_SOCK"
startup_fails inuse "socket path in use by a live agent" "$(rx "$LAB_SOCK") is in use" "$LAB/inuse.conf"
lab_check "socket path in use: the live agent's socket is untouched" test "$(lab__sock_id)" = "$sock_id"
lab_check "socket path in use: the live agent keeps running" agent_alive
aux_conf nodir dnstap-socket "$LAB/no-such-dir/x.sock"
startup_fails nodir "socket directory missing" \
    "$(rx "$LAB/no-such-dir/x.sock").*(no such file|does the directory exist)" "$LAB/nodir.conf"
NOCAP=()
if command -v setpriv >/dev/null 2>&1; then
    # As root, modes only stop a process without CAP_DAC_OVERRIDE.
    NOCAP=(setpriv --bounding-set "-dac_override,-dac_read_search")
    mkdir -p "$LAB/ro-dir"
    chmod 0555 "$LAB/ro-dir"
    aux_conf rodir dnstap-socket "$LAB/ro-dir/x.sock"
    startup_fails rodir "socket directory not writable (no DAC override)" \
        "$(rx "$LAB/ro-dir/x.sock").*(permission denied|writable)" "$LAB/rodir.conf" "${NOCAP[@]}"
    aux_conf snapdir snapshot-file "$LAB/ro-dir/state.snap"
    startup_fails snapdir "snapshot directory not writable (no DAC override)" \
        "snapshot-file $(rx "$LAB/ro-dir/state.snap").*not writable" "$LAB/snapdir.conf" "${NOCAP[@]}"
    lab_check "snapshot directory not writable: its socket is removed again" test ! -e "$LAB/snapdir.sock"
    aux_conf unreadable
    chmod 000 "$LAB/unreadable.conf"
    startup_fails unreadable "config file unreadable (mode 000, no DAC override)" \
        "$(rx "$LAB/unreadable.conf").*permission denied" "$LAB/unreadable.conf" "${NOCAP[@]}"
    lab_check "config file unreadable: exit status 1 ($STARTUP_RC)" test "$STARTUP_RC" = 1
else
    lab_not_ok "setpriv not found: unwritable directory / unreadable config not tested"
fi
{ cat "$LAB/inuse.conf"; echo "batch-size banana"; } >"$LAB/malformed.conf"
mline=$(wc -l <"$LAB/malformed.conf")
startup_fails malformed "config file malformed" "$(rx "$LAB/malformed.conf"):$mline:" "$LAB/malformed.conf"
lab_check "config file malformed: exit status 1 ($STARTUP_RC)" test "$STARTUP_RC" = 1

# ---------------------------------------------------------------- C. checks at the end of the outage
lab_phase "C. end of the outage"
while (($(lab_now_ms) < c_t0 + OUTAGE_S * 1000)); do sleep 0.2; done
down_ms=$(($(lab_now_ms) - c_t0))
lab_check "outage: the agent stayed up for $((down_ms / 1000)) s without named" agent_alive
rss2=$(rss_kb "$APID")
echo "# VmRSS: ${rss0} kB before, ${rss1} kB after $OUTAGE_N addresses, ${rss2} kB after 3 feeds and ${OUTAGE_S} s"
lab_check "outage: memory bounded (VmRSS $((rss2 / 1024)) MB < $RSS_LIMIT_MB MB)" \
    test "$rss2" -lt $((RSS_LIMIT_MB * 1024))
lab_check "outage: no growth while the queue waits ($(((rss2 - rss1) / 1024)) MB since the first feed, < 8 MB)" \
    test "$((rss2 - rss1))" -lt 8192
errors=$(count_lines "$LAB_AGENT_LOG" "error $fail_rx")
attempts=$(count_lines "$LAB_AGENT_LOG" "$fail_rx")
grep -a "error $fail_rx" "$LAB_AGENT_LOG" | head -n 1 | sed 's/^/# /'
lab_check "outage: ONE error line naming server and zone ($errors), not one per retry" test "$errors" -eq 1
failed=$(lab_agent_stat failed)
echo "# outage: $attempts failed attempts logged, stats failed=$failed, in $((down_ms / 1000)) s"
# (a retry may fall between counting the lines and the stats line)
lab_check "outage: every failed attempt counted (stats failed=$failed, log $attempts)" \
    test "$failed" -ge "$attempts" -a "$failed" -le "$((attempts + 1))"
lab_check "outage: retries back off (retry 1-8 s: <= 10 attempts in 30 s)" \
    backoff_ok "$LAB_AGENT_LOG" "$fail_rx" 30 10
ok0=$(lab_agent_stat ok)
t_up=$(lab_now_ms)
lab_start_bind
recovered() { grep -qa "accepting updates again after" "$LAB_AGENT_LOG"; }
lab_check "named back: recovery logged" lab_wait_until 15 recovered
drained() { zone_has "$EXP" -1 >/dev/null; }
if lab_wait_until 60 drained; then
    lab_ok "named back: every one of the $OUTAGE_N addresses is in the RPZ with its name ($((($(lab_now_ms) - t_up) / 1000)) s)"
else
    lab_not_ok "named back: every one of the $OUTAGE_N addresses is in the RPZ with its name"
fi
zone_has "$EXP" -1 || true
ok1=$(lab_agent_stat ok)
lab_check "named back: the backlog drained in batches ($((ok1 - ok0)) UPDATEs for $OUTAGE_N addresses, < 200)" \
    test "$((ok1 - ok0))" -lt 200
rec=$(count_lines "$LAB_AGENT_LOG" "accepting updates again after")
grep -a "accepting updates again after" "$LAB_AGENT_LOG" | head -n 1 | sed 's/^/# /'
lab_check "named back: recovery logged once ($rec)" test "$rec" -eq 1
sample_ok() {
    local line a n
    for line in 1 2 $((OUTAGE_N / 2)) $((OUTAGE_N - 1)) "$OUTAGE_N"; do
        IFS=$'\t' read -r a n < <(sed -n "${line}p" "$EXP")
        lab_wait_ptr "$a" "$n" "$PTR_TIMEOUT" || return 1
    done
}
lab_check "named back: sample addresses answered by the xray view (dig -x)" sample_ok
lab_check "named back: lookups become PTRs again" lab_fresh_ptrs 1
lab_stop_agent TERM
lab_check "phase C: the agent exits 0 on SIGTERM (status $LAB_AGENT_STATUS)" test "$LAB_AGENT_STATUS" = 0

# ================================================================ D. SIGTERM during load
lab_phase "D. SIGTERM while frames are being written"
aux_conf load log-level info shutdown-timeout 5s
aux_start load
# 4,000 frames/s for up to 10 s; SIGTERM after at least 6,000 were read.
"$LOADGEN" --seed 5 --sequential --count 40000 --names 40000 --addresses 40000 \
    --nxdomain 0 --nodata 0 --other 0 --addr-offset 600000 --rate 4000 --time-base now \
    --expect-out "$LAB/load.expect" --unix "$LAB/load.sock" --timeout 60 >>"$LAB/loadgen.out" 2>&1 &
gen_pid=$!
lab_register_pid loadgen "$gen_pid"
enough() { local f; f=$(aux_stat load frames) && ((${f:-0} >= 6000)); }
lab_check "load: frames are flowing (>= 6000 read)" lab_wait_until 20 enough
gen_alive=0
lab__alive "$gen_pid" && gen_alive=1
aux_stop load
lab_check "load: SIGTERM -> exit status 0 ($AUX_STATUS)" test "$AUX_STATUS" = 0
lab_check "load: exited within shutdown-timeout 5 s ($AUX_STOP_MS ms)" test "$AUX_STOP_MS" -lt 6000
lab__stop_pid loadgen "$gen_pid" 5
rm -f "$LAB/pids/loadgen"
learned=$(grep -a 'stats: exit:' "$LAB/load.log" | tail -n 1 | grep -oE ' learned=[0-9]+' | cut -d= -f2)
echo "# load: the agent learned ${learned:-?} of 40000 frames before SIGTERM (generator writing at SIGTERM: $gen_alive)"
lab_check "load: SIGTERM came while the generator was still writing (learned $learned < 40000)" \
    test "$gen_alive" = 1 -a "${learned:-0}" -gt 0 -a "${learned:-40000}" -lt 40000
lab_check "load: pending changes flushed, no shutdown timeout" \
    test "$(count_lines "$LAB/load.log" 'shutdown timeout')" -eq 0
lab_check "load: every address learned before SIGTERM ($learned) is in the RPZ" \
    zone_has "$LAB/load.expect" "${learned:-0}"
lab_check "load: snapshot saved at exit" grep -Eqa "saved [0-9]+ addresses to $(rx "$LAB/load.snap")" "$LAB/load.log"

# ================================================================ E. rate cap
lab_phase "E. max-update-rate 100: writes are paced, nothing is lost"
aux_conf cap log-level info max-update-rate 100 batch-size 8000
aux_start cap
t0=$(lab_now_ms)
feed "$LAB/cap.sock" 700000 300 "$LAB/cap.expect"
cap_all_in() { zone_has "$LAB/cap.expect" -1 >/dev/null; }
lab_check "rate cap: all 300 addresses reach the zone" lab_wait_until 30 cap_all_in
cap_ms=$(($(lab_now_ms) - t0))
cap_sent=$(aux_stat cap sent)
zone_has "$LAB/cap.expect" -1 || true
echo "# rate cap: 300 addresses in ${cap_sent:-?} UPDATEs, all in the zone after $cap_ms ms"
# ~70 addresses fit in 8000 bytes: the first UPDATE goes at once, the other
# ~230 addresses no faster than 100/s; uncapped, the lab takes well under 1 s.
lab_check "rate cap: 300 addresses at 100/s took >= 2 s ($cap_ms ms)" test "$cap_ms" -ge 2000
lab_check "rate cap: in several UPDATEs (${cap_sent:-?})" test "${cap_sent:-0}" -ge 3
aux_stop cap
lab_check "rate cap: SIGTERM -> exit status 0 ($AUX_STATUS)" test "$AUX_STATUS" = 0

lab_check "no sanitizer reports in the agents' output" lab_no_sanitizer_reports

LAB_SUMMARIZED=1 # the EXIT trap prints the summary last

#!/usr/bin/env bash
# Integration: faults the agent must survive or report clearly, against a
# real named on loopback.
#   - TSIG key with the right name but a wrong secret: keeps running, logs
#     NOTAUTH/TSIG error naming the zone; fixed config + restart -> PTRs.
#   - garbage writers on the dnstap socket are dropped; lookups keep working.
#   - `rndc dnstap -reopen` returns in < 1 s while the agent runs.
#   - --check-config on a broken config: exit 1, "file:line:" errors.
#   - unreadable / missing / malformed / world-readable / group-writable key file: non-zero exit,
#     clear message.
#   - started as root with `user nobody`: runs as nobody after binding, still works.
#   - hmac-sha384 and hmac-sha512 keys: named accepts the agent's UPDATEs, the
#     agent verifies named's AXFR.
# Run by meson (suite "integration") with RV_AGENT and RV_SRCDIR; needs root.
set -euo pipefail

srcdir=${RV_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=scripts/lab.sh
. "$srcdir/scripts/lab.sh"

lab_test_begin

PTR_TIMEOUT=20

lab_init
lab_start_upstream
lab_start_bind

# Look up a never-seen name through the client view; sets FRESH_ADDR/NAME.
fresh_lookup() {
    lab_fresh
    FRESH_NAME=g$LAB_FRESH.example.test
    FRESH_ADDR=198.51.100.$LAB_FRESH
    lab_lookup "$FRESH_NAME" A >/dev/null
}

agent_alive() { lab__alive "$(cat "$LAB/pids/agent" 2>/dev/null)"; }

# ---------------------------------------------------------------- 1. wrong TSIG secret
lab_phase "wrong TSIG secret"
tsig-keygen -a hmac-sha256 "$LAB_KEY_NAME" >"$LAB/wrong.key"
chmod 0640 "$LAB/wrong.key"
lab_write_agent_conf key-file "$LAB/wrong.key"
: >"$LAB_AGENT_LOG"
lab_start_agent
fresh_lookup
wrong_addr=$FRESH_ADDR wrong_name=$FRESH_NAME
lab_check "wrong secret: agent logs NOTAUTH/TSIG error naming the zone" \
    lab_agent_log_has "(NOTAUTH|BADSIG|BADKEY|tsig).*${LAB_RPZ//./\\.}|${LAB_RPZ//./\\.}.*(NOTAUTH|BADSIG|BADKEY|tsig)" "$PTR_TIMEOUT"
grep -Ei 'NOTAUTH|BADSIG|tsig' "$LAB_AGENT_LOG" | head -n 3 | sed 's/^/# agent: /' || true
lab_check "wrong secret: the agent keeps running" agent_alive
lab_check "wrong secret: nothing reached the RPZ ($wrong_addr is NXDOMAIN)" \
    test -z "$(lab_xray_ptr "$wrong_addr")"
lab_check "wrong secret: named logged the TSIG failure" \
    grep -Eqi 'tsig|signature' "$LAB/resolver/named.log"
lab_stop_agent TERM
lab_write_agent_conf
lab_start_agent
lab_lookup "$wrong_name" A >/dev/null
lab_check "fixed key + restart: $wrong_name -> PTR arrives" \
    lab_wait_ptr "$wrong_addr" "$wrong_name" "$PTR_TIMEOUT"
fresh_lookup
lab_check "fixed key + restart: new lookup $FRESH_NAME -> PTR" \
    lab_wait_ptr "$FRESH_ADDR" "$FRESH_NAME" "$PTR_TIMEOUT"

# ---------------------------------------------------------------- 2. garbage writers
lab_phase "garbage writers"
# Each writer connects to the agent's socket, sends its bytes and reports
# whether the agent closed the connection within 5 s ("closed") or not.
garbage_writer() { # KIND
    python3 - "$LAB_SOCK" "$1" <<'EOF'
import os, socket, struct, sys, time
path, kind = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(path)
ct = b"protobuf:dnstap.Dnstap"
def control(ftype, fields=b""):
    body = struct.pack(">I", ftype) + fields
    return struct.pack(">II", 0, len(body)) + body
if kind == "random":
    payload = os.urandom(5000)
elif kind == "huge-frame":
    # A proper READY/START handshake, then a data frame claiming ~2 GiB.
    payload = control(4, struct.pack(">II", 1, len(ct)) + ct)
    payload += control(2, struct.pack(">II", 1, len(ct)) + ct)
    payload += struct.pack(">I", 0x7FFFFFF0) + os.urandom(64)
elif kind == "bad-protobuf":
    # Valid framing, undecodable dnstap payloads: must be counted and
    # skipped; the connection may stay up. Ends with STOP (expects FINISH).
    payload = control(4, struct.pack(">II", 1, len(ct)) + ct)
    payload += control(2, struct.pack(">II", 1, len(ct)) + ct)
    for _ in range(50):
        junk = os.urandom(100)
        payload += struct.pack(">I", len(junk)) + junk
    payload += control(3)
FINISH = struct.pack(">III", 0, 4, 5)
got = b""
def report(state):
    print(state + (" finish" if FINISH in got else ""))
    sys.exit(0)
try:
    s.sendall(payload)
except (BrokenPipeError, ConnectionResetError):
    report("closed")
s.settimeout(5)
deadline = time.time() + 5
try:
    while time.time() < deadline:
        data = s.recv(4096)
        if not data:
            report("closed")
        got += data
except (ConnectionResetError, BrokenPipeError):
    report("closed")
except socket.timeout:
    pass
report("open")
EOF
}

if command -v python3 >/dev/null 2>&1; then
    for kind in random huge-frame; do
        res=$(garbage_writer "$kind" 2>&1 || true)
        lab_check "garbage writer ($kind): connection dropped by the agent ($res)" test "$res" = closed
        lab_check "garbage writer ($kind): agent still running" agent_alive
    done
    # Undecodable payloads in valid framing are skipped, and the STOP that
    # follows them is answered with FINISH (named waits for it).
    res=$(garbage_writer bad-protobuf 2>&1 || true)
    lab_check "writer with undecodable dnstap payloads + STOP: FINISH and close ($res)" \
        test "$res" = "closed finish"
    lab_check "writer with undecodable dnstap payloads: agent still running" agent_alive
    fresh_lookup
    lab_check "after garbage writers: lookup $FRESH_NAME still becomes a PTR" \
        lab_wait_ptr "$FRESH_ADDR" "$FRESH_NAME" "$PTR_TIMEOUT"
else
    lab_not_ok "garbage writers: python3 not found (needed to write raw bytes to a unix socket)"
fi

# ---------------------------------------------------------------- 3. rndc dnstap -reopen
lab_phase "rndc dnstap -reopen"
reopen_fast() {
    local t0 ms
    t0=$(lab_now_ms)
    lab_rndc dnstap -reopen >/dev/null || return 1
    ms=$(($(lab_now_ms) - t0))
    echo "# rndc dnstap -reopen: $ms ms"
    ((ms < 1000))
}
for i in 1 2 3; do
    lab_check "rndc dnstap -reopen #$i returns in < 1 s with the agent running" reopen_fast
done
lab__wait_dnstap 5000
fresh_lookup
lab_check "after reopen: lookup $FRESH_NAME still becomes a PTR" \
    lab_wait_ptr "$FRESH_ADDR" "$FRESH_NAME" "$PTR_TIMEOUT"

# ---------------------------------------------------------------- 4. --check-config
lab_phase "--check-config"
out=$("$RV_AGENT" --check-config -c "$LAB_AGENT_CONF" 2>&1) && rc=0 || rc=$?
lab_check "--check-config on the lab config exits 0 (rc=$rc)" test "$rc" = 0
broken=$LAB/broken.conf
cat >"$broken" <<EOF
# a broken config: line 3 is an unknown option, line 4 a bad value
rpz-zone $LAB_RPZ
no-such-option 1
batch-size banana
EOF
out=$("$RV_AGENT" --check-config -c "$broken" 2>&1) && rc=0 || rc=$?
printf '%s\n' "$out" | head -n 3 | sed 's/^/# check-config: /'
lab_check "--check-config on a broken config exits 1 (rc=$rc)" test "$rc" = 1
lab_check "--check-config reports '$broken:3:'" grep -qF "$broken:3:" <<<"$out"
lab_check "--check-config reports '$broken:4:'" grep -qF "$broken:4:" <<<"$out"

# ---------------------------------------------------------------- 5. bad key files
lab_phase "bad key files"
lab_stop_agent TERM
# Run the agent on a config whose key file is bad; it must exit non-zero
# within 10 s and name the key file in its message.
bad_key_run() { # DESCRIPTION KEYFILE [wrapper...]
    local desc=$1 key=$2
    shift 2
    local conf=$LAB/badkey.conf log=$LAB/badkey.log rc
    lab_write_agent_conf key-file "$key"
    cp "$LAB_AGENT_CONF" "$conf"
    rc=0
    timeout 10 "$@" "$RV_AGENT" -c "$conf" >"$log" 2>&1 || rc=$?
    head -n 2 "$log" | sed "s/^/# $desc: /"
    if ((rc == 0 || rc == 124)); then
        lab_not_ok "$desc: agent exits non-zero at once (rc=$rc)"
    else
        lab_ok "$desc: agent exits non-zero at once (rc=$rc)"
    fi
    lab_check "$desc: message names the key file" grep -qF "$key" "$log"
    rc=0
    "$@" "$RV_AGENT" --check-config -c "$conf" >"$log" 2>&1 || rc=$?
    lab_check "$desc: --check-config exits 1 (rc=$rc)" test "$rc" = 1
}
cp "$LAB/rearview.key" "$LAB/unreadable.key"
chmod 000 "$LAB/unreadable.key"
# As root, mode 000 only stops a process without CAP_DAC_OVERRIDE.
if command -v setpriv >/dev/null 2>&1; then
    bad_key_run "unreadable key file (mode 000, no DAC override)" "$LAB/unreadable.key" \
        setpriv --bounding-set -dac_override,-dac_read_search
else
    lab_skip_check "unreadable key file (mode 000, no DAC override)" \
        "setpriv not found (Debian: apt-get install util-linux)"
fi
bad_key_run "missing key file" "$LAB/does-not-exist.key"
printf 'this is not a key file\n' >"$LAB/garbage.key"
bad_key_run "malformed key file" "$LAB/garbage.key"
# A key any local user can read lets them rewrite what analysts see: refused.
cp "$LAB/rearview.key" "$LAB/world-readable.key"
chmod 0644 "$LAB/world-readable.key"
bad_key_run "world-readable key file" "$LAB/world-readable.key"
lab_check "world-readable key file: message says how to fix it" \
    grep -q "chmod o-rwx" "$LAB/badkey.log"
cp "$LAB/rearview.key" "$LAB/group-writable.key"
chmod 0660 "$LAB/group-writable.key"
bad_key_run "group-writable key file" "$LAB/group-writable.key"
lab_check "group-writable key file: message says how to fix it" \
    grep -q "writable by its group.*chmod g-w" "$LAB/badkey.log"
lab_write_agent_conf

# ---------------------------------------------------------------- 6. privilege drop
lab_phase "privilege drop"
# Started as root, the agent binds its socket, then runs as the configured user.
lab_write_agent_conf user nobody snapshot-file '""'
lab_start_agent
agent_uid=$(awk '/^Uid:/ {print $2}' "/proc/$(cat "$LAB/pids/agent")/status")
lab_check "user nobody: agent runs as uid $(id -u nobody) once the socket is bound (uid=$agent_uid)" \
    test "$agent_uid" = "$(id -u nobody)"
lab_check "user nobody: the log says so" lab_agent_log_has "running as user nobody" 5
fresh_lookup
lab_check "user nobody: lookup $FRESH_NAME still becomes a PTR" \
    lab_wait_ptr "$FRESH_ADDR" "$FRESH_NAME" "$PTR_TIMEOUT"
lab_stop_agent TERM
lab_check "user nobody: exits 0 on SIGTERM (status $LAB_AGENT_STATUS)" test "$LAB_AGENT_STATUS" = 0
lab_write_agent_conf

# ---------------------------------------------------------------- 7. TSIG algorithms
lab_phase "TSIG algorithms"
# The agent signs UPDATEs and the AXFR query and verifies named's replies
# itself (tsig.c): named must accept keys of the longer HMACs too.
for alg in hmac-sha384 hmac-sha512; do
    lab_new_key "$alg"
    lab_stop_bind
    lab_start_bind
    : >"$LAB_AGENT_LOG"
    lab_start_agent
    lab_check "$alg key: the startup AXFR verifies" \
        lab_agent_log_has "reconcile: zone .* serial" 10
    fresh_lookup
    lab_check "$alg key: UPDATE accepted, $FRESH_NAME -> PTR" \
        lab_wait_ptr "$FRESH_ADDR" "$FRESH_NAME" "$PTR_TIMEOUT"
    lab_check "$alg key: no TSIG failure logged" \
        bash -c "! grep -Eqi 'TSIG|NOTAUTH' '$LAB_AGENT_LOG'"
    lab_stop_agent TERM
done

lab_check "no sanitizer reports in the agent's output" lab_no_sanitizer_reports

LAB_SUMMARIZED=1 # the EXIT trap prints the summary last

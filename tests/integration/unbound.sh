#!/usr/bin/env bash
# Integration: Unbound (Debian 12: 1.17) as a dnstap source, really run.
#   lookups through an Unbound on loopback (forwarding to the lab's upstream
#   named) -> Unbound's dnstap CLIENT_RESPONSE -> rearview-agent -> TSIG
#   UPDATE to the lab's named -> xray PTRs. Three runs: Unbound writing to
#   the agent's unix socket, over TCP (dnstap-ip, dnstap-tls: no), and over
#   TLS with a client certificate (dnstap-tls: yes). Each run's identity
#   (dnstap-identity) is logged by the agent at connect.
# Run by meson (suite "integration") with RV_AGENT and RV_SRCDIR; needs root.
set -euo pipefail

srcdir=${RV_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=scripts/lab.sh
. "$srcdir/scripts/lab.sh"

lab_need_tools unbound unbound-checkconf openssl
lab_test_begin

PTR_TIMEOUT=20

lab_init
lab_start_upstream
lab_start_bind # the xray view the agent writes to (its own dnstap goes to the agent too)

UB_PORT=$((LAB_PORT + 7))
TCP_PORT=$((LAB_PORT + 5))
TLS_PORT=$((LAB_PORT + 6))
pki=$LAB/pki
mkdir -p "$pki"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=lab-ca \
    -keyout "$pki/ca.key" -out "$pki/ca.pem" 2>/dev/null
for n in central unbound; do
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$n" \
        -keyout "$pki/$n.key" -out "$pki/$n.csr" 2>/dev/null
    printf 'subjectAltName=DNS:%s\n' "$n" >"$pki/$n.ext"
    openssl x509 -req -in "$pki/$n.csr" -CA "$pki/ca.pem" -CAkey "$pki/ca.key" -CAcreateserial \
        -days 2 -extfile "$pki/$n.ext" -out "$pki/$n.pem" 2>/dev/null
done

lab_write_agent_conf \
    dnstap-listen "\"unix:$LAB_SOCK tcp:$LAB_CLIENT:$TCP_PORT tls:$LAB_CLIENT:$TLS_PORT\"" \
    dnstap-allow "$LAB_CLIENT/32" \
    dnstap-tls-cert "$pki/central.pem" dnstap-tls-key "$pki/central.key" \
    dnstap-tls-client-ca "$pki/ca.pem"
lab_start_agent

ub_dir=$LAB/unbound
mkdir -p "$ub_dir"
ub_pid=
# write_unbound IDENTITY DNSTAP-LINES...
write_unbound() {
    local id=$1
    shift
    {
        cat <<CONF
server:
    interface: $LAB_CLIENT@$UB_PORT
    do-ip6: no
    access-control: 127.0.0.0/8 allow
    do-not-query-localhost: no
    username: ""
    chroot: ""
    directory: "$ub_dir"
    pidfile: "$ub_dir/unbound.pid"
    logfile: "$ub_dir/unbound.log"
    use-syslog: no
    verbosity: 1
    module-config: "iterator"
    # test. is one of Unbound's default local zones (RFC 6761: always NXDOMAIN).
    local-zone: "test." nodefault
    num-threads: 1
forward-zone:
    name: "."
    forward-addr: $LAB_UPSTREAM@$LAB_PORT
remote-control:
    control-enable: no
dnstap:
    dnstap-enable: yes
    dnstap-send-identity: yes
    dnstap-identity: "$id"
    dnstap-log-client-response-messages: yes
CONF
        printf '    %s\n' "$@"
    } >"$ub_dir/unbound.conf"
    unbound-checkconf "$ub_dir/unbound.conf" >/dev/null
}
ub_answers() {
    [[ -n $(dig @"$LAB_CLIENT" -p "$UB_PORT" +time=1 +tries=1 +short SOA example.test) ]]
}
start_unbound() {
    unbound -d -c "$ub_dir/unbound.conf" >>"$ub_dir/unbound.stderr" 2>&1 &
    ub_pid=$!
    lab_register_pid unbound "$ub_pid"
    lab_wait_until 15 ub_answers || lab_die "unbound does not answer on $LAB_CLIENT#$UB_PORT"
}
stop_unbound() {
    lab__stop_pid unbound "$ub_pid" 15
    rm -f "$LAB/pids/unbound"
}
# N fresh lookups through Unbound; each must become its PTR.
ub_fresh_ptrs() {
    local i addrs=() names=()
    for ((i = 0; i < $1; i++)); do
        lab_fresh
        names+=("g$LAB_FRESH.example.test")
        addrs+=("198.51.100.$LAB_FRESH")
        dig @"$LAB_CLIENT" -p "$UB_PORT" +time=2 +tries=2 +short "${names[i]}" A >/dev/null
    done
    for ((i = 0; i < $1; i++)); do
        lab_wait_ptr "${addrs[i]}" "${names[i]}" "$PTR_TIMEOUT" || return 1
    done
}
# Unbound connects its dnstap output in the background: wait for the agent
# to log its identity (after its first frame), priming with one lookup a
# second until then.
ub_identified() { # IDENTITY
    local deadline=$(($(lab_now_ms) + 20000))
    while (($(lab_now_ms) < deadline)); do
        grep -q "source identity '$1'" "$LAB_AGENT_LOG" && return 0
        dig @"$LAB_CLIENT" -p "$UB_PORT" +time=1 +tries=1 +short www.example.test A >/dev/null || true
        sleep 1
    done
    return 1
}

lab_phase "Unbound -> unix socket"
write_unbound unbound-unix "dnstap-socket-path: \"$LAB_SOCK\""
start_unbound
lab_check "agent logged the identity unbound-unix" ub_identified unbound-unix
lab_check "3 lookups through Unbound become PTRs (unix)" ub_fresh_ptrs 3
stop_unbound

lab_phase "Unbound -> TCP (dnstap-ip, dnstap-tls: no)"
write_unbound unbound-tcp "dnstap-ip: \"$LAB_CLIENT@$TCP_PORT\"" "dnstap-tls: no"
start_unbound
lab_check "agent logged the identity unbound-tcp on a tcp peer" ub_identified unbound-tcp
lab_check "the tcp peer is named in the log" \
    lab_agent_log_has "tcp $LAB_CLIENT:[0-9]+ fd [0-9]+: source identity 'unbound-tcp'" 2
lab_check "3 lookups through Unbound become PTRs (TCP)" ub_fresh_ptrs 3
stop_unbound

lab_phase "Unbound -> TLS with a client certificate"
write_unbound unbound-tls "dnstap-ip: \"$LAB_CLIENT@$TLS_PORT\"" "dnstap-tls: yes" \
    "dnstap-tls-server-name: \"central\"" "dnstap-tls-cert-bundle: \"$pki/ca.pem\"" \
    "dnstap-tls-client-key-file: \"$pki/unbound.key\"" \
    "dnstap-tls-client-cert-file: \"$pki/unbound.pem\""
start_unbound
lab_check "agent logged the identity unbound-tls" ub_identified unbound-tls
lab_check "TLS peer verified as a writer" \
    lab_agent_log_has "tls $LAB_CLIENT:[0-9]+ fd [0-9]+ cn unbound \\(writer\\): source identity 'unbound-tls'" 2
lab_check "3 lookups through Unbound become PTRs (TLS)" ub_fresh_ptrs 3
stop_unbound
by_source() { # SOURCE: its observation count on /metrics is > 0
    local m
    m=$(curl -fsS "http://$LAB_HTTP/metrics") || return 1
    grep -Eq "^rearview_observations_by_source_total\\{source=\"$1\"\\} [1-9]" <<<"$m"
}
for id in unbound-unix unbound-tcp unbound-tls; do
    lab_check "/metrics counts observations of source $id" by_source "$id"
done
lab_check "no dnstap connection failed or was dropped" \
    test "$(lab_agent_stat dropped)" = 0

lab_stop_agent TERM
lab_check "agent exited 0 (status $LAB_AGENT_STATUS)" test "$LAB_AGENT_STATUS" = 0
lab_check "no sanitizer reports in the logs" lab_no_sanitizer_reports

LAB_SUMMARIZED=1

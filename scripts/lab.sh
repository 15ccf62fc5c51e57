# shellcheck shell=bash
# Globals (LAB_*) are this library's interface to its callers:
# shellcheck disable=SC2034
# scripts/lab.sh — a private BIND + rearview-agent lab on loopback.
#
# Sourced by scripts/demo.sh and tests/integration/*.sh (never executed). Safe
# under `set -euo pipefail`: every function returns 0 or fails loudly.
#
#   lab_init                 temp dir, own 127.X.Y.0 block, port, TSIG keys
#   lab_start_upstream       authoritative named on 127.X.Y.3 (test zones)
#   lab_start_bind           the resolver under test, from the SHIPPED
#                            bind-conf fragments (scripts/render-bind-conf.sh):
#                            client view 127.X.Y.1, xray view 127.X.Y.2,
#                            statistics channel 127.X.Y.1:$LAB_STATS_PORT
#   lab_stop_bind            stop the resolver (for restart tests)
#   lab_write_agent_conf [KEY VALUE]...   $LAB/agent.conf, with overrides
#                            (HTTP on $LAB_CLIENT:8053 = LAB_HTTP; no history)
#   lab_start_agent / lab_stop_agent [SIG]  (exit status in LAB_AGENT_STATUS;
#                            LAB_AGENT_ARGV, an array, replaces the command
#                            line "$LAB_AGENT -c $LAB_AGENT_CONF")
#   lab_lookup NAME [TYPE]   dig through the client view, addresses on stdout
#   lab_xray_ptr ADDR        dig -x through the xray view, answer on stdout
#   lab_wait_ptr ADDR NAME TIMEOUT_S   poll until the xray view answers NAME
#   lab_axfr [dig options]   AXFR of the RPZ from the xray view
#   lab_rndc ARGS...         rndc against the resolver
#   lab_add_key NAME         an extra TSIG key named knows (no rights granted)
#   lab_new_key ALG          a new agent key with another TSIG algorithm
#                            (restart named and the agent to use it)
#   lab_agent_stat KEY [PID LOG]  one counter of the agent's SIGUSR1 stats line
#   lab_register_pid NAME PID  have lab_stop stop another process we started
#   lab_stop [STATUS]        stop everything by PID, remove the addresses,
#                            print the logs if STATUS != 0
#   lab_stop_dir DIR         same, for a lab left running (demo --keep)
#
# Optional extra configuration (unset or empty: the configs are exactly the
# default ones). Read when a config is written, i.e. by lab_start_upstream
# and by each lab_start_bind, so a caller may set them after lab_init (which
# fixes LAB_CLIENT, LAB_PORT, ...):
#   LAB_UPSTREAM_EXTRA_CONF    named.conf text appended to the upstream's
#                              config (e.g. another `zone` statement)
#   LAB_RESOLVER_EXTRA_CONF    named.conf text appended to the resolver's
#                              config, top level (e.g. another `key`)
#   LAB_RESOLVER_LOGGING_EXTRA text inside the resolver's `logging { }` block
#                              (e.g. `category update { null; };`)
#   LAB_KEY_ALG                TSIG algorithm of the agent's key, read by
#                              lab_init (default hmac-sha256)
#   LAB_RENDER_ARGS            array of extra VAR=value arguments for the
#                              resolver's render-bind-conf.sh (e.g.
#                              SECONDARIES=..., lab_start_secondary)
#   LAB_RESOLVER_OPTIONS_EXTRA text inside the resolver's `options { }`
#   LAB_RESOLVER_STATS_PORT    lab_start_resolver: also the shipped
#                              statistics.conf, on the resolver's address
#   LAB_NAMED_WRAP             words before `named` when a named starts
#                              (e.g. "chrt -i 0"; it must exec named)
#   LAB_HOT_ZONE               the hot policy zone (e.g. hot.$LAB_RPZ): the
#                              resolver renders it (HOT_ZONE), lab__bind_ready
#                              waits for it, and lab_write_agent_conf writes
#                              `rpz-hot-zone` (pass rpz-hot-move-interval,
#                              rpz-hot-max as KEY VALUE). Fleet servers, lab_axfr
#                              and lab_check_ixfr_served know only LAB_RPZ.
#
# Isolation: each lab claims a random 127.X.Y.0 block by adding 127.X.Y.1 to
# lo (`ip addr add` fails if the address exists, which makes the claim
# atomic between concurrent runs); everything listens only on that block, so
# two labs never collide. Needs root (ip addr add; named reads root-only files).

LAB_SRCDIR=${LAB_SRCDIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
LAB_RPZ=${LAB_RPZ:-rpz.rearview}
LAB_HOT_ZONE=${LAB_HOT_ZONE:-}
LAB_KEY_NAME=rearview-key

lab_log() { printf 'lab: %s\n' "$*" >&2; }
lab_die() { printf 'lab: error: %s\n' "$*" >&2; return 1; }

# Milliseconds since the epoch (timing of lookup -> PTR).
lab_now_ms() { local t; t=$(date +%s%N); printf '%s\n' "$((t / 1000000))"; }

# Tools the lab cannot work without; lab_test_begin turns a missing one into a
# skip (77), or a failure under RV_REQUIRE_ALL=1.
LAB_TOOLS=(named named-checkconf dig rndc tsig-keygen ip ss)
lab_missing_tools() {
    local t missing=()
    for t in "${LAB_TOOLS[@]}"; do
        command -v "$t" >/dev/null 2>&1 || missing+=("$t")
    done
    printf '%s\n' "${missing[@]}"
}

# The Debian packages that provide TOOL... (for "how to install" messages).
lab_packages_for() {
    local t p pkgs=()
    for t in "$@"; do
        case $t in
        named | tsig-keygen) p=bind9 ;;
        named-checkconf | rndc) p=bind9-utils ;;
        dig | nsupdate) p=bind9-dnsutils ;;
        ip | ss) p=iproute2 ;;
        setpriv) p=util-linux ;;
        dpkg-buildpackage | dpkg-parsechangelog) p=dpkg-dev ;;
        dh) p=debhelper ;;
        nm) p=binutils ;;
        promtool | prometheus) p=prometheus ;;
        unbound | unbound-checkconf) p=unbound ;;
        kresd) p=knot-resolver ;;
        pdns_recursor) p=pdns-recursor ;;
        *) p=$t ;;
        esac
        [[ " ${pkgs[*]} " == *" $p "* ]] || pkgs+=("$p")
    done
    printf '%s\n' "${pkgs[*]}"
}

# True under scripts/test.sh and CI, which export RV_REQUIRE_ALL=1: every test
# must run, so a missing prerequisite is a failure, not a skip.
lab_require_all() { [[ -n ${RV_REQUIRE_ALL:-} && ${RV_REQUIRE_ALL} != 0 ]]; }

# lab_prereq_missing WHAT HOW: this whole test cannot run here. By hand: SKIP
# (exit 77, meson reports SKIP) with the reason; under RV_REQUIRE_ALL: FAIL.
lab_prereq_missing() {
    if lab_require_all; then
        echo "FAIL: missing: $1 ($2); RV_REQUIRE_ALL=1 (scripts/test.sh, CI) makes a missing prerequisite a failure, not a skip"
        exit 1
    fi
    echo "SKIP: missing: $1 ($2)"
    exit 77
}

# True if BINARY (default: $RV_AGENT) runs under AddressSanitizer, whose shadow
# memory, redzones and quarantine make RSS bounds meaningless. Either sign
# counts: the build's b_sanitize, which meson passes as RV_SANITIZE (e.g.
# "address,undefined"), or ASan's runtime in the binary (nm finds __asan_init:
# defined when clang links the runtime statically, undefined when gcc links
# libasan.so; also catches -fsanitize=address given through c_args). Sets
# LAB_ASAN_WHY to the sign that was found.
lab_asan_build() {
    local bin=${1:-${RV_AGENT:-}} syms
    LAB_ASAN_WHY=
    if [[ ,${RV_SANITIZE:-}, == *,address,* ]]; then
        LAB_ASAN_WHY="b_sanitize=$RV_SANITIZE"
        return 0
    fi
    [[ -n $bin ]] || return 1
    # Read nm's whole output first: `nm | grep -q` under pipefail fails when
    # grep's early exit kills nm with SIGPIPE, i.e. exactly when it matches.
    syms=$({ nm "$bin" 2>/dev/null; nm -D "$bin" 2>/dev/null; } || true)
    grep -qE '[[:space:]]__asan_init$' <<<"$syms" || return 1
    LAB_ASAN_WHY="__asan_init in $(basename "$bin")"
}

# True if PID is a live (not zombie) process.
lab__alive() {
    local pid=$1 state
    [[ -n $pid && -r /proc/$pid/stat ]] || return 1
    # Field 3 of /proc/PID/stat, read after the ")" that ends the command name.
    state=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null) || return 1
    state=${state%% *}
    [[ -n $state && $state != Z && $state != X ]]
}

# True if nothing (any address) listens on TCP or UDP port $1.
lab__port_free() {
    [[ -z $(ss -Hlntu "sport = :$1" 2>/dev/null) ]]
}

lab__random_port() {
    local p i
    for ((i = 0; i < 200; i++)); do
        p=$((20000 + RANDOM % 40000))
        # P..P+3: DNS, rndc, (spare), named's statistics channel.
        if lab__port_free "$p" && lab__port_free "$((p + 1))" &&
            lab__port_free "$((p + 2))" && lab__port_free "$((p + 3))"; then
            printf '%s\n' "$p"
            return 0
        fi
    done
    lab_die "no free port found"
}

lab_init() {
    local m x y i
    m=$(lab_missing_tools)
    [[ -z $m ]] || lab_die "missing tools: $m"
    ((EUID == 0)) || lab_die "the lab needs root (ip addr add, named)"

    LAB_T0=$(lab_now_ms)
    # Short path on purpose: the dnstap socket path must fit in sun_path.
    LAB=$(mktemp -d /tmp/rvlab.XXXXXX)
    mkdir -p "$LAB/pids"
    # lab.env first: with it, lab_stop_dir can clean up even a half-made lab.
    printf 'LAB=%q\n' "$LAB" >"$LAB/lab.env"
    LAB_ADDRS=()
    # Claim a block: adding 127.X.Y.1 fails if another lab (or anything else)
    # already has it.
    for ((i = 0; i < 100; i++)); do
        x=$((RANDOM % 254 + 1))
        y=$((RANDOM % 254 + 1))
        if ip -4 addr show dev lo | grep -Eq "inet 127\.$x\.$y\."; then
            continue
        fi
        if ip addr add "127.$x.$y.1/32" dev lo 2>/dev/null; then
            LAB_ADDRS+=("127.$x.$y.1")
            # Recorded at once so that lab_stop removes it whatever fails next.
            printf '%s\n' "127.$x.$y.1" >>"$LAB/addrs"
            break
        fi
    done
    ((${#LAB_ADDRS[@]} == 1)) || lab_die "could not claim a 127.X.Y.0 block on lo"
    LAB_NET=127.$x.$y
    LAB_CLIENT=$LAB_NET.1   # client view (the resolver clients use)
    LAB_XRAY=$LAB_NET.2     # xray view (dig -x here); also receives the UPDATEs
    LAB_UPSTREAM=$LAB_NET.3 # authoritative "internet" for the test zones
    local a
    for a in "$LAB_XRAY" "$LAB_UPSTREAM"; do
        ip addr add "$a/32" dev lo || lab_die "ip addr add $a failed"
        LAB_ADDRS+=("$a")
        printf '%s\n' "$a" >>"$LAB/addrs"
    done

    # The addresses are ours alone, so only wildcard listeners could clash;
    # check anyway. P = DNS on all three addresses, P+1 = rndc on LAB_CLIENT
    # (not 127.0.0.1: a port there could collide with another lab).
    LAB_PORT=$(lab__random_port)
    LAB_RNDC_PORT=$((LAB_PORT + 1))
    # The agent's HTTP listener (/metrics, /healthz), as lab_write_agent_conf
    # sets it.
    LAB_HTTP=$LAB_CLIENT:8053
    # named's statistics channel (bind-conf/statistics.conf), on LAB_CLIENT:
    # the agent's statistics-channel option reads its dnstap counters.
    LAB_STATS_PORT=$((LAB_PORT + 3))

    tsig-keygen -a "${LAB_KEY_ALG:-hmac-sha256}" "$LAB_KEY_NAME" >"$LAB/rearview.key"
    tsig-keygen -a hmac-sha256 lab-rndc >"$LAB/rndc.key"
    chmod 0640 "$LAB/rearview.key" "$LAB/rndc.key"
    {
        cat "$LAB/rndc.key"
        printf 'options { default-key "lab-rndc"; default-server %s; default-port %s; };\n' \
            "$LAB_CLIENT" "$LAB_RNDC_PORT"
    } >"$LAB/rndc.conf"

    LAB_SOCK=$LAB/dnstap.sock
    LAB_AGENT_CONF=$LAB/agent.conf
    LAB_AGENT_LOG=$LAB/agent.log
    LAB_AGENT=${RV_AGENT:-$LAB_SRCDIR/build/agent/rearview-agent}
    LAB_AGENT_STATUS=
    LAB_NEXT_GEN=1
    export LAB LAB_CLIENT LAB_XRAY LAB_UPSTREAM LAB_PORT LAB_RNDC_PORT LAB_SOCK LAB_RPZ LAB_HTTP LAB_STATS_PORT
    lab__save_env
    lab_log "lab $LAB: client $LAB_CLIENT xray $LAB_XRAY upstream $LAB_UPSTREAM port $LAB_PORT"
}

# lab.env lets another shell (demo.sh --stop, a human) find and stop the lab.
lab__save_env() {
    {
        printf 'LAB=%q\n' "$LAB"
        printf 'LAB_CLIENT=%q\nLAB_XRAY=%q\nLAB_UPSTREAM=%q\n' "$LAB_CLIENT" "$LAB_XRAY" "$LAB_UPSTREAM"
        printf 'LAB_PORT=%q\nLAB_RNDC_PORT=%q\nLAB_RPZ=%q\nLAB_HTTP=%q\n' "$LAB_PORT" "$LAB_RNDC_PORT" "$LAB_RPZ" "$LAB_HTTP"
        printf 'LAB_STATS_PORT=%q\n' "$LAB_STATS_PORT"
        printf 'LAB_SOCK=%q\nLAB_AGENT_CONF=%q\nLAB_AGENT_LOG=%q\n' "$LAB_SOCK" "$LAB_AGENT_CONF" "$LAB_AGENT_LOG"
    } >"$LAB/lab.env"
}

# ---------------------------------------------------------------- upstream

# Test data. Every address maps to exactly one question name unless noted,
# so the expected PTR is unambiguous. Depth = CNAMEs between the question and
# the address records; chains cross zones on purpose.
lab__write_upstream() {
    local d=$LAB/upstream
    mkdir -p "$d"
    local soa='@ IN SOA ns.example.test. hostmaster.example.test. 1 3600 600 86400 30
@ IN NS ns.example.test.'
    cat >"$d/example.test.db" <<EOF
\$TTL 300
$soa
ns          A     $LAB_UPSTREAM
; depth 0, A and AAAA
www         A     192.0.2.10
www         AAAA  2001:db8::10
; depth 0, AAAA only
v6only      AAAA  2001:db8::60
; depth 1: two A and one AAAA behind one CNAME
shop        CNAME shop.cdn.test.
; depth 2
img         CNAME img.cdn.test.
; depth 3
video       CNAME video.cdn.test.
; two names, one address: the PTR is one of them (scoring decides)
news        A     192.0.2.50
blog        A     192.0.2.50
; chain into nothing: NXDOMAIN with a CNAME, nothing to learn
dangling    CNAME gone.cdn.test.
; names with octets that need RFC 1035 5.1 escapes (a dot, a space inside a
; label): the agent writes them as PTR targets and reads them back by AXFR
esc\\.dot   A     192.0.2.77
sp\\032ace  A     192.0.2.78
; the depth hijack (README "Threat model"): hj0 is 10 CNAMEs from hj-real's
; address; hj-real is the name clients really use
hj-real     A     192.0.2.90
\$GENERATE 0-8 hj\$ CNAME hj\${1}
hj9         CNAME hj-real
; fresh names for tests that need addresses never seen before:
; gN (depth 0, A), cN (depth 1, A via cdn.test), hN (depth 0, AAAA)
\$GENERATE 1-250 g\$ A 198.51.100.\$
\$GENERATE 1-250 c\$ CNAME c\$.cdn.test.
\$GENERATE 1-250 h\$ AAAA 2001:db8:6::\$
; private-range (RFC 1918) addresses: learned like any other (the agent's
; default ignore-cidr leaves them in); xray servers whose defaults answer
; these reverse zones themselves (Unbound) must let the PTR through
priv10      A     10.53.1.10
priv192     A     192.168.53.10
EOF
    cat >"$d/cdn.test.db" <<EOF
\$TTL 300
$soa
shop        A     192.0.2.21
shop        A     192.0.2.22
shop        AAAA  2001:db8::21
img         CNAME edge-img.edge.test.
video       CNAME v.edge.test.
\$GENERATE 1-250 c\$ A 203.0.113.\$
EOF
    cat >"$d/edge.test.db" <<EOF
\$TTL 300
$soa
edge-img    A     192.0.2.31
edge-img    AAAA  2001:db8::31
v           CNAME node7.pop.edge.test.
node7.pop   A     192.0.2.41
node7.pop   AAAA  2001:db8::41
EOF
    # A real reverse zone: a PTR question through the client view gets an
    # answer, and must still teach the agent nothing.
    cat >"$d/rev.db" <<EOF
\$TTL 300
$soa
99          PTR   real-ptr.example.test.
EOF
    cat >"$d/named.conf" <<EOF
// Lab upstream: plays "the internet" for the test zones. Authoritative only.
options {
    directory "$d";
    pid-file "$d/named.pid";
    session-keyfile none;
    listen-on port $LAB_PORT { $LAB_UPSTREAM; };
    listen-on-v6 { none; };
    recursion no;
    dnssec-validation no;
    notify no;
};
// No control channel: without this, named would try 127.0.0.1#953, which a
// concurrent lab (or the system named) may own. Stopped by PID instead.
controls { };
logging {
    channel main { file "$d/named.log"; severity info; print-time yes; print-category yes; };
    category default { main; };
    category lame-servers { null; };
};
// check-names: esc\\.dot and sp\\032ace are no host names, on purpose.
zone "example.test" { type primary; file "$d/example.test.db"; check-names ignore; };
zone "cdn.test" { type primary; file "$d/cdn.test.db"; };
zone "edge.test" { type primary; file "$d/edge.test.db"; };
zone "2.0.192.in-addr.arpa" { type primary; file "$d/rev.db"; };
EOF
    lab__append_conf "${LAB_UPSTREAM_EXTRA_CONF:-}" "$d/named.conf"
}

# Appends TEXT and a newline to FILE, unless TEXT is empty.
lab__append_conf() { # TEXT FILE
    [[ -z $1 ]] || printf '%s\n' "$1" >>"$2"
}

# Expected data for demo/tests: "question type address depth" lines.
lab_expectations() {
    cat <<'EOF'
www.example.test A 192.0.2.10 0
www.example.test AAAA 2001:db8::10 0
v6only.example.test AAAA 2001:db8::60 0
shop.example.test A 192.0.2.21 1
shop.example.test A 192.0.2.22 1
shop.example.test AAAA 2001:db8::21 1
img.example.test A 192.0.2.31 2
img.example.test AAAA 2001:db8::31 2
video.example.test A 192.0.2.41 3
video.example.test AAAA 2001:db8::41 3
EOF
}

# Start named -f in the background; PID is recorded by us, not by named's
# pid-file, so there is no daemonize race. $1 = role (upstream|resolver).
lab__start_named() {
    local role=$1 conf=$LAB/$1/named.conf pid
    named-checkconf "$conf" >&2 || lab_die "named-checkconf $conf failed"
    # -4: the lab is IPv4 loopback only (IPv6 may be absent in containers).
    # -f: stay in the foreground so $! is named itself. Running as root
    # (no -u) keeps the lab files in a root-only temp dir readable.
    # LAB_NAMED_WRAP (words, e.g. "chrt -i 0") runs named under a command
    # that execs it, so $! stays named's pid.
    # shellcheck disable=SC2086 # words on purpose
    ${LAB_NAMED_WRAP:-} named -4 -f -c "$conf" >"$LAB/$role/named.stderr" 2>&1 &
    pid=$!
    printf '%s\n' "$pid" >"$LAB/pids/$role"
}

# Poll until CHECK (a command) succeeds, the process dies, or TIMEOUT_S.
lab__wait_for() { # role pid timeout_s command...
    local role=$1 pid=$2 timeout=$3
    shift 3
    local deadline=$(($(lab_now_ms) + timeout * 1000))
    while (($(lab_now_ms) < deadline)); do
        if ! lab__alive "$pid"; then
            lab_log "$role (pid $pid) died during startup"
            lab__tail "$LAB/$role/named.stderr" "$LAB/$role/named.log"
            return 1
        fi
        if "$@" >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.05
    done
    lab_log "$role not ready after ${timeout}s"
    return 1
}

lab__dig_ok() { # server zone: the server answers SOA for zone
    local out
    out=$(dig @"$1" -p "$LAB_PORT" +time=1 +tries=1 +short SOA "$2") || return 1
    [[ -n $out ]]
}

lab_start_upstream() {
    lab__write_upstream
    lab__start_named upstream
    lab__wait_for upstream "$(<"$LAB/pids/upstream")" 30 lab__dig_ok "$LAB_UPSTREAM" example.test
    lab_log "upstream named ready (pid $(<"$LAB/pids/upstream"))"
}

# ---------------------------------------------------------------- resolver

lab__write_resolver() {
    local d=$LAB/resolver logx=
    [[ -z ${LAB_RESOLVER_LOGGING_EXTRA:-} ]] || logx="    $LAB_RESOLVER_LOGGING_EXTRA"$'\n'
    mkdir -p "$d/zones"
    # The fragments a real deployment ships, rendered by the same script,
    # with lab paths. Everything else keeps its shipped default (views,
    # ACLs, RPZ settings, key name).
    "$LAB_SRCDIR/scripts/render-bind-conf.sh" --out "$LAB/bind-conf" --no-check \
        RPZ_ZONE="$LAB_RPZ" \
        HOT_ZONE="$LAB_HOT_ZONE" \
        KEY_FILE="$LAB/rearview.key" \
        DNSTAP_SOCKET="$LAB_SOCK" \
        ZONE_DIR="$d/zones" \
        ZONE_OWNER= \
        XRAY_ADDR="$LAB_XRAY" \
        STATS_ADDR="$LAB_CLIENT" \
        STATS_PORT="$LAB_STATS_PORT" \
        STATS_ACL="127.0.0.0/8;" \
        ${LAB_RENDER_ARGS[@]+"${LAB_RENDER_ARGS[@]}"} >"$d/render.log" \
        || { cat "$d/render.log" >&2; lab_die "render-bind-conf.sh failed"; }
    cat >"$d/named.conf" <<EOF
// Lab resolver: the shipped fragments in the documented include order, plus
// what a site's own named.conf provides (paths, listen-on, controls).
include "$LAB/bind-conf/key.conf";
include "$LAB/rndc.key";
$(lab__extra_key_includes)

options {
    directory "$d";
    pid-file "$d/named.pid";
    // Default is /run/named/session.key: shared with other named instances.
    session-keyfile "$d/session.key";
    listen-on port $LAB_PORT { $LAB_CLIENT; $LAB_XRAY; };
    listen-on-v6 { none; };
    // The lab has no internet: every view forwards to the lab upstream,
    // and there is no root trust anchor to validate against (validation
    // would also try to reach the real root), so validation is off. A real
    // deployment keeps its own recursion and validation settings.
    forwarders port $LAB_PORT { $LAB_UPSTREAM; };
    forward only;
    dnssec-validation no;
${LAB_RESOLVER_OPTIONS_EXTRA:-}
    include "$LAB/bind-conf/options.conf";
};

controls {
    inet $LAB_CLIENT port $LAB_RNDC_PORT allow { 127.0.0.0/8; } keys { "lab-rndc"; };
};

logging {
    channel main { file "$d/named.log"; severity info; print-time yes; print-category yes; };
    category default { main; };
    category lame-servers { null; };
${logx}};

include "$LAB/bind-conf/view-xray.conf";
include "$LAB/bind-conf/view-client.conf";
include "$LAB/bind-conf/statistics.conf";
EOF
    lab__append_conf "${LAB_RESOLVER_EXTRA_CONF:-}" "$d/named.conf"
}

# Extra keys (lab_add_key): known to named, granted nothing by the shipped
# fragments; tests use them for "signed with a key named knows but whose
# rights do not cover the zone" (UPDATE answered REFUSED).
lab__extra_key_includes() {
    local f
    [[ -f $LAB/extra-keys ]] || return 0
    while read -r f; do
        [[ -n $f ]] && printf 'include "%s";\n' "$f"
    done <"$LAB/extra-keys"
}

# lab_add_key NAME: writes $LAB/NAME.key (hmac-sha256, mode 0640) and makes
# the resolver config include it. Call before lab_start_bind.
lab_add_key() { # NAME
    local f=$LAB/$1.key
    tsig-keygen -a hmac-sha256 "$1" >"$f"
    chmod 0640 "$f"
    printf '%s\n' "$f" >>"$LAB/extra-keys"
}

# lab_new_key ALG: replaces the agent's key ($LAB/rearview.key, same name)
# with a new one of TSIG algorithm ALG (hmac-sha384, ...). named reads the
# key file when it starts: lab_stop_bind + lab_start_bind, then restart the
# agent.
lab_new_key() { # ALG
    tsig-keygen -a "$1" "$LAB_KEY_NAME" >"$LAB/rearview.key.new" || lab_die "tsig-keygen -a $1 failed"
    chmod 0640 "$LAB/rearview.key.new"
    mv "$LAB/rearview.key.new" "$LAB/rearview.key"
}

lab__bind_ready() {
    lab_rndc status >/dev/null 2>&1 \
        && lab__dig_ok "$LAB_XRAY" "$LAB_RPZ" \
        && { [[ -z $LAB_HOT_ZONE ]] || lab__dig_ok "$LAB_XRAY" "$LAB_HOT_ZONE"; } \
        && lab__dig_ok "$LAB_CLIENT" example.test
}

lab_start_bind() {
    lab__write_resolver
    lab__start_named resolver
    lab__wait_for resolver "$(<"$LAB/pids/resolver")" 30 lab__bind_ready
    lab_log "resolver named ready (pid $(<"$LAB/pids/resolver"))"
    # A (re)started named drops frames until its dnstap connection is up.
    if [[ -f $LAB/pids/agent ]] && lab__alive "$(<"$LAB/pids/agent")"; then
        lab__wait_dnstap 5000
    fi
}

# Stop a process we started: SIGTERM, wait up to $3 s, then SIGKILL.
# Sets LAB_LAST_STATUS to its exit status when it is our child.
lab__stop_pid() { # name pid [timeout_s]
    local name=$1 pid=$2 timeout=${3:-20} deadline
    LAB_LAST_STATUS=
    [[ -n $pid ]] || return 0
    if lab__alive "$pid"; then
        kill -TERM "$pid" 2>/dev/null || true
        deadline=$(($(lab_now_ms) + timeout * 1000))
        while lab__alive "$pid" && (($(lab_now_ms) < deadline)); do
            sleep 0.05
        done
        if lab__alive "$pid"; then
            lab_log "$name (pid $pid) ignored SIGTERM for ${timeout}s: SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    # Reap it if it is our child (no-op otherwise).
    if wait "$pid" 2>/dev/null; then LAB_LAST_STATUS=0; else LAB_LAST_STATUS=$?; fi
    return 0
}

lab_stop_bind() {
    local pid
    pid=$(cat "$LAB/pids/resolver" 2>/dev/null || true)
    lab__stop_pid resolver "$pid" 20
    rm -f "$LAB/pids/resolver"
    lab_log "resolver named stopped"
}

lab_rndc() {
    rndc -c "$LAB/rndc.conf" "$@"
}

# ---------------------------------------------------------------- agent

# Writes $LAB_AGENT_CONF: lab defaults, each overridable by KEY VALUE pairs
# (a VALUE of "-" removes the key, leaving the agent's built-in default).
# shellcheck disable=SC2120 # arguments are optional
lab_write_agent_conf() {
    local -A kv=(
        [dnstap-socket]=$LAB_SOCK
        [socket-mode]=0660
        [socket-group]=root
        [rpz-zone]=$LAB_RPZ
        [server]=$LAB_XRAY
        [port]=$LAB_PORT
        [key-file]=$LAB/rearview.key
        [key-name]=$LAB_KEY_NAME
        [flush-interval]=200ms
        [log-level]=info
        [snapshot-file]=$LAB/state.snap
        # On the lab's own address block: no other lab (nor a system
        # agent on the default 127.0.0.1:8053) can collide.
        [http-listen]=$LAB_HTTP
        [history-database]='""'
    )
    local order=(dnstap-socket socket-mode socket-group rpz-zone server port key-file key-name
        flush-interval log-level snapshot-file http-listen history-database)
    # LAB_HOT_ZONE: the agent writes new records there (same key, server).
    if [[ -n $LAB_HOT_ZONE ]]; then
        kv[rpz-hot-zone]=$LAB_HOT_ZONE
        order+=(rpz-hot-zone)
    fi
    local k
    while (($# >= 2)); do
        [[ -v "kv[$1]" ]] || order+=("$1")
        kv[$1]=$2
        shift 2
    done
    (($# == 0)) || lab_die "lab_write_agent_conf: odd number of arguments"
    {
        echo "# rearview-agent config written by scripts/lab.sh for $LAB"
        echo "# server = the xray view's address: its match-destinations routes the"
        echo "# UPDATEs to the view that holds the RPZ."
        for k in "${order[@]}"; do
            [[ ${kv[$k]} == - ]] && continue
            printf '%s %s\n' "$k" "${kv[$k]}"
        done
    } >"$LAB_AGENT_CONF"
}

# Unix-socket identity: changes when the agent re-creates the socket.
lab__sock_id() { stat -c '%i %z' "$LAB_SOCK" 2>/dev/null || true; }

# True once named has an established connection on the dnstap socket.
lab__dnstap_connected() {
    ss -Hx state established 2>/dev/null | grep -qF "$LAB_SOCK"
}

lab_start_agent() {
    local before pid deadline
    [[ -x $LAB_AGENT ]] || lab_die "agent binary not found: $LAB_AGENT (set RV_AGENT)"
    # shellcheck disable=SC2119 # defaults wanted
    [[ -f $LAB_AGENT_CONF ]] || lab_write_agent_conf
    before=$(lab__sock_id)
    if [[ -n ${LAB_AGENT_ARGV[*]:-} ]]; then
        # A caller's own command line (package.sh: the installed unit's
        # ExecStart under setpriv); it must exec the agent, so $! is the agent.
        "${LAB_AGENT_ARGV[@]}" >>"$LAB_AGENT_LOG" 2>&1 &
    else
        "$LAB_AGENT" -c "$LAB_AGENT_CONF" >>"$LAB_AGENT_LOG" 2>&1 &
    fi
    pid=$!
    printf '%s\n' "$pid" >"$LAB/pids/agent"
    LAB_AGENT_PID=$pid
    # Ready = the socket exists and is not the stale one a killed agent left.
    deadline=$(($(lab_now_ms) + 10000))
    while :; do
        if ! lab__alive "$pid"; then
            lab_log "agent (pid $pid) exited during startup"
            lab__tail "$LAB_AGENT_LOG"
            return 1
        fi
        local now_id
        now_id=$(lab__sock_id)
        [[ -S $LAB_SOCK && $now_id != "$before" ]] && break
        (($(lab_now_ms) < deadline)) || { lab_log "agent socket $LAB_SOCK not created in 10 s"; return 1; }
        sleep 0.02
    done
    # Make named connect now rather than at its next reopen tick.
    if [[ -f $LAB/pids/resolver ]]; then
        lab_rndc dnstap -reopen >/dev/null 2>&1 || lab_log "rndc dnstap -reopen failed"
        lab__wait_dnstap 5000
    fi
    lab_log "agent running (pid $pid)"
}

# Wait (up to $1 ms) until named's dnstap connection to the agent is up:
# named silently drops the frames of lookups made before that.
lab__wait_dnstap() {
    local deadline=$(($(lab_now_ms) + $1))
    until lab__dnstap_connected; do
        if (($(lab_now_ms) >= deadline)); then
            lab_log "named is not connected to $LAB_SOCK after $1 ms"
            return 0
        fi
        sleep 0.02
    done
}

# lab_stop_agent [SIGNAL] — default TERM; LAB_AGENT_STATUS = exit status.
lab_stop_agent() {
    local sig=${1:-TERM} pid
    pid=$(cat "$LAB/pids/agent" 2>/dev/null || true)
    LAB_AGENT_STATUS=
    [[ -n $pid ]] || return 0
    if [[ $sig == TERM ]]; then
        lab__stop_pid agent "$pid" 15
    else
        kill -"$sig" "$pid" 2>/dev/null || true
        local deadline=$(($(lab_now_ms) + 15000))
        while lab__alive "$pid" && (($(lab_now_ms) < deadline)); do sleep 0.02; done
        lab__stop_pid agent "$pid" 5
    fi
    LAB_AGENT_STATUS=$LAB_LAST_STATUS
    rm -f "$LAB/pids/agent"
}

# ---------------------------------------------------------------- queries

# Addresses of NAME through the client view (one per line, CNAMEs dropped).
lab_lookup() { # NAME [TYPE]
    dig @"$LAB_CLIENT" -p "$LAB_PORT" +time=2 +tries=2 +short "$1" "${2:-A}" \
        | grep -E '^[0-9a-fA-F.:]+$' || true
}

# Full rcode of a lookup through the client view.
lab_lookup_rcode() { # NAME [TYPE]
    dig @"$LAB_CLIENT" -p "$LAB_PORT" +time=2 +tries=2 "$1" "${2:-A}" \
        | sed -n 's/.*status: \([A-Z]*\),.*/\1/p'
}

# PTR answer of the xray view ("" on NXDOMAIN).
lab_xray_ptr() { # ADDR
    dig @"$LAB_XRAY" -p "$LAB_PORT" +time=1 +tries=1 +short -x "$1" 2>/dev/null || true
}

# Reverse name of an address (lower case, no trailing dot).
lab_revname() { # ADDR
    local r
    r=$(arpaname "$1") || return 1
    printf '%s\n' "${r,,}"
}

# Next never-used gN / cN / hN index of the upstream's generated names.
lab_fresh() {
    LAB_FRESH=$LAB_NEXT_GEN
    LAB_NEXT_GEN=$((LAB_NEXT_GEN + 1))
}

# A lookup of a never-used gN.example.test; sets FRESH_NAME and FRESH_ADDR.
lab_fresh_lookup() {
    lab_fresh
    FRESH_NAME=g$LAB_FRESH.example.test
    FRESH_ADDR=198.51.100.$LAB_FRESH
    lab_lookup "$FRESH_NAME" A >/dev/null
}
# lab_fresh_ptrs N: N fresh lookups; every one must become its PTR within
# PTR_TIMEOUT seconds (default 20).
lab_fresh_ptrs() {
    local i addrs=() names=()
    for ((i = 0; i < $1; i++)); do
        lab_fresh_lookup
        addrs+=("$FRESH_ADDR")
        names+=("$FRESH_NAME")
    done
    for ((i = 0; i < $1; i++)); do
        lab_wait_ptr "${addrs[i]}" "${names[i]}" "${PTR_TIMEOUT:-20}" || return 1
    done
}

# Poll until the xray view answers exactly NAME (trailing dot optional).
# LAB_WAIT_MS = time waited; returns 1 on timeout.
lab_wait_ptr() { # ADDR NAME TIMEOUT_S
    local addr=$1 want=${2%.}. timeout=${3:-20} start got=
    start=$(lab_now_ms)
    local deadline=$((start + timeout * 1000))
    while :; do
        got=$(lab_xray_ptr "$addr")
        if [[ $got == "$want" ]]; then
            LAB_WAIT_MS=$(($(lab_now_ms) - start))
            return 0
        fi
        if (($(lab_now_ms) >= deadline)); then
            LAB_WAIT_MS=$(($(lab_now_ms) - start))
            lab_log "timeout after ${timeout}s: dig -x $addr gave '${got//$'\n'/ }', want '$want'"
            return 1
        fi
        sleep 0.1
    done
}

# AXFR of the RPZ from the xray view; signed with the key unless told
# otherwise (pass --nokey). Extra arguments go to dig.
lab_axfr() {
    local auth=(-k "$LAB/rearview.key")
    if [[ ${1:-} == --nokey ]]; then
        auth=()
        shift
    fi
    dig @"$LAB_XRAY" -p "$LAB_PORT" +time=3 +tries=1 "${auth[@]}" "$@" AXFR "$LAB_RPZ"
}

# lab_zone_ptrs [ZONE]: every PTR of ZONE (default LAB_RPZ) by AXFR with the
# lab's key, one "ADDRESS<TAB>NAME" line each (name lower-case, no trailing
# dot), sorted: what the tests compare with loadgen's --expect-out.
lab_zone_ptrs() {
    local zone=${1:-$LAB_RPZ}
    dig @"$LAB_XRAY" -p "$LAB_PORT" +time=3 +tries=1 -k "$LAB/rearview.key" +nocmd +nostats \
        +noall +answer AXFR "$zone" 2>/dev/null | python3 -c '
import ipaddress, sys
zone = sys.argv[1].rstrip(".").lower() + "."
for line in sys.stdin:
    f = line.split()
    if len(f) < 5 or f[3] != "PTR":
        continue
    owner = f[0].lower()
    if not owner.endswith("." + zone):
        continue
    rev = owner[: -len(zone) - 1]
    if rev.endswith(".in-addr.arpa"):
        a = ".".join(reversed(rev[: -len(".in-addr.arpa")].split(".")))
    else:
        n = "".join(reversed(rev[: -len(".ip6.arpa")].split(".")))
        a = str(ipaddress.IPv6Address(int(n, 16)))
    print(a + "\t" + f[4].rstrip(".").lower())
' "$zone" | sort
}

# ---------------------------------------------------------------- test output

# One line per check, "ok - ..." / "not ok - ...", and a summary; used by
# tests/integration/*.sh.
LAB_PASSED=0
LAB_FAILED=0
# "# [  12.3 s] what": section markers with the time since lab_init.
lab_phase() {
    local ms=$(($(lab_now_ms) - ${LAB_T0:-$(lab_now_ms)}))
    printf '# [%4d.%d s] %s\n' "$((ms / 1000))" "$((ms % 1000 / 100))" "$*"
}
lab_ok() { LAB_PASSED=$((LAB_PASSED + 1)); printf 'ok - %s\n' "$*"; }
lab_not_ok() { LAB_FAILED=$((LAB_FAILED + 1)); printf 'not ok - %s\n' "$*"; }
# lab_check DESCRIPTION COMMAND... : ok if COMMAND succeeds.
lab_check() {
    local desc=$1
    shift
    if "$@"; then lab_ok "$desc"; else lab_not_ok "$desc"; fi
}
# True if no agent output in the lab holds a sanitizer report (ASan/UBSan
# builds run the same suites; a report there is a bug even if the agent lived).
lab_no_sanitizer_reports() {
    local hits
    hits=$(grep -lE 'AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:' \
        "$LAB"/*.log 2>/dev/null || true)
    [[ -z $hits ]] || { echo "# sanitizer reports in: $hits"; return 1; }
}
# lab_skip_check DESC REASON: one check cannot run here (a tool is missing):
# a visible "ok - DESC # SKIP REASON" by hand, "not ok" under RV_REQUIRE_ALL.
lab_skip_check() {
    if lab_require_all; then
        lab_not_ok "$1 (cannot run: $2; RV_REQUIRE_ALL=1)"
    else
        lab_ok "$1 # SKIP $2"
    fi
}
# lab_need_tools TOOL...: all in PATH, or lab_prereq_missing naming the absent
# ones and their packages. A test that needs more than LAB_TOOLS calls this
# before lab_test_begin.
lab_need_tools() {
    local t absent=()
    for t in "$@"; do
        command -v "$t" >/dev/null 2>&1 || absent+=("$t")
    done
    ((${#absent[@]} == 0)) || lab_prereq_missing "tools not in PATH: ${absent[*]}" \
        "Debian: apt-get install $(lab_packages_for "${absent[@]}"); scripts/test.sh installs them when run as root"
}
# Common start of tests/integration/*.sh: skip (77) only when a tool is absent
# or we are not root, and fail instead under RV_REQUIRE_ALL=1 (lab_prereq_missing);
# then print the summary (and the logs on failure) at exit. A test script sets
# LAB_SUMMARIZED=1 once it has run all its checks.
# lab_skip_under_sanitizers NAME WHY: in a sanitizer build (RV_SANITIZE),
# report NAME as one "ok - ... # SKIP" line with WHY and exit 0. For tests
# whose subject runs between name servers (or is built elsewhere), where the
# agent's part is covered under the sanitizers by other tests: CI time.
lab_skip_under_sanitizers() { # NAME WHY
    if [[ ${RV_SANITIZE:-none} != none ]]; then
        echo "ok - $1 # SKIP in the b_sanitize=$RV_SANITIZE build: $2"
        echo "1 passed, 0 failed"
        exit 0
    fi
}

lab_test_begin() {
    lab_need_tools "${LAB_TOOLS[@]}"
    if ((EUID != 0)); then
        lab_prereq_missing "root" "the lab adds loopback addresses and runs named; run it as root, e.g. with sudo"
    fi
    [[ -x ${RV_AGENT:-} ]] || { echo "RV_AGENT is not an executable: '${RV_AGENT:-}'"; exit 1; }
    trap lab__test_finish EXIT
}
# shellcheck disable=SC2317 # EXIT trap
lab__test_finish() {
    local rc=$?
    # set -e stopped the script outside a check (setup failed): say so.
    [[ -n ${LAB_SUMMARIZED:-} ]] || lab_not_ok "test script stopped early (status $rc), see the logs above"
    if ((LAB_FAILED == 0)); then rc=0; else rc=1; fi
    lab_stop "$rc" # prints the logs on failure
    lab_summary || true
    exit "$rc"
}
# lab_wait_until TIMEOUT_S COMMAND...: polls COMMAND (every 0.1 s) until it
# succeeds; fails after TIMEOUT_S seconds.
lab_wait_until() {
    local deadline=$(($(lab_now_ms) + $1 * 1000))
    shift
    until "$@"; do
        (($(lab_now_ms) < deadline)) || return 1
        sleep 0.1
    done
}
# Poll the agent log for an extended regex (case-insensitive) for up to $2 s.
lab_agent_log_has() { # REGEX TIMEOUT_S
    local deadline=$(($(lab_now_ms) + $2 * 1000))
    while (($(lab_now_ms) < deadline)); do
        grep -Eqi -- "$1" "$LAB_AGENT_LOG" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# lab_agent_stat KEY [PID [LOG]]: sends SIGUSR1 to the agent (default: the
# lab's), waits up to 5 s for the stats line it logs and prints KEY's value
# (frames, learned, sent, ok, failed, records, rcode, tsig, timeout, conn...).
lab_agent_stat() {
    local key=$1 pid=${2:-} log=${3:-$LAB_AGENT_LOG} before after deadline
    [[ -n $pid ]] || pid=$(cat "$LAB/pids/agent" 2>/dev/null || true)
    [[ -n $pid ]] || return 1
    before=$(grep -c 'stats: SIGUSR1' "$log" 2>/dev/null || true)
    kill -USR1 "$pid" 2>/dev/null || return 1
    deadline=$(($(lab_now_ms) + 5000))
    while :; do
        after=$(grep -c 'stats: SIGUSR1' "$log" 2>/dev/null || true)
        ((${after:-0} > ${before:-0})) && break
        (($(lab_now_ms) < deadline)) || return 1
        sleep 0.02
    done
    grep -a 'stats: SIGUSR1' "$log" | tail -n 1 | grep -oE "[ (]$key=[0-9]+" | head -n 1 | cut -d= -f2
}

# Prints "N passed, M failed"; returns 0 only if nothing failed.
lab_summary() {
    printf '%d passed, %d failed\n' "$LAB_PASSED" "$LAB_FAILED"
    ((LAB_FAILED == 0))
}

# ---------------------------------------------------------------- teardown

lab__tail() {
    local f
    for f in "$@"; do
        [[ -s $f ]] || continue
        printf -- '----- %s (last 40 lines)\n' "$f" >&2
        tail -n 40 "$f" >&2
    done
}

lab_print_logs() {
    lab__tail "$LAB_AGENT_LOG" "$LAB/resolver/named.stderr" "$LAB/resolver/named.log" \
        "$LAB/upstream/named.stderr" "$LAB/upstream/named.log"
}

# lab_register_pid NAME PID: a process a test started (a second agent, a
# fake server, a load generator) that lab_stop stops with the lab's own. Its
# command line must mention $LAB (the PID-reuse guard below).
lab_register_pid() { # NAME PID
    printf '%s\n' "$2" >"$LAB/pids/$1"
}

# Stop whatever the lab in DIR runs: PIDs are only signalled if their
# command line still mentions DIR (guards against PID reuse). Registered
# extra processes first, then agent, resolver, upstream.
lab__stop_all() { # DIR
    local dir=$1 role pid a f extra=()
    for f in "$dir"/pids/*; do
        [[ -f $f ]] || continue
        role=${f##*/}
        case $role in agent | resolver | upstream) ;; *) extra+=("$role") ;; esac
    done
    for role in "${extra[@]}" agent resolver upstream; do
        pid=$(cat "$dir/pids/$role" 2>/dev/null || true)
        [[ -n $pid ]] || continue
        if lab__alive "$pid" && ! tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$dir"; then
            lab_log "pid $pid is no longer our $role; not touching it"
        else
            lab__stop_pid "$role" "$pid" 20
        fi
        rm -f "$dir/pids/$role"
    done
    if [[ -f $dir/addrs ]]; then
        while read -r a; do
            if [[ -n $a ]]; then ip addr del "$a/32" dev lo 2>/dev/null || true; fi
        done <"$dir/addrs"
        rm -f "$dir/addrs"
    fi
}

# lab_stop [STATUS]: idempotent; keeps $LAB (and says so) when STATUS != 0
# or LAB_KEEP_DIR=1.
lab_stop() {
    local status=${1:-0}
    [[ -n ${LAB:-} && -d $LAB ]] || return 0
    if ((status != 0)); then
        lab_log "failure (status $status): logs follow"
        lab_print_logs
    fi
    lab__stop_all "$LAB"
    if ((status != 0)) || [[ ${LAB_KEEP_DIR:-0} == 1 ]]; then
        lab_log "lab files kept in $LAB"
    else
        rm -rf "$LAB"
    fi
    LAB=
}

lab_stop_dir() { # DIR
    local dir=${1%/}
    [[ -f $dir/lab.env ]] || lab_die "$dir does not look like a lab (no lab.env)"
    lab__stop_all "$dir"
    rm -rf "$dir"
    lab_log "stopped and removed $dir"
}

# ================================================================ fleets
# Extra DNS servers in the lab's block (README "Fleets"): BIND secondaries
# and Unbound instances that copy the RPZ from the lab's resolver (the
# primary). Each listens on LAB_PORT on its own 127.X.Y.N address, is
# registered with lab_register_pid (lab_stop stops it by PID) and logs to
# $LAB/NAME/. Kept apart from the rest of the library on purpose.
#
#   lab_add_addr N            claim $LAB_NET.N on lo (removed by lab_stop)
#   lab_start_secondary NAME N [VAR=value...]  named on $LAB_NET.N with the
#                            rendered view-xray-secondary.conf (more
#                            render-bind-conf.sh variables, e.g. OTHER_ZONES,
#                            may follow); primary = $LAB_XRAY
#                            (LAB_XFR_KEY_NAME: key name, default the
#                            agent's; its file is $LAB/NAME.key if it
#                            exists, else $LAB/rearview.key)
#   lab_start_unbound NAME N  unbound on $LAB_NET.N serving the RPZ (rpz:
#                            primary: $LAB_XRAY); LAB_UNBOUND_EXTRA_CONF is
#                            appended to its server: clause
#   lab_start_rpz_primary_and_secondaries NOTIFY_DELAY  the lab's upstream
#                            and resolver (the primary, NOTIFYing with
#                            that delay) and two BIND secondaries sec1 and
#                            sec2 on $LAB_NET.4/.5 (SEC1, SEC2), copying with
#                            the transfer key rearview-xfr, which cannot write
#   lab_check_ixfr_served    the primary's log shows >= 5 IXFRs and at most
#                            one AXFR to each of SEC1 and SEC2 (checks)
#   lab_start_resolver NAME N  another resolver: named on $LAB_NET.N with
#                            only the rendered client view, forwarding to the
#                            lab upstream, dnstap identity NAME to the socket
#                            $LAB/NAME/dnstap.sock (a relay or an agent
#                            listens there)
#   lab_start_site NAME N ZONE [SECONDARIES]  another site's resolver, as
#                            the lab's: named with the rendered fragments,
#                            client view on $LAB_NET.N, xray view on
#                            $LAB_NET.(N+1) holding the RPZ ZONE (written
#                            with the agent's key), dnstap identity NAME to
#                            $LAB/NAME/dnstap.sock, NOTIFYing SECONDARIES
#                            ("ADDR port P; ...", key LAB_XFR_KEY_NAME)
#   lab_lookup_at SERVER NAME [TYPE]   dig at SERVER, addresses on stdout
#   lab_mkcert NAME [CA]      $LAB/pki/NAME.{key,pem}: a P-256 CA (no CA
#                            given) or a certificate signed by CA, with
#                            subjectAltName IP:$LAB_CLIENT and DNS:NAME
#   lab_ptr_at SERVER ADDR    dig -x ADDR at SERVER (port LAB_PORT)
#   lab_wait_ptr_at SERVER ADDR NAME TIMEOUT_S   as lab_wait_ptr, at SERVER

lab_add_addr() { # N
    local a=$LAB_NET.$1
    ip addr add "$a/32" dev lo || lab_die "ip addr add $a failed"
    LAB_ADDRS+=("$a")
    printf '%s\n' "$a" >>"$LAB/addrs"
}

# The named.conf of a fleet server NAME in $LAB/NAME, and start it:
# HEAD (top-level text first: key includes), listening on LISTEN ("A; B;"),
# SRC the address SOA checks, transfers, NOTIFYs and queries leave from (on
# loopback the kernel would otherwise pick the destination's address),
# OPTS (text inside options), then the include lines of INCLUDES (files
# under $LAB/NAME/bind-conf); ready when READY_ADDR answers READY_ZONE's SOA
# within LAB_SECONDARY_TIMEOUT (30) seconds.
lab__fleet_named() { # NAME HEAD LISTEN SRC OPTS READY_ADDR READY_ZONE INCLUDES...
    local name=$1 head=$2 listen=$3 src=$4 opts=$5 raddr=$6 rzone=$7 d=$LAB/$1 f
    shift 7
    {
        printf '// Lab server %s, from the shipped fragments (scripts/lab.sh).\n%s\n' "$name" "$head"
        cat <<EOC
options {
    directory "$d";
    pid-file "$d/named.pid";
    session-keyfile "$d/session.key";
    listen-on port $LAB_PORT { $listen };
    listen-on-v6 { none; };
    transfer-source $src;
    query-source address $src;
    notify-source $src;
    forwarders port $LAB_PORT { $LAB_UPSTREAM; };
    forward only;
    dnssec-validation no;
    $opts
};
controls { };
logging {
    channel main { file "$d/named.log"; severity info; print-time yes; print-category yes; };
    category default { main; };
    category lame-servers { null; };
};
EOC
        for f in "$@"; do
            printf 'include "%s/bind-conf/%s";\n' "$d" "$f"
        done
    } >"$d/named.conf"
    lab__start_named "$name"
    lab_register_pid "$name" "$(<"$LAB/pids/$name")"
    lab__wait_for "$name" "$(<"$LAB/pids/$name")" "${LAB_SECONDARY_TIMEOUT:-30}" lab__dig_ok "$raddr" "$rzone"
}

# Render the shipped fragments for fleet server NAME into $LAB/NAME/bind-conf.
lab__fleet_render() { # NAME VAR=value...
    local name=$1 d=$LAB/$1
    shift
    mkdir -p "$d/zones"
    "$LAB_SRCDIR/scripts/render-bind-conf.sh" --out "$d/bind-conf" --no-check \
        ZONE_DIR="$d/zones" ZONE_OWNER= "$@" >"$d/render.log" \
        || { cat "$d/render.log" >&2; lab_die "render-bind-conf.sh failed ($name)"; }
}

lab_start_secondary() { # NAME N [VAR=value...]
    local name=$1 addr=$LAB_NET.$2 xname=${LAB_XFR_KEY_NAME:-$LAB_KEY_NAME} kfile
    shift 2
    kfile=$LAB/$xname.key
    [[ -f $kfile ]] || kfile=$LAB/rearview.key
    lab_add_addr "${addr##*.}"
    lab__fleet_render "$name" RPZ_ZONE="$LAB_RPZ" KEY_NAME="$xname" XFR_KEY_NAME="$xname" \
        KEY_FILE="$kfile" XRAY_ADDR="$addr" XRAY_ACL="127.0.0.0/8;" \
        PRIMARY_ADDR="$LAB_XRAY" PRIMARY_PORT="$LAB_PORT" "$@"
    # Ready = it answers the RPZ's SOA, i.e. its first transfer is done.
    lab__fleet_named "$name" "include \"$LAB/$name/bind-conf/key.conf\";" "$addr;" "$addr" "" \
        "$addr" "$LAB_RPZ" view-xray-secondary.conf
    lab_log "secondary $name ready on $addr (pid $(<"$LAB/pids/$name"))"
}

lab_start_rpz_primary_and_secondaries() { # NOTIFY_DELAY
    SEC1=$LAB_NET.4
    SEC2=$LAB_NET.5
    # The secondaries' key: it may transfer the RPZ, not update it.
    lab_add_key rearview-xfr
    LAB_XFR_KEY_NAME=rearview-xfr
    LAB_RENDER_ARGS=(SECONDARIES="$SEC1 port $LAB_PORT; $SEC2 port $LAB_PORT" XFR_KEY_NAME=rearview-xfr
        NOTIFY_DELAY="$1" MIN_UPDATE_INTERVAL=1)
    lab_start_upstream
    lab_start_bind
    lab_start_secondary sec1 4
    lab_start_secondary sec2 5
}

# The primary logs each outgoing transfer ("client @... SRC#port/key K
# (zone): view xray: transfer of 'zone/IN': IXFR started ...").
lab_check_ixfr_served() {
    local s n_ixfr n_axfr plog=$LAB/resolver/named.log
    for s in "$SEC1" "$SEC2"; do
        n_ixfr=$(grep -cE "client @[^ ]+ $s#[0-9]+/key rearview-xfr .*IXFR started" "$plog" || true)
        n_axfr=$(grep -cE "client @[^ ]+ $s#[0-9]+/key rearview-xfr .*AXFR started" "$plog" || true)
        echo "# primary served $s: $n_ixfr IXFR, $n_axfr AXFR"
        lab_check "primary served IXFRs to $s (got $n_ixfr)" test "${n_ixfr:-0}" -ge 5
        # One AXFR at most: the first transfer of a secondary that has no copy.
        lab_check "primary served at most one AXFR to $s (got $n_axfr)" test "${n_axfr:-0}" -le 1
    done
}

# The RPZ on its own named (README "A busy resolver"): key.conf and
# view-xray.conf only, the RPZ's primary on $LAB_NET.N, which the agent
# writes to and analysts query; LAB_NAMED_WRAP sets its CPU policy.
lab_start_rpz_named() { # NAME N [VAR=value...]
    local name=$1 addr=$LAB_NET.$2 d=$LAB/$1
    shift 2
    lab_add_addr "${addr##*.}"
    lab__fleet_render "$name" RPZ_ZONE="$LAB_RPZ" KEY_FILE="$LAB/rearview.key" \
        XRAY_ADDR="$addr" XRAY_ACL="127.0.0.0/8;" XRAY_ALONE=yes "$@"
    lab__fleet_named "$name" "include \"$d/bind-conf/key.conf\";" "$addr;" "$addr" "" \
        "$addr" "$LAB_RPZ" view-xray.conf
    lab_log "RPZ named $name ready on $addr (pid $(<"$LAB/pids/$name"))"
}

lab_start_resolver() { # NAME N
    local name=$1 addr=$LAB_NET.$2 d=$LAB/$1 stats=()
    lab_add_addr "$2"
    # With LAB_RESOLVER_STATS_PORT set, the shipped statistics.conf too, on
    # the resolver's own address (named's dnstap counters are read there).
    [[ -z ${LAB_RESOLVER_STATS_PORT:-} ]] || stats=(statistics.conf)
    # The shipped options.conf and view-client.conf; no xray view (the RPZ
    # is served elsewhere in a fleet).
    lab__fleet_render "$name" RPZ_ZONE="$LAB_RPZ" KEY_FILE="$LAB/rearview.key" \
        DNSTAP_SOCKET="$d/dnstap.sock" DNSTAP_IDENTITY="$name" \
        CLIENT_ADDRS="$addr;" CLIENT_ACL="127.0.0.0/8;" \
        STATS_ADDR="$addr" STATS_PORT="${LAB_RESOLVER_STATS_PORT:-8080}" STATS_ACL="127.0.0.0/8;"
    lab__fleet_named "$name" "" "$addr;" "$addr" "include \"$d/bind-conf/options.conf\";" \
        "$addr" example.test view-client.conf ${stats[@]+"${stats[@]}"}
    lab_log "resolver $name ready on $addr (pid $(<"$LAB/pids/$name")), dnstap to $d/dnstap.sock"
}

lab_start_site() { # NAME N ZONE [SECONDARIES]
    local name=$1 caddr=$LAB_NET.$2 xaddr=$LAB_NET.$(($2 + 1)) zone=$3 secs=${4:-} d=$LAB/$1
    local xname=${LAB_XFR_KEY_NAME:-$LAB_KEY_NAME}
    lab_add_addr "$2"
    lab_add_addr "$(($2 + 1))"
    lab__fleet_render "$name" RPZ_ZONE="$zone" KEY_FILE="$LAB/rearview.key" \
        DNSTAP_SOCKET="$d/dnstap.sock" DNSTAP_IDENTITY="$name" \
        CLIENT_ADDRS="$caddr;" CLIENT_ACL="127.0.0.0/8;" \
        XRAY_ADDR="$xaddr" XRAY_ACL="127.0.0.0/8;" XFR_KEY_NAME="$xname" \
        SECONDARIES="$secs" NOTIFY_DELAY=1
    lab__fleet_named "$name" "include \"$d/bind-conf/key.conf\";
$(lab__extra_key_includes)" "$caddr; $xaddr;" "$xaddr" "include \"$d/bind-conf/options.conf\";" \
        "$xaddr" "$zone" view-xray.conf view-client.conf
    lab_log "site $name ready: client view $caddr, xray view $xaddr ($zone), dnstap to $d/dnstap.sock (pid $(<"$LAB/pids/$name"))"
}

lab_lookup_at() { # SERVER NAME [TYPE]
    dig @"$1" -p "$LAB_PORT" +time=2 +tries=2 +short "$2" "${3:-A}" \
        | grep -E '^[0-9a-fA-F.:]+$' || true
}

lab_mkcert() { # NAME [CA]
    local name=$1 ca=${2:-} pki=$LAB/pki
    mkdir -p "$pki"
    if [[ -z $ca ]]; then
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
            -subj "/CN=$name" -keyout "$pki/$name.key" -out "$pki/$name.pem" 2>/dev/null \
            || lab_die "openssl: CA $name"
    else
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$name" \
            -keyout "$pki/$name.key" -out "$pki/$name.csr" 2>/dev/null || lab_die "openssl: key $name"
        printf 'subjectAltName=IP:%s,DNS:%s\n' "$LAB_CLIENT" "$name" >"$pki/$name.ext"
        openssl x509 -req -in "$pki/$name.csr" -CA "$pki/$ca.pem" -CAkey "$pki/$ca.key" \
            -CAcreateserial -days 2 -extfile "$pki/$name.ext" -out "$pki/$name.pem" 2>/dev/null \
            || lab_die "openssl: certificate $name"
    fi
}

lab_start_unbound() { # NAME N
    local name=$1 addr=$LAB_NET.$2 d=$LAB/$1 pid
    lab_add_addr "$2"
    mkdir -p "$d"
    cat >"$d/unbound.conf" <<EOC
# Lab Unbound $name: an xray server answering PTRs from the RPZ it copies
# from the lab's resolver (rpz: primary:).
server:
    interface: $addr
    port: $LAB_PORT
    outgoing-interface: $addr
    do-ip6: no
    username: ""
    chroot: ""
    directory: "$d"
    pidfile: "$d/unbound.pid"
    logfile: "$d/unbound.log"
    use-syslog: no
    log-time-ascii: yes
    verbosity: 1
    access-control: 127.0.0.0/8 allow
    # The lab's upstream and primary are on 127.X.Y.Z.
    do-not-query-localhost: no
    # respip: the RPZ module, before the validator and the iterator.
    module-config: "respip validator iterator"
    # No trust anchor: the lab has no internet (as in the BIND lab).
    # The lab's zones are under .test, one of Unbound's default local zones
    # (RFC 6761): let them through to the forwarder.
    local-zone: "test." nodefault
    ${LAB_UNBOUND_EXTRA_CONF:-}
remote-control:
    control-enable: no
forward-zone:
    name: "."
    forward-addr: $LAB_UPSTREAM@$LAB_PORT
rpz:
    name: "$LAB_RPZ"
    primary: $LAB_XRAY@$LAB_PORT
    zonefile: "$d/$LAB_RPZ.zone"
    rpz-log: no
EOC
    unbound-checkconf "$d/unbound.conf" >&2 || lab_die "unbound-checkconf $d/unbound.conf failed"
    unbound -d -c "$d/unbound.conf" >"$d/unbound.stderr" 2>&1 &
    pid=$!
    printf '%s\n' "$pid" >"$LAB/pids/$name"
    lab__wait_for "$name" "$pid" 30 lab__dig_ok "$addr" example.test
    lab_log "unbound $name ready on $addr (pid $pid)"
}

lab_ptr_at() { # SERVER ADDR
    dig @"$1" -p "$LAB_PORT" +time=1 +tries=1 +short -x "$2" 2>/dev/null || true
}

lab_wait_ptr_at() { # SERVER ADDR NAME TIMEOUT_S
    local server=$1 addr=$2 want=${3%.}. timeout=${4:-20} start got=
    start=$(lab_now_ms)
    while :; do
        got=$(lab_ptr_at "$server" "$addr")
        if [[ $got == "$want" ]]; then
            LAB_WAIT_MS=$(($(lab_now_ms) - start))
            return 0
        fi
        if (($(lab_now_ms) - start >= timeout * 1000)); then
            LAB_WAIT_MS=$(($(lab_now_ms) - start))
            lab_log "timeout after ${timeout}s: dig @$server -x $addr gave '${got//$'\n'/ }', want '$want'"
            return 1
        fi
        sleep 0.05
    done
}

#!/usr/bin/env bash
# render-bind-conf.sh — turn the shipped named.conf fragments (bind-conf/*.conf)
# and the RPZ template (rpz/rpz.zone.in) into files named can load.
#
# Real deployments and the lab (scripts/lab.sh) both use this script, so the
# lab tests exactly the text that ships. Values are given as VAR=value
# arguments; every @VAR@ in the fragments must be known, and nothing may be
# left unreplaced.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: scripts/render-bind-conf.sh [--out DIR] [--no-zones] [--no-check] [VAR=value ...]

Renders bind-conf/*.conf into DIR (default /etc/bind/rearview) and installs
the zone files into ZONE_DIR:
  ZONE_DIR/<RPZ_ZONE>.db   from rpz/rpz.zone.in, only if missing (a live RPZ
                           and its journal are never overwritten)
  ZONE_DIR/<HOT_ZONE>.db   with HOT_ZONE set: the same, for the hot zone
  ZONE_DIR/empty.db        the empty in-addr.arpa / ip6.arpa zone (rewritten)
Then, if named-checkconf exists and KEY_FILE is readable, checks a
named.conf that includes the fragments in the documented order.

Variables (default):
  RPZ_ZONE=rpz.rearview                 response-policy zone the agent writes
  HOT_ZONE=""                           a second, small policy zone that takes the agent's
                                        new records (agent: rpz-hot-zone), which it moves
                                        into RPZ_ZONE in batches: named's rebuild after an
                                        UPDATE then walks the small zone. Listed before
                                        RPZ_ZONE in response-policy (an address in both is
                                        answered from it); its zone statement is RPZ_ZONE's
                                        (update-policy, transfers, NOTIFY), in view-xray.conf
                                        and view-xray-secondary.conf. "" = none
  KEY_NAME=rearview-key                 TSIG key name (tsig-keygen NAME)
  KEY_FILE=/etc/rearview/rearview.key   tsig-keygen output, read by named and agent
  DNSTAP_SOCKET=/run/rearview/dnstap.sock   the agent's Frame Streams socket
  DNSTAP_IDENTITY=hostname              what named sends as the dnstap identity: hostname
                                        (the host's name), none, or a name of your choice;
                                        the agent counts and labels sightings by it
  ZONE_DIR=/var/lib/bind/rearview       RPZ file + journal; writable by named
  ZONE_OWNER=bind                       chown ZONE_DIR to this user ("" = don't)
  XRAY_ADDR=127.0.0.2                   address of the xray view (one address)
  XRAY_ACL="localhost;"                 who may query the xray view
  CLIENT_ADDRS="any;"                   destinations served by the client view
  CLIENT_ACL="localhost; localnets;"    who may query/recurse in the client view
  MAX_POLICY_TTL=600                    TTL cap of synthesized PTRs (>= record-ttl)
  CLIENT_VIEW_EXTRA=""                  named.conf text added inside the client
                                        view, e.g. 'include "/etc/bind/named.conf.default-zones";'
  STATS_ADDR=127.0.0.1                  named's statistics channel (statistics.conf),
  STATS_PORT=8080                       read by the agent's statistics-channel option
  STATS_ACL="127.0.0.1;"                who may read it
  MIN_UPDATE_INTERVAL=1                 seconds between two rebuilds of the policy
                                        data (response-policy min-update-interval)
  HOT_MIN_UPDATE_INTERVAL=""            the same for HOT_ZONE ("" = MIN_UPDATE_INTERVAL); its
                                        rebuilds walk only the small zone (~10 ms)
  XRAY_ALONE=no                         yes: view-xray.conf is for a named of its own
                                        (README "A busy resolver"), which has no
                                        dnstap-output, so the view has no `dnstap { }`
 Fleets (README "Fleets"): the RPZ copied to secondary servers
  SECONDARIES=""                        primary: servers to NOTIFY, "ADDR [port P]; ..."
                                        ("" = none: notify no)
  SECONDARIES_NOKEY=""                  primary: servers to NOTIFY unsigned (Unbound 1.17
                                        answers a TSIG-signed NOTIFY with FORMERR)
  NOTIFY_DELAY=5                        primary: seconds between a change and its NOTIFY
  XFR_KEY_NAME=""                       key the secondaries transfer with ("" = KEY_NAME);
                                        define it at the top level on the primary
  XFR_ACL=""                            primary: more allow-transfer elements, e.g. an
                                        Unbound secondary's address ("ADDR;")
  PRIMARY_ADDR=127.0.0.2                secondary (view-xray-secondary.conf): the
  PRIMARY_PORT=53                       primary's address and port
  OTHER_ZONES=""                        secondary: more RPZs, each from its own primary,
                                        listed after RPZ_ZONE in response-policy (one agent
                                        per site): "ZONE ADDR [port P]; ..."; same transfer key

Include order in named.conf (see bind-conf/README.md):
  include "DIR/key.conf";                         // top level, first
  options { ...; include "DIR/options.conf"; };   // inside options
  include "DIR/view-xray.conf";                   // before the client view
  include "DIR/view-client.conf";
  include "DIR/statistics.conf";                  // top level: named's statistics channel
A secondary xray server uses view-xray-secondary.conf instead of
view-xray.conf (and KEY_FILE = the transfer key's file).
EOF
}

die() { printf 'render-bind-conf: %s\n' "$*" >&2; exit 1; }

srcdir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=/etc/bind/rearview
do_zones=1
do_check=1

declare -A val=(
    [RPZ_ZONE]=rpz.rearview
    [HOT_ZONE]=""
    [KEY_NAME]=rearview-key
    [KEY_FILE]=/etc/rearview/rearview.key
    [DNSTAP_SOCKET]=/run/rearview/dnstap.sock
    [DNSTAP_IDENTITY]=hostname
    [ZONE_DIR]=/var/lib/bind/rearview
    [ZONE_OWNER]=bind
    [XRAY_ADDR]=127.0.0.2
    [XRAY_ACL]="localhost;"
    [CLIENT_ADDRS]="any;"
    [CLIENT_ACL]="localhost; localnets;"
    [MAX_POLICY_TTL]=600
    [CLIENT_VIEW_EXTRA]=""
    [STATS_ADDR]=127.0.0.1
    [STATS_PORT]=8080
    [STATS_ACL]="127.0.0.1;"
    [MIN_UPDATE_INTERVAL]=1
    [HOT_MIN_UPDATE_INTERVAL]=""
    [XRAY_ALONE]=no
    [SECONDARIES]=""
    [SECONDARIES_NOKEY]=""
    [NOTIFY_DELAY]=5
    [XFR_KEY_NAME]=""
    [XFR_ACL]=""
    [PRIMARY_ADDR]=127.0.0.2
    [PRIMARY_PORT]=53
    [OTHER_ZONES]=""
)

while (($#)); do
    case $1 in
        -h|--help) usage; exit 0 ;;
        --out) (($# >= 2)) || die "--out needs a directory"; out=$2; shift 2 ;;
        --out=*) out=${1#--out=}; shift ;;
        --no-zones) do_zones=0; shift ;;
        --no-check) do_check=0; shift ;;
        *=*)
            name=${1%%=*}
            [[ -v "val[$name]" ]] || die "unknown variable '$name' (see --help)"
            val[$name]=${1#*=}
            shift ;;
        *) die "unexpected argument '$1' (see --help)" ;;
    esac
done

# --- validation: catch the mistakes that would otherwise surface as a named
# startup failure far away from their cause.
for name in XRAY_ACL CLIENT_ADDRS CLIENT_ACL STATS_ACL; do
    v=${val[$name]}
    # Address match lists need a trailing ';' per element; accept "a; b".
    [[ -n ${v//[[:space:]]/} ]] || die "$name must not be empty (use 'none;' or 'any;')"
    [[ $v =~ \;[[:space:]]*$ ]] || val[$name]="$v;"
done
val[RPZ_ZONE]=${val[RPZ_ZONE]%.}
[[ ${val[RPZ_ZONE]} =~ ^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$ ]] \
    || die "RPZ_ZONE '${val[RPZ_ZONE]}' is not a domain name"
val[HOT_ZONE]=${val[HOT_ZONE]%.}
if [[ -n ${val[HOT_ZONE]} ]]; then
    [[ ${val[HOT_ZONE]} =~ ^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$ ]] \
        || die "HOT_ZONE '${val[HOT_ZONE]}' is not a domain name"
    [[ ${val[HOT_ZONE],,} != "${val[RPZ_ZONE],,}" ]] || die "HOT_ZONE must differ from RPZ_ZONE"
fi
[[ ${val[KEY_NAME]} =~ ^[A-Za-z0-9_.-]+$ ]] || die "KEY_NAME '${val[KEY_NAME]}' is not a key name"
[[ ${val[MAX_POLICY_TTL]} =~ ^[0-9]+$ ]] || die "MAX_POLICY_TTL must be a number of seconds"
[[ ${val[XRAY_ADDR]} =~ ^[0-9A-Fa-f.:]+$ ]] || die "XRAY_ADDR must be one IP address"
[[ ${val[STATS_ADDR]} =~ ^[0-9A-Fa-f.:]+$ ]] || die "STATS_ADDR must be one IP address"
if ! [[ ${val[STATS_PORT]} =~ ^[0-9]{1,5}$ ]] || ((val[STATS_PORT] < 1 || val[STATS_PORT] > 65535)); then
    die "STATS_PORT must be a port number (1-65535)"
fi
for name in KEY_FILE DNSTAP_SOCKET ZONE_DIR; do
    [[ ${val[$name]} == /* ]] || die "$name must be an absolute path"
    [[ ${val[$name]} != *'"'* ]] || die "$name must not contain '\"'"
done
# dnstap-identity takes the keywords hostname and none, or a quoted string.
case ${val[DNSTAP_IDENTITY]} in
    hostname|none) ;;
    *)
        [[ ${val[DNSTAP_IDENTITY]} =~ ^[A-Za-z0-9_.-]{1,63}$ ]] \
            || die "DNSTAP_IDENTITY must be hostname, none or a name of letters, digits, '.', '_', '-'"
        val[DNSTAP_IDENTITY]="\"${val[DNSTAP_IDENTITY]}\"" ;;
esac
[[ ${val[MIN_UPDATE_INTERVAL]} =~ ^[0-9]+$ ]] || die "MIN_UPDATE_INTERVAL must be a number of seconds"
[[ -n ${val[HOT_MIN_UPDATE_INTERVAL]} ]] || val[HOT_MIN_UPDATE_INTERVAL]=${val[MIN_UPDATE_INTERVAL]}
[[ ${val[HOT_MIN_UPDATE_INTERVAL]} =~ ^[0-9]+$ ]] || die "HOT_MIN_UPDATE_INTERVAL must be a number of seconds"
[[ ${val[NOTIFY_DELAY]} =~ ^[0-9]+$ ]] || die "NOTIFY_DELAY must be a number of seconds"
# named refuses a view's `dnstap { }` without a dnstap-output in options,
# which a named serving only the xray view has no use for.
case ${val[XRAY_ALONE]} in
    no) val[XRAY_DNSTAP]="dnstap { };" ;;
    yes) val[XRAY_DNSTAP]="// (XRAY_ALONE=yes: this named has no dnstap-output, so no \`dnstap { }\`)" ;;
    *) die "XRAY_ALONE must be yes or no" ;;
esac
if [[ -n ${val[XFR_ACL]//[[:space:]]/} && ! ${val[XFR_ACL]} =~ \;[[:space:]]*$ ]]; then
    val[XFR_ACL]="${val[XFR_ACL]};"
fi
[[ -n ${val[XFR_KEY_NAME]} ]] || val[XFR_KEY_NAME]=${val[KEY_NAME]}
[[ ${val[XFR_KEY_NAME]} =~ ^[A-Za-z0-9_.-]+$ ]] || die "XFR_KEY_NAME '${val[XFR_KEY_NAME]}' is not a key name"
[[ ${val[PRIMARY_ADDR]} =~ ^[0-9A-Fa-f.:]+$ ]] || die "PRIMARY_ADDR must be one IP address"
if ! [[ ${val[PRIMARY_PORT]} =~ ^[0-9]{1,5}$ ]] || ((val[PRIMARY_PORT] < 1 || val[PRIMARY_PORT] > 65535)); then
    die "PRIMARY_PORT must be a port number (1-65535)"
fi
# SECONDARIES "ADDR [port P]; ..." -> the RPZ zone's NOTIFY statements, each
# target signed with the transfer key (derived, not settable).
notify_list=
add_notify() { # VAR KEYTEXT
    local sec w secs
    IFS=';' read -ra secs <<<"${val[$1]}"
    for sec in "${secs[@]}"; do
        read -ra w <<<"$sec"
        ((${#w[@]})) || continue
        if ! [[ ${w[0]} =~ ^[0-9A-Fa-f.:]+$ ]] ||
            { ((${#w[@]} != 1)) && ! { ((${#w[@]} == 3)) && [[ ${w[1]} == port && ${w[2]} =~ ^[0-9]{1,5}$ ]]; }; }; then
            die "$1: '$sec' is not 'ADDR' or 'ADDR port P'"
        fi
        notify_list+="${w[*]}$2; "
    done
}
add_notify SECONDARIES " key \"${val[XFR_KEY_NAME]}\""
add_notify SECONDARIES_NOKEY ""
if [[ -n $notify_list ]]; then
    val[RPZ_NOTIFY]="notify explicit; notify-delay ${val[NOTIFY_DELAY]}; also-notify { $notify_list};"
else
    val[RPZ_NOTIFY]="notify no;"
fi
# OTHER_ZONES "ZONE ADDR [port P]; ..." -> more policy zones and their
# secondary zone statements in view-xray-secondary.conf.
val[OTHER_RPZ_POLICY]=
val[OTHER_RPZ_ZONES]=
IFS=';' read -ra others <<<"${val[OTHER_ZONES]}"
for other in "${others[@]}"; do
    read -ra w <<<"$other"
    ((${#w[@]})) || continue
    if ! [[ ${w[0]} =~ ^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$ && ${w[1]:-} =~ ^[0-9A-Fa-f.:]+$ ]] ||
        { ((${#w[@]} != 2)) && ! { ((${#w[@]} == 4)) && [[ ${w[2]} == port && ${w[3]} =~ ^[0-9]{1,5}$ ]]; }; }; then
        die "OTHER_ZONES: '$other' is not 'ZONE ADDR' or 'ZONE ADDR port P'"
    fi
    [[ ${w[0]} != "${val[RPZ_ZONE]}" ]] || die "OTHER_ZONES: ${w[0]} is RPZ_ZONE already"
    [[ ${w[0],,} != "${val[HOT_ZONE],,}" ]] || die "OTHER_ZONES: ${w[0]} is HOT_ZONE already"
    oport=${w[3]:-53}
    val[OTHER_RPZ_POLICY]+="zone \"${w[0]}\" min-update-interval ${val[MIN_UPDATE_INTERVAL]} max-policy-ttl ${val[MAX_POLICY_TTL]} recursive-only no log no;
        "
    val[OTHER_RPZ_ZONES]+="zone \"${w[0]}\" {
        type secondary;
        primaries { ${w[1]} port $oport key \"${val[XFR_KEY_NAME]}\"; };
        allow-notify { key \"${val[XFR_KEY_NAME]}\"; };
        file \"${val[ZONE_DIR]}/${w[0]}.secondary\";
        check-names ignore;
        notify no;
    };
    "
done
# sun_path is 108 bytes including the NUL.
((${#val[DNSTAP_SOCKET]} <= 107)) || die "DNSTAP_SOCKET path too long for a unix socket"

# REPLY = $1 with every @VAR@ replaced.
subst() { # TEXT
    local name
    REPLY=$1
    for name in "${!val[@]}"; do
        REPLY=${REPLY//@"$name"@/"${val[$name]}"}
    done
}

# HOT_ZONE: the fragments hold it in placeholders that are empty without it
# (the output is then exactly as before): HOT_RPZ_POLICY before RPZ_ZONE's
# response-policy entry, HOT_RPZ_ZONE / HOT_RPZ_SECONDARY right after the
# `};` of RPZ_ZONE's zone statement. That statement is copied for the hot
# zone from the fragment itself, comment lines left out, so both zones
# always get the same update-policy, allow-transfer and NOTIFY settings.
hot_zone_copy() { # FRAGMENT PLACEHOLDER COMMENT: REPLY = the hot zone's statement
    local line text='' found=0
    while IFS= read -r line; do
        [[ -n $text || $line == '    zone "@RPZ_ZONE@" {' ]] || continue
        if [[ $line == "    };@$2@" ]]; then
            text+='    };'
            found=1
            break
        fi
        [[ $line =~ ^[[:space:]]*// ]] || text+=$line$'\n'
    done <"$1"
    ((found)) || die "$1: no 'zone \"@RPZ_ZONE@\" { ... };@$2@' to copy for HOT_ZONE"
    text=${text//@RPZ_ZONE@/"${val[HOT_ZONE]}"}
    subst $'\n\n'"$3"$'\n'"$text"
}
val[HOT_RPZ_POLICY]=
val[HOT_RPZ_ZONE]=
val[HOT_RPZ_SECONDARY]=
if [[ -n ${val[HOT_ZONE]} ]]; then
    hot_zone_copy "$srcdir/bind-conf/view-xray.conf" HOT_RPZ_ZONE \
"    // HOT_ZONE: the small policy zone the agent writes new records to
    // (rpz-hot-zone); it moves them into @RPZ_ZONE@ in batches. Same
    // statements as @RPZ_ZONE@; its file is installed the same way."
    hot_zone=$REPLY
    hot_zone_copy "$srcdir/bind-conf/view-xray-secondary.conf" HOT_RPZ_SECONDARY \
"    // HOT_ZONE: the primary's small policy zone of new records, copied
    // like @RPZ_ZONE@."
    val[HOT_RPZ_SECONDARY]=$REPLY
    val[HOT_RPZ_ZONE]=$hot_zone
    # Listed first: for an address in both zones named answers from the
    # first zone listed, and the hot zone's record is the newer one.
    val[HOT_RPZ_POLICY]="// HOT_ZONE first: an address in both zones is answered from
        // the hot zone, whose record is the newer.
        zone \"${val[HOT_ZONE]}\" min-update-interval ${val[HOT_MIN_UPDATE_INTERVAL]} max-policy-ttl ${val[MAX_POLICY_TTL]}
            recursive-only no log no;
        "
fi

render() { # render SRC DST
    local text
    subst "$(<"$1")"
    text=$REPLY
    if [[ $text =~ @[A-Z_]+@ ]]; then
        die "$1: unknown placeholder ${BASH_REMATCH[0]}"
    fi
    printf '%s\n' "$text" >"$2.tmp"
    mv -f "$2.tmp" "$2"
}

mkdir -p "$out"
for f in "$srcdir"/bind-conf/*.conf; do
    render "$f" "$out/$(basename "$f")"
done
echo "render-bind-conf: wrote $out/{key,options,view-xray,view-xray-secondary,view-client,statistics}.conf"

if ((do_zones)); then
    zdir=${val[ZONE_DIR]}
    mkdir -p "$zdir"
    for z in "${val[RPZ_ZONE]}" ${val[HOT_ZONE]:+"${val[HOT_ZONE]}"}; do
        rpzfile="$zdir/$z.db"
        if [[ -e $rpzfile ]]; then
            echo "render-bind-conf: kept existing $rpzfile"
        else
            render "$srcdir/rpz/rpz.zone.in" "$rpzfile"
            echo "render-bind-conf: wrote $rpzfile"
        fi
    done
    render "$srcdir/rpz/rpz.zone.in" "$zdir/empty.db"
    # named writes the journal (<file>.jnl) next to the zone file.
    if [[ -n ${val[ZONE_OWNER]} ]] && id -u "${val[ZONE_OWNER]}" >/dev/null 2>&1 && ((EUID == 0)); then
        chown -R "${val[ZONE_OWNER]}:" "$zdir"
    fi
fi

if ((do_check)) && command -v named-checkconf >/dev/null && [[ -r ${val[KEY_FILE]} ]]; then
    chk=$(mktemp)
    trap 'rm -f "$chk"' EXIT
    cat >"$chk" <<EOF
include "$out/key.conf";
options { directory "${val[ZONE_DIR]}"; include "$out/options.conf"; };
include "$out/view-xray.conf";
include "$out/view-client.conf";
include "$out/statistics.conf";
EOF
    named-checkconf "$chk" || die "named-checkconf rejected the rendered fragments"
    # A secondary's named.conf: the same with its own xray view.
    cat >"$chk" <<EOF
include "$out/key.conf";
options { directory "${val[ZONE_DIR]}"; };
include "$out/view-xray-secondary.conf";
EOF
    named-checkconf "$chk" || die "named-checkconf rejected view-xray-secondary.conf"
    echo "render-bind-conf: named-checkconf ok"
fi

#!/usr/bin/env bash
# Integration: the Debian package (debian/), as an administrator gets it.
#   dpkg-buildpackage -us -uc -b from a copy of the source tree (the checkout
#   stays clean), lintian without errors, apt-get install ./rearview_*.deb,
#   the installed files, the system user and the state directory; then the
#   INSTALLED agent, started exactly as the installed unit's ExecStart (as its
#   User= and Group=, only -c pointing at the lab's config) against a lab named
#   configured from the INSTALLED fragments and renderer: one lookup becomes a
#   PTR in the xray view; finally apt-get purge removes everything it added.
# Run by meson (suite "integration") with RV_AGENT and RV_SRCDIR; needs root.
# Refuses (fails) to run where a rearview package or its files already exist:
# its purge would remove them.
set -euo pipefail

srcdir=${RV_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=scripts/lab.sh
. "$srcdir/scripts/lab.sh"

lab_skip_under_sanitizers "the Debian package" \
    "dpkg-buildpackage compiles its own plain build from the source, which the plain build's run of this test checks"

PTR_TIMEOUT=20 # seconds; typical is ~2 s
UNIT=/lib/systemd/system/rearview-agent.service
export DEBIAN_FRONTEND=noninteractive

lab_need_tools dpkg-buildpackage dpkg-parsechangelog dh lintian apt-get dpkg-query setpriv tar
lab_test_begin

# apt and dpkg wait for a lock another apt holds instead of failing at once.
APT=(apt-get -q -y -o DPkg::Lock::Timeout=120)

# dpkg's status of rearview ("" or "un" when it is not installed in any way).
pkg_state() { dpkg-query -W -f='${db:Status-Abbrev}' rearview 2>/dev/null | tr -d ' ' || true; }
pkg_gone() { local s; s=$(pkg_state); [[ -z $s || $s == un ]]; }

# Someone's own install (or a run that could not clean up) must not be
# purged by a test: say what is there and stop.
if ! pkg_gone; then
    lab_not_ok "package rearview is already known to dpkg (state '$(pkg_state)'); apt-get purge rearview first"
    exit 1
fi
for f in /etc/rearview/rearview.conf /var/lib/rearview; do
    if [[ -e $f ]]; then
        lab_not_ok "$f exists before the test; the test's purge would remove it: move it away first"
        exit 1
    fi
done

installed=0
# Cleanup, also after a failure: stop the installed agent before its package
# goes, purge what we installed, then the lab's own teardown and summary.
# shellcheck disable=SC2317 # EXIT trap
pkg_finish() {
    local rc=$?
    set +e # cleanup goes on past a failure; lab__test_finish reads rc from $?
    if [[ -n ${LAB:-} && -f $LAB/pids/agent ]]; then lab_stop_agent TERM; fi
    if ((installed)); then
        "${APT[@]}" purge rearview >"$LAB/purge-trap.log" 2>&1 || cat "$LAB/purge-trap.log"
    fi
    (exit "$rc")
    lab__test_finish
}
trap pkg_finish EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

lab_init

# --- 1. build from a copy of the source tree.
lab_phase "dpkg-buildpackage"
meson_version=$(sed -n "s/^[[:space:]]*version:[[:space:]]*'\([^']*\)'.*/\1/p" "$srcdir/meson.build" | head -n 1)
deb_version=$(dpkg-parsechangelog -l "$srcdir/debian/changelog" -S Version)
lab_check "debian/changelog version $deb_version = meson.build project version $meson_version" \
    test "$deb_version" = "$meson_version"
pkgroot=$LAB/pkg
tree=$pkgroot/rearview-$deb_version
mkdir -p "$tree"
# The working tree as it is (uncommitted edits included) but none of its build
# directories: git's list of tracked and unignored files when there is git.
if git -C "$srcdir" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    (cd "$srcdir" && git ls-files -z --cached --others --exclude-standard |
        while IFS= read -r -d '' f; do
            if [[ -e $f || -L $f ]]; then printf '%s\0' "$f"; fi # skip deleted files
        done | tar --null -T - -cf -) | tar -xf - -C "$tree"
else
    tar -C "$srcdir" --exclude='./build*' --exclude='./obj-*' --exclude=./.git -cf - . | tar -xf - -C "$tree"
fi
t0=$(lab_now_ms)
if (cd "$tree" && dpkg-buildpackage -us -uc -b) >"$pkgroot/build.log" 2>&1; then
    lab_ok "dpkg-buildpackage -us -uc -b ($((($(lab_now_ms) - t0) / 1000)) s)"
else
    tail -n 40 "$pkgroot/build.log"
    lab_not_ok "dpkg-buildpackage -us -uc -b (log above: $pkgroot/build.log)"
    exit 1
fi
deb=$pkgroot/rearview_${deb_version}_$(dpkg --print-architecture).deb
lab_check "the package file is $(basename "$deb")" test -f "$deb"
echo "# dpkg -c $(basename "$deb"):"
dpkg -c "$deb" | sed 's/^/#   /'

# --- 2. lintian: no error. (lintian warns when run as root; harmless here.)
lab_phase "lintian"
lintian_rc=0
lintian --display-info --pedantic --fail-on error "$pkgroot"/rearview_"${deb_version}"_*.changes \
    >"$pkgroot/lintian.txt" 2>&1 || lintian_rc=$?
sed 's/^/#   /' "$pkgroot/lintian.txt"
no_lintian_errors() { ! grep -q '^E: ' "$pkgroot/lintian.txt"; }
lab_check "lintian reports no E: tag" no_lintian_errors
# 1 = error tags, anything else = lintian itself failed (then nothing was checked).
lab_check "lintian --fail-on error exits 0 (status $lintian_rc)" test "$lintian_rc" = 0

# --- 3. install, as an administrator does (apt resolves the dependencies).
lab_phase "apt-get install"
installed=1
if (cd "$pkgroot" && "${APT[@]}" install "./$(basename "$deb")") >"$pkgroot/install.log" 2>&1; then
    lab_ok "apt-get install -y ./$(basename "$deb")"
else
    tail -n 30 "$pkgroot/install.log"
    lab_not_ok "apt-get install -y ./$(basename "$deb")"
    exit 1
fi
files=$(dpkg -L rearview)
listed() { grep -qxF "$1" <<<"$files" && test -e "$1"; }
for f in /usr/sbin/rearview-agent /usr/bin/rearview-report \
    /usr/share/man/man8/rearview-agent.8.gz /usr/share/man/man1/rearview-report.1.gz \
    /etc/rearview/rearview.conf "$UNIT" /usr/lib/sysusers.d/rearview.conf \
    /usr/lib/tmpfiles.d/rearview.conf /usr/share/rearview/scripts/render-bind-conf.sh \
    /usr/share/rearview/bind-conf/key.conf /usr/share/rearview/bind-conf/options.conf \
    /usr/share/rearview/bind-conf/view-xray.conf /usr/share/rearview/bind-conf/view-client.conf \
    /usr/share/rearview/bind-conf/view-xray-secondary.conf /usr/share/rearview/bind-conf/statistics.conf \
    /usr/share/rearview/rpz/rpz.zone.in /usr/sbin/rearview-relay \
    /usr/share/man/man8/rearview-relay.8.gz /lib/systemd/system/rearview-relay.service \
    /etc/logrotate.d/rearview; do
    lab_check "dpkg -L rearview lists $f, and it is installed" listed "$f"
done
conffile() { dpkg-query -W -f='${Conffiles}\n' rearview | grep -q '^ /etc/rearview/rearview.conf '; }
lab_check "the relay's unit is not enabled (it is for BIND hosts of a fleet)" \
    test ! -e /etc/systemd/system/multi-user.target.wants/rearview-relay.service
lab_check "/etc/rearview/rearview.conf is a conffile" conffile
no_key() {
    ! grep -qiE 'secret|algorithm' /etc/rearview/rearview.conf &&
        grep -qx 'key-file /etc/rearview/rearview.key' /etc/rearview/rearview.conf
}
lab_check "the shipped config holds no key, only the key-file path" no_key
lab_check "no key file was created: the administrator makes it" test ! -e /etc/rearview/rearview.key
version_ok() { /usr/sbin/rearview-agent --version | grep -qF "$meson_version"; }
lab_check "installed agent --version says $meson_version" version_ok
lab_check "the unit is enabled (multi-user.target.wants link)" \
    test -L /etc/systemd/system/multi-user.target.wants/rearview-agent.service
lab_check "the unit does not start without the key (ConditionPathExists)" \
    grep -qx 'ConditionPathExists=/etc/rearview/rearview.key' "$UNIT"

# The user and group the unit runs as, created by systemd-sysusers at install.
unit_user=$(sed -n 's/^User=//p' "$UNIT")
unit_group=$(sed -n 's/^Group=//p' "$UNIT")
lab_check "unit has one User= ($unit_user) and one Group= ($unit_group)" \
    test "$(grep -c '^User=' "$UNIT"):$(grep -c '^Group=' "$UNIT")" = 1:1
lab_check "system user $unit_user exists (sysusers)" getent passwd "$unit_user"
lab_check "its primary group is $unit_group" \
    test "$(id -gn "$unit_user" 2>/dev/null)" = "$unit_group"
lab_check "/var/lib/rearview exists, owned $unit_user:$unit_group, mode 750 (tmpfiles)" \
    test "$(stat -c '%U:%G %a' /var/lib/rearview 2>/dev/null)" = "$unit_user:$unit_group 750"

# --- 4. the installed agent, as its unit starts it, against the lab.
lab_phase "installed agent"
# ExecStart exactly as written, split into words; refuse syntax that this
# split would get wrong (quotes, variables, specifiers, prefixes).
mapfile -t execs < <(sed -n 's/^ExecStart=//p' "$UNIT")
lab_check "unit has exactly one ExecStart= (${execs[*]:-none})" test "${#execs[@]}" = 1
exec_line=${execs[0]:-}
bad_re='["'\''$%\\]'
if [[ $exec_line =~ $bad_re || $exec_line =~ ^[-@+!:] ]]; then
    lab_not_ok "ExecStart uses syntax this test does not parse: $exec_line"
    exit 1
fi
read -ra argv <<<"$exec_line"
lab_check "ExecStart runs the packaged agent: ${argv[0]}" test "${argv[0]}" = /usr/sbin/rearview-agent
# Only the -c argument changes: the lab's config instead of /etc/rearview/rearview.conf.
nc=0
for ((i = 1; i < ${#argv[@]}; i++)); do
    if [[ ${argv[i]} == -c ]] && ((i + 1 < ${#argv[@]})); then
        lab_check "ExecStart reads ${argv[i + 1]}" test "${argv[i + 1]}" = /etc/rearview/rearview.conf
        argv[i + 1]=$LAB_AGENT_CONF
        nc=$((nc + 1))
    fi
done
lab_check "ExecStart has one -c FILE" test "$nc" = 1

# The lab's named renders its config with the INSTALLED renderer and fragments.
LAB_SRCDIR=/usr/share/rearview
# What the agent (user $unit_user) must reach, and no more: the lab dir is
# traversable by its group; its socket lives in a directory it owns (as
# /run/rearview under systemd); the key and config are group-readable, like
# /etc/rearview/rearview.key (0640 root:bind) in a deployment.
# The lab's named runs as root but drops CAP_DAC_OVERRIDE once started, so to
# the rearview:bind socket it is "other" (a deployed named is user bind, in
# the socket's group): the socket is 0666 in a directory only the agent and
# group root can enter.
LAB_SOCK=$LAB/agent/dnstap.sock
install -d -m 0750 -o "$unit_user" -g root "$LAB/agent"
chgrp "$unit_group" "$LAB" "$LAB/rearview.key"
chmod 0710 "$LAB"
lab_start_upstream
lab_start_bind
lab_write_agent_conf socket-group "$unit_group" socket-mode 0666 \
    snapshot-file /var/lib/rearview/state.snap
chgrp "$unit_group" "$LAB_AGENT_CONF"
chmod 0640 "$LAB_AGENT_CONF"

# As systemd runs it: User=/Group= with the user's groups, a clean
# environment, the unit's UMask=; setpriv execs, so the PID is the agent's.
unit_umask=$(sed -n 's/^UMask=//p' "$UNIT")
asuser=(env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin
    setpriv --reuid="$unit_user" --regid="$unit_group" --init-groups --)
# ExecStartPre (--check-config) the same way: config and key readable as that user.
mapfile -t pres < <(sed -n 's/^ExecStartPre=//p' "$UNIT")
for pre in "${pres[@]}"; do
    read -ra pargv <<<"${pre//\/etc\/rearview\/rearview.conf/$LAB_AGENT_CONF}"
    lab_check "ExecStartPre as $unit_user: ${pargv[*]}" "${asuser[@]}" "${pargv[@]}"
done
LAB_AGENT=${argv[0]}
LAB_AGENT_ARGV=("${asuser[@]}" "${argv[@]}")
echo "# agent: ${LAB_AGENT_ARGV[*]} (umask ${unit_umask:-default})"
old_umask=$(umask)
[[ -z $unit_umask ]] || umask "$unit_umask"
lab_start_agent
umask "$old_umask"
lab_check "the agent runs as $unit_user" \
    test "$(ps -o uid= -p "$LAB_AGENT_PID" | tr -d ' ')" = "$(id -u "$unit_user")"
lab_check "its dnstap socket is group $unit_group" test "$(stat -c %G "$LAB_SOCK")" = "$unit_group"

lab_fresh_lookup
if lab_wait_ptr "$FRESH_ADDR" "$FRESH_NAME" "$PTR_TIMEOUT"; then
    lab_ok "lookup $FRESH_NAME -> xray: dig -x $FRESH_ADDR answers $FRESH_NAME. (${LAB_WAIT_MS} ms)"
else
    lab_not_ok "lookup $FRESH_NAME -> xray: dig -x $FRESH_ADDR answers $FRESH_NAME.: got '$(lab_xray_ptr "$FRESH_ADDR")'"
fi
lab_stop_agent TERM
lab_check "agent exits 0 on SIGTERM (status $LAB_AGENT_STATUS)" test "$LAB_AGENT_STATUS" = 0
lab_check "it saved its snapshot in the package's state dir, as $unit_user" \
    test "$(stat -c %U /var/lib/rearview/state.snap 2>/dev/null)" = "$unit_user"

# --- 5. purge removes what the package added.
lab_phase "apt-get purge"
if "${APT[@]}" purge rearview >"$pkgroot/purge.log" 2>&1; then
    installed=0
    lab_ok "apt-get purge -y rearview"
else
    tail -n 30 "$pkgroot/purge.log"
    lab_not_ok "apt-get purge -y rearview"
fi
lab_check "dpkg no longer knows rearview (state '$(pkg_state)')" pkg_gone
for f in /usr/sbin/rearview-agent /var/lib/rearview /etc/rearview/rearview.conf "$UNIT" \
    /usr/share/rearview /etc/systemd/system/multi-user.target.wants/rearview-agent.service; do
    lab_check "purge removed $f" test ! -e "$f" -a ! -L "$f"
done

LAB_SUMMARIZED=1 # the EXIT trap prints the summary last

# deps.sh - sourced by demo.sh, test.sh and bench scripts: installs the Debian 12
# packages rearview needs, only when some are missing (apt-get update once).
# shellcheck shell=bash
# The arrays are used by the scripts that source this file.
# shellcheck disable=SC2034

RV_BUILD_DEPS=(
	meson ninja-build pkg-config gcc
	libfstrm-dev libprotobuf-c-dev protobuf-c-compiler libldns-dev
	libmaxminddb-dev libevent-dev libxxhash-dev libsystemd-dev libssl-dev
	libpsl-dev publicsuffix libsqlite3-dev libjson-c-dev
)
RV_RUN_DEPS=(bind9 bind9-utils bind9-dnsutils iproute2 fstrm-bin curl dnsdbq)
# prometheus: the only Debian 12 package with promtool (metrics.sh, bindstats.sh)
# and the server metrics.sh scrapes with. It also enables a Prometheus server
# (port 9090) that the tests never use.
# debhelper ... lintian: tests/integration/package.sh builds the Debian package
# (Rules-Requires-Root: no, so no fakeroot) and checks it.
# unbound: tests/integration/unbound.sh runs it as a dnstap source and
# unbound-xray.sh as an xray server; knot-resolver, dnsdist, pdns-recursor:
# tests/integration/sources.sh (other dnstap sources). Their packaged services
# want port 53 on localhost, like bind9's; the tests never use the system
# instances. openssl, python3: relay.sh and unbound.sh make a test CA and
# certificates, and relay.sh connects from an address outside dnstap-allow.
RV_TEST_DEPS=(libcmocka-dev valgrind clang dnstap-ldns ldnsutils chromium
	debhelper dpkg-dev lintian build-essential prometheus unbound openssl python3
	knot-resolver dnsdist pdns-recursor)

# rv_install_deps PKG... : installs the named packages that are not installed yet.
rv_install_deps() {
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
			missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	if [ "$(id -u)" -ne 0 ]; then
		echo "missing packages: ${missing[*]}; run as root or install them first" >&2
		return 1
	fi
	echo "installing: ${missing[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >&2
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
	# The bind9 package starts a system named; the lab runs its own instances on
	# private addresses and never needs the system one.
}

# rv_build DIR [meson setup args...] : configures (once) and compiles.
rv_build() {
	local dir=$1
	shift
	if [ ! -f "$dir/build.ninja" ]; then
		meson setup "$dir" "$@" >&2
	fi
	meson compile -C "$dir" >&2
}

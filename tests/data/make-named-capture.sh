#!/bin/sh
# make-named-capture.sh - regenerate named-capture.fstrm: a real BIND 9 dnstap
# capture of a few lookups in two tiny local zones (see README.md).
#
# Needs bind9, bind9-dnsutils and fstrm-bin. Everything listens on loopback
# (a unix socket and a random high port); every process started here is
# stopped by its PID. Usage: make-named-capture.sh OUTPUT.fstrm
set -eu

out=${1:?usage: $0 OUTPUT.fstrm}
for tool in named dig fstrm_capture; do
	command -v "$tool" >/dev/null || {
		echo "$0: $tool not found (Debian: apt-get install bind9 bind9-dnsutils fstrm-bin)" >&2
		exit 1
	}
done

dir=$(mktemp -d /tmp/rv-capture.XXXXXX)
port=$((40000 + $(od -An -N2 -tu2 /dev/urandom) % 20000))
cap_pid=
named_pid=
cleanup() {
	if [ -n "$named_pid" ]; then kill -TERM "$named_pid" 2>/dev/null || true; fi
	if [ -n "$cap_pid" ]; then kill -TERM "$cap_pid" 2>/dev/null || true; fi
	rm -rf "$dir"
}
trap cleanup EXIT

cat >"$dir/example.test.zone" <<'ZONE'
$TTL 300
@        IN SOA ns.example.test. hostmaster.example.test. 1 3600 600 86400 60
@        IN NS  ns.example.test.
ns       IN A   127.0.0.1
@        IN MX  10 mail.example.test.
mail     IN A   192.0.2.25
plain    IN A   192.0.2.30
www      600 IN CNAME www.cdn.test.
deep     IN CNAME a.example.test.
a        120 IN CNAME b.cdn.test.
mixed    IN CNAME Edge.CDN.test.
loop1    IN CNAME loop2.example.test.
loop2    IN CNAME loop1.example.test.
old      IN DNAME new.example.test.
www.new  IN A   192.0.2.40
ZONE
cat >"$dir/cdn.test.zone" <<'ZONE'
$TTL 300
@        IN SOA ns.cdn.test. hostmaster.cdn.test. 1 3600 600 86400 60
@        IN NS  ns.example.test.
www      60 IN A    192.0.2.10
www      60 IN AAAA 2001:db8::10
b        IN CNAME edge.cdn.test.
edge     30 IN A    192.0.2.20
edge     30 IN A    192.0.2.21
edge     IN AAAA 2001:db8::20
ZONE
# recursion yes so named follows CNAMEs from one local zone into the other.
cat >"$dir/named.conf" <<CONF
options {
	directory "$dir";
	pid-file "$dir/named.pid";
	listen-on port $port { 127.0.0.1; };
	listen-on-v6 port $port { ::1; };
	recursion yes;
	allow-recursion { 127.0.0.1; ::1; };
	dnssec-validation no;
	notify no;
	dnstap { client response; auth response; };
	dnstap-output unix "$dir/dnstap.sock";
	dnstap-identity "rearview-test";
	dnstap-version "test";
	fstrm-set-flush-timeout 1;
	fstrm-set-reopen-interval 1;
};
controls { };
zone "example.test" { type primary; file "example.test.zone"; };
zone "cdn.test" { type primary; file "cdn.test.zone"; };
CONF

fstrm_capture -t protobuf:dnstap.Dnstap -u "$dir/dnstap.sock" \
	-w "$dir/capture.fstrm" 2>"$dir/capture.log" &
cap_pid=$!
i=0
while [ ! -S "$dir/dnstap.sock" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
named -g -c "$dir/named.conf" >"$dir/named.log" 2>&1 &
named_pid=$!
i=0
until dig +tries=1 +time=1 -p "$port" @127.0.0.1 plain.example.test A >/dev/null 2>&1; do
	i=$((i + 1))
	[ $i -lt 30 ] || { cat "$dir/named.log" >&2; exit 1; }
	sleep 0.2
done
# The readiness probe above is captured too (plain.example.test A, RD=1).

q() { dig +tries=1 +time=2 -p "$port" "$@" >/dev/null; }
q @127.0.0.1 www.example.test A
q @::1 www.example.test AAAA
q @127.0.0.1 deep.example.test A
q @127.0.0.1 deep.example.test AAAA
q @127.0.0.1 plain.example.test A +nord
q @127.0.0.1 MiXeD.ExAmple.TEST A
q @127.0.0.1 www.old.example.test A
q @127.0.0.1 nx.example.test A
q @127.0.0.1 example.test MX
q @127.0.0.1 plain.example.test AAAA
q @127.0.0.1 loop1.example.test A

# Let named flush its ~1 s batch, then stop it (it sends STOP, the capture
# answers FINISH), then stop the capture, which writes its file on exit.
sleep 2
kill -TERM "$named_pid"
wait "$named_pid" || true
named_pid=
kill -TERM "$cap_pid"
wait "$cap_pid" || true
cap_pid=
cp "$dir/capture.fstrm" "$out"
echo "$0: wrote $out ($(wc -c <"$out") bytes)"

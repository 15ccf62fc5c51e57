#!/usr/bin/env python3
"""Writes an RPZ zone file shaped like the agent's, for rearview-report's
benchmark (scripts/bench.sh, part "report"): N addresses, each a PTR to a
name and a TXT "first=F last=L count=C depth=D score=S country=CC".

Names and registered domains repeat, as in real traffic (many addresses
behind one CDN name, many names under one domain): NAMES distinct names
under NAMES/10 registered domains. Every 20th TXT also carries keys the
report does not interpret (trend=, update=), kept as found. Addresses: the
first 90 % IPv4 from 10.0.0.0, the rest IPv6 under 2001:db8::/32.
Deterministic (no randomness), so two runs write the same file.

usage: gen-report-zone.py N [--names K] [--zone Z] [--ttl T] > FILE
"""
import argparse
import sys
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('n', type=int)
    ap.add_argument('--names', type=int, default=0, help='distinct names (default N/5)')
    ap.add_argument('--zone', default='rpz.rearview')
    ap.add_argument('--ttl', type=int, default=600)
    a = ap.parse_args()
    n = a.n
    names = a.names or max(1, n // 5)
    doms = max(1, names // 10)
    now = int(time.time())
    out = sys.stdout
    w = out.write
    w(f'$ORIGIN {a.zone}.\n$TTL {a.ttl}\n'
      '@ IN SOA localhost. hostmaster.localhost. 1 3600 600 864000 10\n'
      '@ IN NS localhost.\n')
    n4 = n - n // 10
    buf = []
    for i in range(n):
        if i < n4:
            v = 0x0a000000 + i
            owner = f'{v & 255}.{(v >> 8) & 255}.{(v >> 16) & 255}.{v >> 24}.in-addr.arpa'
        else:
            k = i - n4 + 1
            nib = f'{k:024x}'  # the low 96 bits of 2001:db8::/32
            owner = '.'.join(reversed(nib)) + '.8.b.d.0.1.0.0.2.ip6.arpa'
        j = (i * 7919) % names
        name = f'h{j}.svc{j % 7}.d{j % doms}.example.com'
        first = now - 86400 * 30 + (i * 37) % (86400 * 29)
        last = first + (i * 13) % 86400
        txt = (f'first={first} last={last} count={1 + i % 50} depth={i % 4} '
               f'score={(i % 97) / 10:.2f} country={"DE" if i % 3 else "US"}')
        if i % 20 == 0:
            txt += ' trend=up update=1'
        buf.append(f'{owner} PTR {name}.\n{owner} TXT "{txt}"\n')
        if len(buf) >= 10000:
            w(''.join(buf))
            buf.clear()
    w(''.join(buf))


if __name__ == '__main__':
    main()

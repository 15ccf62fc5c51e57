#!/usr/bin/env python3
"""make-axfr-capture.py - regenerate tests/data/axfr/: real zone transfers from
BIND, one per TSIG algorithm, as test vectors for tsig.c and the AXFR parser
(see README.md).

Starts a named on 127.0.0.1 and a random high port (stopped by its PID),
authoritative for rpz.test (a few address owners, PTR targets with escaped
octets, foreign records) with transfer-message-size 1024 so a transfer is
several messages. For each algorithm it signs an AXFR query with Python's own
hmac module (an implementation independent of the agent's), sends it over TCP
and writes OUT/<algorithm>.axfr: the query and every reply message, each with
its 2-byte length prefix (RFC 1035 4.2.2), as they went over the wire. The keys
(fixed test secrets) go to OUT/<algorithm>.key in named.conf syntax.

Usage: make-axfr-capture.py OUTDIR
"""
import base64
import hashlib
import hmac
import os
import random
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time

ALGS = {  # BIND name: (hashlib name, RFC 8945 algorithm name)
    "hmac-md5": ("md5", "hmac-md5.sig-alg.reg.int."),
    "hmac-sha1": ("sha1", "hmac-sha1."),
    "hmac-sha224": ("sha224", "hmac-sha224."),
    "hmac-sha256": ("sha256", "hmac-sha256."),
    "hmac-sha384": ("sha384", "hmac-sha384."),
    "hmac-sha512": ("sha512", "hmac-sha512."),
}
ZONE = "rpz.test."
# PTR targets as the agent stores names (RFC 1035 5.1 escapes); what the
# parser must read back, byte for byte.
TARGETS = ["www.example.com", "a\\.b.example", "sp\\032ace.example", "back\\\\slash.example",
           "q\"uote.example", "\\000\\255.example"]


def key_secret(alg):
    """A fixed secret of the digest's size, as tsig-keygen makes them."""
    h = ALGS[alg][0]
    return hashlib.new(h, ("rearview test key " + alg).encode()).digest()


def wire_name(text):
    """Presentation form (with the escapes above) -> uncompressed wire."""
    out, label, i = b"", b"", 0
    text = text.rstrip(".") if not text.endswith("\\.") else text
    while i < len(text):
        c = text[i]
        if c == "\\":
            if text[i + 1].isdigit():
                label += bytes([int(text[i + 1:i + 4])])
                i += 4
            else:
                label += text[i + 1].encode()
                i += 2
        elif c == ".":
            out += bytes([len(label)]) + label
            label = b""
            i += 1
        else:
            label += c.encode()
            i += 1
    if label:
        out += bytes([len(label)]) + label
    return out + b"\0"


def signed_query(alg, keyname, qid, now):
    """AXFR query for ZONE with a TSIG RR (RFC 8945 4.2, 4.3.3)."""
    msg = struct.pack(">HHHHHH", qid, 0, 1, 0, 0, 0) + wire_name(ZONE) + struct.pack(">HH", 252, 1)
    kname, aname = wire_name(keyname.lower()), wire_name(ALGS[alg][1])
    timers = struct.pack(">HIH", now >> 32, now & 0xffffffff, 300)
    variables = kname + struct.pack(">HI", 255, 0) + aname + timers + struct.pack(">HH", 0, 0)
    mac = hmac.new(key_secret(alg), msg + variables, ALGS[alg][0]).digest()
    rdata = aname + timers + struct.pack(">H", len(mac)) + mac + struct.pack(">HHH", qid, 0, 0)
    rr = kname + struct.pack(">HHIH", 250, 255, 0, len(rdata)) + rdata
    return msg[:10] + struct.pack(">H", 1) + msg[12:] + rr


def skip_name(m, o):
    while True:
        n = m[o]
        if n >= 0xc0:
            return o + 2
        o += 1 + n
        if n == 0:
            return o


def soa_count(m):
    """SOA records in the answer section of message m."""
    qd, an = struct.unpack(">HH", m[4:8])
    o, n = 12, 0
    for _ in range(qd):
        o = skip_name(m, o) + 4
    for _ in range(an):
        o = skip_name(m, o)
        rtype, _, _, rdlen = struct.unpack(">HHIH", m[o:o + 10])
        n += rtype == 6
        o += 10 + rdlen
    return n


def recv_exact(s, n):
    b = b""
    while len(b) < n:
        chunk = s.recv(n - len(b))
        if not chunk:
            raise EOFError("connection closed")
        b += chunk
    return b


def transfer(port, alg):
    qid = random.randrange(65536)
    q = signed_query(alg, "rearview-" + alg, qid, int(time.time()))
    stream = struct.pack(">H", len(q)) + q
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(stream)
        soas = 0
        while soas < 2:
            (n,) = struct.unpack(">H", recv_exact(s, 2))
            m = recv_exact(s, n)
            stream += struct.pack(">H", n) + m
            rcode = m[3] & 0xf
            if rcode != 0:
                raise RuntimeError(f"{alg}: rcode {rcode}")
            soas += soa_count(m)  # the zone's SOA opens and closes the transfer
    return stream


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    d = tempfile.mkdtemp(prefix="rv-axfr-")
    named = None
    try:
        port = 40000 + random.randrange(20000)
        keys = ""
        for alg in ALGS:
            keys += 'key "rearview-%s" { algorithm %s; secret "%s"; };\n' % (
                alg, alg, base64.b64encode(key_secret(alg)).decode())
        with open(os.path.join(d, "keys.conf"), "w") as f:
            f.write(keys)
        zone = ["$TTL 60", "@ IN SOA ns.rpz.test. admin.rpz.test. 7 3600 600 86400 60",
                "@ IN NS ns.rpz.test.", "ns IN A 127.0.0.1",
                'bad.example.com IN CNAME .', 'lonely IN TXT "no PTR here"']
        for i in range(40):
            owner = "%d.2.0.192.in-addr.arpa" % (i + 1)
            # A master file reads '"' as the start of a string: escape it there.
            target = TARGETS[i % len(TARGETS)] if i < 12 else "host%d.example.net" % i
            zone.append("%s IN PTR %s." % (owner, target.replace('"', '\\"')))
            zone.append('%s IN TXT "first=1700000000 last=%d count=%d depth=%d score=1.50"' % (
                owner, 1700000000 + i, i + 1, i % 3))
        v6 = ".".join("0123456789abcdef"[n % 16] for n in range(32)) + ".ip6.arpa"
        zone += ["%s IN PTR v6.example.org." % v6,
                 '%s IN TXT "first=1700000000 last=1700000100 count=3 depth=0"' % v6]
        with open(os.path.join(d, "rpz.test.db"), "w") as f:
            f.write("\n".join(zone) + "\n")
        allow = " ".join("key rearview-%s;" % a for a in ALGS)
        with open(os.path.join(d, "named.conf"), "w") as f:
            f.write('options { directory "%s"; pid-file none; session-keyfile none;\n'
                    '  listen-on port %d { 127.0.0.1; }; listen-on-v6 { none; };\n'
                    '  recursion no; notify no; dnssec-validation no;\n'
                    '  transfer-message-size 1024; };\n'
                    'controls { };\ninclude "%s/keys.conf";\n'
                    'zone "rpz.test" { type primary; file "rpz.test.db";\n'
                    '  allow-transfer { %s }; };\n' % (d, port, d, allow))
        named = subprocess.Popen(["named", "-4", "-g", "-c", os.path.join(d, "named.conf")],
                                 stdout=subprocess.DEVNULL,
                                 stderr=open(os.path.join(d, "named.stderr"), "w"))
        # Ready when the zone answers (it loads after the port opens).
        for _ in range(100):
            soa = subprocess.run(["dig", "@127.0.0.1", "-p", str(port), "+time=1", "+tries=1",
                                  "+short", "SOA", ZONE], capture_output=True, text=True)
            if "ns.rpz.test." in soa.stdout:
                break
            time.sleep(0.1)
        for alg in ALGS:
            data = transfer(port, alg)
            with open(os.path.join(out, alg + ".axfr"), "wb") as f:
                f.write(data)
            with open(os.path.join(out, alg + ".key"), "w") as f:
                f.write('key "rearview-%s" {\n\talgorithm %s;\n\tsecret "%s";\n};\n' % (
                    alg, alg, base64.b64encode(key_secret(alg)).decode()))
            print("%s: %d bytes" % (alg, len(data)))
    except Exception:
        with open(os.path.join(d, "named.stderr")) as f:
            sys.stderr.write(f.read())
        raise
    finally:
        if named is not None:
            named.terminate()
            named.wait()
        shutil.rmtree(d)


if __name__ == "__main__":
    main()

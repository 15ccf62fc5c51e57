#!/usr/bin/env python3
"""fstrm-arrivals.py SOCKET OUT - the smallest Frame Streams reader there is.

Listens on the unix socket SOCKET, answers a writer's READY with ACCEPT and
its STOP with FINISH, throws every data frame away and appends the wall-clock
time it arrived (epoch milliseconds) to OUT, one line per frame. It does
nothing else, so the time between a lookup and its frame's arrival here is
named's own dnstap delivery time: the floor under any reader's latency
(scripts/bench.sh --only floor). Written for the benchmark, independent of the
agent's Frame Streams code on purpose.
"""
import os
import socket
import struct
import sys
import time

CONTROL_ACCEPT, CONTROL_START, CONTROL_STOP, CONTROL_READY, CONTROL_FINISH = 1, 2, 3, 4, 5
CONTENT_TYPE = b"protobuf:dnstap.Dnstap"


def control(ctype, with_content_type=True):
    body = struct.pack(">I", ctype)
    if with_content_type:
        body += struct.pack(">II", 1, len(CONTENT_TYPE)) + CONTENT_TYPE
    return struct.pack(">II", 0, len(body)) + body


def read_exact(conn, n):
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return buf


def serve(conn, out):
    while True:
        (length,) = struct.unpack(">I", read_exact(conn, 4))
        if length == 0:
            (clen,) = struct.unpack(">I", read_exact(conn, 4))
            body = read_exact(conn, clen)
            (ctype,) = struct.unpack(">I", body[:4])
            if ctype == CONTROL_READY:
                conn.sendall(control(CONTROL_ACCEPT))
            elif ctype == CONTROL_STOP:
                conn.sendall(control(CONTROL_FINISH, False))
                return
            continue
        read_exact(conn, length)
        out.write("%d\n" % int(time.time() * 1000))


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: fstrm-arrivals.py SOCKET OUT")
    path, out_path = sys.argv[1], sys.argv[2]
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    os.chmod(path, 0o660)
    srv.listen(4)
    with open(out_path, "a", buffering=1) as out:
        while True:
            conn, _ = srv.accept()
            try:
                serve(conn, out)
            except (EOFError, ConnectionError):
                pass
            conn.close()


if __name__ == "__main__":
    main()

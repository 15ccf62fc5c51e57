#!/usr/bin/env python3
"""make-test-mmdb.py - writes the tiny MaxMind DB that tests/unit/test_geo.c reads.

    ./make-test-mmdb.py test-country.mmdb

Dependency-free: the MaxMind DB format 2.0 (https://maxmind.github.io/MaxMind-DB/)
is written here directly, so the test database needs no download, no MaxMind
writer and no network. The output is deterministic (fixed build_epoch, fixed
node order): running it again yields the committed file byte for byte.

Layout of the file:
  search tree    node_count nodes of two 24-bit records each (6 bytes/node),
                 one level per address bit of a 128-bit IPv6 tree. A record is
                 a node number (< node_count), "no data" (== node_count) or a
                 data pointer (node_count + 16 + offset into the data section).
  16 zero bytes  the data section separator
  data section   one encoded record per distinct value (identical ones shared)
  metadata       "\\xab\\xcd\\xefMaxMind.com" then a map (node_count, ...)

IPv4 networks live in the IPv6 tree under ::/96 (96 zero bits, then the 32
IPv4 bits), which is where readers such as libmaxminddb start an IPv4 lookup.

Records are shaped like GeoLite2-Country ({"country": {"iso_code": "AU"}}); the
rest of 203.0.113.0/24 and 3fff::/20 hold the odd shapes the reader must cope
with. As in MaxMind's own files, a map key already written to the data section
is stored again only as a pointer to it, so readers' pointer handling is used.
"""
import ipaddress
import sys

# (network, record). Networks must not overlap (the tree builder refuses).
NETWORKS = [
    ("192.0.2.0/24", {"country": {"iso_code": "AU"}}),
    ("198.51.100.0/24", {"country": {"iso_code": "DE"}}),
    ("2001:db8::/32", {"country": {"iso_code": "JP"}}),
    ("203.0.113.0/25", {"country": {"iso_code": "US"}}),
    # only registered_country (like an anycast or satellite range): the fallback
    ("203.0.113.128/26", {"registered_country": {"iso_code": "NZ"}}),
    # not a two-letter code: rejected
    ("203.0.113.192/27", {"country": {"iso_code": "usa"}}),
    # lower case: accepted and upper-cased
    ("203.0.113.224/28", {"country": {"iso_code": "fr"}}),
    # wrong type (uint32, not a string): rejected
    ("203.0.113.240/29", {"country": {"iso_code": 42}}),
    # a record without any country: unknown, not an error
    ("203.0.113.248/30", {"continent": {"code": "EU"}}),
    # two bytes, but not two ASCII letters (U+00E9 is 0xC3 0xA9): rejected
    ("203.0.113.252/31", {"country": {"iso_code": "\u00e9"}}),
    # country wins over registered_country
    ("203.0.113.254/31", {"country": {"iso_code": "CA"},
                          "registered_country": {"iso_code": "US"}}),
    # 3fff::/20 (RFC 9637, documentation) for shapes of other databases:
    # a country map without iso_code falls back to registered_country
    ("3fff:0:0:1::/64", {"country": {"geoname_id": 2661886},
                         "registered_country": {"iso_code": "SE"}}),
    # "country" is a name, not a map: no code to read
    ("3fff:0:0:2::/64", {"country": "Japan"}),
    # the record is not a map at all
    ("3fff:0:0:3::/64", "just a string"),
]

RECORD_SIZE = 24
BUILD_EPOCH = 1735689600  # 2025-01-01T00:00:00Z, fixed so the output is reproducible
METADATA_MARKER = b"\xab\xcd\xefMaxMind.com"

# Data types (spec "Output Data Section")
T_POINTER, T_UTF8, T_UINT16, T_UINT32, T_MAP = 1, 2, 5, 6, 7
T_UINT64, T_ARRAY = 9, 11


class Uint:
    """An unsigned integer of an explicit MaxMind type (plain ints are uint32)."""

    def __init__(self, type_, value):
        self.type, self.value = type_, value


def control(type_, size):
    """Control byte(s): type in the top 3 bits (0 = extended, type - 7 in the
    next byte), payload size in the low 5 bits with 1-3 extension bytes."""
    if size < 29:
        low, ext = size, b""
    elif size < 29 + 256:
        low, ext = 29, (size - 29).to_bytes(1, "big")
    elif size < 285 + 65536:
        low, ext = 30, (size - 285).to_bytes(2, "big")
    else:
        low, ext = 31, (size - 65821).to_bytes(3, "big")
    if type_ <= 7:
        return bytes([type_ << 5 | low]) + ext
    return bytes([low, type_ - 7]) + ext


def pointer(offset):
    """A pointer to offset in the data section: 001SSVVV, SS = 0..3 selects
    11, 19 (+2048), 27 (+526336) or 32 bits (VVV unused)."""
    if offset < 2048:
        return bytes([T_POINTER << 5 | offset >> 8, offset & 0xFF])
    if offset < 2048 + (1 << 19):
        v = offset - 2048
        return bytes([T_POINTER << 5 | 1 << 3 | v >> 16]) + (v & 0xFFFF).to_bytes(2, "big")
    if offset < 526336 + (1 << 27):
        v = offset - 526336
        return bytes([T_POINTER << 5 | 2 << 3 | v >> 24]) + (v & 0xFFFFFF).to_bytes(3, "big")
    return bytes([T_POINTER << 5 | 3 << 3]) + offset.to_bytes(4, "big")


def encode(value, at=None, keys=None):
    """Encodes value. In the data section, at is the offset the output will
    start at and keys maps map keys already written to their offset."""
    if isinstance(value, str):
        raw = value.encode("utf-8")
        return control(T_UTF8, len(raw)) + raw
    if isinstance(value, int):
        value = Uint(T_UINT32, value)
    if isinstance(value, Uint):
        width = {T_UINT16: 2, T_UINT32: 4, T_UINT64: 8}[value.type]
        if not 0 <= value.value < 1 << (8 * width):
            raise ValueError("integer out of range: %r" % value.value)
        # big-endian without leading zero bytes (0 has an empty payload)
        raw = value.value.to_bytes(width, "big").lstrip(b"\0")
        return control(value.type, len(raw)) + raw
    if isinstance(value, dict):
        out = control(T_MAP, len(value))
        for key, item in value.items():
            if keys is not None and key in keys:
                out += pointer(keys[key])
            else:
                if keys is not None:
                    keys[key] = at + len(out)
                out += encode(key)
            out += encode(item, None if at is None else at + len(out), keys)
        return out
    if isinstance(value, list):
        out = control(T_ARRAY, len(value))
        for item in value:
            out += encode(item, None if at is None else at + len(out), keys)
        return out
    raise TypeError("cannot encode %r" % (value,))


def tree_bits(network):
    """The network as (128-bit integer, prefix length) in the IPv6 tree."""
    net = ipaddress.ip_network(network)
    if net.version == 4:
        return int(net.network_address), 96 + net.prefixlen
    return int(net.network_address), net.prefixlen


def build(networks):
    data = b""
    records = {}  # repr(record) -> offset, so identical records are stored once
    keys = {}  # map key -> offset of its string
    root = [None, None]  # a node is [left, right]; a child is a node, an int offset or None

    for network, record in networks:
        if repr(record) not in records:
            records[repr(record)] = len(data)
            data += encode(record, len(data), keys)
        offset = records[repr(record)]
        bits, plen = tree_bits(network)
        node = root
        for depth in range(plen):
            bit = bits >> (127 - depth) & 1
            last = depth == plen - 1
            child = node[bit]
            if isinstance(child, int) or (last and child is not None):
                raise ValueError("%s overlaps another network" % network)
            if last:
                node[bit] = offset
            else:
                if child is None:
                    child = node[bit] = [None, None]
                node = child

    # Number the nodes breadth first; the root must be node 0.
    nodes, index = [root], {id(root): 0}
    for node in nodes:
        for child in node:
            if isinstance(child, list):
                index[id(child)] = len(nodes)
                nodes.append(child)
    node_count = len(nodes)

    def record_value(child):
        if child is None:
            return node_count
        if isinstance(child, list):
            return index[id(child)]
        return node_count + 16 + child

    tree = b""
    for node in nodes:
        for child in node:
            value = record_value(child)
            if value >= 1 << RECORD_SIZE:
                raise ValueError("tree too large for %d-bit records" % RECORD_SIZE)
            tree += value.to_bytes(3, "big")

    metadata = {
        "binary_format_major_version": Uint(T_UINT16, 2),
        "binary_format_minor_version": Uint(T_UINT16, 0),
        "build_epoch": Uint(T_UINT64, BUILD_EPOCH),
        "database_type": "Rearview-Test-Country",
        "description": {"en": "rearview unit test database (documentation prefixes only)"},
        "ip_version": Uint(T_UINT16, 6),
        "languages": ["en"],
        "node_count": Uint(T_UINT32, node_count),
        "record_size": Uint(T_UINT16, RECORD_SIZE),
    }
    return tree + bytes(16) + data + METADATA_MARKER + encode(metadata)


def main(argv):
    if len(argv) != 2:
        sys.stderr.write("usage: %s OUTPUT.mmdb\n" % argv[0])
        return 2
    blob = build(NETWORKS)
    with open(argv[1], "wb") as f:
        f.write(blob)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

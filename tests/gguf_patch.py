#!/usr/bin/env python3
"""Writes a copy of a GGUF with one field changed in place (same size), for hostile-input tests:
  gguf_patch.py IN OUT kv-f32 KEY VALUE         a float32 metadata value (e.g. nan)
  gguf_patch.py IN OUT tensor-ne1 NAME ROWS     a tensor's second dimension (fewer rows)
Walks the header with the GGUF v3 layout (metadata, then tensor infos); no library needed."""
import struct, sys

SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}

def skip_value(b, o, t):
    if t == 8:  # string
        n, = struct.unpack_from("<Q", b, o)
        return o + 8 + n
    if t == 9:  # array
        et, n = struct.unpack_from("<IQ", b, o)
        o += 12
        if et == 8:
            for _ in range(n):
                l, = struct.unpack_from("<Q", b, o)
                o += 8 + l
            return o
        return o + SIZES[et] * n
    return o + SIZES[t]

def main():
    src, dst, what, name, val = sys.argv[1:6]
    b = bytearray(open(src, "rb").read())
    assert b[:4] == b"GGUF"
    _, n_t, n_kv = struct.unpack_from("<IQQ", b, 4)
    o = 24
    done = False
    for _ in range(n_kv):
        kl, = struct.unpack_from("<Q", b, o)
        key = b[o + 8:o + 8 + kl].decode()
        o += 8 + kl
        t, = struct.unpack_from("<I", b, o)
        o += 4
        if what == "kv-f32" and key == name:
            assert t == 6, "not a float32"
            struct.pack_into("<f", b, o, float(val))
            done = True
        o = skip_value(b, o, t)
    for _ in range(n_t):
        nl, = struct.unpack_from("<Q", b, o)
        tname = b[o + 8:o + 8 + nl].decode()
        o += 8 + nl
        nd, = struct.unpack_from("<I", b, o)
        if what == "tensor-ne1" and tname == name:
            struct.pack_into("<Q", b, o + 4 + 8, int(val))
            done = True
        o += 4 + 8 * nd + 4 + 8
    if not done:
        sys.exit("gguf_patch: %s not found" % name)
    open(dst, "wb").write(b)

main()

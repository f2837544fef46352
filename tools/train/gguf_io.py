"""Minimal GGUF v3 reader and float writer for the training tools (numpy only).

read_gguf(path) -> (kvs: dict name -> value, raw: dict name -> encoded KV bytes, tensors: dict
name -> numpy array in torch layout, i.e. the ggml ne order reversed). F32, F16, BF16, I32 only.

write_gguf(path, kv_bytes, tensors) writes a GGUF v3 file: kv_bytes is a list of already
encoded KV records (see kv_* below), tensors a list of (name, numpy array) written as F32 (or
I32 for integer arrays) in the given order, 32-byte aligned, as llama.cpp's gguf writer does.
"""
import struct

import numpy as np

ALIGN = 32
T_U8, T_I8, T_U16, T_I16, T_U32, T_I32, T_F32, T_BOOL, T_STR, T_ARR, T_U64, T_I64, T_F64 = range(13)
_SCALAR = {T_U8: "<B", T_I8: "<b", T_U16: "<H", T_I16: "<h", T_U32: "<I", T_I32: "<i",
           T_F32: "<f", T_BOOL: "<?", T_U64: "<Q", T_I64: "<q", T_F64: "<d"}
GG_F32, GG_F16, GG_BF16, GG_I32 = 0, 1, 30, 26


class _R:
    def __init__(self, b):
        self.b = b
        self.p = 0

    def take(self, fmt):
        v = struct.unpack_from(fmt, self.b, self.p)
        self.p += struct.calcsize(fmt)
        return v[0]

    def str(self):
        n = self.take("<Q")
        s = self.b[self.p:self.p + n].decode("utf-8", "replace")
        self.p += n
        return s

    def val(self, t):
        if t == T_STR:
            return self.str()
        if t == T_ARR:
            at = self.take("<I")
            n = self.take("<Q")
            if at in _SCALAR:
                fmt = _SCALAR[at]
                sz = struct.calcsize(fmt)
                arr = np.frombuffer(self.b, dtype=np.dtype(fmt), count=n, offset=self.p)
                self.p += sz * n
                return arr
            return [self.val(at) for _ in range(n)]
        return self.take(_SCALAR[t])


def read_gguf(path):
    with open(path, "rb") as f:
        b = f.read()
    r = _R(b)
    assert b[:4] == b"GGUF", path
    r.p = 4
    r.take("<I")
    n_t = r.take("<Q")
    n_kv = r.take("<Q")
    kvs, raw = {}, {}
    for _ in range(n_kv):
        start = r.p
        k = r.str()
        t = r.take("<I")
        kvs[k] = r.val(t)
        raw[k] = b[start:r.p]
    infos = []
    for _ in range(n_t):
        name = r.str()
        nd = r.take("<I")
        ne = [r.take("<Q") for _ in range(nd)]
        t = r.take("<I")
        off = r.take("<Q")
        infos.append((name, ne, t, off))
    align = int(kvs.get("general.alignment", ALIGN))
    data = (r.p + align - 1) // align * align
    tensors = {}
    for name, ne, t, off in infos:
        n = int(np.prod(ne))
        o = data + off
        if t == GG_F32:
            a = np.frombuffer(b, np.float32, n, o)
        elif t == GG_F16:
            a = np.frombuffer(b, np.float16, n, o).astype(np.float32)
        elif t == GG_BF16:
            a = (np.frombuffer(b, np.uint16, n, o).astype(np.uint32) << 16).view(np.float32)
        elif t == GG_I32:
            a = np.frombuffer(b, np.int32, n, o)
        else:
            continue  # quantised: not needed by the training tools
        tensors[name] = a.reshape(list(reversed(ne))).copy()
    return kvs, raw, tensors


def _s(s):
    e = s.encode()
    return struct.pack("<Q", len(e)) + e


def kv_u32(k, v):
    return _s(k) + struct.pack("<II", T_U32, v)


def kv_f32(k, v):
    return _s(k) + struct.pack("<If", T_F32, v)


def kv_str(k, v):
    return _s(k) + struct.pack("<I", T_STR) + _s(v)


def kv_arr_i32(k, vals):
    return _s(k) + struct.pack("<IIQ", T_ARR, T_I32, len(vals)) + struct.pack("<%di" % len(vals), *vals)


def kv_arr_bool(k, vals):
    return _s(k) + struct.pack("<IIQ", T_ARR, T_BOOL, len(vals)) + bytes(1 if v else 0 for v in vals)


def write_gguf(path, kv_bytes, tensors):
    infos, blobs, off = [], [], 0
    for name, a in tensors:
        a = np.ascontiguousarray(a)
        if a.dtype.kind in "iu":
            a, t = a.astype("<i4"), GG_I32
        else:
            a, t = a.astype("<f4"), GG_F32
        ne = list(reversed(a.shape))
        infos.append(_s(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", n) for n in ne)
                     + struct.pack("<IQ", t, off))
        blob = a.tobytes()
        pad = (-len(blob)) % ALIGN
        blobs.append(blob + b"\0" * pad)
        off += len(blob) + pad
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kv_bytes)) + b"".join(kv_bytes) + b"".join(infos)
    head += b"\0" * ((-len(head)) % ALIGN)
    with open(path + ".tmp", "wb") as f:
        f.write(head)
        for blob in blobs:
            f.write(blob)
    import os
    os.replace(path + ".tmp", path)

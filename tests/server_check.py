#!/usr/bin/env python3
"""Helpers for tests/test_server.sh (standard library only; curl does the HTTP).

  ref LIB MODEL (--chat TEXT | --prompt TEXT | --tokens 1,2,3) --n N
        greedy reference by direct library calls (ctypes): prints {"tokens": [...], "text": "..."}
  get FILE PATH        print a JSON value: PATH like choices.0.message.content ('' if absent)
  sse FILE KIND        check an SSE stream (KIND: chat | oai | native), print the joined text
                       and the final event's fields as JSON
  stats FILE           latencies (seconds, one per line) -> "n p50_ms p95_ms max_ms"
"""
import ctypes as C
import json
import sys


def die(msg):
    print("server_check: " + msg, file=sys.stderr)
    sys.exit(2)


# ---- reference generation through the C ABI -----------------------------------------------------

class LoadParams(C.Structure):
    _fields_ = [("struct_size", C.c_uint32), ("flags", C.c_uint32), ("model", C.c_char_p),
                ("mmproj", C.c_char_p), ("draft", C.c_char_p), ("n_threads", C.c_int32),
                ("n_ctx", C.c_int32), ("progress", C.c_void_p), ("progress_user_data", C.c_void_p),
                ("log", C.c_void_p), ("log_user_data", C.c_void_p), ("log_level", C.c_int32),
                ("reserved0", C.c_int32), ("max_memory", C.c_uint64)]


class SessionParams(C.Structure):
    _fields_ = [("struct_size", C.c_uint32), ("n_ctx", C.c_int32), ("n_threads", C.c_int32),
                ("flags", C.c_uint32)]


class Batch(C.Structure):
    _fields_ = [("struct_size", C.c_uint32), ("n_tokens", C.c_int32),
                ("tokens", C.POINTER(C.c_int32)), ("want", C.POINTER(C.c_uint8)),
                ("spans", C.c_void_p), ("n_spans", C.c_int32), ("reserved", C.c_int32)]


class SamplerParams(C.Structure):
    _fields_ = [("struct_size", C.c_uint32), ("temperature", C.c_float), ("top_k", C.c_int32),
                ("top_p", C.c_float), ("min_p", C.c_float), ("repeat_penalty", C.c_float),
                ("repeat_last_n", C.c_int32), ("reserved", C.c_uint32), ("seed", C.c_uint64)]


class ChatMessage(C.Structure):
    _fields_ = [("role", C.c_char_p), ("content", C.c_char_p)]


G4_TOKENIZE_ADD_BOS, G4_TOKENIZE_PARSE_SPECIAL = 1, 2
G4_CHAT_ADD_GENERATION_PROMPT = 1


def ref(argv):
    if len(argv) < 2:
        die("ref LIB MODEL ...")
    lib, model = argv[0], argv[1]
    opts = dict(zip(argv[2::2], argv[3::2]))
    n = int(opts.get("--n", "16"))
    L = C.CDLL(lib)
    L.g4_last_error.restype = C.c_char_p
    L.g4_logits.restype = C.POINTER(C.c_float)
    L.g4_token_is_eog.restype = C.c_int32
    L.g4_vocab_size.restype = C.c_int32
    L.g4_session_n_ctx.restype = C.c_int32

    def check(st, what):
        if st != 0:
            die("%s: status %d: %s" % (what, st, L.g4_last_error().decode(errors="replace")))

    lp = LoadParams()
    L.g4_load_params_init(C.byref(lp))
    lp.model = model.encode()
    m = C.c_void_p()
    check(L.g4_load(C.byref(lp), C.byref(m)), "load")

    def tokenize(text, flags):
        b = text.encode()
        need = C.c_size_t()
        L.g4_tokenize(m, b, C.c_size_t(len(b)), C.c_uint32(flags), None, C.c_size_t(0), C.byref(need))
        buf = (C.c_int32 * (need.value + 1))()
        check(L.g4_tokenize(m, b, C.c_size_t(len(b)), C.c_uint32(flags), buf,
                            C.c_size_t(need.value + 1), C.byref(need)), "tokenize")
        return list(buf[:need.value])

    if "--chat" in opts:
        msg = ChatMessage(b"user", opts["--chat"].encode())
        need = C.c_size_t()
        L.g4_chat_format(m, C.byref(msg), C.c_size_t(1), C.c_uint32(G4_CHAT_ADD_GENERATION_PROMPT),
                         None, C.c_size_t(0), C.byref(need))
        out = C.create_string_buffer(need.value + 1)
        check(L.g4_chat_format(m, C.byref(msg), C.c_size_t(1), C.c_uint32(G4_CHAT_ADD_GENERATION_PROMPT),
                               out, C.c_size_t(need.value + 1), C.byref(need)), "chat_format")
        ids = tokenize(out.value.decode(), G4_TOKENIZE_PARSE_SPECIAL)
    elif "--prompt" in opts:
        ids = tokenize(opts["--prompt"], G4_TOKENIZE_PARSE_SPECIAL | G4_TOKENIZE_ADD_BOS)
    elif "--tokens" in opts:
        ids = [int(x) for x in opts["--tokens"].split(",")]
    else:
        die("ref needs --chat, --prompt or --tokens")

    sp = SessionParams()
    L.g4_session_params_init(C.byref(sp))
    s = C.c_void_p()
    check(L.g4_session_new(m, C.byref(sp), C.byref(s)), "session_new")
    smp_p = SamplerParams()
    L.g4_sampler_params_init(C.byref(smp_p))
    smp_p.temperature = 0.0
    smp = C.c_void_p()
    check(L.g4_sampler_new(C.byref(smp_p), C.byref(smp)), "sampler_new")
    n_vocab = L.g4_vocab_size(m)

    toks = (C.c_int32 * len(ids))(*ids)
    want = (C.c_uint8 * len(ids))()
    want[len(ids) - 1] = 1
    b = Batch()
    L.g4_batch_init(C.byref(b))
    b.n_tokens, b.tokens, b.want = len(ids), toks, want
    check(L.g4_step(s, C.byref(b)), "step prompt")
    idx = len(ids) - 1
    out_ids, text = [], b""
    for _ in range(n):
        lg = L.g4_logits(s, C.c_int32(idx))
        if not lg:
            die("no logits")
        t = C.c_int32()
        check(L.g4_sampler_sample(smp, lg, C.c_int32(n_vocab), C.byref(t)), "sample")
        L.g4_sampler_accept(smp, t)
        if L.g4_token_is_eog(m, t):
            break
        out_ids.append(t.value)
        piece = C.create_string_buffer(256)
        ln = C.c_size_t()
        if L.g4_token_to_piece(m, t, C.c_uint32(0), piece, C.c_size_t(256), C.byref(ln)) == 0:
            text += piece.raw[:ln.value]
        one = (C.c_int32 * 1)(t.value)
        b1 = Batch()
        L.g4_batch_init(C.byref(b1))
        b1.n_tokens, b1.tokens = 1, one
        check(L.g4_step(s, C.byref(b1)), "step")
        idx = 0
    print(json.dumps({"prompt_tokens": len(ids), "tokens": out_ids,
                      "text": text.decode("utf-8", errors="replace")}))


# ---- JSON / SSE helpers --------------------------------------------------------------------------

def walk(obj, path):
    for part in path.split(".") if path else []:
        if isinstance(obj, list):
            i = int(part)
            obj = obj[i] if i < len(obj) else None
        elif isinstance(obj, dict):
            obj = obj.get(part)
        else:
            return None
        if obj is None:
            return None
    return obj


def get(argv):
    with open(argv[0], "rb") as f:
        obj = json.loads(f.read())
    v = walk(obj, argv[1])
    if v is None:
        print("")
    elif isinstance(v, (dict, list, bool)):
        print(json.dumps(v))
    else:
        print(v)


def sse(argv):
    kind = argv[1]
    with open(argv[0], "rb") as f:
        raw = f.read().decode("utf-8")
    events = raw.split("\n\n")
    if events and events[-1].strip() == "":
        events.pop()
    text, last, done, n = "", None, False, 0
    for ev in events:
        if not ev.startswith("data: "):
            die("event without 'data: ' prefix: %r" % ev[:80])
        data = ev[6:]
        if done:
            die("data after [DONE]")
        if data == "[DONE]":
            done = True
            continue
        obj = json.loads(data)
        n += 1
        if "error" in obj:
            die("error event: %s" % data)
        if kind == "chat":
            ch = obj["choices"][0]
            text += ch["delta"].get("content") or ""
            if obj["object"] != "chat.completion.chunk":
                die("bad object %r" % obj["object"])
        elif kind == "oai":
            text += obj["choices"][0]["text"]
        else:
            text += obj["content"]
        last = obj
    if kind != "native" and not done:
        die("stream did not end with data: [DONE]")
    if kind == "native" and not (last and last.get("stop") is True):
        die("native stream did not end with stop: true")
    out = {"text": text, "events": n}
    if kind == "native":
        out["tokens_predicted"] = last.get("tokens_predicted")
    else:
        out["finish_reason"] = last["choices"][0].get("finish_reason")
        out["completion_tokens"] = walk(last, "usage.completion_tokens")
    print(json.dumps(out))


def stats(argv):
    with open(argv[0]) as f:
        v = sorted(float(x) for x in f.read().split())
    if not v:
        print("0 0 0 0")
        return
    def pct(p):
        return v[min(len(v) - 1, int(round(p * (len(v) - 1))))] * 1e3
    print("%d %.1f %.1f %.1f" % (len(v), pct(0.5), pct(0.95), v[-1] * 1e3))


if __name__ == "__main__":
    if len(sys.argv) < 2:
        die(__doc__)
    cmd = {"ref": ref, "get": get, "sse": sse, "stats": stats}.get(sys.argv[1])
    if not cmd:
        die(__doc__)
    cmd(sys.argv[2:])

#!/usr/bin/env python3
"""g4_chat_format_json renders exactly what Gemma 4's official chat template renders.

Renders a set of conversations (tools, tool calls, tool results, reasoning, content parts,
thinking on/off) with the real template (jinja2, configured as transformers configures it) and
with libg4plug (ctypes), and compares the bytes.
Usage: python3 tests/chat_template_check.py build/libg4plug.so path/to/gemma-4-chat-template.jinja
"""
import ctypes, json, sys

try:
    import jinja2
    from jinja2.sandbox import ImmutableSandboxedEnvironment
except ImportError:
    print("SKIP chat_template_check: python3-jinja2 is not installed (make deps installs it)")
    sys.exit(77)

lib = ctypes.CDLL(sys.argv[1])
tmpl_text = open(sys.argv[2], encoding="utf-8").read()
env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"])
tmpl = env.from_string(tmpl_text)

f = lib.g4_chat_format_json
f.restype = ctypes.c_int32
f.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint32,
              ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t)]
lib.g4_last_error.restype = ctypes.c_char_p


def ours(messages, tools, thinking, gen):
    m = json.dumps(messages).encode()
    t = json.dumps(tools).encode() if tools is not None else None
    flags = (1 if gen else 0) | (2 if thinking else 0)
    n = ctypes.c_size_t(0)
    f(None, m, len(m), t, len(t) if t else 0, flags, None, 0, ctypes.byref(n))
    buf = ctypes.create_string_buffer(n.value + 1)
    st = f(None, m, len(m), t, len(t) if t else 0, flags, buf, n.value + 1, ctypes.byref(n))
    if st != 0:
        raise RuntimeError("g4_chat_format_json: %d %s" % (st, lib.g4_last_error().decode()))
    return buf.raw[: n.value].decode()


def theirs(messages, tools, thinking, gen):
    kw = dict(messages=messages, bos_token="<bos>", add_generation_prompt=gen)
    if tools is not None:
        kw["tools"] = tools
    if thinking:
        kw["enable_thinking"] = True
    return tmpl.render(**kw)


weather = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather in a city",
    "parameters": {"type": "object", "properties": {
        "city": {"type": "string", "description": "City name"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        "days": {"type": "integer", "description": "Forecast days"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "where": {"type": "object", "properties": {"lat": {"type": "number"}, "lon": {"type": "number"}},
                  "required": ["lat", "lon"]},
        "Zeta": {"type": "boolean", "nullable": True},
    }, "required": ["city"]}}}
search = {"type": "function", "function": {"name": "search", "description": "Web search",
                                           "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}}
noparams = {"type": "function", "function": {"name": "now", "description": "The time"}}
resp = {"type": "function", "function": {"name": "calc", "description": "Calculator",
                                         "parameters": {"type": "object", "properties": {"expr": {"type": "string"}},
                                                        "required": ["expr"]},
                                         "response": {"description": "the value", "type": "object"}}}
arrobj = {"type": "function", "function": {"name": "batch", "description": "",
    "parameters": {"type": "object", "properties": {"items": {"type": "array", "items": {
        "type": "object", "properties": {"id": {"type": "integer"}, "name": {"type": "string"}},
        "required": ["id"]}}}, "required": ["items"]}}}

call = {"id": "call_1", "type": "function",
        "function": {"name": "get_weather", "arguments": {"city": "Paris", "days": 3, "ratio": 0.5, "tags": ["a", "b"],
                                                           "where": {"lat": 48.85, "lon": 2.35}, "ok": True,
                                                           "none": None, "big": 1e20, "small": 0.0001}}}
call2 = {"id": "call_2", "type": "function", "function": {"name": "search", "arguments": {"q": "gemma 4"}}}

cases = [
    ("plain", [{"role": "user", "content": "Hi"}], None, False, True),
    ("system+think", [{"role": "system", "content": " Be brief. "}, {"role": "user", "content": "Hi"}], None, True, True),
    ("tools decl", [{"role": "user", "content": "Weather in Paris?"}], [weather, search, noparams, resp, arrobj], False, True),
    ("tools+system+think", [{"role": "developer", "content": "You are helpful."}, {"role": "user", "content": "x"}],
     [weather], True, True),
    ("call pending", [{"role": "user", "content": "Weather?"},
                      {"role": "assistant", "content": "", "tool_calls": [call]}], [weather], False, True),
    ("call + result", [{"role": "user", "content": "Weather?"},
                       {"role": "assistant", "tool_calls": [call, call2]},
                       {"role": "tool", "tool_call_id": "call_1", "content": "{\"temp\": 21}"},
                       {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "results"}]}],
     [weather, search], False, True),
    ("call + result + answer", [{"role": "user", "content": "Weather?"},
                                {"role": "assistant", "content": None, "tool_calls": [call],
                                 "reasoning_content": "need the tool"},
                                {"role": "tool", "tool_call_id": "call_1", "content": "21 C"},
                                {"role": "assistant", "content": "<|channel>thought\nok<channel|>It is 21 C."},
                                {"role": "user", "content": "Thanks"}], [weather], True, True),
    ("tool name fallback", [{"role": "user", "content": "q"},
                            {"role": "assistant", "tool_calls": [{"function": {"name": "search", "arguments": {"q": "x"}}}]},
                            {"role": "tool", "name": "search", "content": "r"}], [search], False, False),
    ("legacy tool_responses", [{"role": "user", "content": "q"},
                               {"role": "assistant", "tool_calls": [call2],
                                "tool_responses": [{"name": "search", "response": {"hits": 3, "top": "x"}}]}],
     [search], False, True),
    ("string args", [{"role": "user", "content": "q"},
                     {"role": "assistant", "tool_calls": [{"id": "c", "function": {"name": "search",
                                                                                  "arguments": "q:<|\"|>x<|\"|>"}}]}],
     [search], False, True),
    ("parts", [{"role": "user", "content": [{"type": "text", "text": " look "}, {"type": "image"},
                                            {"type": "text", "text": "and"}, {"type": "audio"}]}], None, False, True),
    ("assistant continues", [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
                             {"role": "assistant", "content": "c"}], None, False, True),
    ("no gen prompt", [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}], None, False, False),
    ("empty tools", [{"role": "user", "content": "a"}], [], False, True),
]

fail = 0
for name, msgs, tools, thinking, gen in cases:
    a, b = ours(msgs, tools, thinking, gen), theirs(msgs, tools, thinking, gen)
    if a != b:
        fail += 1
        print("FAIL %s\n  ours:   %r\n  theirs: %r" % (name, a, b))
print("chat_template_check: %d passed, %d failed" % (len(cases) - fail, fail))
sys.exit(1 if fail else 0)

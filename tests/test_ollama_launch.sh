#!/bin/sh
# Replays how Ollama (llm/llama_server.go) and LM Studio engine packs (runtime_kind llama-server)
# start and drive llama-server, against g4-server: the same launch line (MTP drafting flags, KV
# cache types, projector) and the same call sequence (/health until ready, /apply-template,
# /tokenize, /completion streaming, /v1/chat/completions, /detokenize). Drafting must be on and
# lossless: the greedy /completion equals the same request without drafting (n_probs turns it off).
# Usage: sh tests/test_ollama_launch.sh [BUILD_DIR]
BUILD=${1:-build}
FIX=${G4_FIXTURES:-../shared/fixtures}/gemma4
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1${2:+: $2}"; }
js() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2], {'d': d}))" "$@"; }
T=$(mktemp -d)
PORT=$(python3 -c "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])")
# Ollama's launch line (model, port, host, --no-webui --offline, projector, KV types, MTP drafter)
G4PLUG_LIB="$BUILD/libg4plug.so" "$BUILD/g4-server" --model "$FIX/tiny-gemma4-unified-bf16.gguf" --port "$PORT" \
  --host 127.0.0.1 --no-webui --offline --mmproj "$FIX/mmproj-tiny-gemma4-unified-f32.gguf" \
  --ctx-size 2048 --batch-size 512 --n-gpu-layers 999 --threads 2 --parallel 1 --jinja \
  --cache-type-k q8_0 --cache-type-v q8_0 \
  --spec-type draft-mtp --spec-draft-model "$FIX/tiny-gemma4-unified-assistant-bf16.gguf" \
  --spec-draft-n-max 4 --spec-draft-backend-sampling >"$T/log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$T"' EXIT
U=http://127.0.0.1:$PORT
i=0
code=""
while [ $i -lt 300 ]; do # Ollama polls /health until 200
  code=$(curl -s -o "$T/h" -w '%{http_code}' "$U/health")
  [ "$code" = 200 ] && break
  sleep 0.1
  i=$((i + 1))
done
if [ "$code" = 200 ]; then ok "launch line accepted, /health 200"; else bad "server ready" "$(cat "$T/log")"; fi
# the tiny fixture's 16-wide heads cannot hold q8_0 rows: the server says so and uses f16
grep -q "KV cache uses f16 instead of q8_0" "$T/log" && ok "--cache-type-k q8_0 on 16-wide heads: logged fallback to f16" ||
  bad "--cache-type-k q8_0 fallback" "$(cat "$T/log")"
c() { curl -s -m 120 -o "$T/o" -w '%{http_code}' -H 'Content-Type: application/json' -d "$2" "$U$1"; }

code=$(c /apply-template '{"messages":[{"role":"user","content":"Hello"}]}')
[ "$code" = 200 ] && [ "$(js "$T/o" "d['prompt']")" = "$(printf '<bos><|turn>user\nHello<turn|>\n<|turn>model\n<|channel>thought\n<channel|>')" ] \
  && ok "/apply-template renders the Gemma 4 prompt" || bad "/apply-template" "$code $(cat "$T/o")"
PROMPT=$(js "$T/o" "d['prompt']")
code=$(c /tokenize "$(python3 -c "import json,sys; print(json.dumps({'content': sys.argv[1], 'add_special': False}))" "$PROMPT")")
[ "$code" = 200 ] && [ "$(js "$T/o" "d['tokens'][0]")" = 2 ] && ok "/tokenize the template output (<bos> first)" \
  || bad "/tokenize" "$code $(cat "$T/o")"
TOKS=$(js "$T/o" "json.dumps(d['tokens'])" 2>/dev/null || python3 -c "import json,sys; print(json.dumps(json.load(open(sys.argv[1]))['tokens']))" "$T/o")

# /completion as Ollama sends it: token prompt, streaming, greedy
code=$(c /completion "{\"prompt\":$TOKS,\"n_predict\":24,\"temperature\":0,\"stream\":true,\"cache_prompt\":true}")
[ "$code" = 200 ] && ok "/completion stream 200" || bad "/completion stream" "$code"
python3 - "$T/o" >"$T/stream.txt" <<'PY'
import json, sys
text, last = "", None
for line in open(sys.argv[1], encoding="utf-8"):
    if line.startswith("data: "):
        last = json.loads(line[6:])
        text += last.get("content", "")
print(json.dumps({"text": text, "stop": last and last.get("stop"), "timings": last and last.get("timings")}))
PY
DRAFT_N=$(js "$T/stream.txt" "d['timings'].get('draft_n', -1)")
ACC=$(js "$T/stream.txt" "d['timings'].get('draft_n_accepted', -1)")
[ "$DRAFT_N" -gt 0 ] 2>/dev/null && [ "$ACC" -ge 0 ] && ok "drafting on: timings.draft_n=$DRAFT_N draft_n_accepted=$ACC" \
  || bad "drafting statistics" "$(cat "$T/stream.txt")"
code=$(c /completion "{\"prompt\":$TOKS,\"n_predict\":24,\"temperature\":0,\"n_probs\":1}")
PLAIN=$(js "$T/o" "d['content']")
[ "$(js "$T/stream.txt" "d['text']")" = "$PLAIN" ] && ok "drafted greedy text = plain greedy text" \
  || bad "lossless drafting" "$(js "$T/stream.txt" "d['text']") vs $PLAIN"
[ "$(js "$T/o" "len(d['completion_probabilities'])")" = 24 ] && ok "/completion n_probs: completion_probabilities" \
  || bad "n_probs" "$(head -c 300 "$T/o")"

code=$(c /v1/chat/completions '{"messages":[{"role":"user","content":"Hi"}],"max_tokens":8,"temperature":0}')
[ "$code" = 200 ] && [ "$(js "$T/o" "d['timings']['draft_n'] > 0")" = True ] && ok "/v1/chat/completions drafts too" \
  || bad "/v1/chat/completions" "$code $(head -c 300 "$T/o")"
code=$(c /detokenize "{\"tokens\":$TOKS}")
[ "$code" = 200 ] && [ "$(js "$T/o" "d['content']")" = "$PROMPT" ] && ok "/detokenize round trip" || bad "/detokenize" "$code $(cat "$T/o")"
code=$(c /slots/0 '{}')
[ "$code" = 404 ] && js "$T/o" "d['error']['message']" | grep -q "unsupported endpoint" && ok "unsupported endpoint: clear JSON 404" \
  || bad "unsupported endpoint" "$code $(cat "$T/o")"
echo "test_ollama_launch: $pass passed, $fail failed"
[ $fail -eq 0 ]

#!/bin/sh
# g4-server end to end: starts the server on a free loopback port with the tiny fixture, drives
# it with curl and compares greedy answers with direct library calls (tests/server_check.py
# uses ctypes) and with `g4 tokenize` / `g4 generate`. Ends with a bounded load test.
# Usage: sh tests/test_server.sh [BUILD_DIR]       (prints "test_server: N passed, N failed")
BUILD=${1:-build}
FIX=${G4_FIXTURES:-../shared/fixtures}/gemma4
SRV=$BUILD/g4-server
LIB=$BUILD/libg4plug.so
MODEL=$FIX/tiny-gemma4-unified-bf16.gguf
MMPROJ=$FIX/mmproj-tiny-gemma4-unified-f32.gguf
CHK="python3 tests/server_check.py"
# The reference calls load the library into python with ctypes. A sanitized build (make test
# SAN=1) needs the sanitizer runtime in the process first; leaks are python's business here.
if nm -D "$LIB" 2>/dev/null | grep -q "__asan_init"; then
  ASAN_RT=$(clang -print-file-name=libclang_rt.asan-x86_64.so 2>/dev/null)
  [ -f "$ASAN_RT" ] && CHK="env LD_PRELOAD=$ASAN_RT ASAN_OPTIONS=detect_leaks=0 python3 tests/server_check.py"
fi
LOAD_N=${G4_SERVER_LOAD_N:-200}

pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1${2:+: $2}"; }
# expect NAME GOT WANT
expect() { if [ "$2" = "$3" ]; then ok "$1"; else bad "$1" "got '$2', want '$3'"; fi; }
finish() {
  echo "test_server: $pass passed, $fail failed"
  [ "$fail" -eq 0 ]
  exit $?
}

for f in "$SRV" "$LIB" "$MODEL"; do
  if [ ! -e "$f" ]; then
    echo "missing $f (build with make, or see docs/SERVER.md)"
    bad "prerequisites"
    finish
  fi
done
command -v curl >/dev/null || { bad "curl is required"; finish; }

T=$(mktemp -d)
# g4-server wants JSON bodies labelled as such (a cross-site page cannot send that without a
# CORS preflight): every curl below sends the header, through a curlrc of our own.
printf 'header = "Content-Type: application/json"\n' >"$T/.curlrc"
export CURL_HOME="$T"
PID=""
stop_server() { # stop_server [SIGNAL]: returns the server's exit status
  [ -n "$PID" ] || return 0
  kill -"${1:-TERM}" "$PID" 2>/dev/null
  i=0
  while kill -0 "$PID" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
  if kill -0 "$PID" 2>/dev/null; then kill -KILL "$PID" 2>/dev/null; fi
  wait "$PID" 2>/dev/null
  rc=$?
  PID=""
  return $rc
}
cleanup() { stop_server KILL; rm -rf "$T"; }
trap cleanup EXIT
trap 'exit 1' INT TERM

start_server() { # start_server ARGS...: sets PID, PORT, URL
  # Empty the log here, not in the background child: until the child has run its ">", the
  # previous server's "listening on" line (and port) would still be read below.
  : >"$T/server.log"
  G4PLUG_LIB="$LIB" "$SRV" --host 127.0.0.1 --port 0 -m "$MODEL" "$@" >"$T/server.log" 2>&1 &
  PID=$!
  PORT=""
  i=0
  while [ $i -lt 100 ] && [ -z "$PORT" ]; do
    PORT=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\) - starting.*/\1/p' "$T/server.log")
    [ -n "$PORT" ] || sleep 0.1
    i=$((i + 1))
  done
  URL="http://127.0.0.1:$PORT"
  i=0
  while [ $i -lt 300 ]; do
    [ "$(curl -s -m 5 -o /dev/null -w '%{http_code}' "$URL/health")" = 200 ] && return 0
    sleep 0.1
    i=$((i + 1))
  done
  cat "$T/server.log"
  return 1
}

# req METHOD PATH BODY_FILE OUT_FILE [curl args...] -> prints the HTTP status
req() {
  m=$1 p=$2 b=$3 o=$4
  shift 4
  if [ -n "$b" ]; then
    curl -s -m 120 -X "$m" -o "$o" -w '%{http_code}' "$@" --data-binary @"$b" "$URL$p"
  else
    curl -s -m 120 -X "$m" -o "$o" -w '%{http_code}' "$@" "$URL$p"
  fi
}
get() { $CHK get "$1" "$2"; }
body() { printf '%s' "$1" >"$T/body.json"; echo "$T/body.json"; }

# ---------------------------------------------------------------------------------------------
if ! start_server --mmproj "$MMPROJ" -np 2; then bad "server starts"; finish; fi
ok "server starts and /health answers 200"
expect "/health body" "$(curl -s "$URL/health")" '{"status":"ok"}'
expect "/v1/models id" "$(req GET /v1/models '' "$T/o" && echo && get "$T/o" data.0.id)" \
  "200
$(basename "$MODEL")"

N=16
Q="Hello there, who are you?"
$CHK ref "$LIB" "$MODEL" --chat "$Q" --n $N >"$T/ref_chat.json" || bad "reference (chat)"
REF_TEXT=$(get "$T/ref_chat.json" text)
REF_TOKS=$(get "$T/ref_chat.json" tokens)

# chat, non-streaming, greedy
code=$(req POST /v1/chat/completions "$(body "{\"messages\":[{\"role\":\"user\",\"content\":\"$Q\"}],\"temperature\":0,\"max_tokens\":$N,\"return_tokens\":true}")" "$T/o")
expect "chat: 200" "$code" 200
expect "chat: greedy text = library" "$(get "$T/o" choices.0.message.content)" "$REF_TEXT"
expect "chat: greedy tokens = library" "$(get "$T/o" tokens)" "$REF_TOKS"
expect "chat: object" "$(get "$T/o" object)" chat.completion
expect "chat: usage.prompt_tokens" "$(get "$T/o" usage.prompt_tokens)" "$(get "$T/ref_chat.json" prompt_tokens)"
expect "chat: finish_reason" "$(get "$T/o" choices.0.finish_reason)" length

# the CLI host: same greedy answer (only when its generate works with this library)
if G4PLUG_LIB="$LIB" "$BUILD/g4" generate -m "$MODEL" -p "$Q" --chat --temp 0 -n $N >"$T/cli.txt" 2>"$T/cli.err"; then
  expect "chat: greedy text = g4 generate" "$(cat "$T/cli.txt")" "$REF_TEXT"
else
  echo "note: g4 generate failed ($(tail -1 "$T/cli.err")); compared with the ctypes reference only"
fi

# again: the prefix cache must not change the answer
code=$(req POST /v1/chat/completions "$T/body.json" "$T/o")
expect "chat again (prefix cache): same text" "$(get "$T/o" choices.0.message.content)" "$REF_TEXT"
cache_n=$(get "$T/o" timings.cache_n)
[ "${cache_n:-0}" -gt 0 ] && ok "chat again: KV prefix reused ($cache_n tokens)" || bad "chat again: no prefix reuse"

# chat, streaming
code=$(req POST /v1/chat/completions "$(body "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"$Q\"}]}],\"temperature\":0,\"max_tokens\":$N,\"stream\":true}")" "$T/sse" -N)
expect "chat stream: 200" "$code" 200
if $CHK sse "$T/sse" chat >"$T/sse.json"; then
  ok "chat stream: well-formed SSE ending in [DONE]"
  expect "chat stream: text = library" "$(get "$T/sse.json" text)" "$REF_TEXT"
  expect "chat stream: finish_reason" "$(get "$T/sse.json" finish_reason)" length
  expect "chat stream: usage" "$(get "$T/sse.json" completion_tokens)" $N
else
  bad "chat stream: SSE"
fi

# stop strings: cut the reference answer at a word from its middle
STOP=$(python3 -c 'import json,sys; t=json.load(open(sys.argv[1]))["text"]; w=t.split(" "); print(" "+w[len(w)//2] if len(w)>2 else t[len(t)//2:])' "$T/ref_chat.json")
WANT=$(python3 -c 'import json,sys; t=json.load(open(sys.argv[1]))["text"]; print(t[:t.find(sys.argv[2])])' "$T/ref_chat.json" "$STOP")
python3 -c 'import json,sys; print(json.dumps({"messages":[{"role":"user","content":sys.argv[1]}],"temperature":0,"max_tokens":int(sys.argv[2]),"stop":[sys.argv[3],"never-seen"]}))' "$Q" $N "$STOP" >"$T/stop.json"
req POST /v1/chat/completions "$T/stop.json" "$T/o" >/dev/null
expect "stop string: text cut before it" "$(get "$T/o" choices.0.message.content)" "$WANT"
expect "stop string: finish_reason" "$(get "$T/o" choices.0.finish_reason)" stop
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); d["stream"]=True; print(json.dumps(d))' "$T/stop.json" >"$T/stops.json"
req POST /v1/chat/completions "$T/stops.json" "$T/sse" -N >/dev/null
expect "stop string, streamed" "$($CHK sse "$T/sse" chat | python3 -c 'import json,sys; print(json.load(sys.stdin)["text"])')" "$WANT"

# /v1/completions: text prompt, token prompt, streaming
P="The quick brown fox"
$CHK ref "$LIB" "$MODEL" --prompt "$P" --n 8 >"$T/ref_p.json"
code=$(req POST /v1/completions "$(body "{\"prompt\":\"$P\",\"temperature\":0,\"max_tokens\":8}")" "$T/o")
expect "/v1/completions: 200" "$code" 200
expect "/v1/completions: text = library" "$(get "$T/o" choices.0.text)" "$(get "$T/ref_p.json" text)"
expect "/v1/completions: object" "$(get "$T/o" object)" text_completion
req POST /v1/completions "$(body "{\"prompt\":\"$P\",\"temperature\":0,\"max_tokens\":8,\"stream\":true}")" "$T/sse" -N >/dev/null
expect "/v1/completions stream: text = library" "$($CHK sse "$T/sse" oai | python3 -c 'import json,sys; print(json.load(sys.stdin)["text"])')" "$(get "$T/ref_p.json" text)"
$CHK ref "$LIB" "$MODEL" --tokens 2,9259,1902 --n 6 >"$T/ref_t.json"
req POST /v1/completions "$(body '{"prompt":[2,9259,1902],"temperature":0,"max_tokens":6,"return_tokens":true}')" "$T/o" >/dev/null
expect "/v1/completions token prompt: tokens = library" "$(get "$T/o" tokens)" "$(get "$T/ref_t.json" tokens)"

# /completion (llama-server native)
code=$(req POST /completion "$(body "{\"prompt\":\"$P\",\"temperature\":0,\"n_predict\":8,\"return_tokens\":true}")" "$T/o")
expect "/completion: 200" "$code" 200
expect "/completion: content = library" "$(get "$T/o" content)" "$(get "$T/ref_p.json" text)"
expect "/completion: tokens = library" "$(get "$T/o" tokens)" "$(get "$T/ref_p.json" tokens)"
expect "/completion: tokens_predicted" "$(get "$T/o" tokens_predicted)" 8
expect "/completion: stop_type" "$(get "$T/o" stop_type)" limit
[ -n "$(get "$T/o" timings.predicted_ms)" ] && ok "/completion: timings" || bad "/completion: timings"
req POST /completion "$(body "{\"prompt\":\"$P\",\"temperature\":0,\"n_predict\":8,\"stream\":true}")" "$T/sse" -N >/dev/null
if $CHK sse "$T/sse" native >"$T/sse.json"; then
  expect "/completion stream: content = library" "$(get "$T/sse.json" text)" "$(get "$T/ref_p.json" text)"
else
  bad "/completion stream: SSE"
fi

# sampling parameters are accepted and seeded sampling is reproducible
S='{"prompt":"Once upon a time","temperature":0.9,"top_p":0.9,"top_k":40,"min_p":0.05,"repeat_penalty":1.1,"seed":42,"max_tokens":8}'
req POST /v1/completions "$(body "$S")" "$T/o1" >/dev/null
req POST /v1/completions "$(body "$S")" "$T/o2" >/dev/null
expect "seeded sampling is reproducible" "$(get "$T/o1" choices.0.text)" "$(get "$T/o2" choices.0.text)"

# /tokenize and /detokenize against g4 tokenize
TXT='Hello world, <|turn>user and ünïcödé'
python3 -c 'import json,sys; print(json.dumps({"content":sys.argv[1],"add_special":True}))' "$TXT" >"$T/tok.json"
req POST /tokenize "$T/tok.json" "$T/o" >/dev/null
G4T=$(G4PLUG_LIB="$LIB" "$BUILD/g4" tokenize -m "$MODEL" --ids "$TXT" 2>/dev/null | tr ' ' ',')
expect "/tokenize (add_special) = g4 tokenize" "$(get "$T/o" tokens | tr -d ' []')" "$G4T"
python3 -c 'import json,sys; print(json.dumps({"content":sys.argv[1]}))' "$TXT" >"$T/tok.json"
req POST /tokenize "$T/tok.json" "$T/o" >/dev/null
G4T=$(G4PLUG_LIB="$LIB" "$BUILD/g4" tokenize -m "$MODEL" --ids --no-bos "$TXT" 2>/dev/null | tr ' ' ',')
expect "/tokenize = g4 tokenize --no-bos" "$(get "$T/o" tokens | tr -d ' []')" "$G4T"
printf '{"tokens":%s}' "$(get "$T/o" tokens)" >"$T/detok.json"
req POST /detokenize "$T/detok.json" "$T/o" >/dev/null
expect "/detokenize round trip" "$(get "$T/o" content)" "$TXT"

# media: with a library that embeds images/audio the answer is 200; without, a clean 400
B64I=$(base64 <"$FIX/image_fit.png" | tr -d '\n')
B64A=$(base64 <"$FIX/audio.wav" | tr -d '\n')
printf '{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,%s"}},{"type":"text","text":"What is this?"}]}],"temperature":0,"max_tokens":4}' "$B64I" >"$T/img.json"
printf '{"messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"%s","format":"wav"}},{"type":"text","text":"Transcribe"}]}],"temperature":0,"max_tokens":4}' "$B64A" >"$T/aud.json"
req GET /v1/models '' "$T/m" >/dev/null
CAPS=$(get "$T/m" data.0.capabilities)
for kind in img:vision aud:audio; do
  f=${kind%%:*} cap=${kind#*:}
  code=$(req POST /v1/chat/completions "$T/$f.json" "$T/o")
  case "$CAPS" in
  *"\"$cap\""*) expect "$cap request: 200" "$code" 200
    [ -n "$(get "$T/o" usage.completion_tokens)" ] && ok "$cap request: answer" || bad "$cap request: answer" ;;
  *) expect "$cap request without $cap support: 400" "$code" 400
    expect "$cap request: error type" "$(get "$T/o" error.type)" invalid_request_error
    echo "note: the library reports no $cap support: $(get "$T/o" error.message)" ;;
  esac
done

# malformed requests
bad_req() { # bad_req NAME PATH BODY WANT_CODE
  code=$(req POST "$2" "$(body "$3")" "$T/o")
  if [ "$code" = "$4" ] && [ -n "$(get "$T/o" error.message)" ]; then ok "$1 -> $4"; else bad "$1" "got $code $(head -c 200 "$T/o")"; fi
}
bad_req "bad JSON" /v1/chat/completions '{"messages": [' 400
bad_req "not an object" /v1/chat/completions '[1,2]' 400
bad_req "no messages" /v1/chat/completions '{"model":"x"}' 400
bad_req "wrong type: temperature" /v1/chat/completions '{"messages":[{"role":"user","content":"hi"}],"temperature":"hot"}' 400
bad_req "wrong type: content" /v1/chat/completions '{"messages":[{"role":"user","content":42}]}' 400
bad_req "unknown role" /v1/chat/completions '{"messages":[{"role":"wizard","content":"hi"}]}' 400
bad_req "bad base64" /v1/chat/completions '{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,!!!notbase64"}}]}]}' 400
bad_req "remote image URL" /v1/chat/completions '{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"http://example.com/a.png"}}]}]}' 400
bad_req "GIF image" /v1/chat/completions '{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/gif;base64,R0lGODlhAQABAAAAACw="}}]}]}' 400
bad_req "audio not WAV" /v1/chat/completions '{"messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"AAAA","format":"wav"}}]}]}' 400
bad_req "unknown part type" /v1/chat/completions '{"messages":[{"role":"user","content":[{"type":"video","video":{}}]}]}' 400
bad_req "marker injection" /v1/chat/completions '{"messages":[{"role":"user","content":"see <|image|>"}]}' 400
bad_req "token out of range" /v1/completions '{"prompt":[2,99999999],"max_tokens":1}' 400
bad_req "negative token" /detokenize '{"tokens":[-5]}' 400
bad_req "n > 1" /v1/completions '{"prompt":"a","n":2}' 400
bad_req "prompt too long" /completion "{\"prompt\":[$(python3 -c 'print(",".join(["9259"]*9000))')],\"n_predict\":1}" 400
expect "unknown path -> 404" "$(req GET /nope '' "$T/o")" 404
expect "GET on a POST endpoint -> 405" "$(req GET /v1/chat/completions '' "$T/o")" 405
head -c 34000000 /dev/zero | tr '\0' ' ' >"$T/big.json"
expect "33 MB body -> 413 (default limit 32 MiB)" "$(req POST /v1/chat/completions "$T/big.json" "$T/o")" 413
expect "33 MB chunked body -> 413" "$(req POST /v1/chat/completions "$T/big.json" "$T/o" -H 'Transfer-Encoding: chunked')" 413
expect "server alive after bad input" "$(curl -s "$URL/health")" '{"status":"ok"}'

# concurrent requests (2 slots, 6 clients): every answer equals the library's
body "{\"messages\":[{\"role\":\"user\",\"content\":\"$Q\"}],\"temperature\":0,\"max_tokens\":$N}" >/dev/null
cp "$T/body.json" "$T/conc.json"
pids=""
for i in 1 2 3 4 5 6; do
  curl -s -m 120 -o "$T/c$i" -w '%{http_code}' --data-binary @"$T/conc.json" "$URL/v1/chat/completions" >"$T/c$i.code" &
  pids="$pids $!"
done
wait $pids # not a bare wait: the server is a child too
n_ok=0
for i in 1 2 3 4 5 6; do
  [ "$(cat "$T/c$i.code")" = 200 ] && [ "$(get "$T/c$i" choices.0.message.content)" = "$REF_TEXT" ] && n_ok=$((n_ok + 1))
done
expect "6 concurrent chats, all equal to the library" "$n_ok" 6

# bounded load test: LOAD_N requests from 4 parallel curl loops (loopback only)
rss() { awk '/VmRSS/ {print $2}' "/proc/$PID/status" 2>/dev/null; }
RSS0=$(rss)
body '{"prompt":"Hello","temperature":0,"max_tokens":2}' >/dev/null
cp "$T/body.json" "$T/load.json"
t0=$(date +%s)
per=$((LOAD_N / 4))
pids=""
for w in 1 2 3 4; do
  (
    i=0
    while [ $i -lt $per ]; do
      curl -s -m 60 -o /dev/null -w '%{http_code} %{time_total}\n' --data-binary @"$T/load.json" "$URL/v1/completions"
      i=$((i + 1))
    done
  ) >"$T/load$w" &
  pids="$pids $!"
done
wait $pids
t1=$(date +%s)
cat "$T"/load[1-4] >"$T/load.all"
n_all=$(wc -l <"$T/load.all" | tr -d ' ')
n_err=$(awk '$1 != 200' "$T/load.all" | wc -l | tr -d ' ')
awk '{print $2}' "$T/load.all" >"$T/lat"
set -- $($CHK stats "$T/lat")
RSS1=$(rss)
echo "load: $n_all requests in $((t1 - t0)) s, errors $n_err, p50 $2 ms, p95 $3 ms, max $4 ms; RSS ${RSS0} kB -> ${RSS1} kB"
expect "load test: $((per * 4)) requests answered" "$n_all" $((per * 4))
expect "load test: errors" "$n_err" 0
[ $((RSS1 - RSS0)) -lt 65536 ] && ok "load test: RSS stable (+$((RSS1 - RSS0)) kB)" || bad "load test: RSS grew by $((RSS1 - RSS0)) kB"

# SIGTERM while a stream is running: the stream ends cleanly and the server exits 0
printf '{"prompt":"%s","temperature":0,"max_tokens":4000,"stream":true}' "$P" >"$T/long.json"
curl -s -N -m 60 --data-binary @"$T/long.json" "$URL/v1/completions" >"$T/long.sse" &
CPID=$!
sleep 1
stop_server TERM
rc=$?
wait $CPID
expect "SIGTERM: server exit status" "$rc" 0
tail -c 200 "$T/long.sse" | grep -q 'data: \[DONE\]' && ok "SIGTERM: in-flight stream ended with [DONE]" || bad "SIGTERM: stream" "$(tail -c 200 "$T/long.sse")"

# ---------------------------------------------------------------------------------------------
# API key, small body limit, queue of 0 behind one slot
if start_server --api-key 's3cret key' --max-body 65536 -np 1 --queue 0; then
  D='{"content":"hi"}'
  expect "api key: none -> 401" "$(req POST /tokenize "$(body "$D")" "$T/o")" 401
  expect "api key: error type" "$(get "$T/o" error.type)" authentication_error
  expect "api key: wrong -> 401" "$(req POST /tokenize "$T/body.json" "$T/o" -H 'Authorization: Bearer s3cret kez')" 401
  expect "api key: prefix only -> 401" "$(req POST /tokenize "$T/body.json" "$T/o" -H 'Authorization: Bearer s3cret')" 401
  expect "api key: right -> 200" "$(req POST /tokenize "$T/body.json" "$T/o" -H 'Authorization: Bearer s3cret key')" 200
  expect "api key: /health stays public" "$(req GET /health '' "$T/o")" 200
  expect "api key: /v1/models stays public" "$(req GET /v1/models '' "$T/o")" 200
  head -c 70000 /dev/zero | tr '\0' ' ' >"$T/big2.json"
  expect "--max-body 65536: 70 kB -> 413" "$(req POST /v1/completions "$T/big2.json" "$T/o" -H 'Authorization: Bearer s3cret key')" 413
  printf '{"prompt":"%s","temperature":0,"max_tokens":300}' "$P" >"$T/busy.json"
  curl -s -m 120 -o /dev/null -H 'Authorization: Bearer s3cret key' --data-binary @"$T/busy.json" "$URL/v1/completions" &
  BPID=$!
  sleep 1
  expect "queue full -> 503" "$(req POST /v1/completions "$(body '{"prompt":"x","max_tokens":1}')" "$T/o" -H 'Authorization: Bearer s3cret key')" 503
  wait $BPID
  stop_server TERM
  expect "SIGTERM (idle): exit status" "$?" 0
else
  bad "server with --api-key starts"
fi

# a missing model: the server exits non-zero instead of serving 503 forever
G4PLUG_LIB="$LIB" timeout 30 "$SRV" --port 0 -m "$T/nope.gguf" >"$T/nomodel.log" 2>&1
rc=$?
[ $rc -ne 0 ] && [ $rc -ne 124 ] && ok "missing model: exits with status $rc" || bad "missing model" "status $rc"

finish

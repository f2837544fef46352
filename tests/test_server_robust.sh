#!/bin/sh
# g4-server under concurrency and hostile clients (issue #19): concurrent image/audio chats on
# -np 4 equal the sequential answers; see the sections below for the rest.
# Usage: sh tests/test_server_robust.sh [BUILD_DIR]   (prints "test_server_robust: N passed, N failed")
BUILD=${1:-build}
FIX=${G4_FIXTURES:-../shared/fixtures}/gemma4
SRV=$BUILD/g4-server
LIB=$BUILD/libg4plug.so
MODEL=$FIX/tiny-gemma4-unified-bf16.gguf
MMPROJ=$FIX/mmproj-tiny-gemma4-unified-f32.gguf
CHK="python3 tests/server_check.py"

pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1${2:+: $2}"; }
expect() { if [ "$2" = "$3" ]; then ok "$1"; else bad "$1" "got '$2', want '$3'"; fi; }
finish() {
  echo "test_server_robust: $pass passed, $fail failed"
  [ "$fail" -eq 0 ]
  exit $?
}
for f in "$SRV" "$LIB" "$MODEL" "$MMPROJ"; do
  [ -e "$f" ] || { echo "missing $f"; bad "prerequisites"; finish; }
done
command -v curl >/dev/null || { bad "curl is required"; finish; }

T=$(mktemp -d)
PID=""
stop_server() {
  [ -n "$PID" ] || return 0
  kill -"${1:-TERM}" "$PID" 2>/dev/null
  i=0
  while kill -0 "$PID" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
  kill -0 "$PID" 2>/dev/null && kill -KILL "$PID" 2>/dev/null
  wait "$PID" 2>/dev/null
  rc=$?
  PID=""
  return $rc
}
cleanup() { stop_server KILL; rm -rf "$T"; }
trap cleanup EXIT
trap 'exit 1' INT TERM

start_server() { # start_server ARGS...: sets PID, PORT, URL
  G4PLUG_LIB="$LIB" "$SRV" --host 127.0.0.1 --port 0 -m "$MODEL" "$@" >"$T/server.log" 2>&1 &
  PID=$!
  PORT=""
  i=0
  while [ $i -lt 100 ] && [ -z "$PORT" ]; do
    PORT=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$T/server.log")
    [ -n "$PORT" ] || sleep 0.1
    i=$((i + 1))
  done
  URL="http://127.0.0.1:$PORT"
  i=0
  while [ $i -lt 300 ]; do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/health")" = 200 ] && return 0
    sleep 0.1
    i=$((i + 1))
  done
  cat "$T/server.log"
  return 1
}
post() { # post PATH BODY_FILE OUT_FILE [curl args...] -> HTTP status
  p=$1 b=$2 o=$3
  shift 3
  curl -s -m 120 -o "$o" -w '%{http_code}' -H 'Content-Type: application/json' "$@" --data-binary @"$b" "$URL$p"
}
get() { $CHK get "$1" "$2"; }

# ---- 1. concurrent media chats on -np 4 equal the sequential answers ---------------------------
if ! start_server --mmproj "$MMPROJ" -np 4; then bad "server starts (-np 4, mmproj)"; finish; fi
B64I=$(base64 <"$FIX/image_fit.png" | tr -d '\n')
B64A=$(base64 <"$FIX/audio.wav" | tr -d '\n')
for q in 1 2; do
  printf '{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,%s"}},{"type":"text","text":"Describe %s"}]}],"temperature":0,"max_tokens":6,"return_tokens":true}' "$B64I" "$q" >"$T/m$q.json"
  printf '{"messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"%s","format":"wav"}},{"type":"text","text":"Transcribe %s"}]}],"temperature":0,"max_tokens":6,"return_tokens":true}' "$B64A" "$q" >"$T/m$((q + 2)).json"
done
for q in 1 2 3 4; do
  code=$(post /v1/chat/completions "$T/m$q.json" "$T/seq$q")
  expect "media chat $q alone: 200" "$code" 200
  get "$T/seq$q" tokens >"$T/seq$q.tok"
done
n_ok=0
n_all=0
for round in 1 2; do
  pids=""
  for q in 1 2 3 4 1 2 3 4; do
    n_all=$((n_all + 1))
    curl -s -m 120 -o "$T/par$n_all" -H 'Content-Type: application/json' --data-binary @"$T/m$q.json" "$URL/v1/chat/completions" &
    pids="$pids $!"
    echo "$q" >"$T/par$n_all.q"
  done
  wait $pids
done
i=1
while [ $i -le $n_all ]; do
  q=$(cat "$T/par$i.q")
  [ "$(get "$T/par$i" tokens 2>/dev/null)" = "$(cat "$T/seq$q.tok")" ] && n_ok=$((n_ok + 1))
  i=$((i + 1))
done
expect "$n_all concurrent image/audio chats on -np 4 equal the sequential answers" "$n_ok" "$n_all"
stop_server TERM

finish

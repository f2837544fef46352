#!/bin/sh
# g4-server with the real client libraries: the OpenAI SDK and Ollama's JavaScript library from
# npm (installed into BUILD/node by scripts/deps_node.sh, part of make deps), driven by node
# (tests/clients/check.mjs) against the tiny fixture with its projector.
# Offline: without node or the packages it prints a SKIP line saying why (counted as 0 checks,
# visibly), never a silent pass.
# Usage: sh tests/test_clients.sh [BUILD_DIR]
BUILD=${1:-build}
FIX=${G4_FIXTURES:-../shared/fixtures}/gemma4
NM=$BUILD/node/node_modules
if ! command -v node >/dev/null 2>&1 || [ ! -f "$NM/openai/package.json" ] || [ ! -f "$NM/ollama/package.json" ]; then
  sh scripts/deps_node.sh "$BUILD" >/dev/null 2>&1
fi
if ! command -v node >/dev/null 2>&1 || [ ! -f "$NM/openai/package.json" ] || [ ! -f "$NM/ollama/package.json" ]; then
  echo "SKIP test_clients: node or the npm packages openai/ollama are missing (npm registry unreachable?);"
  echo "     run: sh scripts/deps_node.sh $BUILD   (see $BUILD/node/npm.log)"
  echo "test_clients: 0 passed, 0 failed (SKIPPED)"
  exit 0
fi
[ -x "$BUILD/g4-server" ] || { echo "test_clients: 0 passed, 1 failed (no $BUILD/g4-server)"; exit 1; }
T=$(mktemp -d)
G4PLUG_LIB="$BUILD/libg4plug.so" "$BUILD/g4-server" --host 127.0.0.1 --port 0 -m "$FIX/tiny-gemma4-unified-bf16.gguf" \
  --mmproj "$FIX/mmproj-tiny-gemma4-unified-f32.gguf" >"$T/log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$T"' EXIT
PORT=""
i=0
while [ $i -lt 300 ]; do
  [ -n "$PORT" ] || PORT=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\) - starting.*/\1/p' "$T/log")
  [ -n "$PORT" ] && [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/health")" = 200 ] && break
  sleep 0.1
  i=$((i + 1))
done
NODE_PATH="$NM" timeout 600 node tests/clients/check.mjs "http://127.0.0.1:$PORT" "$FIX/image_fit.png"
rc=$?
[ $rc -eq 0 ] || tail -20 "$T/log"
exit $rc

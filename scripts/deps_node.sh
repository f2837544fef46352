#!/bin/sh
# The npm client libraries the end-to-end tests drive (tests/test_clients.sh): the official
# OpenAI SDK and Ollama's JavaScript library, installed into $BUILD/node (git-ignored; never
# committed). Offline-safe: without node/npm or without the registry it says so and returns 0;
# the test then reports a visible SKIP, never a silent pass.
# Usage: sh scripts/deps_node.sh [BUILD_DIR]
BUILD=${1:-${BUILD:-build}}
DIR=$BUILD/node
OPENAI_VER="openai@^7"
OLLAMA_VER="ollama@^0.6"
if [ -f "$DIR/node_modules/openai/package.json" ] && [ -f "$DIR/node_modules/ollama/package.json" ]; then
  exit 0
fi
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "deps: node/npm not found: the OpenAI/Ollama client-library tests will be skipped"
  exit 0
fi
mkdir -p "$DIR"
[ -f "$DIR/package.json" ] || echo '{"name":"g4plug-client-tests","private":true}' >"$DIR/package.json"
echo "deps: npm install $OPENAI_VER $OLLAMA_VER into $DIR"
if ! timeout 300 npm install --prefix "$DIR" --no-audit --no-fund --loglevel=error "$OPENAI_VER" "$OLLAMA_VER" >"$DIR/npm.log" 2>&1; then
  echo "deps: npm could not install the client libraries (offline?): see $DIR/npm.log; the client-library tests will be skipped"
fi
exit 0

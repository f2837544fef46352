#!/bin/sh
# Installs the Debian/Ubuntu packages g4plug builds against, only when missing.
# Used by `make deps` (and so by `make test` / `make run`) and by .ci/run.
set -e
PKGS="build-essential clang libclang-rt-14-dev pkg-config xz-utils curl python3 libcjson-dev libhwloc-dev libpng-dev libjpeg-dev libmicrohttpd-dev python3-jinja2 ffmpeg libavformat-dev libavcodec-dev libswscale-dev libswresample-dev libavutil-dev"
# node + npm drive the OpenAI and Ollama client libraries in tests/test_clients.sh (nodesource
# or Debian packages both do; install Debian's only when there is no node at all)
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || PKGS="$PKGS nodejs npm"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -z "$missing" ]; then
  sh "$(dirname "$0")/deps_node.sh"
  exit 0
fi
echo "deps: installing$missing"
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends $missing
sh "$(dirname "$0")/deps_node.sh"

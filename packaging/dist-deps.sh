#!/bin/sh
# Installs what `make dist` / `make test-dist` need beyond `make deps` (scripts/deps.sh), only when
# missing, on Debian/Ubuntu:
#   cross compilers   gcc-aarch64-linux-gnu, mingw-w64 (x86_64-w64-mingw32-gcc)
#   emulators         qemu-user (qemu-aarch64), wine + wine64 (the tests run the archives' programs)
#   tests             python3-jsonschema, curl, libjpeg-turbo-progs (cjpeg makes a test JPEG)
#   Windows libraries cmake, dpkg-dev (apt-get source), libz-mingw-w64-dev (Debian's mingw zlib),
#                     and deb-src entries for the configured Debian mirrors, so that
#                     packaging/win-deps.sh can cross-build the others from Debian's sources
#   arm64 packages    `dpkg --add-architecture arm64` (packaging/aarch64-sysroot.sh downloads the
#                     arm64 .debs; nothing arm64 is installed on the host)
# Every step is skipped when already done, so a second run costs a few dpkg-query calls.
set -e
PKGS="gcc-aarch64-linux-gnu binutils-aarch64-linux-gnu libc6-dev-arm64-cross mingw-w64 qemu-user wine wine64 cmake dpkg-dev
libz-mingw-w64-dev unzip python3 python3-jsonschema make xz-utils curl libjpeg-turbo-progs"
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
need_update=""

# arm64 as a foreign dpkg architecture: apt-get download ...:arm64 needs its package lists.
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  echo "dist-deps: dpkg --add-architecture arm64"
  $SUDO dpkg --add-architecture arm64
  need_update=1
fi

# deb-src entries mirroring the deb ones (deb822 *.sources and one-line sources.list files).
if ! grep -rqsE '^(Types:.*deb-src|deb-src )' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  src=/etc/apt/sources.list.d/g4plug-deb-src.sources
  echo "dist-deps: adding deb-src entries ($src)"
  {
    for f in /etc/apt/sources.list.d/*.sources; do
      [ -f "$f" ] || continue
      sed -e 's/^Types: *deb *$/Types: deb-src/' "$f"
      echo
    done
    if [ -f /etc/apt/sources.list ]; then
      # one-line entries: "deb [opts] URI SUITE COMPONENTS" -> the deb822 form
      awk '$1 == "deb" { o = ""; i = 2; if ($2 ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
             printf "Types: deb-src\nURIs: %s\nSuites: %s\nComponents:", $i, $(i + 1)
             for (j = i + 2; j <= NF; j++) printf " %s", $j; printf "\n\n" }' /etc/apt/sources.list
    fi
  } | $SUDO tee "$src.tmp" >/dev/null
  # only the stanzas that became deb-src (other Types lines, e.g. deb-src already, are dropped)
  $SUDO python3 - "$src.tmp" "$src" <<'EOF'
import sys
text = open(sys.argv[1]).read()
keep = [s for s in text.split("\n\n") if "Types: deb-src" in s]
open(sys.argv[2], "w").write("\n\n".join(x.strip() for x in keep) + "\n")
EOF
  $SUDO rm -f "$src.tmp"
  need_update=1
fi

missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ] || [ -n "$need_update" ]; then
  $SUDO apt-get update -qq
fi
if [ -n "$missing" ]; then
  echo "dist-deps: installing$missing"
  $SUDO apt-get install -y -qq --no-install-recommends $missing
fi

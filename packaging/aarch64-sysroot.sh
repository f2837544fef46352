#!/bin/sh
# Fetches the arm64 builds of the optional dependencies (hwloc, cJSON, libpng, libjpeg-turbo and
# what they need at run time) into a private sysroot, DIR (default build-aarch64/sysroot).
# `apt-get download` + `dpkg-deb -x` leave the host's installed packages alone: a multiarch
# `apt-get install ...:arm64` would drag host packages (systemd, libssl) to new versions to keep
# Multi-Arch: same pairs in step. Needs `dpkg --add-architecture arm64 && apt-get update` once.
# Exits 1 (and leaves no sysroot) when the packages cannot be had; the build then goes without.
set -e
DIR=${1:-build-aarch64-sysroot}
PKGS="libhwloc-dev libhwloc15 libudev1 libcjson-dev libcjson1 libpng-dev libpng16-16 zlib1g-dev zlib1g libjpeg62-turbo-dev libjpeg62-turbo libjpeg-dev"
# g4-server: libmicrohttpd, and what its pkg-config file (Requires.private: gnutls -> nettle,
# hogweed, libtasn1, libidn2, p11-kit-1) and the linker (-rpath-link) need.
PKGS="$PKGS libmicrohttpd-dev libmicrohttpd12 libgnutls28-dev libgnutls30 nettle-dev libnettle8 libhogweed6
libtasn1-6-dev libtasn1-6 libidn2-dev libidn2-0 libp11-kit-dev libp11-kit0 libgmp10 libunistring2 libffi8"
PKGS=$(echo $PKGS)
# .complete records the package list: a sysroot made from an older list is made again.
[ -f "$DIR/.complete" ] && [ "$(cat "$DIR/.complete")" = "$PKGS" ] && exit 0
dpkg --print-foreign-architectures | grep -qx arm64 || { echo "aarch64-sysroot: arm64 is not a dpkg architecture here" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
set --
for p in $PKGS; do set -- "$@" "$p:arm64"; done
if ! (cd "$tmp" && apt-get download -qq "$@" >/dev/null 2>&1); then
  echo "aarch64-sysroot: apt-get download failed for some of: $PKGS" >&2
  exit 1
fi
rm -rf "$DIR"
mkdir -p "$DIR"
for d in "$tmp"/*.deb; do dpkg-deb -x "$d" "$DIR"; done
# Debian's .pc files say prefix=/usr; PKG_CONFIG_SYSROOT_DIR re-roots them. The -dev
# symlinks (libhwloc.so -> libhwloc.so.15...) are relative, so they work in place.
echo "$PKGS" >"$DIR/.complete"
echo "aarch64-sysroot: $(ls "$tmp"/*.deb | wc -l) packages in $DIR"

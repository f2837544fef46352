#!/bin/sh
# Builds the downloadable archives from finished builds (see packaging/README.md).
# Usage: sh packaging/dist.sh VERSION OUTDIR TARGET...
#   TARGET        build dir        archive
#   linux-x86_64  build-x86_64/    g4plug-VERSION-linux-x86_64.tar.gz
#   linux-aarch64 build-aarch64/   g4plug-VERSION-linux-aarch64.tar.gz
#   windows-x86_64 build-win/      g4plug-VERSION-windows-x86_64.zip
#   macos-universal build-macos/   g4plug-VERSION-macos-universal.tar.gz (packaging/macos/build.sh)
# Then OUTDIR/SHA256SUMS lists every archive there.
#
# Reproducible: same inputs, same bytes. Every timestamp is SOURCE_DATE_EPOCH (default: the last
# commit's time), entries are sorted, owners are 0/0, gzip stores no name or time, the zip is
# written by python3 zipfile with a fixed date_time, and the binaries carry no build paths
# (-ffile-prefix-map) and no debug info (stripped here).
set -eu
[ $# -ge 3 ] || { echo "usage: dist.sh VERSION OUTDIR TARGET..." >&2; exit 2; }
VERSION=$1
OUT=$2
shift 2
ROOT=$(pwd)
: "${SOURCE_DATE_EPOCH:=$(git log -1 --format=%ct 2>/dev/null || echo 0)}"
export SOURCE_DATE_EPOCH
AARCH64_SYSROOT=${AARCH64_SYSROOT:-$ROOT/build-aarch64-sysroot}
# Libraries we ship next to libg4plug when it links them; everything else (glibc, libz, libudev,
# the Windows system DLLs) is the target system's.
BUNDLE='libhwloc\.so\..*|libcjson\.so\..*|libpng16\.so\..*|libjpeg\.so\..*|libmicrohttpd\.so\..*' # regex
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
STAGE_ROOT=$(mktemp -d)
trap 'rm -rf "$STAGE_ROOT"' EXIT

note() { echo "dist: $*"; }
# GNU tar (gtar on macOS: bsdtar lacks --sort/--owner/--mtime=@); sha256sum or shasum.
TAR=${TAR:-tar}
sha256() { if command -v sha256sum >/dev/null; then sha256sum "$@"; else shasum -a 256 "$@"; fi; }

# needed FILE: DT_NEEDED entries of an ELF file (objdump -p understands any ELF here).
needed() { objdump -p "$1" | awk '$1 == "NEEDED" {print $2}'; }

# glibc_floor FILE...: the highest GLIBC_x.y symbol version the files require.
glibc_floor() {
  for f; do objdump -T "$f" 2>/dev/null; done | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' |
    sort -t. -k1,1n -k2,2n -k3,3n | tail -1
}

# install_file SRC DST MODE
install_file() { cp "$1" "$2" && chmod "$3" "$2"; }

stage_linux() { # stage_linux TARGET BUILD DIR
  t=$1 b=$2 d=$3
  case $t in
    linux-x86_64) strip=strip libdirs="/usr/lib/x86_64-linux-gnu /lib/x86_64-linux-gnu" ;;
    linux-aarch64) strip=aarch64-linux-gnu-strip
      libdirs="$AARCH64_SYSROOT/usr/lib/aarch64-linux-gnu $AARCH64_SYSROOT/lib/aarch64-linux-gnu" ;;
  esac
  lib=libg4plug.so.$VERSION
  install_file "$b/$lib" "$d/$lib" 755
  $strip --strip-debug "$d/$lib"
  ln -s "$lib" "$d/libg4plug.so.${VERSION%%.*}"
  ln -s "$lib" "$d/libg4plug.so"
  for x in g4 g4-conformance g4-server; do
    if [ -f "$b/$x" ]; then
      install_file "$b/$x" "$d/$x" 755
      $strip --strip-debug "$d/$x"
    elif [ "$x" = g4-server ]; then
      note "$t: no $b/g4-server (hosts/server not built on this branch): skipped"
    else
      echo "dist: $b/$x missing" >&2; exit 1
    fi
  done
  # Dependencies next to the library and g4-server: their RUNPATH is $ORIGIN.
  bundled=""
  for n in $(needed "$d/$lib"; [ -f "$d/g4-server" ] && needed "$d/g4-server"); do
    case " $bundled " in *" $n "*) continue ;; esac
    echo "$n" | grep -Eqx "$BUNDLE" || continue
    src=""
    for ld in $libdirs; do [ -e "$ld/$n" ] && { src=$ld/$n; break; }; done
    [ -n "$src" ] || { echo "dist: $t: $n not found in $libdirs" >&2; exit 1; }
    install_file "$src" "$d/$n" 644 # cp follows the soname symlink to the real file
    $strip --strip-debug "$d/$n"
    bundled="$bundled $n"
  done
  floor=$(glibc_floor "$d/$lib" "$d/g4" "$d/g4-conformance" $([ -f "$d/g4-server" ] && echo "$d/g4-server") \
    $(for n in $bundled; do echo "$d/$n"; done))
  features="hwloc topology: $(case $bundled in *hwloc*) echo yes;; *) echo "no (sysfs fallback)";; esac); "
  features="$features PNG/JPEG decoding: $(case $bundled in *png*) echo yes;; *) echo no;; esac); "
  features="$features cJSON (g4_manifest_check): $(case $bundled in *cjson*) echo yes;; *) echo no;; esac)"
  requires="Linux $(echo "$t" | sed 's/linux-//') with glibc >= $floor (the highest GLIBC_ symbol version required,
from \`objdump -T\`). Also needed from the system: $(needed "$d/$lib" | grep -Evx "$BUNDLE" | tr '\n' ' ')
(and whatever the bundled libraries need: libz.so.1 for libpng, libudev.so.1 for hwloc,
libgnutls.so.30 for libmicrohttpd)."
  [ -f "$d/g4-server" ] && features="$features; g4-server (llama-server compatible): yes"
  BUNDLED=$bundled
}

# pe_imports FILE: the DLLs a PE file imports.
pe_imports() { x86_64-w64-mingw32-objdump -p "$1" | awk '/DLL Name:/ {print $3}' | sort -u; }
# pe_has FILE SYMBOL: whether an (unstripped) PE file defines SYMBOL, i.e. linked that library in.
pe_has() { x86_64-w64-mingw32-nm "$1" 2>/dev/null | grep -q " [Tt] $2\$"; }

stage_windows() { # stage_windows TARGET BUILD DIR
  t=$1 b=$2 d=$3
  for x in g4plug.dll g4.exe g4-conformance.exe g4-server.exe; do
    if [ -f "$b/$x" ]; then
      install_file "$b/$x" "$d/$x" 755
      x86_64-w64-mingw32-strip --strip-debug "$d/$x"
    elif [ "$x" = g4-server.exe ]; then
      note "$t: no g4-server.exe (the server needs libmicrohttpd: make win-deps): skipped"
    else
      echo "dist: $b/$x missing" >&2; exit 1
    fi
  done
  # DLLs the programs import that the build put beside them (libmicrohttpd-12.dll); everything
  # else they import is a Windows system DLL.
  BUNDLED=""
  for x in "$d"/*.exe "$d"/*.dll; do
    for n in $(pe_imports "$x"); do
      [ -f "$b/$n" ] && [ ! -f "$d/$n" ] || continue
      install_file "$b/$n" "$d/$n" 755
      x86_64-w64-mingw32-strip --strip-debug "$d/$n"
      BUNDLED="$BUNDLED $n"
    done
  done
  install_file "$b/libg4plug.dll.a" "$d/libg4plug.dll.a" 644
  install_file abi/g4plug.def "$d/g4plug.def" 644
  dlls=$(pe_imports "$d/g4plug.dll" | tr '\n' ' ' | sed 's/ $//')
  yes_no() { if pe_has "$b/g4plug.dll" "$1"; then echo "yes$2"; else echo "no$3"; fi; }
  features="hwloc topology: $(yes_no hwloc_topology_init " (static)" " (processor count from GetActiveProcessorCount)");
PNG/JPEG decoding: $(yes_no png_create_read_struct " (libpng + zlib, libjpeg-turbo; static)" "");
cJSON (g4_manifest_check): $(yes_no cJSON_Parse " (static)" " (returns G4_ERR_UNSUPPORTED)")"
  [ -f "$d/g4-server.exe" ] && features="$features; g4-server.exe (llama-server compatible): yes"
  requires="Windows 10 or later, x86_64. g4plug.dll imports only system DLLs ($dlls): libgcc,
winpthreads and the libraries listed below are linked statically, the C runtime is msvcrt.dll."
}

stage_macos() { # stage_macos TARGET BUILD DIR: build.sh already signed; stripping would break it
  t=$1 b=$2 d=$3
  install_file "$b/libg4plug.1.dylib" "$d/libg4plug.1.dylib" 755
  ln -s libg4plug.1.dylib "$d/libg4plug.dylib"
  for x in g4 g4-conformance g4-server; do
    [ -f "$b/$x" ] && install_file "$b/$x" "$d/$x" 755
  done
  features="hwloc topology: no (sysctl fallback); PNG/JPEG decoding: no; cJSON: no"
  requires="macOS 11 or later, arm64 or x86_64 (universal binaries, ad-hoc signed)."
  BUNDLED=""
}

# notices DIR BUNDLED...: third-party license texts for what is inside.
notices() {
  d=$1
  shift
  mkdir -p "$d/licenses"
  {
    echo "Third-party software in this archive"
    echo "===================================="
    echo
    echo "g4plug itself is Apache-2.0 (LICENSE). It contains or is shipped with:"
    echo
  } >"$d/licenses/THIRD-PARTY-NOTICES.txt"
  add() { # add NAME LICENSE-FILE WHAT
    echo "* $1 ($3): see licenses/$2.txt" >>"$d/licenses/THIRD-PARTY-NOTICES.txt"
    install_file "$ROOT/packaging/licenses/$2.txt" "$d/licenses/$2.txt" 644
  }
  for n; do
    case $n in
      libhwloc*) add hwloc hwloc "BSD-3-Clause; $n, shipped alongside" ;;
      libcjson*) add cJSON cJSON "MIT; $n, shipped alongside" ;;
      libpng*) add libpng libpng "libpng license; $n, shipped alongside" ;;
      libjpeg*) add libjpeg-turbo libjpeg-turbo "IJG + BSD-3-Clause + zlib; $n, shipped alongside" ;;
      mingw-w64) add "mingw-w64 runtime and winpthreads" mingw-w64 "MIT/BSD/ZPL, public domain; linked statically" ;;
      win-static) # linked into g4plug.dll / g4-server.exe (packaging/win-deps.sh)
        add hwloc hwloc "BSD-3-Clause; linked statically into g4plug.dll"
        add cJSON cJSON "MIT; linked statically into g4plug.dll and g4-server.exe"
        add libpng libpng "libpng license; linked statically into g4plug.dll"
        add zlib zlib "zlib license; linked statically into g4plug.dll"
        add libjpeg-turbo libjpeg-turbo "IJG + BSD-3-Clause + zlib; linked statically into g4plug.dll" ;;
      libmicrohttpd*) add libmicrohttpd libmicrohttpd "LGPL-2.1-or-later; $n, shipped alongside g4-server, replaceable" ;;
    esac
  done
  echo "* The Gemma 4 vocabulary data embedded in the library is Google's, under Apache-2.0." \
    >>"$d/licenses/THIRD-PARTY-NOTICES.txt"
}

# Archives: every entry gets the same mtime, owner 0:0, sorted names, and fixed modes.
make_tar() { # make_tar STAGE NAME OUTFILE
  (cd "$1" && find "$2" -print0 | LC_ALL=C sort -z |
    $TAR --null --no-recursion -T - --format=gnu --owner=0 --group=0 --numeric-owner \
      --mtime="@$SOURCE_DATE_EPOCH" -cf -) | gzip -9 -n >"$3"
}
make_zip() { # make_zip STAGE NAME OUTFILE
  python3 - "$1" "$2" "$3" <<'EOF'
import os, sys, time, zipfile
stage, name, out = sys.argv[1:4]
# zip has no time zone and starts in 1980.
t = time.gmtime(max(int(os.environ["SOURCE_DATE_EPOCH"]), 315532800))
dt = (t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec)
paths = []
for top, dirs, files in os.walk(os.path.join(stage, name)):
    for f in files + dirs:
        paths.append(os.path.relpath(os.path.join(top, f), stage))
with zipfile.ZipFile(out, "w") as z:
    for p in sorted(paths):
        full = os.path.join(stage, p)
        isdir = os.path.isdir(full)
        zi = zipfile.ZipInfo(p.replace(os.sep, "/") + ("/" if isdir else ""), dt)
        zi.create_system = 3  # unix, so the modes below mean something to unzip
        mode = 0o40755 if isdir else (0o100755 if os.access(full, os.X_OK) else 0o100644)
        zi.external_attr = mode << 16 | (0x10 if isdir else 0)
        if isdir:
            z.writestr(zi, b"")
        else:
            zi.compress_type = zipfile.ZIP_DEFLATED
            with open(full, "rb") as f:
                z.writestr(zi, f.read(), compresslevel=9)
EOF
}

rm -f "$OUT/SHA256SUMS"
for target; do
  case $target in
    linux-x86_64) b=build-x86_64 ext=tar.gz ;;
    linux-aarch64) b=build-aarch64 ext=tar.gz ;;
    windows-x86_64) b=build-win ext=zip ;;
    macos-universal) b=build-macos ext=tar.gz ;;
    *) echo "dist: unknown target $target" >&2; exit 2 ;;
  esac
  name=g4plug-$VERSION-$target
  d=$STAGE_ROOT/$name
  mkdir -p "$d/include" "$d/pkgconfig"
  case $target in
    linux-*) stage_linux "$target" "$b" "$d"; libflag=-lg4plug ;;
    windows-*) stage_windows "$target" "$b" "$d"; libflag=-lg4plug
      pe_has "$b/g4plug.dll" hwloc_topology_init && BUNDLED="$BUNDLED win-static"
      BUNDLED="$BUNDLED mingw-w64" ;;
    macos-*) stage_macos "$target" "$b" "$d"; libflag=-lg4plug ;;
  esac
  install_file abi/g4plug.h "$d/include/g4plug.h" 644
  install_file LICENSE "$d/LICENSE" 644
  notices "$d" $BUNDLED
  # pkg-config: relocatable (${pcfiledir}), so the archive works wherever it is unpacked.
  cat >"$d/pkgconfig/g4plug.pc" <<EOF
prefix=\${pcfiledir}/..
libdir=\${prefix}
includedir=\${prefix}/include

Name: g4plug
Description: Gemma 4 GGUF models on the CPU behind a stable C ABI
URL: https://github.com/g4plug/g4plug
Version: $VERSION
Cflags: -I\${includedir}
Libs: -L\${libdir} $libflag
EOF
  chmod 644 "$d/pkgconfig/g4plug.pc"
  # Manifests: g4plug's own (manifest/, when this branch has it) and LM Studio's pack manifest,
  # made by tools/g4-backend-manifest from it (run from the x86_64 build: it is a host tool).
  if [ -f manifest/manifest.json ]; then
    install_file manifest/manifest.json "$d/manifest.json" 644
    lms=$(case $target in macos-*) echo macos-arm64;; *) echo "$target";; esac)
    if [ -x build-x86_64/tools/g4-backend-manifest ]; then
      build-x86_64/tools/g4-backend-manifest manifest/manifest.json "$lms" "$d/backend-manifest.json"
      chmod 644 "$d/backend-manifest.json"
    else
      note "$target: no build-x86_64/tools/g4-backend-manifest: backend-manifest.json skipped"
    fi
  else
    note "$target: no manifest/manifest.json on this branch: manifest.json, backend-manifest.json skipped"
  fi
  # LM Studio engine pack: the archive folder itself (packaging/lmstudio-pack.py)
  srv=$(case $target in windows-*) echo g4-server.exe ;; *) echo g4-server ;; esac)
  if [ -f "$d/backend-manifest.json" ] && [ -f "$d/$srv" ]; then
    python3 packaging/lmstudio-pack.py "$d" "$srv" "$VERSION" "$target"
  else
    note "$target: no backend-manifest.json or $srv: LM Studio pack files skipped"
  fi
  sed -e "s|@VERSION@|$VERSION|g" -e "s|@TARGET@|$target|g" packaging/README.dist.md >"$d/README.md.tmp"
  BUND=""
  for n in ${BUNDLED:-none}; do
    case $n in
      win-static) n="hwloc, cJSON, libpng, zlib, libjpeg-turbo (linked into g4plug.dll)" ;;
      mingw-w64) n="the mingw-w64 runtime (linked statically)" ;;
    esac
    BUND="${BUND:+$BUND; }$n"
  done
  REQ=$requires FEAT=$features BUND=$BUND awk \
    '{ gsub(/@REQUIRES@/, ENVIRON["REQ"]); gsub(/@FEATURES@/, ENVIRON["FEAT"]); gsub(/@BUNDLED@/, ENVIRON["BUND"]); print }' \
    "$d/README.md.tmp" >"$d/README.md"
  rm "$d/README.md.tmp"
  chmod 644 "$d/README.md"
  # Per-archive checksums of every file inside (symlinks excluded: they point at listed files).
  (cd "$d" && find . -type f ! -name SHA256SUMS | sed 's|^\./||' | LC_ALL=C sort |
    while IFS= read -r f; do sha256 "$f"; done >SHA256SUMS)
  chmod 644 "$d/SHA256SUMS"
  find "$d" -type d -exec chmod 755 {} +
  case $ext in
    tar.gz) make_tar "$STAGE_ROOT" "$name" "$OUT/$name.tar.gz" ;;
    zip) make_zip "$STAGE_ROOT" "$name" "$OUT/$name.zip" ;;
  esac
  note "$OUT/$name.$ext ($(wc -c <"$OUT/$name.$ext") bytes)"
done
(cd "$OUT" && ls g4plug-"$VERSION"-*.tar.gz g4plug-"$VERSION"-*.zip 2>/dev/null | LC_ALL=C sort |
  while IFS= read -r f; do sha256 "$f"; done >SHA256SUMS)
note "$OUT/SHA256SUMS:"
cat "$OUT/SHA256SUMS"
echo "dist: archives:"
(cd "$OUT" && for f in $(ls g4plug-"$VERSION"-*.tar.gz g4plug-"$VERSION"-*.zip 2>/dev/null | LC_ALL=C sort); do
  printf '  %s  %s bytes (%s KiB)\n' "$OUT/$f" "$(wc -c <"$f")" "$(($(wc -c <"$f") / 1024))"
done)

#!/bin/sh
# macOS universal build (arm64 + x86_64) of libg4plug.1.dylib, g4 and g4-conformance, into
# OUT (default build-macos/), ad-hoc signed; then the unit tests for the machine's own arch and,
# when fixtures are there (G4_FIXTURES, default ../shared/fixtures), the conformance suite.
# Package afterwards with: TAR=gtar sh packaging/dist.sh VERSION build/dist macos-universal
#
# The Makefile's link rules are ELF-only (soname, version script), hence this script. Each arch is
# compiled on its own (the AVX and NEON files only exist for one of them) and merged with lipo.
#   install name  @rpath/libg4plug.1.dylib, rpath @loader_path (hosts find it beside them)
#   exports       abi/g4plug.exp (-exported_symbols_list): exactly the ABI, checked below
#   signing       ad-hoc (codesign -s -) after lipo: arm64 code must carry a signature, and lipo
#                 invalidates the linker's. Real releases sign with a Developer ID and notarise
#                 (docs: hosts-and-packaging.md §5.2).
# No hwloc/cJSON/libpng/libjpeg here (topology from sysctl, no image decoding, g4_manifest_check
# returns G4_ERR_UNSUPPORTED): the archive must not depend on Homebrew.
# Never run by the project's own Linux machines; .github/workflows/macos.yml runs it.
set -eu
OUT=${1:-build-macos}
CC=${CC:-clang}
VERSION=$(sed -n 's/^VERSION_\(MAJOR\|MINOR\|PATCH\) := //p' Makefile | paste -sd. -)
: "${MACOSX_DEPLOYMENT_TARGET:=11.0}"
export MACOSX_DEPLOYMENT_TARGET
ROOT=$(pwd)
CPPFLAGS="-DG4_BUILDING_LIBRARY -Iabi -Iplugin -Ikernels -Ios -DG4_VERSION_STRING=\"$VERSION\""
CFLAGS="-std=c11 -O2 -g -fPIC -fvisibility=hidden -Wall -Wextra -Werror -Wno-unused-parameter -ffile-prefix-map=$ROOT=."
NATIVE=$(uname -m) # arm64 or x86_64

rm -rf "$OUT"
mkdir -p "$OUT"
for arch in arm64 x86_64; do
  a=$OUT/$arch
  objs=""
  for src in plugin/*/*.c kernels/*.c os/*.c; do
    case $src in
      *_neon.c) [ $arch = arm64 ] || continue; isa="-march=armv8.2-a+dotprod+i8mm+fp16" ;;
      *_avx2.c) [ $arch = x86_64 ] || continue; isa="-mavx2 -mfma -mf16c" ;;
      *_avx512.c) [ $arch = x86_64 ] || continue
        isa="-mavx2 -mfma -mf16c -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni -mavx512bf16" ;;
      *) isa="" ;;
    esac
    o=$a/${src%.c}.o
    mkdir -p "$(dirname "$o")"
    echo "  CC [$arch] $src"
    $CC -arch $arch $CPPFLAGS $CFLAGS $isa -c "$src" -o "$o"
    objs="$objs $o"
  done
  $CC -arch $arch -dynamiclib -o "$a/libg4plug.1.dylib" $objs \
    -install_name @rpath/libg4plug.1.dylib -current_version "$VERSION" -compatibility_version 1.0.0 \
    -Wl,-exported_symbols_list,abi/g4plug.exp -Wl,-rpath,@loader_path -lm
  ar rcs "$a/libg4plug_internal.a" $objs
  $CC -arch $arch $CPPFLAGS -Ihosts/common $CFLAGS -o "$a/g4" hosts/cli/*.c hosts/common/*.c \
    -Wl,-rpath,@loader_path -lm
  $CC -arch $arch $CPPFLAGS -Ihosts/common $CFLAGS -o "$a/g4-conformance" conformance/*.c \
    plugin/gguf/gguf_read.c kernels/ggml_types.c hosts/common/*.c -Wl,-rpath,@loader_path -lm
done
for f in libg4plug.1.dylib g4 g4-conformance; do
  lipo -create "$OUT/arm64/$f" "$OUT/x86_64/$f" -output "$OUT/$f"
  codesign -f -s - "$OUT/$f"
  echo "  $f: $(lipo -archs "$OUT/$f")"
done
ln -sf libg4plug.1.dylib "$OUT/libg4plug.dylib"

# ---- checks -----------------------------------------------------------------------------------
fail=0
# Exports: exactly the ABI, in both slices.
grep -E '^G4_API' abi/g4plug.h | sed -E 's/.*G4_CALL \**([a-z0-9_]+)\(.*/\1/' | sort >"$OUT/exports.header"
for arch in arm64 x86_64; do
  nm -gU -arch $arch "$OUT/libg4plug.1.dylib" | awk '{print $3}' | sed 's/^_//' | sort >"$OUT/exports.$arch"
  if diff -u "$OUT/exports.header" "$OUT/exports.$arch"; then echo "ok   exports ($arch)"; else echo "FAIL exports ($arch)"; fail=1; fi
done
otool -D "$OUT/libg4plug.1.dylib" | grep -q '@rpath/libg4plug.1.dylib' && echo "ok   install name" || { echo "FAIL install name"; fail=1; }
otool -l "$OUT/g4" | grep -A2 LC_RPATH | grep -q '@loader_path' && echo "ok   g4 rpath" || { echo "FAIL g4 rpath"; fail=1; }
codesign -v "$OUT/libg4plug.1.dylib" && echo "ok   signature" || { echo "FAIL signature"; fail=1; }

# Unit tests, native arch only (each links the internal archive, as the Makefile does on Linux).
mkdir -p "$OUT/tests"
for t in tests/test_*.c; do
  b=$OUT/tests/$(basename "$t" .c)
  $CC -arch "$NATIVE" $CPPFLAGS -Itests $CFLAGS -o "$b" "$t" "$OUT/$NATIVE/libg4plug_internal.a" -lm
done
FIX=${G4_FIXTURES:-../shared/fixtures}
export G4_FIXTURES="$FIX"
# tests/run_tests.sh's ELF export check does not apply (nm -D); the one above replaces it.
for b in "$OUT"/tests/test_*; do
  if "$b" >"$b.log" 2>&1; then echo "ok   $(tail -1 "$b.log")"; else cat "$b.log"; echo "FAIL $b"; fail=1; fi
done
if [ -d "$FIX/gemma4" ]; then
  LOG=$(mktemp)
  run() { n=$1; shift; if "$@" >"$LOG" 2>&1; then echo "ok   $n: $(tail -1 "$LOG")"; else cat "$LOG"; echo "FAIL $n"; fail=1; fi; }
  BUILD=$OUT
  . tests/conformance_cases.sh
  # The other slice too, where Rosetta can run it (arm64 runners).
  if [ "$NATIVE" = arm64 ] && arch -x86_64 /usr/bin/true 2>/dev/null; then
    G4_EXEC="arch -x86_64"
    . tests/conformance_cases.sh
  fi
  rm -f "$LOG"
else
  echo "conformance: skipped (no fixtures at $FIX)"
fi
exit $fail

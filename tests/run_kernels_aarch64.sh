#!/bin/sh
# Cross-builds tests/test_kernels.c for aarch64 and runs it under qemu-user, so the NEON kernels
# are checked against the scalar reference on an x86 host. Mirrors the Makefile's flags: *_neon.c
# get the NEON ISA flags, everything else is baseline Armv8-A; no hwloc (topology falls back).
# Needs: gcc-aarch64-linux-gnu, libc6-dev-arm64-cross, qemu-user. Skips (exit 0) when missing
# unless G4_REQUIRE_AARCH64=1.
set -eu
cd "$(dirname "$0")/.."
CC=${AARCH64_CC:-aarch64-linux-gnu-gcc}
QEMU=${QEMU_AARCH64:-qemu-aarch64}
SYSROOT=${AARCH64_SYSROOT:-/usr/aarch64-linux-gnu}
if ! command -v "$CC" >/dev/null 2>&1 || ! command -v "$QEMU" >/dev/null 2>&1; then
    echo "run_kernels_aarch64: $CC or $QEMU missing (apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user)"
    [ "${G4_REQUIRE_AARCH64:-0}" = 1 ] && exit 1
    exit 0
fi
OUT=${BUILD:-build}/aarch64
mkdir -p "$OUT"
CFLAGS="-std=c11 -O2 -g -D_GNU_SOURCE -DG4_BUILDING_LIBRARY -Wall -Wextra -Werror -Wno-unused-parameter -Iabi -Iplugin -Ikernels -Ios -Itests -pthread"
OBJS=""
for f in kernels/*.c; do
    case "$f" in
    *_avx2.c | *_avx512.c) continue ;;
    *_neon.c) isa="-march=armv8.2-a+dotprod+i8mm+fp16" ;;
    *) isa="" ;;
    esac
    o="$OUT/$(basename "$f" .c).o"
    $CC $CFLAGS $isa -c "$f" -o "$o"
    OBJS="$OBJS $o"
done
$CC $CFLAGS tests/test_kernels.c $OBJS -lm -o "$OUT/test_kernels"
# -cpu max: dotprod/i8mm on; the kernel test checks every level the (emulated) CPU runs
exec "$QEMU" -cpu max -L "$SYSROOT" "$OUT/test_kernels" "$@"

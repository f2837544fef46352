#!/bin/sh
# Runs an aarch64 Linux program here under qemu-user: the cross toolchain's glibc stands in for
# the target's, plus "system" libraries a real arm64 install has (libz, libudev, and for the
# in-tree test binaries, which have no $ORIGIN rpath, the sysroot's hwloc/cJSON/png/jpeg).
# Usage: sh packaging/run-aarch64.sh PROGRAM [ARGS...]
#   G4_AARCH64_LIBS  library path for the guest (default: the sysroot's lib folders)
#   QEMU_CPU         default "max" (all Armv8/9 features qemu knows, incl. dotprod and i8mm)
S=${G4_AARCH64_SYSROOT:-$(cd "$(dirname "$0")/.." && pwd)/build-aarch64-sysroot}
LIBS=${G4_AARCH64_LIBS-$S/usr/lib/aarch64-linux-gnu:$S/lib/aarch64-linux-gnu}
exec qemu-aarch64 -cpu "${QEMU_CPU:-max}" -L "${G4_AARCH64_PREFIX:-/usr/aarch64-linux-gnu}" \
  ${LIBS:+-E LD_LIBRARY_PATH="$LIBS"} "$@"

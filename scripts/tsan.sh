#!/bin/sh
# ThreadSanitizer run: builds the library with clang -fsanitize=thread into build-tsan/ (through
# the Makefile, so the sources and flags are the library's own), links tests/tsan_sessions.c and
# tests/test_mm_concurrent.c against it and runs them time-bounded. Any TSan report, a failed check or a timeout fails.
#   sh scripts/tsan.sh          env: TSAN_ITERS (per thread, default 40), TSAN_TIMEOUT (s, 170),
#                               TSAN_MM_TIMEOUT (s, 400: test_mm_concurrent)
set -u
cd "$(dirname "$0")/.."
B=build-tsan
FIX=${G4_FIXTURES:-../shared/fixtures}
export G4_FIXTURES="$FIX"
echo "== tsan: building the library ($B/)"
make --no-print-directory -j"${TSAN_JOBS:-2}" BUILD=$B CC=clang OPT=-O1 ZDEFS= \
  SANFLAGS="-fsanitize=thread -fno-omit-frame-pointer" $B/libg4plug_internal.a ||
  { echo "tsan: library build failed"; exit 1; }
DEFS="-DG4_BUILDING_LIBRARY -D_GNU_SOURCE -Iabi -Iplugin -Ikernels -Ios -Itests"
LIBS="-lm -ldl -pthread"
for pc in hwloc:G4_HAVE_HWLOC libcjson:G4_HAVE_CJSON libpng:G4_HAVE_PNG libjpeg:G4_HAVE_JPEG; do
  if pkg-config --exists "${pc%%:*}" 2>/dev/null; then
    DEFS="$DEFS -D${pc#*:}=1 $(pkg-config --cflags "${pc%%:*}")"
    LIBS="$LIBS $(pkg-config --libs "${pc%%:*}")"
  fi
done
# shellcheck disable=SC2086
clang -std=c11 -g -O1 -fsanitize=thread -fno-omit-frame-pointer -Wall -Wextra -Werror \
  -Wno-unused-parameter $DEFS tests/tsan_sessions.c $B/libg4plug_internal.a $LIBS \
  -o $B/tsan_sessions || { echo "tsan: test build failed"; exit 1; }
# Concurrent embeds on one shared model must match the sequential results (issue #19 item 1).
# shellcheck disable=SC2086
clang -std=c11 -g -O1 -fsanitize=thread -fno-omit-frame-pointer -Wall -Wextra -Werror \
  -Wno-unused-parameter $DEFS tests/test_mm_concurrent.c $B/libg4plug_internal.a $LIBS \
  -o $B/test_mm_concurrent || { echo "tsan: test build failed"; exit 1; }
# the encoders' opt-in precisions: weight conversion and the 16-bit GEMM's packing on a 2-thread pool
clang -std=c11 -g -O1 -fsanitize=thread -fno-omit-frame-pointer -Wall -Wextra -Werror \
  -Wno-unused-parameter $DEFS tests/test_mm_precision.c $B/libg4plug_internal.a $LIBS \
  -o $B/test_mm_precision || { echo "tsan: test build failed"; exit 1; }
status=0
for prog in tsan_sessions test_mm_concurrent test_mm_precision; do
  echo "== tsan: running $B/$prog"
  LOG=$B/$prog.log
  TSAN_OPTIONS="halt_on_error=0 exitcode=66 second_deadlock_stack=1 ${TSAN_OPTIONS:-}" \
    # test_mm_concurrent: ~25 s of CPU under TSan, but its 4 threads share 2 cores with the rest
    limit=${TSAN_TIMEOUT:-170}
    [ $prog = test_mm_concurrent ] && limit=${TSAN_MM_TIMEOUT:-400}
    timeout "$limit" $B/$prog $([ $prog = test_mm_concurrent ] && echo --quick) >"$LOG" 2>&1
  rc=$?
  n_reports=$(grep -c "WARNING: ThreadSanitizer" "$LOG")
  grep -E "^$prog|^unified|^towers|FAIL" "$LOG"
  if [ "$n_reports" -gt 0 ]; then
    grep -A30 "WARNING: ThreadSanitizer" "$LOG" | head -120
  fi
  echo "tsan: $prog exit $rc, $n_reports ThreadSanitizer report(s) (log: $LOG)"
  { [ $rc -eq 0 ] && [ "$n_reports" -eq 0 ]; } || status=1
done
exit $status

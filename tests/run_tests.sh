#!/bin/sh
# Runs every unit-test binary and every conformance case, then prints one closing line:
#   "N passed, N failed"
# Each test binary prints its own "<name>: N passed, N failed" line, which this script sums.
# Usage: sh tests/run_tests.sh BUILD_DIR
# $G4_EXEC, when set, prefixes every binary run (an emulator for a cross build, e.g.
# "sh packaging/run-aarch64.sh"); $NM picks the nm for check_exports.sh.
BUILD=${1:-build}
FIX=${G4_FIXTURES:-../shared/fixtures}
export G4_FIXTURES="$FIX"
# Sanitized builds: a refused huge allocation returns NULL (as in production) instead of aborting,
# so out-of-memory paths are exercised the same way in both builds.
export ASAN_OPTIONS="${ASAN_OPTIONS:-allocator_may_return_null=1}"
LOG=$(mktemp)
status=0
run() { # run NAME CMD...
  name=$1; shift
  echo "== $name"
  if "$@" >"$LOG.out" 2>&1; then rc=0; else rc=$?; fi
  cat "$LOG.out"
  line=$(grep -E '^(.*: )?[0-9]+ passed, [0-9]+ failed' "$LOG.out" | tail -1)
  if [ -n "$line" ]; then
    echo "$line" | sed -E 's/^(.*[^0-9])?([0-9]+) passed, ([0-9]+) failed.*/\2 \3/' >>"$LOG"
  else
    # a binary that printed no count still counts as one check
    if [ $rc -eq 0 ]; then echo "1 0" >>"$LOG"; else echo "0 1" >>"$LOG"; fi
  fi
  if [ $rc -ne 0 ]; then echo "!! $name exited with $rc"; status=1; fi
}
for t in "$BUILD"/tests/test_*; do
  [ -x "$t" ] || continue
  case "$t" in *.d) continue;; esac
  run "$(basename "$t")" $G4_EXEC "$t"
done
for t in tests/test_*.sh; do
  [ -f "$t" ] || continue
  run "$(basename "$t" .sh)" sh "$t" "$BUILD"
done
for h in abi_host_c89 abi_host_cxx abi_host_v1_0; do
  [ -x "$BUILD/tests/$h" ] && run "$h" $G4_EXEC "$BUILD/tests/$h" "$BUILD/libg4plug.so"
done
run check_exports sh tests/check_exports.sh "$BUILD/libg4plug.so"
# Conformance cases (added by tests/conformance_cases.sh when present).
if [ -f tests/conformance_cases.sh ]; then
  . tests/conformance_cases.sh
fi
total_p=$(awk '{s+=$1} END {print s+0}' "$LOG")
total_f=$(awk '{s+=$2} END {print s+0}' "$LOG")
rm -f "$LOG" "$LOG.out"
[ "$total_f" -eq 0 ] || status=1
echo "$total_p passed, $total_f failed"
exit $status

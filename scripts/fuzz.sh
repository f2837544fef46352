#!/bin/sh
# Builds every libFuzzer target fuzz/fuzz_*.c and runs each for a bounded time.
#   sh scripts/fuzz.sh [NAME...]     NAME = target without the fuzz_ prefix (default: all)
# Environment: FUZZ_SECONDS (per target, default 30), FUZZ_JOBS (make -j, default 2),
#              G4_FIXTURES (default ../shared/fixtures).
#
# How it builds: the library is compiled once by the Makefile into build-fuzz/ with
# -fsanitize=fuzzer-no-link,address,undefined (coverage instrumentation without libFuzzer's
# main), and each target links build-fuzz/libg4plug_internal.a with -fsanitize=fuzzer.
# A target may add sources or run options with header-comment lines:
#   fuzz-sources: hosts/server/request.c hosts/common/json.c
#   fuzz-args: -max_len=16384
# Corpora: build-fuzz/corpus/NAME (written by libFuzzer, not committed) is seeded from
# fuzz/corpus/NAME (committed, read-only to the run). Inputs under fuzz/regress/NAME/ (past
# crashes) are replayed first. Anything libFuzzer finds lands in fuzz/crashes/NAME-*, and the
# script then fails.
set -u
cd "$(dirname "$0")/.."
SECS=${FUZZ_SECONDS:-30}
JOBS=${FUZZ_JOBS:-2}
B=build-fuzz
FIX=${G4_FIXTURES:-../shared/fixtures}
export G4_FIXTURES="$FIX"
export G4_VOCAB="${G4_VOCAB:-$FIX/tokenizer/ggml-vocab-gemma-4.gguf}"
SAN="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"

command -v clang >/dev/null || { echo "fuzz: clang not found (sh scripts/deps.sh)"; exit 1; }
[ -n "$(clang -print-file-name=libclang_rt.fuzzer-x86_64.a 2>/dev/null | grep /)" ] ||
  [ -n "$(find /usr/lib/llvm-* -name 'libclang_rt.fuzzer*.a' 2>/dev/null | head -1)" ] ||
  echo "fuzz: warning: no libFuzzer runtime found (install libclang-rt-14-dev)"

echo "== fuzz: building the instrumented library ($B/)"
make --no-print-directory -j"$JOBS" BUILD=$B CC=clang OPT=-O1 ZDEFS= \
  SANFLAGS="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" \
  $B/libg4plug_internal.a || { echo "fuzz: library build failed"; exit 1; }

# The same optional libraries the Makefile detects.
DEFS="-DG4_BUILDING_LIBRARY -D_GNU_SOURCE -Iabi -Iplugin -Ikernels -Ios"
LIBS="-lm -ldl -pthread"
for pc in hwloc:G4_HAVE_HWLOC libcjson:G4_HAVE_CJSON libpng:G4_HAVE_PNG libjpeg:G4_HAVE_JPEG; do
  if pkg-config --exists "${pc%%:*}" 2>/dev/null; then
    DEFS="$DEFS -D${pc#*:}=1 $(pkg-config --cflags "${pc%%:*}")"
    LIBS="$LIBS $(pkg-config --libs "${pc%%:*}")"
  fi
done

if [ $# -gt 0 ]; then
  TARGETS=""
  for n in "$@"; do TARGETS="$TARGETS fuzz/fuzz_$n.c"; done
else
  TARGETS=$(ls fuzz/fuzz_*.c)
fi

mkdir -p $B/fuzz $B/corpus fuzz/crashes
SUMMARY=$(mktemp)
status=0
for src in $TARGETS; do
  name=$(basename "$src" .c); name=${name#fuzz_}
  bin=$B/fuzz/fuzz_$name
  log=$B/fuzz/$name.log
  [ -f "$src" ] || { echo "fuzz: $src not found"; status=1; continue; }
  extra=$(sed -n 's/.*fuzz-sources:\(.*\)$/\1/p' "$src" | head -1)
  args=$(sed -n 's/.*fuzz-args:\(.*\)$/\1/p' "$src" | head -1)
  echo "== fuzz_$name: build"
  # shellcheck disable=SC2086
  if ! clang -std=c11 -g -O1 $DEFS -fsanitize=fuzzer $SAN -Wall -Wextra -Werror -Wno-unused-parameter \
       "$src" $extra $B/libg4plug_internal.a $LIBS -o "$bin"; then
    echo "fuzz_$name: BUILD FAILED"
    printf '%-14s %s\n' "$name" "build failed" >>"$SUMMARY"
    status=1
    continue
  fi
  before=$(ls fuzz/crashes 2>/dev/null | grep -c "^$name-" || true)
  # past crashes first: each is run once and must pass now
  if [ -d fuzz/regress/$name ] && [ -n "$(ls fuzz/regress/$name)" ]; then
    echo "== fuzz_$name: replaying fuzz/regress/$name ($(ls fuzz/regress/$name | wc -l) inputs)"
    # shellcheck disable=SC2086
    if ! "$bin" $args -artifact_prefix=fuzz/crashes/$name- fuzz/regress/$name/* >"$log.regress" 2>&1; then
      tail -40 "$log.regress"
      echo "fuzz_$name: REGRESSION"
      status=1
    fi
  fi
  seeds=""
  [ -d fuzz/corpus/$name ] && seeds=fuzz/corpus/$name
  mkdir -p $B/corpus/$name
  echo "== fuzz_$name: ${SECS}s"
  # shellcheck disable=SC2086
  "$bin" $args -max_total_time="$SECS" -timeout=20 -rss_limit_mb=2560 -print_final_stats=1 \
    -artifact_prefix=fuzz/crashes/$name- $B/corpus/$name $seeds >"$log" 2>&1
  rc=$?
  after=$(ls fuzz/crashes 2>/dev/null | grep -c "^$name-" || true)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  last=$(grep -E '^#[0-9]+' "$log" | tail -1)
  cov=$(echo "$last" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
  ft=$(echo "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
  corp=$(echo "$last" | sed -n 's/.* corp: \([0-9]*\).*/\1/p')
  new=$((after - before))
  if [ $rc -ne 0 ] || [ $new -gt 0 ]; then
    grep -E 'ERROR|SUMMARY|==[0-9]+==|Test unit written' "$log" | head -20
    echo "fuzz_$name: FAILED (exit $rc, $new new artifact(s) in fuzz/crashes/; log $log)"
    status=1
  fi
  printf '%-14s execs %-9s exec/s %-7s cov %-6s ft %-6s corpus %-5s crashes %s\n' "$name" \
    "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$new" >>"$SUMMARY"
done
echo "== fuzz summary (${SECS}s per target)"
cat "$SUMMARY"
rm -f "$SUMMARY"
n_crash=$(ls fuzz/crashes 2>/dev/null | wc -l)
if [ "$n_crash" -gt 0 ]; then
  echo "fuzz: $n_crash file(s) in fuzz/crashes/ (turn each into a regression: fuzz/regress/NAME/)"
  status=1
fi
exit $status

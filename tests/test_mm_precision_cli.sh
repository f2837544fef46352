#!/bin/sh
# --mm-precision in the hosts (g4, g4-server): bad values are refused with a clear message before
# anything loads, and each value runs an image through the encoder end to end.
# Usage: sh tests/test_mm_precision_cli.sh [BUILD_DIR]   (prints "test_mm_precision_cli: N passed, N failed")
BUILD=${1:-build}
FIX=${G4_FIXTURES:-../shared/fixtures}/gemma4
G4="$BUILD/g4"
SRV="$BUILD/g4-server"
LIB=$BUILD/libg4plug.so
MODEL=$FIX/tiny-gemma4-unified-bf16.gguf
MMPROJ=$FIX/mmproj-tiny-gemma4-unified-f32.gguf
export G4PLUG_LIB="$LIB"
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1${2:+: $2}"; }
finish() {
  echo "test_mm_precision_cli: $pass passed, $fail failed"
  [ "$fail" -eq 0 ]
  exit $?
}
for f in "$G4" "$SRV" "$LIB" "$MODEL" "$MMPROJ"; do
  [ -e "$f" ] || { echo "missing $f"; bad "prerequisites"; finish; }
done
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

timeout 60 "$G4" run "$MODEL" x --mmproj "$MMPROJ" --mm-precision f16 >"$T/out" 2>"$T/err"
rc=$?
[ $rc -eq 2 ] && grep -q "expected f32, bf16 or q8" "$T/err" && ok "g4 --mm-precision f16 refused" ||
  bad "g4 --mm-precision f16" "rc $rc: $(head -c 300 "$T/err")"
timeout 60 "$SRV" -m "$MODEL" --mm-precision 2 --port 0 >"$T/out" 2>"$T/err"
rc=$?
[ $rc -eq 2 ] && grep -q "expected f32, bf16 or q8" "$T/err" && ok "g4-server --mm-precision 2 refused" ||
  bad "g4-server --mm-precision 2" "rc $rc: $(head -c 300 "$T/err")"

if [ -f "$FIX/image_fit.png" ]; then
  for p in f32 bf16 q8; do
    timeout 120 "$G4" run "$MODEL" "Describe" --mmproj "$MMPROJ" --image "$FIX/image_fit.png" --mm-precision "$p" \
      -n 2 --temp 0 --threads 2 >"$T/out" 2>"$T/err"
    rc=$?
    [ $rc -eq 0 ] && ok "g4 run with an image at --mm-precision $p" || bad "g4 run --mm-precision $p" "rc $rc: $(tail -c 300 "$T/err")"
  done
fi
finish

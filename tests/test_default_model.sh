#!/bin/sh
# The embedded default model (`g4 run` with no MODEL): build/default/ is made from the repo alone,
# byte-identically on every build; the files load through the ABI; `g4 run` shows the whole tour.
# Usage: sh tests/test_default_model.sh [BUILD_DIR]     (from anywhere; needs `make` done)
# Prints "test_default_model: N passed, N failed"; exits 1 on any failure.
cd "$(dirname "$0")/.." || exit 1
BUILD=${1:-build}
DIR=$BUILD/default
G4=$BUILD/g4
MODEL=$DIR/gemma4-tiny-random.gguf
FILES="gemma4-tiny-random.gguf mmproj-gemma4-tiny-random.gguf gemma4-tiny-random-assistant.gguf demo-image.png demo-audio.wav"
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }
check() { # check NAME CMD...
  name=$1; shift
  if "$@" >/dev/null 2>&1; then ok "$name"; else bad "$name"; fi
}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

for f in $FILES; do
  check "built: $f" test -s "$DIR/$f"
done

# Determinism: a second build of the same rules into another folder gives the same bytes.
# (The sub-make must not inherit a parent make's jobserver.)
if env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make --no-print-directory -s BUILD="$BUILD" \
     DEFAULT_DIR="$TMP/default" default-model >"$TMP/make.log" 2>&1; then
  ok "second build of the default model"
  for f in $FILES; do
    check "byte-identical across builds: $f" cmp "$DIR/$f" "$TMP/default/$f"
  done
else
  bad "second build of the default model"; cat "$TMP/make.log"
fi

# The files load through the ABI (g4 reaches the library only via dlopen).
if "$G4" info "$MODEL" --mmproj "$DIR/mmproj-gemma4-tiny-random.gguf" \
     --draft "$DIR/gemma4-tiny-random-assistant.gguf" >"$TMP/info" 2>&1; then
  ok "g4 info loads model + projector + drafter"
else
  bad "g4 info loads model + projector + drafter"; cat "$TMP/info"
fi
check "info: 6 layers, 64 wide, vocabulary 262144" grep -q "6 layers, 64 wide, vocabulary 262144" "$TMP/info"
check "info: labelled RANDOM weights" grep -q "RANDOM weights" "$TMP/info"
"$G4" tokenize -m "$MODEL" --ids "Hello world" >"$TMP/tok" 2>&1
check "tokenize with the real vocabulary" grep -Eq '^2 [0-9]+ [0-9]+$' "$TMP/tok"
check "g4 generate on the default model" "$G4" generate -m "$MODEL" -p "Hello" -n 4 --seed 1 --threads 1

# g4 run with no MODEL: exit 0, the banner, every section, in a few seconds.
start=$(date +%s)
if "$G4" run >"$TMP/run1" 2>&1; then ok "g4 run exits 0"; else bad "g4 run exits 0"; cat "$TMP/run1"; fi
secs=$(( $(date +%s) - start ))
if [ "$secs" -le 60 ]; then ok "g4 run took ${secs} s"; else bad "g4 run took ${secs} s (> 60)"; fi
check "banner" grep -q "embedded default model: tiny Gemma 4 with RANDOM weights" "$TMP/run1"
check "banner: output is meaningless" grep -q "output is meaningless" "$TMP/run1"
for s in "[1/5] load" "[2/5] text" "[3/5] image + audio" "[4/5] drafting" "[5/5] timings"; do
  check "section $s" grep -qF "$s" "$TMP/run1"
done
check "load time shown" grep -Eq "^  load +[0-9]+ ms" "$TMP/run1"
check "text generated and timed" grep -Eq "^  text generation .* tok/s" "$TMP/run1"
check "image: soft tokens or a reason to skip" grep -Eq "^  image demo-image.png +(-> [0-9]+ soft tokens|skipped: .+)" "$TMP/run1"
check "audio: soft tokens or a reason to skip" grep -Eq "^  audio demo-audio.wav +(-> [0-9]+ soft tokens|skipped: .+)" "$TMP/run1"
check "drafting: counts or a reason to skip" grep -Eq "^  (drafted [0-9]+, accepted [0-9]+|drafting demo skipped: .+)" "$TMP/run1"
if grep -q "same tokens as plain greedy" "$TMP/run1"; then
  check "speculative output equals plain greedy" grep -q "same tokens as plain greedy: yes" "$TMP/run1"
fi
# A fixed seed: the same text every run.
"$G4" run >"$TMP/run2" 2>&1
grep "model> " "$TMP/run1" >"$TMP/text1"
grep "model> " "$TMP/run2" >"$TMP/text2"
check "same output on a second run" cmp "$TMP/text1" "$TMP/text2"

# G4_DEFAULT_MODEL_DIR: an empty folder gives a clear error, not a crash.
mkdir -p "$TMP/empty"
G4_DEFAULT_MODEL_DIR="$TMP/empty" "$G4" run >"$TMP/err" 2>&1
rc=$?
if [ $rc -eq 2 ] && grep -q "no embedded default model" "$TMP/err"; then
  ok "G4_DEFAULT_MODEL_DIR without a model: exit 2 with a hint"
else
  bad "G4_DEFAULT_MODEL_DIR without a model: exit 2 with a hint (got $rc)"; cat "$TMP/err"
fi

echo "test_default_model: $pass passed, $fail failed"
[ "$fail" -eq 0 ]

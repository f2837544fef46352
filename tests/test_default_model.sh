#!/bin/sh
# The embedded default model (`g4 run` with no MODEL): build/default/ is made from the repo alone,
# byte-identically on every build; the files load through the ABI; `g4 run` shows the whole tour;
# the shipped model learned (perplexity on held-out WordNet samples far below a unigram model's)
# and its MTP drafter is lossless and accepted.
# Usage: sh tests/test_default_model.sh [BUILD_DIR]     (from anywhere; needs `make` done)
# Prints "test_default_model: N passed, N failed"; exits 1 on any failure.
cd "$(dirname "$0")/.." || exit 1
BUILD=${1:-build}
DIR=$BUILD/default
G4=$BUILD/g4
MODEL=$DIR/gemma4-tiny.gguf
DRAFT=$DIR/gemma4-tiny-assistant.gguf
FILES="gemma4-tiny.gguf mmproj-gemma4-tiny.gguf gemma4-tiny-assistant.gguf demo-image.png demo-audio.wav"
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
if "$G4" info "$MODEL" --mmproj "$DIR/mmproj-gemma4-tiny.gguf" \
     --draft "$DRAFT" >"$TMP/info" 2>&1; then
  ok "g4 info loads model + projector + drafter"
else
  bad "g4 info loads model + projector + drafter"; cat "$TMP/info"
fi
check "info: 4 layers, 128 wide, vocabulary 262144" grep -q "4 layers, 128 wide, vocabulary 262144" "$TMP/info"
check "info: labelled as trained" grep -q "WordNet, trained" "$TMP/info"
"$G4" tokenize -m "$MODEL" --ids "Hello world" >"$TMP/tok" 2>&1
check "tokenize with the real vocabulary" grep -Eq '^2 [0-9]+ [0-9]+$' "$TMP/tok"
check "g4 generate on the default model" "$G4" generate -m "$MODEL" -p "Hello" -n 4 --seed 1 --threads 1

# g4 run with no MODEL: exit 0, the banner, every section, in a few seconds.
start=$(date +%s)
if "$G4" run >"$TMP/run1" 2>&1; then ok "g4 run exits 0"; else bad "g4 run exits 0"; cat "$TMP/run1"; fi
secs=$(( $(date +%s) - start ))
if [ "$secs" -le 60 ]; then ok "g4 run took ${secs} s"; else bad "g4 run took ${secs} s (> 60)"; fi
check "banner" grep -q "embedded default model: tiny Gemma 4 trained here on WordNet" "$TMP/run1"
check "banner: the projector is random" grep -q "projector has RANDOM weights" "$TMP/run1"
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

# The shipped model learned. Held-out WordNet samples (assets/gemma4-tiny-heldout.txt: every
# 50th sample of the training corpus, never trained on; token ids): perplexity over the full
# 262144-token vocabulary must stay below PPL_MAX. For scale: a unigram model fitted to the
# training samples scores 190 on this slice (tools/train/train.py logs it), the shipped model
# 13.1 on these 40 lines (14.9 on all 284); PPL_MAX leaves room for kernel rounding, not for a model
# that did not learn. The first 40 lines keep the check to a few seconds.
PPL_MAX=40
HELD=assets/gemma4-tiny-heldout.txt
if "$BUILD/tools/g4-perplexity" "$MODEL" "$HELD" --lines 40 --threads 1 >"$TMP/ppl" 2>&1; then
  ppl=$(sed -n 's/^perplexity \([0-9.]*\) .*/\1/p' "$TMP/ppl")
  if awk -v p="$ppl" -v m="$PPL_MAX" 'BEGIN { exit !(p > 0 && p < m) }'; then
    ok "held-out perplexity $ppl < $PPL_MAX (unigram: 190)"
  else
    bad "held-out perplexity $ppl >= $PPL_MAX"; cat "$TMP/ppl"
  fi
else
  bad "g4-perplexity on the held-out slice"; cat "$TMP/ppl"
fi
# Greedy decoding with MTP drafting == plain greedy decoding, on held-out questions (the prompt
# is each sample up to its answer start), and the drafter is accepted at least ACC_MIN percent
# of the time (shipped: 86.8%; a random drafter gets 0%).
ACC_MIN=40
if "$BUILD/tools/g4-perplexity" "$MODEL" "$HELD" --draft "$DRAFT" --lines 12 --gen 24 --threads 1 \
     >"$TMP/spec" 2>&1; then
  ok "speculative greedy == plain greedy on 12 held-out prompts"
else
  bad "speculative greedy == plain greedy on 12 held-out prompts"; cat "$TMP/spec"
fi
acc=$(sed -n 's/.*accepted [0-9]* (\([0-9.]*\)%).*/\1/p' "$TMP/spec")
if awk -v a="$acc" -v m="$ACC_MIN" 'BEGIN { exit !(a >= m) }'; then
  ok "draft acceptance $acc% >= $ACC_MIN%"
else
  bad "draft acceptance ${acc:-?}% < $ACC_MIN%"; cat "$TMP/spec"
fi
check "g4 run: English answer (the words of a definition)" grep -Eq "model> .*(is|means) (a|an|the) " "$TMP/run1"

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

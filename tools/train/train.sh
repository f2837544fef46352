#!/bin/sh
# The embedded default model, from nothing but Debian packages and this repository:
#   WordNet -> chat corpus (corpus.py) -> Gemma 4 token ids (g4-tokenize --lines)
#   -> target + MTP drafter (train.py, CPU, fixed seeds) -> float GGUFs
#   -> Q8_0 GGUFs (g4-quantize, the project's GGUF writer) -> assets/*.gguf.xz (xz -9e -T1)
# plus assets/gemma4-tiny-heldout.txt (token ids of the held-out samples, for make test).
# Usage: sh tools/train/train.sh [BUILD] [THREADS]   (after make train-deps and make)
# Resumable: a rerun continues from BUILD/train/ckpt-*.pt. The shipped assets were made with
#   nice -n 19 sh tools/train/train.sh build 1
# (one thread: the shared build machine was oversubscribed; see tools/train/README.md).
set -e
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
THREADS=${2:-2}
OUT=$BUILD/train
PY=/usr/bin/python3
mkdir -p "$OUT"
# the PyTorch model must be Gemma 4 before anything is trained with it
$PY tools/train/check_fixture.py "${G4_FIXTURES:-../shared/fixtures}"
$PY tools/train/corpus.py >"$OUT/corpus.txt"
"$BUILD/tools/g4-tokenize" "$BUILD/default/gemma4-vocab.gguf" --lines --special <"$OUT/corpus.txt" >"$OUT/ids.txt"
OPENBLAS_NUM_THREADS=$THREADS $PY tools/train/train.py "$OUT/ids.txt" "$BUILD/default/gemma4-vocab.gguf" "$OUT" \
  --threads "$THREADS" --target-steps 500 --draft-steps 200
"$BUILD/tools/g4-quantize" "$OUT/target-f32.gguf" "$OUT/gemma4-tiny.gguf" Q8_0 >/dev/null
"$BUILD/tools/g4-quantize" "$OUT/assistant-f32.gguf" "$OUT/gemma4-tiny-assistant.gguf" Q8_0 >/dev/null
xz -9e -T1 -c "$OUT/gemma4-tiny.gguf" >assets/gemma4-tiny.gguf.xz
xz -9e -T1 -c "$OUT/gemma4-tiny-assistant.gguf" >assets/gemma4-tiny-assistant.gguf.xz
cp "$OUT/heldout.txt" assets/gemma4-tiny-heldout.txt
sha256sum "$OUT/gemma4-tiny.gguf" "$OUT/gemma4-tiny-assistant.gguf" assets/gemma4-tiny*.xz assets/gemma4-tiny-heldout.txt

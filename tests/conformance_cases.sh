# Conformance cases: sourced by tests/run_tests.sh, which provides $BUILD, $FIX ($G4_FIXTURES)
# and run(), and optionally $G4_EXEC (emulator prefix) and $G4_EXE (".exe"). Each g4-conformance run prints "N passed, N failed, N skipped"; skipped checks
# count as neither. A fixture that is not there (yet) is announced and counts nothing; a
# g4-conformance that was not built fails through run() like any missing test binary.
CONF="$BUILD/g4-conformance${G4_EXE:-}"
G="$FIX/gemma4"

conf_case() { # conf_case NAME MODEL REF [extra args...]
  cname=$1; cmodel=$2; cref=$3; shift 3
  if [ ! -f "$G/$cmodel" ] || [ ! -f "$G/$cref" ]; then
    echo "== conformance $cname: skipped ($G/$cmodel or $G/$cref not present)"
    return 0
  fi
  run "conformance $cname" $G4_EXEC "$CONF" --model "$G/$cmodel" --ref "$G/$cref" "$@"
}

if [ ! -d "$G" ]; then
  echo "== conformance: skipped (no fixtures at $G; set G4_FIXTURES)"
else
  # The projector is optional per fixture: pass it only when it exists.
  mm_u=""
  [ -f "$G/mmproj-tiny-gemma4-unified-f32.gguf" ] && mm_u="$G/mmproj-tiny-gemma4-unified-f32.gguf"
  conf_case unified tiny-gemma4-unified-bf16.gguf tiny-gemma4-unified.ref.gguf \
    ${mm_u:+--mmproj "$mm_u"} --media "$G"
  conf_case e tiny-gemma4-e-bf16.gguf tiny-gemma4-e.ref.gguf
  conf_case moe tiny-gemma4-moe-bf16.gguf tiny-gemma4-moe.ref.gguf
  conf_case k256 tiny-gemma4-k256-bf16.gguf tiny-gemma4-k256.ref.gguf
  draft=""
  [ -f "$G/tiny-gemma4-unified-assistant-bf16.gguf" ] && draft="$G/tiny-gemma4-unified-assistant-bf16.gguf"
  conf_case unified-mtp tiny-gemma4-unified-bf16.gguf tiny-gemma4-unified-assistant.ref.gguf \
    ${draft:+--draft "$draft"}
  # E-series with vision tower and audio conformer: arrives in a later fixture update.
  if [ -f "$G/mmproj-tiny-gemma4-e-mm-f32.gguf" ]; then
    conf_case e-mm tiny-gemma4-e-mm-bf16.gguf tiny-gemma4-e-mm.ref.gguf \
      --mmproj "$G/mmproj-tiny-gemma4-e-mm-f32.gguf" --media "$G"
  else
    echo "== conformance e-mm: skipped (mmproj-tiny-gemma4-e-mm-f32.gguf not present yet)"
  fi
fi

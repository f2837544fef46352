#!/bin/sh
# g4_chat_format_json against the official Gemma 4 chat template rendered by jinja2 (tools,
# tool calls and results, reasoning, content parts, thinking): see tests/chat_template_check.py.
# Usage: sh tests/test_chat_template.sh [BUILD_DIR]
BUILD=${1:-build}
TMPL=${G4_FIXTURES:-../shared/fixtures}/tokenizer/gemma-4-chat-template.jinja
LIB=$BUILD/libg4plug.so
PY=python3
if nm -D "$LIB" 2>/dev/null | grep -q "__asan_init"; then
  ASAN_RT=$(clang -print-file-name=libclang_rt.asan-x86_64.so 2>/dev/null)
  [ -f "$ASAN_RT" ] && PY="env LD_PRELOAD=$ASAN_RT ASAN_OPTIONS=detect_leaks=0 python3"
fi
$PY tests/chat_template_check.py "$LIB" "$TMPL"
rc=$?
if [ $rc -eq 77 ]; then
  # visible, not silent: the runner counts this line, and the SKIP line says why
  echo "test_chat_template: 0 passed, 1 failed (jinja2 missing: run make deps)"
  exit 1
fi
exit $rc

#!/bin/sh
# Release archives: builds them (make dist), then for each one
#   - checks build/dist/SHA256SUMS and the archive's own SHA256SUMS,
#   - unpacks it into a clean temp folder and checks the library's exports there,
#   - runs the conformance suite from that folder, with the library found next to the runner
#     (linux-aarch64 under qemu-user with only libc/libz/libudev from the "system", so the bundled
#     libraries must come from $ORIGIN; windows-x86_64 under wine),
# and finally rebuilds everything from a copy of the tree at another path and compares bytes.
# Prints "test_dist: N passed, N failed".
# Runs from `make test-dist` (G4_TEST_DIST=1) and in `make test-full`; a plain `make test`
# (tests/run_tests.sh picks up tests/test_*.sh) skips it: it rebuilds three targets twice.
# G4_DIST_NO_REPRO=1 skips the rebuild. While working on one platform:
#   G4_DIST_TARGETS="windows-x86_64"  test only these archives (default: all three)
#   G4_DIST_NO_BUILD=1                test the archives already in build/dist (no make dist)
#   G4_DIST_DIR=DIR                   ... or in DIR
if [ -z "${G4_TEST_DIST:-}" ] && [ -z "${G4_TEST_FULL:-}" ]; then
  echo "test_dist: skipped (make test-dist or make test-full run it)"
  echo "test_dist: 0 passed, 0 failed"
  exit 0
fi
ROOT=$(pwd)
MAKE=${MAKE:-make}
VERSION=$(sed -n 's/^VERSION_\(MAJOR\|MINOR\|PATCH\) := //p' Makefile | paste -sd. -)
DIST=${G4_DIST_DIR:-build/dist}
FIX=${G4_FIXTURES:-../shared/fixtures}
case $FIX in /*) ;; *) FIX=$ROOT/$FIX ;; esac
export G4_FIXTURES="$FIX"
# One timestamp for both builds (the copy below has no .git to ask).
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct)}
export SOURCE_DATE_EPOCH
unset G4PLUG_LIB
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); printf "ok   %s\n" "$*"; }
bad() { fail=$((fail + 1)); printf "FAIL %s\n" "$*"; }

# run() as tests/conformance_cases.sh expects it: count the "N passed, N failed" line.
run() {
  name=$1
  shift
  if "$@" >"$TMP/out" 2>&1; then rc=0; else rc=$?; fi
  cp "$TMP/out" "$TMP/log-$TARGET-$(echo "$name" | tr ' /' '__')" 2>/dev/null || true
  line=$(grep -E '^(.*: )?[0-9]+ passed, [0-9]+ failed' "$TMP/out" | tail -1)
  if [ $rc -eq 0 ] && [ -n "$line" ]; then
    p=$(echo "$line" | sed -E 's/^(.*[^0-9])?([0-9]+) passed, ([0-9]+) failed.*/\2/')
    echo "ok   $TARGET $name: $line"
    pass=$((pass + p))
  else
    tail -20 "$TMP/out"
    bad "$TARGET $name (exit $rc): $line"
  fi
}

echo "== make dist"
if [ -n "${G4_DIST_NO_BUILD:-}" ]; then
  echo "(G4_DIST_NO_BUILD: testing the archives in $DIST)"
  : >"$TMP/dist1.log"
elif $MAKE --no-print-directory -j2 dist >"$TMP/dist1.log" 2>&1; then
  ok "make dist"
else
  tail -30 "$TMP/dist1.log"
  bad "make dist"
  echo "test_dist: $pass passed, $fail failed"
  exit 1
fi
grep '^dist:' "$TMP/dist1.log"
(cd $DIST && sha256sum -c --quiet SHA256SUMS) && ok "build/dist/SHA256SUMS" || bad "build/dist/SHA256SUMS"

# "System" libraries of an arm64 Linux install, without hwloc/cJSON/png/jpeg: those must come
# from the archive.
SYS=$TMP/aarch64-system
mkdir -p "$SYS"
for l in usr/lib/aarch64-linux-gnu/libudev.so.1 lib/aarch64-linux-gnu/libz.so.1; do
  [ -e "$ROOT/build-aarch64-sysroot/$l" ] && ln -s "$ROOT/build-aarch64-sysroot/$l" "$SYS/"
done
# ... and GnuTLS with its dependencies, which the bundled libmicrohttpd takes from the system.
for n in libgnutls.so.30 libnettle.so.8 libhogweed.so.6 libgmp.so.10 libp11-kit.so.0 libidn2.so.0 \
  libunistring.so.2 libtasn1.so.6 libffi.so.8; do
  for l in "$ROOT"/build-aarch64-sysroot/usr/lib/aarch64-linux-gnu/$n "$ROOT"/build-aarch64-sysroot/lib/aarch64-linux-gnu/$n; do
    [ -e "$l" ] && { ln -sf "$l" "$SYS/"; break; }
  done
done

# Test inputs for the image checks: a JPEG photo-like gradient (cjpeg from a PPM written here)
# and a copy cut in half, which must be refused with an error.
MEDIA=$TMP/media
mkdir -p "$MEDIA"
python3 -c '
import sys
w, h = 96, 64
px = bytearray()
for y in range(h):
    for x in range(w):
        px += bytes(((x * 255) // w, (y * 255) // h, ((x + y) * 127) // (w + h)))
sys.stdout.buffer.write(b"P6 %d %d 255\n" % (w, h) + bytes(px))' >"$MEDIA/photo.ppm"
cjpeg -quality 90 "$MEDIA/photo.ppm" >"$MEDIA/photo.jpg" 2>/dev/null || bad "cjpeg (libjpeg-turbo-progs) missing: make dist-deps"
head -c $(($(wc -c <"$MEDIA/photo.jpg") / 2)) "$MEDIA/photo.jpg" >"$MEDIA/cut.jpg"
GM=$FIX/gemma4
MODEL=$GM/tiny-gemma4-unified-bf16.gguf
MMPROJ=$GM/mmproj-tiny-gemma4-unified-f32.gguf

# jpeg_embed: the archive's g4 shows the model a JPEG (library-side decoding) and refuses a broken one.
jpeg_embed() {
  [ -f "$MMPROJ" ] || { echo "== $TARGET JPEG: skipped (no $MMPROJ)"; return 0; }
  if (cd "$TMP" && $G4_EXEC "$d/g4$G4_EXE" generate -m "$MODEL" --mmproj "$MMPROJ" --image "$MEDIA/photo.jpg" \
    -p "Describe <|image|>" --temp 0 -n 4 >"$TMP/jpg.out" 2>"$TMP/jpg.err"); then
    # the image's soft tokens are part of the prompt: far more than the 8 or so of the text
    nt=$(sed -n 's/^prompt: \([0-9]*\) tokens.*/\1/p' "$TMP/jpg.err" | tail -1)
    if [ "${nt:-0}" -gt 64 ]; then ok "$TARGET g4 generate --image photo.jpg: $nt prompt tokens"
    else bad "$TARGET g4 generate --image photo.jpg: ${nt:-no} prompt tokens (image not embedded?)"; fi
  else
    tail -5 "$TMP/jpg.err"
    bad "$TARGET g4 generate --image photo.jpg"
  fi
  if (cd "$TMP" && $G4_EXEC "$d/g4$G4_EXE" generate -m "$MODEL" --mmproj "$MMPROJ" --image "$MEDIA/cut.jpg" \
    -p "Describe <|image|>" --temp 0 -n 4 >/dev/null 2>"$TMP/cut.err"); then
    bad "$TARGET a JPEG cut in half was accepted"
  elif grep -qi 'jpeg\|format\|image' "$TMP/cut.err"; then
    ok "$TARGET a JPEG cut in half is refused: $(tail -1 "$TMP/cut.err" | cut -c1-100)"
  else
    bad "$TARGET cut JPEG: unclear error: $(tail -1 "$TMP/cut.err")"
  fi
}

# server_chat DIR: the g4-server in DIR (an installed engine pack) answers on loopback: /health,
# a greedy chat completion equal to `g4 generate --chat` of the archive, and a chat with a JPEG.
server_chat() {
  sd=$1
  srv=$sd/g4-server$G4_EXE
  [ -f "$srv" ] || { bad "$TARGET: $srv missing"; return 0; }
  command -v curl >/dev/null || { bad "$TARGET server: curl missing"; return 0; }
  : >"$TMP/srv.log" # emptied here, not in the child: a previous target's port must not be read
  (cd "$TMP" && exec $G4_EXEC "$srv" --host 127.0.0.1 --port 0 -m "$MODEL" ${MMPROJ:+--mmproj "$MMPROJ"} \
    >"$TMP/srv.log" 2>&1) &
  spid=$!
  port=""
  i=0
  while [ $i -lt 600 ] && [ -z "$port" ] && kill -0 $spid 2>/dev/null; do
    port=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\) - starting.*/\1/p' "$TMP/srv.log")
    [ -n "$port" ] || sleep 0.1
    i=$((i + 1))
  done
  up=""
  i=0
  while [ -n "$port" ] && [ $i -lt 600 ]; do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/health")" = 200 ] && { up=1; break; }
    sleep 0.1
    i=$((i + 1))
  done
  if [ -z "$up" ]; then
    tail -5 "$TMP/srv.log"
    bad "$TARGET g4-server did not come up"
  else
    ok "$TARGET g4-server listening on 127.0.0.1:$port, /health 200"
    q="Say hello"
    code=$(curl -s -o "$TMP/chat.json" -w '%{http_code}' -H 'Content-Type: application/json' \
      -d "{\"messages\":[{\"role\":\"user\",\"content\":\"$q\"}],\"temperature\":0,\"max_tokens\":8}" \
      "http://127.0.0.1:$port/v1/chat/completions")
    got=$(python3 "$ROOT/tests/server_check.py" get "$TMP/chat.json" choices.0.message.content 2>/dev/null)
    # (tr: g4.exe's stdout is in text mode, so its final newline is CRLF)
    want=$(cd "$TMP" && $G4_EXEC "$d/g4$G4_EXE" generate -m "$MODEL" -p "$q" --chat --temp 0 -n 8 2>/dev/null | tr -d '\r')
    if [ "$code" = 200 ] && [ "$got" = "$want" ]; then
      ok "$TARGET g4-server chat completion = g4 generate --chat ($(printf %s "$got" | wc -c) bytes)"
    else
      bad "$TARGET g4-server chat: HTTP $code, got '$got', want '$want'"
    fi
    if [ -f "$MMPROJ" ]; then
      b64=$(base64 -w0 "$MEDIA/photo.jpg")
      printf '{"messages":[{"role":"user","content":[{"type":"text","text":"What is this?"},{"type":"image_url","image_url":{"url":"data:image/jpeg;base64,%s"}}]}],"temperature":0,"max_tokens":4}' \
        "$b64" >"$TMP/img.json"
      code=$(curl -s -o "$TMP/img.out" -w '%{http_code}' -H 'Content-Type: application/json' \
        --data-binary @"$TMP/img.json" "http://127.0.0.1:$port/v1/chat/completions")
      if [ "$code" = 200 ]; then ok "$TARGET g4-server chat with a JPEG image"; else bad "$TARGET g4-server JPEG chat: HTTP $code $(head -c 200 "$TMP/img.out")"; fi
    fi
  fi
  kill $spid 2>/dev/null # the subshell exec'd the server (or wine running it): this ends it
  wait $spid 2>/dev/null
}

# lmstudio: the archive folder is an LM Studio engine pack; `g4 install lmstudio --home` copies it
# into HOME/extensions/backends/<name>-<version>/, and the installed g4-server runs from there.
lmstudio() {
  py() { python3 "$ROOT/packaging/check-lmstudio-pack.py" "$@" >"$TMP/lms.out" 2>&1; r=$?; cat "$TMP/lms.out"
    pass=$((pass + $(grep -c '^ok ' "$TMP/lms.out"))); fail=$((fail + $(grep -c '^FAIL' "$TMP/lms.out")))
    [ $r -eq 0 ] || [ "$(grep -c '^FAIL' "$TMP/lms.out")" -gt 0 ] || bad "$TARGET check-lmstudio-pack.py exit $r"; }
  py "$ROOT" "$d" "$TARGET"
  home=$TMP/home-$TARGET/.lmstudio
  if (cd "$TMP" && $G4_EXEC "$d/g4$G4_EXE" install lmstudio --home "$home" >"$TMP/inst.out" 2>&1); then
    ok "$TARGET g4 install lmstudio: $(head -1 "$TMP/inst.out")"
  else
    cat "$TMP/inst.out"
    bad "$TARGET g4 install lmstudio"
    return 0
  fi
  n=$(ls "$home/extensions/backends" | wc -l)
  pk=$home/extensions/backends/$(ls "$home/extensions/backends" | head -1)
  [ "$n" = 1 ] && ok "$TARGET one pack folder: $(basename "$pk")" || bad "$TARGET $n folders in backends/"
  py "$ROOT" "$pk" "$TARGET" --installed
  # the same install again replaces the files in place
  if (cd "$TMP" && $G4_EXEC "$d/g4$G4_EXE" install lmstudio --home "$home" >"$TMP/inst2.out" 2>&1); then
    ok "$TARGET second install over the first"
  else
    cat "$TMP/inst2.out" # what failed (it once did under wine, silently)
    bad "$TARGET second install failed"
  fi
  # a home that is a file: a clear error, nothing written
  : >"$TMP/not-a-dir"
  if (cd "$TMP" && $G4_EXEC "$d/g4$G4_EXE" install lmstudio --home "$TMP/not-a-dir" >/dev/null 2>"$TMP/inst.err"); then
    bad "$TARGET install into a file succeeded"
  else ok "$TARGET install into a file refused: $(tail -1 "$TMP/inst.err" | cut -c1-100)"; fi
  server_chat "$pk"
}

for TARGET in ${G4_DIST_TARGETS:-linux-x86_64 linux-aarch64 windows-x86_64}; do
  echo "== $TARGET"
  case $TARGET in windows-*) ext=zip ;; *) ext=tar.gz ;; esac
  a=$(cd "$DIST" && pwd)/g4plug-$VERSION-$TARGET.$ext
  [ -f "$a" ] || { bad "$TARGET: $a missing"; continue; }
  u=$TMP/unpack-$TARGET
  mkdir -p "$u"
  case $ext in
    zip) (cd "$u" && unzip -q "$a") ;;
    tar.gz) tar -xzf "$a" -C "$u" ;;
  esac
  d=$u/g4plug-$VERSION-$TARGET
  (cd "$d" && sha256sum -c --quiet SHA256SUMS) && ok "$TARGET SHA256SUMS inside" || bad "$TARGET SHA256SUMS inside"
  for f in LICENSE README.md include/g4plug.h pkgconfig/g4plug.pc licenses/THIRD-PARTY-NOTICES.txt; do
    [ -s "$d/$f" ] || bad "$TARGET: $f missing"
  done
  G4_EXEC=""
  G4_EXE=""
  case $TARGET in
    linux-x86_64)
      run exports sh tests/check_exports.sh "$d/libg4plug.so.1"
      # Every bundled library must resolve to the unpacked folder ($ORIGIN), not to /usr/lib.
      for l in "$d"/lib*.so.*; do
        n=$(basename "$l")
        case $n in libg4plug.so.*) continue ;; esac
        if { ldd "$d/libg4plug.so.1"; [ -f "$d/g4-server" ] && ldd "$d/g4-server"; } | grep -q "$n => $d/$n"; then
          ok "$TARGET $n from \$ORIGIN"; else bad "$TARGET $n not from \$ORIGIN"; fi
      done ;;
    linux-aarch64)
      run exports env NM=aarch64-linux-gnu-nm sh tests/check_exports.sh "$d/libg4plug.so.1"
      G4_EXEC="env G4_AARCH64_LIBS=$SYS sh $ROOT/packaging/run-aarch64.sh" ;;
    windows-x86_64)
      run exports sh tests/check_exports.sh "$d/g4plug.dll"
      if x86_64-w64-mingw32-objdump -p "$d/g4plug.dll" | awk '/DLL Name:/ {print $3}' |
        grep -viqx -e KERNEL32.dll -e msvcrt.dll -e ADVAPI32.dll -e USER32.dll -e WS2_32.dll -e SHELL32.dll; then
        bad "$TARGET: g4plug.dll imports more than system DLLs"
      else ok "$TARGET: g4plug.dll imports only system DLLs"; fi
      # every DLL a program imports is either shipped beside it or a Windows system DLL
      for x in "$d"/*.exe "$d"/*.dll; do
        for n in $(x86_64-w64-mingw32-objdump -p "$x" | awk '/DLL Name:/ {print $3}'); do
          [ -f "$d/$n" ] && continue
          echo "$n" | grep -qix -e KERNEL32.dll -e msvcrt.dll -e ADVAPI32.dll -e USER32.dll -e WS2_32.dll \
            -e SHELL32.dll -e bcrypt.dll -e api-ms-win-.*\.dll || bad "$TARGET: $(basename "$x") imports $n, not shipped"
        done
      done
      for x in g4-server.exe libmicrohttpd-12.dll; do [ -f "$d/$x" ] && ok "$TARGET has $x" || bad "$TARGET: $x missing"; done
      # the library was built with hwloc, cJSON, libpng, libjpeg-turbo
      grep -q 'hwloc topology: yes' "$d/README.md" && grep -q 'PNG/JPEG decoding: yes' "$d/README.md" &&
        grep -q 'g4_manifest_check): yes' "$d/README.md" && ok "$TARGET built with hwloc, PNG/JPEG, cJSON" ||
        bad "$TARGET: README says a library is missing: $(grep -i 'Built with' -A3 "$d/README.md" | tr '\n' ' ')"
      command -v wine >/dev/null || { bad "$TARGET: wine not installed"; continue; }
      export WINEDEBUG=-all
      G4_EXEC=wine
      G4_EXE=.exe ;;
  esac
  # From the unpacked folder: BUILD is where g4-conformance is; it finds the library beside it.
  BUILD=$d
  (cd "$TMP" && $G4_EXEC "$d/g4$G4_EXE" --help >/dev/null 2>&1) && ok "$TARGET g4 starts" || bad "$TARGET g4 --help"
  . "$ROOT/tests/conformance_cases.sh"
  # The image cases (PNG files) ran, none skipped: the library decodes PNG on this platform.
  ul=$TMP/log-$TARGET-conformance_unified
  if [ -f "$ul" ]; then
    ni=$(grep -c '^PASS image_' "$ul")
    ns=$(grep -c '^SKIP image_' "$ul")
    if [ "$ni" -gt 0 ] && [ "$ns" -eq 0 ]; then ok "$TARGET conformance image cases from PNG files: $ni checks passed, none skipped"
    else bad "$TARGET conformance image cases: $ni passed, $ns skipped"; fi
  fi
  for x in g4-server$G4_EXE; do [ -f "$d/$x" ] || bad "$TARGET: $x missing"; done
  jpeg_embed
  lmstudio
done

if [ -n "${G4_DIST_NO_REPRO:-}" ]; then
  echo "== reproducibility: skipped (G4_DIST_NO_REPRO)"
else
  echo "== reproducibility: rebuild from a copy of the tree at another path"
  c=$TMP/copy/g4plug
  mkdir -p "$c"
  git ls-files -co --exclude-standard -z | xargs -0 tar -cf - | tar -xf - -C "$c"
  # The aarch64 sysroot is a download cache: reuse it rather than fetch it again.
  if (cd "$c" && $MAKE --no-print-directory -j2 dist AARCH64_SYSROOT="$ROOT/build-aarch64-sysroot" \
    WIN_DEPS="${WIN_DEPS:-$ROOT/build-win-deps}" \
    >"$TMP/dist2.log" 2>&1); then
    if cmp "$DIST/SHA256SUMS" "$c/$DIST/SHA256SUMS"; then
      ok "reproducible: $(wc -l <"$DIST/SHA256SUMS") archives byte-identical"
    else
      diff "$DIST/SHA256SUMS" "$c/$DIST/SHA256SUMS"
      bad "archives differ between the two builds"
    fi
  else
    tail -30 "$TMP/dist2.log"
    bad "second make dist"
  fi
fi
echo "test_dist: $pass passed, $fail failed"
[ $fail -eq 0 ]

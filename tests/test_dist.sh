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
# G4_DIST_NO_REPRO=1 skips the rebuild.
if [ -z "${G4_TEST_DIST:-}" ] && [ -z "${G4_TEST_FULL:-}" ]; then
  echo "test_dist: skipped (make test-dist or make test-full run it)"
  echo "test_dist: 0 passed, 0 failed"
  exit 0
fi
ROOT=$(pwd)
MAKE=${MAKE:-make}
VERSION=$(sed -n 's/^VERSION_\(MAJOR\|MINOR\|PATCH\) := //p' Makefile | paste -sd. -)
DIST=build/dist
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
ok() { pass=$((pass + 1)); echo "ok   $*"; }
bad() { fail=$((fail + 1)); echo "FAIL $*"; }

# run() as tests/conformance_cases.sh expects it: count the "N passed, N failed" line.
run() {
  name=$1
  shift
  if "$@" >"$TMP/out" 2>&1; then rc=0; else rc=$?; fi
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
if $MAKE --no-print-directory -j2 dist >"$TMP/dist1.log" 2>&1; then
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

for TARGET in linux-x86_64 linux-aarch64 windows-x86_64; do
  echo "== $TARGET"
  case $TARGET in windows-*) ext=zip ;; *) ext=tar.gz ;; esac
  a=$ROOT/$DIST/g4plug-$VERSION-$TARGET.$ext
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
        if ldd "$d/libg4plug.so.1" | grep -q "$n => $d/$n"; then ok "$TARGET $n from \$ORIGIN"; else bad "$TARGET $n not from \$ORIGIN"; fi
      done ;;
    linux-aarch64)
      run exports env NM=aarch64-linux-gnu-nm sh tests/check_exports.sh "$d/libg4plug.so.1"
      G4_EXEC="env G4_AARCH64_LIBS=$SYS sh $ROOT/packaging/run-aarch64.sh" ;;
    windows-x86_64)
      run exports sh tests/check_exports.sh "$d/g4plug.dll"
      if x86_64-w64-mingw32-objdump -p "$d/g4plug.dll" | awk '/DLL Name:/ {print $3}' |
        grep -viqx -e KERNEL32.dll -e msvcrt.dll; then
        bad "$TARGET: g4plug.dll imports more than KERNEL32 and msvcrt"
      else ok "$TARGET: g4plug.dll imports only system DLLs"; fi
      command -v wine >/dev/null || { bad "$TARGET: wine not installed"; continue; }
      export WINEDEBUG=-all
      G4_EXEC=wine
      G4_EXE=.exe ;;
  esac
  # From the unpacked folder: BUILD is where g4-conformance is; it finds the library beside it.
  BUILD=$d
  (cd "$TMP" && $G4_EXEC "$d/g4$G4_EXE" --help >/dev/null 2>&1) && ok "$TARGET g4 starts" || bad "$TARGET g4 --help"
  . "$ROOT/tests/conformance_cases.sh"
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

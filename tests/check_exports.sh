#!/bin/sh
# The shared library exports exactly the public ABI: every G4_API function declared in
# abi/g4plug.h, as listed in abi/g4plug.def (Windows) and abi/g4plug.exp (macOS), and nothing else.
# Usage: sh tests/check_exports.sh build/libg4plug.so   (any ELF: $NM picks the nm, e.g. for aarch64)
#        sh tests/check_exports.sh build-win/g4plug.dll (PE export table, via $OBJDUMP -p)
LIB=$1
fail=0; pass=0
tmp=$(mktemp -d)
grep -E '^G4_API' abi/g4plug.h | sed -E 's/.*G4_CALL \**([a-z0-9_]+)\(.*/\1/' | sort >"$tmp/header"
sed -n '/^EXPORTS/,$p' abi/g4plug.def | tail -n +2 | sed 's/^ *//' | grep . | sort >"$tmp/def"
grep -v '^#' abi/g4plug.exp | sed 's/^_//' | sort >"$tmp/exp"
case $LIB in
  *.dll) # every PE export (functions and data alike) is in the name pointer table
    ${OBJDUMP:-x86_64-w64-mingw32-objdump} -p "$LIB" |
      awk '/\[Ordinal\/Name Pointer\] Table/ {f=1; next} f && NF == 0 {f=0} f {print $NF}' | sort -u >"$tmp/so" ;;
  *) ${NM:-nm} -D --defined-only "$LIB" | awk '$2 ~ /^[TtWi]$/ {print $3}' | sed 's/@.*//' | sort -u >"$tmp/so" ;;
esac
for pair in "header def" "header exp" "header so"; do
  set -- $pair
  if diff -u "$tmp/$1" "$tmp/$2" >"$tmp/diff"; then
    pass=$((pass+1))
  else
    echo "FAIL exports: $1 vs $2 differ:"; cat "$tmp/diff"; fail=$((fail+1))
  fi
done
# ELF symbol versions: what the frozen 1.0 header declares is G4PLUG_1, everything since is in the
# node of the minor version that added it (G4PLUG_1.1, ...), so a host linked against a newer minor
# fails to start on an older library with a clear message.
case $LIB in
  *.dll) ;;
  *)
    grep -E '^G4_API' tests/abi/g4plug_1_0.h | sed -E 's/.*G4_CALL \**([a-z0-9_]+)\(.*/\1/' | sort >"$tmp/h10"
    ${NM:-nm} -D --defined-only "$LIB" | awk '$2 ~ /^[TtWi]$/ {print $3}' | sort -u >"$tmp/ver"
    bad=$(awk -v F="$tmp/h10" 'BEGIN {while ((getline l < F) > 0) old[l] = 1}
      {split($0, a, "@+"); want = (a[1] in old) ? "G4PLUG_1" : "G4PLUG_1.1"
       if (a[2] != want) print a[1] " is @" a[2] ", expected @" want}' "$tmp/ver")
    if [ -z "$bad" ]; then pass=$((pass+1)); else echo "FAIL exports: symbol versions (abi/g4plug.map):"; echo "$bad"; fail=$((fail+1)); fi ;;
esac
# Nothing else of ours leaks (data symbols, internal g4_/g4k_ helpers).
case $LIB in
  *.dll) extra="" ;; # covered above: the table lists data exports too
  *) extra=$(${NM:-nm} -D --defined-only "$LIB" | awk '$2 !~ /^[TtWi]$/ && $3 !~ /^G4PLUG/ {print $3}') ;;
esac
if [ -z "$extra" ]; then pass=$((pass+1)); else echo "FAIL exports: non-function symbols: $extra"; fail=$((fail+1)); fi
rm -rf "$tmp"
echo "check_exports: $pass passed, $fail failed"
[ $fail -eq 0 ]

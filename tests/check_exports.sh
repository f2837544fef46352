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
# Nothing else of ours leaks (data symbols, internal g4_/g4k_ helpers).
case $LIB in
  *.dll) extra="" ;; # covered above: the table lists data exports too
  *) extra=$(${NM:-nm} -D --defined-only "$LIB" | awk '$2 !~ /^[TtWi]$/ && $3 !~ /^G4PLUG/ {print $3}') ;;
esac
if [ -z "$extra" ]; then pass=$((pass+1)); else echo "FAIL exports: non-function symbols: $extra"; fail=$((fail+1)); fi
rm -rf "$tmp"
echo "check_exports: $pass passed, $fail failed"
[ $fail -eq 0 ]

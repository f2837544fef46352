#!/bin/sh
# make bench: g4plug against llama.cpp on the same GGUF, thread count and run.
# Usage: sh bench/run_bench.sh [BUILD_DIR]       (see docs/BENCHMARKS.md)
# Environment:
#   BENCH_FULL=1         all five shapes (E2B E4B 12B 26B-A4B 31B), full depth unless BENCH_LAYERS
#   BENCH_SHAPES="12b"   shapes;       BENCH_TYPES="q4_0 q4_k_m"   formats (g4-synth --type)
#   BENCH_LAYERS=6       keep the first N layers (default 6 for the default matrix: 12B -> ~1.6 GB)
#   BENCH_THREADS="1 2"  thread counts; BENCH_REPS=3 repetitions (plus one warm-up)
#   BENCH_PP=512 BENCH_TG=128
#   BENCH_LONG=1         long-context rows: pp4096 (+ pp16384 under BENCH_FULL) and tg$TG_at_4096 with an
#                        f16 KV cache on both engines (llama.cpp's default), at the largest thread count
#                        only (at one thread they take ~15 of the run's minutes on 2 cores);
#                        BENCH_LONG=all at every thread count (the default under BENCH_FULL); 0 skips them;
#                        BENCH_LONG_PP="4096" the long prompt lengths (default "4096 16384" under BENCH_FULL)
#   BENCH_MEDIA=1        image/audio embedding rows from g4-mm-bench (embed_image_e2b_280, ...); 0 skips;
#                        each row the median of BENCH_MEDIA_REPS=3 runs (wall_min_s: the fastest)
#   BENCH_PEER_VERSION=3.22.1   @node-llama-cpp/linux-x64 version (npm), installed into BUILD/peer
set -e
BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
CC=${CC:-cc}
NPROC=$(nproc 2>/dev/null || echo 1)
FULL=${BENCH_FULL:-0}
if [ "$FULL" = 1 ]; then
  SHAPES=${BENCH_SHAPES:-"e2b e4b 12b 26b-a4b 31b"}
  LAYERS=${BENCH_LAYERS:-0}
else
  SHAPES=${BENCH_SHAPES:-"12b"}
  LAYERS=${BENCH_LAYERS:-6}
fi
TYPES=${BENCH_TYPES:-"q4_0 q4_k_m"}
THREADS=${BENCH_THREADS:-"1 $NPROC"}
[ "$NPROC" = 1 ] && THREADS=${BENCH_THREADS:-1}
REPS=${BENCH_REPS:-3}
PP=${BENCH_PP:-512}
TG=${BENCH_TG:-128}
PEER_VERSION=${BENCH_PEER_VERSION:-3.22.1}
PEER=$BUILD/peer
PEER_LIB=$PEER/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64
MODELS=$BUILD/bench-models
# The tokenizer block copied into the synthetic models: the committed vocabulary (decompressed by
# `make` for the default model), else the fixtures beside the checkout.
if [ -z "${BENCH_VOCAB:-}" ]; then
  if [ -f "$BUILD/default/gemma4-vocab.gguf" ]; then BENCH_VOCAB=$BUILD/default/gemma4-vocab.gguf
  else BENCH_VOCAB=../shared/fixtures/tokenizer/ggml-vocab-gemma-4.gguf; fi
fi
VOCAB=$BENCH_VOCAB
RAW=$BUILD/bench-raw.jsonl
OUT=$BUILD/bench.json
T0=$(date +%s)
mkdir -p "$BUILD/bench-bin" "$MODELS"
: > "$RAW"

log() { printf '%s\n' "bench: $*" >&2; }

# ---- 1. tools: prefer the Makefile's builds, else compile our two tools directly -------------
WARN="-Wall -Wextra -Werror -Wno-unused-parameter"
SYNTH=$BUILD/tools/g4-synth
BENCH=$BUILD/tools/g4-bench
if [ ! -x "$SYNTH" ] || [ tools/g4-synth.c -nt "$SYNTH" ]; then
  SYNTH=$BUILD/bench-bin/g4-synth
  $CC -std=c11 -O2 $WARN -D_GNU_SOURCE -Ikernels -o "$SYNTH" tools/g4-synth.c kernels/ggml_types.c -lm
fi
if [ ! -x "$BENCH" ] || [ tools/g4-bench.c -nt "$BENCH" ]; then
  BENCH=$BUILD/bench-bin/g4-bench
  $CC -std=c11 -O2 $WARN -D_GNU_SOURCE -Iabi -o "$BENCH" tools/g4-bench.c -ldl -lm -pthread
fi

# ---- 2. the peer: prebuilt llama.cpp from npm (measured only; never shipped) ------------------
if [ ! -f "$PEER_LIB/_nlcBuildMetadata.json" ]; then
  command -v npm >/dev/null 2>&1 || { log "npm not found: cannot install the llama.cpp peer"; exit 1; }
  log "installing @node-llama-cpp/linux-x64@$PEER_VERSION into $PEER"
  mkdir -p "$PEER"
  [ -f "$PEER/package.json" ] || printf '{"name":"g4plug-bench-peer","private":true}\n' > "$PEER/package.json"
  (cd "$PEER" && npm install --no-audit --no-fund --ignore-scripts --no-save \
     "@node-llama-cpp/linux-x64@$PEER_VERSION" >/dev/null 2>&1) || { log "npm install failed"; exit 1; }
fi
PEER_PKG_VER=$(sed -n 's/.*"version": *"\([^"]*\)".*/\1/p' "$PEER/node_modules/@node-llama-cpp/linux-x64/package.json" | head -1)
LLAMA_RELEASE=$(sed -n 's/.*"release":"\([^"]*\)".*/\1/p' "$PEER_LIB/_nlcBuildMetadata.json" | head -1)

# ---- 3. g4plug library -------------------------------------------------------------------
G4LIB=$BUILD/libg4plug.so
G4_STATE="ok"
if [ ! -f "$G4LIB" ]; then
  G4_STATE="n/a (not built)"
elif ! nm -D "$G4LIB" 2>/dev/null | grep -q ' T g4_step'; then
  G4_STATE="n/a (not built)"  # the library lacks the model (g4_step)
fi

# ---- 4. memory read bandwidth ---------------------------------------------------------------
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
BW_TOOL=g4-bench
BW_LINES=$("$BENCH" --membw --threads "$NPROC" --mib 1024 2>/dev/null || true)
if [ -x "$BUILD/tools/g4-membw" ]; then
  M=$("$BUILD/tools/g4-membw" --threads "$NPROC" 2>/dev/null | grep '^{' || true)
  if [ -n "$M" ]; then
    BW_TOOL=g4-membw
    BW_LINES=$(printf '%s\n' "$M" | sed 's/"threads"/"membw_threads"/; s/"read_gbps"/"read_gbs"/')
  fi
fi
bw_of() { # read GB/s measured at $1 threads (or the largest count below it)
  printf '%s\n' "$BW_LINES" | awk -v t="$1" '
    { n = $0; sub(/.*"membw_threads":/, "", n); n += 0; g = $0; sub(/.*"read_gbs":/, "", g); g += 0
      if (n <= t && n >= bn) { bn = n; bg = g } }
    END { printf "%.3f", bg }'
}
for t in $THREADS; do log "memory read bandwidth, $t thread(s): $(bw_of "$t") GB/s ($BW_TOOL)"; done
[ "$(echo "$LOAD_BEFORE" | awk -v n="$NPROC" '{print ($1 > n * 0.5) ? 1 : 0}')" = 1 ] &&
  log "WARNING: load average $LOAD_BEFORE on $NPROC CPUs: another load is running, numbers will be low and noisy"

# ---- 5. the matrix ---------------------------------------------------------------------------
jget() { # jget KEY JSONLINE -> value (numbers and plain strings)
  printf '%s\n' "$2" | sed -n "s/.*\"$1\":\"\{0,1\}\([^,\"}]*\).*/\1/p" | head -1
}
# Entries shape:layers:type:threads ("all" = $THREADS). The default matrix adds one full-depth
# E4B Q4_K_M row at all threads (a real model's depth, where the LM head is not half the bytes);
# BENCH_EXTRA="" drops it, BENCH_EXTRA="e4b:0:q4_k_m:all 12b:0:q4_0:2" changes it.
ENTRIES=""
RESULTS=""
LONG_LINES=""
for shape in $SHAPES; do
  for type in $TYPES; do ENTRIES="$ENTRIES $shape:$LAYERS:$type:all"; done
done
[ "$FULL" = 1 ] || ENTRIES="$ENTRIES ${BENCH_EXTRA-e4b:0:q4_k_m:$NPROC}"
model_file() { # model_file SHAPE LAYERS TYPE -> path (synthesised on first use, with its .json)
  _tag=$1-$3
  [ "$2" -gt 0 ] 2>/dev/null && _tag=$1-L$2-$3
  _f=$MODELS/$_tag.gguf
  if [ ! -f "$_f" ] || [ ! -f "$_f.json" ]; then
    log "synthesising $_f"
    "$SYNTH" --shape "$1" --type "$3" --layers "$2" --vocab "$VOCAB" -o "$_f" > "$_f.json"
  fi
  printf '%s' "$_f"
}
RESULTS=""
for ent in $ENTRIES; do
    set -- $(printf '%s' "$ent" | tr ':' ' ')
    shape=$1 type=$3
    ent_threads=$THREADS
    [ "$4" = all ] || ent_threads=$4
    f=$(model_file "$1" "$2" "$3")
    tag=$(basename "$f" .gguf)
    meta=$(cat "$f.json")
    fbytes=$(jget file_bytes "$meta")
    dbytes=$(jget decode_bytes_per_token "$meta")
    nl=$(jget layers "$meta")
    for t in $ent_threads; do
      log "$tag  threads=$t  (llama.cpp)"
      L=$("$BENCH" --engine llama --lib "$PEER_LIB" --model "$f" --threads "$t" --reps "$REPS" \
            --pp "$PP" --tg "$TG" || true)
      printf '%s\n' "$L" >> "$RAW"
      G=""
      if [ "$G4_STATE" = ok ]; then
        log "$tag  threads=$t  (g4plug)"
        G=$("$BENCH" --engine g4plug --lib "$G4LIB" --model "$f" --threads "$t" --reps "$REPS" \
              --pp "$PP" --tg "$TG" || true)
        printf '%s\n' "$G" >> "$RAW"
      fi
      lpp=$(printf '%s\n' "$L" | grep "\"test\":\"pp$PP\"" || true)
      ltg=$(printf '%s\n' "$L" | grep "\"test\":\"tg$TG\"" || true)
      gpp=$(printf '%s\n' "$G" | grep "\"test\":\"pp$PP\"" || true)
      gtg=$(printf '%s\n' "$G" | grep "\"test\":\"tg$TG\"" || true)
      LONG=${BENCH_LONG:-1}
      [ "$FULL" = 1 ] && [ -z "${BENCH_LONG:-}" ] && LONG=all
      [ "$LONG" = 1 ] && [ "$t" != "$(printf '%s\n' $ent_threads | sort -n | tail -1)" ] && LONG=0
      [ "$2" = "$LAYERS" ] || LONG=0 # (the BENCH_EXTRA rows, e.g. full-depth E4B: short rows only)
      if [ "$LONG" = 1 ] || [ "$LONG" = all ]; then
        LPPS="4096"; [ "$FULL" = 1 ] && LPPS="4096 16384"
        LPPS=${BENCH_LONG_PP:-$LPPS}
        for long_pp in $LPPS; do # (not $lpp: that holds llama.cpp's pp row for the table)
          log "$tag  threads=$t  pp$long_pp (llama.cpp, g4plug)"
          LONG_LINES="$LONG_LINES$("$BENCH" --engine llama --lib "$PEER_LIB" --model "$f" --threads "$t" --reps 1 \
                --pp "$long_pp" --tg 0 || true)
"
          [ "$G4_STATE" = ok ] && LONG_LINES="$LONG_LINES$("$BENCH" --engine g4plug --lib "$G4LIB" --model "$f" \
                --threads "$t" --reps 1 --pp "$long_pp" --tg 0 || true)
"
        done
        log "$tag  threads=$t  tg${TG}_at_4096, f16 KV (llama.cpp, g4plug)"
        LONG_LINES="$LONG_LINES$("$BENCH" --engine llama --lib "$PEER_LIB" --model "$f" --threads "$t" --reps 1 \
              --pp 0 --tg "$TG" --depth 4096 || true)
"
        [ "$G4_STATE" = ok ] && LONG_LINES="$LONG_LINES$("$BENCH" --engine g4plug --lib "$G4LIB" --model "$f" \
              --threads "$t" --reps 1 --pp 0 --tg "$TG" --depth 4096 --cache-type f16 || true)
"
      fi
      RESULTS="$RESULTS$shape|$type|$nl|$t|$fbytes|$dbytes|$(jget avg_ts "$lpp")|$(jget stddev_ts "$lpp")|$(jget avg_ts "$ltg")|$(jget stddev_ts "$ltg")|$(jget avg_ts "$gpp")|$(jget stddev_ts "$gpp")|$(jget avg_ts "$gtg")|$(jget stddev_ts "$gtg")|$(bw_of "$t")|$(jget cpu_util "$ltg")|$(jget variant "$ltg")|$(jget variant "$gtg")
"
    done
done

# ---- 5b. noisy neighbour: a single-threaded busy loop runs while each engine decodes with all ---
# threads (a laptop runs a browser beside the model). BENCH_NOISY=0 skips it.
NOISY=""
if [ "${BENCH_NOISY:-1}" != 0 ]; then
  for shape in $SHAPES; do
    for type in $TYPES; do
      f=$(model_file "$shape" "$LAYERS" "$type")
      t=$NPROC
      sh -c 'while :; do :; done' &
      BUSY=$!
      log "$(basename "$f" .gguf)  threads=$t  with a busy neighbour (pid $BUSY)  (llama.cpp)"
      L=$("$BENCH" --engine llama --lib "$PEER_LIB" --model "$f" --threads "$t" --reps "$REPS" --pp 0 --tg "$TG" || true)
      G=""
      if [ "$G4_STATE" = ok ]; then
        log "$(basename "$f" .gguf)  threads=$t  with a busy neighbour  (g4plug)"
        G=$("$BENCH" --engine g4plug --lib "$G4LIB" --model "$f" --threads "$t" --reps "$REPS" --pp 0 --tg "$TG" || true)
      fi
      kill "$BUSY" 2>/dev/null || true
      wait "$BUSY" 2>/dev/null || true
      printf '%s\n%s\n' "$L" "$G" | sed -n 's/^{/{"noisy_neighbour":1,/p' >> "$RAW"
      quiet=$(printf '%s' "$RESULTS" | awk -F'|' -v s="$shape" -v ty="$type" -v t="$t" -v nl="$LAYERS" \
        '$1 == s && $2 == ty && $4 == t && (nl <= 0 || $3 == nl) { print $13 "|" $9; exit }')
      NOISY="$NOISY$shape|$type|$t|$(jget avg_ts "$L")|$(jget stddev_ts "$L")|$(jget avg_ts "$G")|$(jget stddev_ts "$G")|$quiet
"
    done
  done
fi
# ---- 5b. speculative decoding rows (12B shape): bench/spec_bench.sh -----------------------------
. "$ROOT/bench/spec_bench.sh"
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- 6. extras: image/audio embedding, tokenizer throughput, kernel micro-benchmarks ---------
MEDIA_LINES=""
if [ "${BENCH_MEDIA:-1}" = 1 ] && [ -x "$BUILD/tools/g4-mm-bench" ]; then
  log "image / audio embedding (g4-mm-bench, real-size F16 projectors)"
  MEDIA_LINES=$("$BUILD/tools/g4-mm-bench" --out-dir "$BUILD" --threads "$(echo $THREADS | tr ' ' ',')" \
                --audio-s 30 --reps "${BENCH_MEDIA_REPS:-3}" --json 2>/dev/null || true)
fi
TOK_LINE=""
if [ -x "$BUILD/tools/g4-tokenize" ]; then
  TOK_LINE=$("$BUILD/tools/g4-tokenize" "$VOCAB" --bench 1 2>&1 | tr '\n' ' ' || true)
fi
KERN_LINE=""
if [ -x "$BUILD/tests/test_kernels" ]; then
  KERN_LINE=$("$BUILD/tests/test_kernels" --bench 2>&1 | tail -20 | tr '\n' ' ' || true)
fi

# Grammar-constrained sampling: what a JSON-schema constraint adds per generated token (mask +
# accept, thread CPU time) next to a decode step of the first 12B file (tools/g4-grammar-bench.c).
GRAMMAR_LINE=""
GF=$(ls "$MODELS"/12b*q4_0*.gguf 2>/dev/null | grep -v assistant | head -1)
if [ -x "$BUILD/tools/g4-grammar-bench" ] && [ -n "$GF" ] && [ "$G4_STATE" = ok ]; then
  log "grammar overhead on $GF (threads=$NPROC)"
  GRAMMAR_LINE=$(G4PLUG_LIB="$G4LIB" "$BUILD/tools/g4-grammar-bench" "$GF" --threads "$NPROC" --tokens 200 --reps 3 2>&1 | tail -1 || true)
  printf '%s\n' "$GRAMMAR_LINE" >> "$RAW"
fi

# ---- 7. table and build/bench.json ------------------------------------------------------------
LONG_LINES=$(printf '%s' "$LONG_LINES" | grep '^{' || true)
export TOK_LINE KERN_LINE BW_LINES LONG_LINES MEDIA_LINES
CPU=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
VARIANT=$(printf '%s' "$RESULTS" | awk -F'|' '$17 != "" { print $17; exit }')
printf '%s' "$RESULTS" | awk -F'|' -v g4state="$G4_STATE" -v pp="$PP" -v tg="$TG" \
  -v out="$OUT" -v cpu="$CPU" -v nproc="$NPROC" -v lb="$LOAD_BEFORE" -v la="$LOAD_AFTER" \
  -v bwtool="$BW_TOOL" -v peerver="$PEER_PKG_VER" -v rel="$LLAMA_RELEASE" -v variant="$VARIANT" \
  -v reps="$REPS" '
function jstr(s) { gsub(/\\/, "\\\\", s); gsub(/"/, "\\\"", s); gsub(/\t/, " ", s); return s }
function num(x) { return x == "" ? "null" : x }
function fmt(a, s) { return a == "" ? "-" : sprintf("%.2f±%.2f", a, s) }
function ratio(g, l) { return (g == "" || l == "" || l == 0) ? "" : sprintf("%.3f", g / l) }
BEGIN {
  printf "\n%-8s %-7s %3s %2s %8s | %-14s %-14s | %-14s %-14s | %6s %6s | %7s %5s %7s %5s\n",
    "shape", "type", "L", "t", "file GB", "llama pp" pp, "llama tg" tg, "g4plug pp" pp, "g4plug tg" tg,
    "pp x", "tg x", "l GB/s", "l %bw", "g GB/s", "g %bw"
  n = 0
}
{
  n++
  dgb = $6 / 1e9
  lgbs = ($9 == "") ? "" : sprintf("%.2f", dgb * $9)
  ggbs = ($13 == "") ? "" : sprintf("%.2f", dgb * $13)
  lfr = (lgbs == "" || $15 == 0) ? "" : sprintf("%.3f", lgbs / $15)
  gfr = (ggbs == "" || $15 == 0) ? "" : sprintf("%.3f", ggbs / $15)
  rpp = ratio($11, $7); rtg = ratio($13, $9)
  gpp = ($11 == "") ? g4state : fmt($11, $12); gtg = ($13 == "") ? g4state : fmt($13, $14)
  printf "%-8s %-7s %3d %2d %8.2f | %-14s %-14s | %-14s %-14s | %6s %6s | %7s %5s %7s %5s\n",
    $1, $2, $3, $4, $5 / 1e9, fmt($7, $8), fmt($9, $10), gpp, gtg,
    rpp == "" ? "-" : rpp, rtg == "" ? "-" : rtg, lgbs == "" ? "-" : lgbs,
    lfr == "" ? "-" : sprintf("%.0f%%", lfr * 100), ggbs == "" ? "-" : ggbs,
    gfr == "" ? "-" : sprintf("%.0f%%", gfr * 100)
  row[n] = sprintf("{\"shape\":\"%s\",\"type\":\"%s\",\"layers\":%d,\"threads\":%d,\"file_bytes\":%s," \
    "\"decode_bytes_per_token\":%s,\"read_bw_gbs\":%s," \
    "\"llama\":{\"pp%s\":{\"avg_ts\":%s,\"stddev_ts\":%s},\"tg%s\":{\"avg_ts\":%s,\"stddev_ts\":%s}," \
    "\"decode_gbs\":%s,\"bw_fraction\":%s,\"tg_cpu_util\":%s,\"cpu_variant\":\"%s\"}," \
    "\"g4plug\":%s,\"ratio_g4plug_over_llama\":{\"pp%s\":%s,\"tg%s\":%s}}",
    $1, $2, $3, $4, $5, $6, num($15), pp, num($7), num($8), tg, num($9), num($10),
    num(lgbs), num(lfr), num($16), $17,
    ($11 == "" && $13 == "") ? "\"" g4state "\"" : \
      sprintf("{\"pp%s\":{\"avg_ts\":%s,\"stddev_ts\":%s},\"tg%s\":{\"avg_ts\":%s,\"stddev_ts\":%s}," \
              "\"decode_gbs\":%s,\"bw_fraction\":%s,\"isa\":\"%s\"}", pp, num($11), num($12), tg,
              num($13), num($14), num(ggbs), num(gfr), $18),
    pp, num(rpp), tg, num(rtg))
}
END {
  bwl = ENVIRON["BW_LINES"]; gsub(/\n/, ",", bwl)
  printf "{\n\"machine\":{\"cpu\":\"%s\",\"nproc\":%d,\"loadavg_before\":\"%s\",\"loadavg_after\":\"%s\"," \
    "\"membw_tool\":\"%s\",\"membw\":[%s]},\n", cpu, nproc, lb, la, bwtool, bwl > out
  printf "\"peer\":{\"npm_package\":\"@node-llama-cpp/linux-x64\",\"version\":\"%s\",\"llama_cpp_release\":\"%s\"," \
    "\"cpu_variant\":\"%s\",\"method\":\"g4-bench --engine llama: dlopen libllama, llama-bench loop\"},\n", \
    peerver, rel, variant > out
  printf "\"g4plug\":\"%s\",\n\"reps\":%d,\n\"results\":[\n", g4state, reps > out
  for (i = 1; i <= n; i++) printf "%s%s\n", row[i], i < n ? "," : "" > out
  ll = ENVIRON["LONG_LINES"]; gsub(/\n/, ",\n", ll)
  ml = ENVIRON["MEDIA_LINES"]; gsub(/\n/, ",\n", ml)
  printf "],\n\"long\":[\n%s\n],\n\"media\":[\n%s\n],\n", ll, ml > out
  printf "\"tokenizer\":\"%s\",\n\"kernels\":\"%s\"\n}\n", jstr(ENVIRON["TOK_LINE"]), jstr(ENVIRON["KERN_LINE"]) > out
}'
# noisy-neighbour rows: printed, and added to bench.json as "noisy_neighbour"
if [ -n "$NOISY" ]; then
  printf '%s' "$NOISY" | awk -F'|' -v tg="$TG" -v out="$OUT" '
    function num(x) { return x == "" ? "null" : x }
    function r(a, b) { return (a == "" || b == "" || b == 0) ? "" : sprintf("%.3f", a / b) }
    BEGIN { printf "\nnoisy neighbour (one busy core), tg%s t/s:\n%-8s %-7s %2s | %-14s %-14s | %9s %9s\n", tg,
              "shape", "type", "t", "llama", "g4plug", "g4/llama", "g4/quiet" }
    { n++; rl = r($6, $4); rq = r($6, $8)
      printf "%-8s %-7s %2d | %-14s %-14s | %9s %9s\n", $1, $2, $3,
        $4 == "" ? "-" : sprintf("%.2f±%.2f", $4, $5), $6 == "" ? "-" : sprintf("%.2f±%.2f", $6, $7),
        rl == "" ? "-" : rl, rq == "" ? "-" : rq
      row[n] = sprintf("{\"shape\":\"%s\",\"type\":\"%s\",\"threads\":%d,\"busy_threads\":1," \
        "\"llama_tg\":{\"avg_ts\":%s,\"stddev_ts\":%s},\"g4plug_tg\":{\"avg_ts\":%s,\"stddev_ts\":%s}," \
        "\"g4plug_quiet_tg\":%s,\"llama_quiet_tg\":%s,\"g4plug_over_llama\":%s,\"g4plug_over_own_quiet\":%s}",
        $1, $2, $3, num($4), num($5), num($6), num($7), num($8), num($9), num(rl), num(rq)) }
    END { s = ""; for (i = 1; i <= n; i++) s = s (i > 1 ? ",\n" : "") row[i]; print s > (out ".noisy") }'
  # splice the rows in before the closing brace of bench.json
  { sed '$d' "$OUT"; printf ',"noisy_neighbour":[\n'; cat "$OUT.noisy"; printf ']\n}\n'; } > "$OUT.tmp" &&
    mv "$OUT.tmp" "$OUT" && rm -f "$OUT.noisy"
fi
spec_merge "$OUT"
echo
echo "decode GB/s = decode_bytes_per_token x tg t/s (weights read per token: every matrix once, tied LM head"
echo "included, embedding gathers excluded); %bw = that / measured read bandwidth at the same thread count."
echo "peer: @node-llama-cpp/linux-x64 $PEER_PKG_VER (llama.cpp $LLAMA_RELEASE), CPU backend $VARIANT; bandwidth: $BW_TOOL"
[ -n "$LONG_LINES" ] && printf 'long context:\n%s\n' "$LONG_LINES" | sed -n 's/.*"engine":"\([^"]*\)".*"test":"\([^"]*\)".*"threads":\([0-9]*\).*"avg_ts":\([0-9.]*\).*/  \1 \2 t=\3 \4 t\/s/p'
[ -n "$MEDIA_LINES" ] && printf 'media:\n%s\n' "$MEDIA_LINES"
[ -n "$TOK_LINE" ] && echo "tokenizer: $TOK_LINE"
[ -n "$GRAMMAR_LINE" ] && echo "grammar (JSON schema, per generated token; decode = one 1-token g4_step): $GRAMMAR_LINE"
echo "load average before/after: $LOAD_BEFORE / $LOAD_AFTER on $NPROC CPUs; raw: $RAW; summary: $OUT ($(($(date +%s) - T0)) s)"

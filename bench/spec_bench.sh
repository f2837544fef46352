# Sourced by bench/run_bench.sh after the main matrix: the speculative-decoding rows of
# build/bench.json ("verify_cost", "speculative", "speculative_runs"), 12B shape only.
# Uses run_bench.sh's BUILD MODELS SYNTH VOCAB LAYERS TYPES THREADS REPS RESULTS G4_STATE log.
# Environment: BENCH_SPEC=0 skips it; BENCH_SPEC_GEN=64 tokens per g4_generate run;
#              BENCH_SPEC_K=3 the fixed k; BENCH_SPEC_ALPHAS="0,0.5,0.7,0.9";
#              BENCH_SPEC_CLOCK1=cpu the 1-thread rows' clock (wall: as the other rows).
# Per format and thread count: tools/g4-spec-bench with the matching 12B-shaped drafter
# (g4-synth --shape 12b --draft), an oracle proposer (see that tool), and llama.cpp's plain tg
# from the same run as the reference.
SPEC_LINES=""
SPEC_TOOL=$BUILD/tools/g4-spec-bench
if [ "${BENCH_SPEC:-1}" = 1 ] && [ "$G4_STATE" = ok ] && [ -x "$SPEC_TOOL" ] &&
   printf ' %s ' "$SHAPES" | grep -q ' 12b '; then
  for type in $TYPES; do
    tag=12b-$type
    [ "$LAYERS" -gt 0 ] 2>/dev/null && tag=12b-L$LAYERS-$type
    f=$MODELS/$tag.gguf
    [ -f "$f" ] || continue
    dft=$MODELS/12b-$type-assistant.gguf
    if [ ! -f "$dft" ]; then
      log "synthesising $dft (12B-shaped MTP drafter)"
      "$SYNTH" --shape 12b --type "$type" --vocab "$VOCAB" --draft "$dft" > "$dft.json" || continue
    fi
    for t in $THREADS; do
      ltg=$(printf '%s' "$RESULTS" | awk -F'|' -v ty="$type" -v t="$t" '$1 == "12b" && $2 == ty && $4 == t { print $9 }')
      gtg=$(printf '%s' "$RESULTS" | awk -F'|' -v ty="$type" -v t="$t" '$1 == "12b" && $2 == ty && $4 == t { print $13 }')
      log "$tag  threads=$t  (g4plug speculative: verify cost, drafter, oracle alpha sweep)"
      j=$BUILD/bench-spec-$tag-t$t.jsonl
      # One thread: the process CPU clock (a time slice lost to a neighbour does not count, and
      # plain and speculative are timed alike); measured on the busy shared machine, wall-clock
      # rows of 3 x 64 tokens swung by +-10-25% (Q4_K_M alpha 0.7, k 3: 1.44 wall, 1.98 CPU).
      # More threads: the wall clock (CPU time would add the threads up). speedup_vs_llama of a
      # CPU-clocked row: its speedup over plain times g4plug / llama.cpp plain tg of the matrix.
      clock=wall
      [ "$t" = 1 ] && clock=${BENCH_SPEC_CLOCK1:-cpu}
      "$SPEC_TOOL" --model "$f" --draft "$dft" --threads "$t" --reps 7 --kmax 4 --gen "${BENCH_SPEC_GEN:-64}" --clock "$clock" \
        --gen-reps "$REPS" --k "${BENCH_SPEC_K:-3}" --alphas "${BENCH_SPEC_ALPHAS:-0,0.5,0.7,0.9}" \
        --label "$type" ${ltg:+--llama-tps "$ltg"} ${gtg:+--plain-wall-tps "$gtg"} --json "$j" >&2 ||
        { log "g4-spec-bench failed"; continue; }
      SPEC_LINES="$SPEC_LINES$(cat "$j")
"
      cat "$j" >> "$RAW"
    done
  done
fi

# spec_merge FILE: add the rows to the bench.json that run_bench.sh wrote (its last line is "}").
spec_merge() {
  [ -n "$SPEC_LINES" ] || return 0
  rows() { printf '%s' "$SPEC_LINES" | grep "\"row\":\"$1\"" | sed 's/"row":"[a-z_]*",//' | paste -sd, -; }
  {
    sed '$d' "$1"
    printf ',\n"speculative_runs":[%s],\n"verify_cost":[%s],\n"speculative":[%s]\n}\n' \
      "$(rows run)" "$(rows verify_cost)" "$(rows speculative)"
  } > "$1.tmp" && mv "$1.tmp" "$1"
  echo
  echo "speculative (12B shape, oracle drafter at acceptance alpha; tokens/s, x plain, x llama.cpp plain):"
  printf '%s' "$SPEC_LINES" | grep '"row":"speculative"' | sed 's/.*"type":"\([^"]*\)","threads":\([0-9]*\),"alpha":\([0-9.]*\),"k":"\{0,1\}\([a-z0-9]*\)"\{0,1\},"tokens_per_s":\([0-9.]*\),"speedup_vs_plain":\([0-9.]*\),"speedup_vs_llama":\([0-9.a-z]*\).*/  \1 t=\2 alpha=\3 k=\4: \5 t\/s, \6x plain, \7x llama/'
  printf '%s' "$SPEC_LINES" | grep '"row":"verify_cost"' | sed 's/.*"type":"\([^"]*\)","threads":\([0-9]*\),"n_tokens":\([0-9]*\),"cost_vs_decode_step":\([0-9.]*\).*/  verify \1 t=\2: \3 tokens cost \4 decode steps/'
}

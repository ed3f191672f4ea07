#!/usr/bin/env bash
# Multi-GPU scaling run (issue 7) on one host with 4 GPUs, from the repository root.
#
# Expects in /root/chorus: ensemble-generate, flex-generate (release, --features cuda)
# and smollm2.gguf (the fetched SmolLM2-135M-Instruct Q4_1 GGUF). Stages:
#   1. paraphrases: `ensemble-generate paraphrase` with SmolLM2 on cuda:0, 5 sampled
#      rounds over the 2032 WebQuestions test items -> original + 5 = 6 per item
#      (skipped when data/webquestions/test.smollm2-paraphrases.jsonl, the output of
#      this stage on 2026-11-26, is there: it is copied instead);
#   0. warm-up: each method over all items, sharded over the 4 GPUs (outputs
#      `$method.warmup.*`, not counted), so that every later process finds CubeCL's
#      autotune and compiled-kernel caches (./target/) filled for every batch shape,
#      as a user's second run would; the 1-GPU baseline and the shards then start
#      alike. (Runs of 2026-11-26 warmed up on 64 items only: the 1-GPU baseline,
#      which ran first, then tuned the other shapes itself, ~7 % of its time.)
#   2. one GPU: avg on cuda:0 and flex --share-prefix on cuda:1 (the two methods run
#      at the same time on different GPUs);
#   3. two GPUs: avg shards 0/2,1/2 on cuda:0,1 and flex shards on cuda:2,3, merged;
#   4. four GPUs: avg shards on cuda:0-3, merged; then flex likewise.
# Model: `random:llama-3.2-3b` (Llama-3.2-3B shapes, seeded random weights, bf16)
# driven by SmolLM2's tokenizer; --batch-size 32, 6 paraphrases, 10 greedy tokens.
# Every process appends `stage method gpus shard start end summary` to timings.tsv.
# Usage: [METHODS="avg flex_sp"] multi_gpu.sh [STAGE...] (default: 1 0 2 3 4).
# A dry run on CPU: W=/tmp/w DEVICE=cpu MODEL=random:smollm2-135m BATCH=2 LIMIT=6 multi_gpu.sh
set -u
W=${W:-/root/chorus}
MODEL=${MODEL:-random:llama-3.2-3b}
BATCH=${BATCH:-32}
read -r -a METHODS <<< "${METHODS:-avg flex_sp}"
LIMIT=(${LIMIT:+--max_samples $LIMIT})
# device I: cuda:I, or the CPU for a dry run.
device() { if [ "${DEVICE:-cuda}" = cpu ]; then echo cpu; else echo "cuda:$1"; fi; }
R=$W/results
mkdir -p "$R"
EG=$W/ensemble-generate
FG=$W/flex-generate
DATA=$W/webqa6.jsonl
T=$R/timings.tsv
DTYPE=(); [ "${DEVICE:-cuda}" = cpu ] || DTYPE=(--dtype bf16)
COMMON=(--dataset "$DATA" --data-dir data --model "$MODEL" --tokenizer "$W/smollm2.gguf"
  "${DTYPE[@]}" --batch-size "$BATCH" --num_ensemble 6 "${LIMIT[@]}")
log() { echo "== $* $(date -u +%T)"; }

# run_one STAGE METHOD GPUS SHARD GPU OUTPUT [FLAG...]: one process, timed, summary kept.
run_one() {
  local stage=$1 method=$2 gpus=$3 shard=$4 device
  device=$(device "$5")
  local output=$6
  shift 6
  local args=("${COMMON[@]}" --device "$device" --output "$output" "$@")
  [ "$shard" != "-" ] && args+=(--shard "$shard")
  local bin=$EG
  if [ "$method" = flex_sp ]; then bin=$FG; args+=(--share-prefix); else args+=(--method "$method"); fi
  local start end
  start=$(date +%s.%N)
  "$bin" "${args[@]}" > "$output.log" 2>&1
  local rc=$?
  end=$(date +%s.%N)
  local summary
  summary=$(grep -E "items/s" "$output.log" | tail -1)
  printf '%s\t%s\t%s\t%s\t%s\t%s\trc=%s %s\n' "$stage" "$method" "$gpus" "$shard" "$start" "$end" "$rc" "$summary" >> "$T"
}

# sharded STAGE METHOD N FIRST_GPU [TAG]: N shards on GPUs FIRST_GPU.., then merge.
sharded() {
  local stage=$1 method=$2 n=$3 first=$4 tag=${5:-${3}gpu} i
  local outputs=()
  for ((i = 0; i < n; i++)); do
    local output=$R/$method.$tag.shard$i.feather
    outputs+=("$output")
    run_one "$stage" "$method" "$n" "$i/$n" "$((first + i))" "$output" &
  done
  wait
  "$EG" merge "${outputs[@]}" --output "$R/$method.$tag.merged.feather" --force > "$R/$method.$tag.merge.log" 2>&1
}

stage_1() {
  log "stage 1: paraphrases"
  [ -s "$DATA" ] && return
  # The committed output of this stage's run of 2026-11-26 (519 s on an H200).
  if [ -z "${LIMIT[*]}" ] && [ -s data/webquestions/test.smollm2-paraphrases.jsonl ]; then
    cp data/webquestions/test.smollm2-paraphrases.jsonl "$DATA"
    return
  fi
  local start end
  start=$(date +%s.%N)
  "$EG" paraphrase --dataset webqa --data-dir data --model "$W/smollm2.gguf" --output "$DATA" \
    --rounds 5 --device "$(device 0)" --batch-size 512 "${LIMIT[@]}" > "$R/paraphrase.log" 2>&1
  local rc=$?
  end=$(date +%s.%N)
  printf '1\tparaphrase\t1\t-\t%s\t%s\trc=%s\n' "$start" "$end" "$rc" >> "$T"
}

stage_0() {
  log "stage 0: warm-up of the kernel caches"
  local method
  for method in "${METHODS[@]}"; do
    sharded 0 "$method" 4 0 warmup
  done
}

stage_2() {
  log "stage 2: one GPU per method"
  local i
  for i in "${!METHODS[@]}"; do
    run_one 2 "${METHODS[$i]}" 1 - "$i" "$R/${METHODS[$i]}.1gpu.feather" &
  done
  wait
}

stage_3() {
  log "stage 3: two GPUs per method"
  local i
  for i in "${!METHODS[@]}"; do
    sharded 3 "${METHODS[$i]}" 2 $((2 * i)) &
  done
  wait
}

stage_4() {
  log "stage 4: four GPUs, one method at a time"
  local method
  for method in "${METHODS[@]}"; do
    sharded 4 "$method" 4 0
  done
}

nvidia-smi --query-gpu=index,name,memory.total --format=csv 2>/dev/null
stages=("$@")
[ ${#stages[@]} -eq 0 ] && stages=(1 0 2 3 4)
for stage in "${stages[@]}"; do
  "stage_$stage"
done
log "comparing merged shards with the one-GPU runs"
for method in "${METHODS[@]}"; do
  merged=("$R"/$method.*gpu.merged.feather)
  [ -f "$R/$method.1gpu.feather" ] && [ -f "${merged[0]}" ] || continue
  python3 scripts/gpu/compare_rows.py "$R/$method.1gpu.feather" "${merged[@]}"
done > "$R/compare.jsonl" 2>&1
cat "$R/compare.jsonl"
log "done"
touch "$R/DONE"

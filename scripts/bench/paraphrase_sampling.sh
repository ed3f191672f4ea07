#!/usr/bin/env bash
# Paraphrase sampling with and without the shared prompt prefix, side by side:
#
#   scripts/bench/paraphrase_sampling.sh [ITEMS] [ROUNDS] [REPEATS]
#
# Runs `ensemble-generate paraphrase` on the first ITEMS WebQuestions test
# questions (default 64) for ROUNDS rounds (default 2) at temperature 0.7,
# REPEATS times (default 3) in each setting -- shared prefix at batch 8 and 32,
# whole prompts (--no-shared-context) at batch 8 and 32 -- alternating the
# settings, then prints each setting's median wall time and checks that every
# setting wrote the same paraphrases. Environment: BIN (default
# target/release), MODEL (default the SmolLM2 GGUF), DEVICE (default cpu).
set -euo pipefail
cd "$(dirname "$0")/../.."
ITEMS=${1:-64}
ROUNDS=${2:-2}
REPEATS=${3:-3}
BIN=${BIN:-target/release}
MODEL=${MODEL:-models/SmolLM2-135M-Instruct.Q4_1.gguf}
DEVICE=${DEVICE:-cpu}
work=$(mktemp -d "${TMPDIR:-/tmp}/paraphrase-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

settings=("shared 8" "shared 32" "whole 8" "whole 32")
declare -A times
for repeat in $(seq "$REPEATS"); do
    for setting in "${settings[@]}"; do
        read -r mode batch <<<"$setting"
        flags=()
        [[ $mode == whole ]] && flags+=(--no-shared-context)
        out="$work/$mode-$batch.jsonl"
        started=$(date +%s.%N)
        "$BIN/ensemble-generate" paraphrase --dataset webqa --model "$MODEL" --device "$DEVICE" \
            --temperature 0.7 --top-p 0.9 --seed 0 --rounds "$ROUNDS" --max_samples "$ITEMS" \
            --batch-size "$batch" --force "${flags[@]}" --output "$out" >/dev/null 2>&1
        elapsed=$(awk -v a="$(date +%s.%N)" -v b="$started" 'BEGIN { printf "%.2f", a - b }')
        times[$setting]="${times[$setting]:-} $elapsed"
        echo "repeat $repeat, $setting: ${elapsed} s" >&2
    done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }
echo "paraphrase sampling, $ITEMS items x $ROUNDS rounds, $DEVICE, medians of $REPEATS (wall s, model load included):"
for setting in "${settings[@]}"; do
    printf '  %-10s %8.2f s   (%s)\n' "$setting" "$(echo "${times[$setting]}" | median)" "${times[$setting]# }"
done
first="$work/shared-8.jsonl"
for setting in "${settings[@]}"; do
    read -r mode batch <<<"$setting"
    cmp -s "$first" "$work/$mode-$batch.jsonl" || { echo "  $setting wrote other paraphrases than shared 8" >&2; exit 1; }
done
echo "  every setting wrote the same paraphrases"

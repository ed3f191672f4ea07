#!/usr/bin/env bash
# Full-dataset results of every method, and the report over them (issue 15).
#
#   BIN=target/release DEVICE=cuda:0 scripts/results/run_all.sh [--resume] [--dry-run]
#
# Environment (all optional):
#   BIN          folder holding flex-generate and ensemble-generate (default target/release)
#   DEVICE       cpu (default), cuda or cuda:<i>
#   DTYPE        f32, bf16 or f16 (default: the binaries' choice: f32 on cpu, bf16 on cuda)
#   MODEL        checkpoint (default models/SmolLM2-135M-Instruct.Q4_1.gguf)
#   BATCH_SIZE   --batch-size of the generation runs (default auto)
#   PARA_BATCH   --batch-size of the paraphrase sampling (default 32 on cpu, 128 on cuda)
#   SETS         which result sets to run (default: all four, see below)
#   METHODS      which methods to run (default: all eight, see below)
#   MAX_SAMPLES  only the first N items of every set: a smoke test. Its outputs go
#                under results/smoke-N/ (results, the T = 0.7 paraphrases and the
#                report), never over the full results or the committed data and docs.
#   RESULTS      results root (default results/full, or results/smoke-N)
#
# What it does, each step skipped when its output is already there (runs are
# always started with --resume: a finished output is skipped, an interrupted
# one continues from its checkpoint), so rerunning after a crash or a
# preemption picks up where it stopped:
#   (a) data/webquestions/test.smollm2-paraphrases-t0.7.jsonl: a second SmolLM2
#       paraphrase set of the WebQuestions test split, sampled at temperature 0.7
#       (top-p 0.9, 5 rounds, seed 0 + round), with `ensemble-generate paraphrase`;
#   (b) every method -- origin, per_prompt, avg, max, weighted_avg, weighted_max,
#       flex (--fuse-first shared-suffix) and flex-fusenone (--fuse-first none) --
#       on four sets, each into its own folder $RESULTS/<set>/:
#         webqa-t1.5         WebQuestions test (2032 items), committed T = 1.5 set,
#                            pipeline selection m5a5s5 (5 of original + 5 generated)
#         webqa-t0.7         the same items with the T = 0.7 set of (a)
#         myriadlama-manual  MyriadLAMA test (2000 items), m5a0s3: 3 manual paraphrases
#         myriadlama-auto    MyriadLAMA test, m0a5s3: 3 automatic paraphrases
#   (c) `report` over $RESULTS into docs/results/report.md, docs/results/report.json
#       and docs/images/accuracy.png (for a smoke run: into $RESULTS/report/).
#
# Inputs are files of the repository plus the model; it runs from the repository
# root wherever the binaries were built. Each run's summary line is appended to
# $RESULTS/runs.log.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$REPO"

DRY_RUN=0
for arg in "$@"; do
    case "$arg" in
        --resume) ;; # always on; accepted so that a rerun reads as what it is
        --dry-run) DRY_RUN=1 ;;
        -h | --help)
            sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "run_all.sh: unknown argument '$arg' (try --help)" >&2
            exit 2
            ;;
    esac
done

BIN=${BIN:-$REPO/target/release}
DEVICE=${DEVICE:-cpu}
DTYPE=${DTYPE:-}
MODEL=${MODEL:-models/SmolLM2-135M-Instruct.Q4_1.gguf}
BATCH_SIZE=${BATCH_SIZE:-auto}
MAX_SAMPLES=${MAX_SAMPLES:-}
SETS=${SETS:-webqa-t1.5 webqa-t0.7 myriadlama-manual myriadlama-auto}
METHODS=${METHODS:-origin per_prompt avg max weighted_avg weighted_max flex flex-fusenone}
if [[ $DEVICE == cpu ]]; then PARA_BATCH=${PARA_BATCH:-32}; else PARA_BATCH=${PARA_BATCH:-128}; fi

DATA=$REPO/data
T15=data/webquestions/test.smollm2-paraphrases.jsonl
if [[ -n $MAX_SAMPLES ]]; then
    RESULTS=${RESULTS:-results/smoke-$MAX_SAMPLES}
    # A partial paraphrase set must never take the committed file's place.
    T07=$RESULTS/data/test.smollm2-paraphrases-t0.7.jsonl
    REPORT_MD=$RESULTS/report/report.md
    REPORT_JSON=$RESULTS/report/report.json
    PLOT=$RESULTS/report/accuracy.png
    LIMIT=(--max_samples "$MAX_SAMPLES")
else
    RESULTS=${RESULTS:-results/full}
    T07=data/webquestions/test.smollm2-paraphrases-t0.7.jsonl
    REPORT_MD=docs/results/report.md
    REPORT_JSON=docs/results/report.json
    PLOT=docs/images/accuracy.png
    LIMIT=()
fi

for binary in flex-generate ensemble-generate; do
    if [[ ! -x $BIN/$binary ]]; then
        echo "run_all.sh: $BIN/$binary not found; build with 'cargo build --release -p flex-generate -p ensemble-generate' or set BIN" >&2
        exit 1
    fi
done
if [[ $MODEL != random:* && ! -e $MODEL ]]; then
    echo "run_all.sh: model $MODEL not found (scripts/fetch-model fetches the default, or set MODEL)" >&2
    exit 1
fi

ENGINE=(--model "$MODEL" --data-dir "$DATA" --device "$DEVICE")
[[ -n $DTYPE ]] && ENGINE+=(--dtype "$DTYPE")
mkdir -p "$RESULTS"
LOG=$RESULTS/runs.log

# Runs a command (or prints it with --dry-run), logging its time and summary line.
run() {
    printf '+ %s\n' "$*" >&2
    [[ $DRY_RUN == 1 ]] && return 0
    local started summary
    started=$(date +%s)
    summary=$("$@")
    echo "$summary"
    printf '%s\t%ss\t%s\n' "$(date -u +%FT%TZ)" "$(($(date +%s) - started))" "$summary" >>"$LOG"
}

# (a) The T = 0.7 paraphrase set.
if [[ -s $T07 ]]; then
    echo "== (a) $T07 exists; skipped"
else
    echo "== (a) paraphrases at T = 0.7 -> $T07"
    run "$BIN/ensemble-generate" paraphrase --dataset webqa "${ENGINE[@]}" \
        --temperature 0.7 --top-p 0.9 --seed 0 --rounds 5 --batch-size "$PARA_BATCH" \
        --resume "${LIMIT[@]}" --output "$T07"
fi

# (b) Every method on every set.
set_flags() { # FLAGS = the dataset and selection flags of set $1
    case "$1" in
        webqa-t1.5) FLAGS=(--dataset "$T15" --context webqa) ;;
        webqa-t0.7) FLAGS=(--dataset "$T07" --context webqa) ;;
        myriadlama-manual) FLAGS=(--dataset myriadlama --num_manual 5 --num_auto 0 --num_samples 3) ;;
        myriadlama-auto) FLAGS=(--dataset myriadlama --num_manual 0 --num_auto 5 --num_samples 3) ;;
        *)
            echo "run_all.sh: unknown set '$1' (webqa-t1.5, webqa-t0.7, myriadlama-manual, myriadlama-auto)" >&2
            exit 2
            ;;
    esac
}
method_command() { # COMMAND = the binary and method flags of method $1
    case "$1" in
        flex) COMMAND=("$BIN/flex-generate" --fuse-first shared-suffix) ;;
        flex-fusenone) COMMAND=("$BIN/flex-generate" --fuse-first none) ;;
        origin | per_prompt | avg | max | weighted_avg | weighted_max)
            COMMAND=("$BIN/ensemble-generate" --method "$1")
            ;;
        *)
            echo "run_all.sh: unknown method '$1' (origin per_prompt avg max weighted_avg weighted_max flex flex-fusenone)" >&2
            exit 2
            ;;
    esac
}

for set in $SETS; do
    set_flags "$set"
    for method in $METHODS; do
        method_command "$method"
        echo "== (b) $set: $method"
        run "${COMMAND[@]}" "${FLAGS[@]}" "${ENGINE[@]}" --batch-size "$BATCH_SIZE" \
            --results-dir "$RESULTS/$set" --resume "${LIMIT[@]}"
    done
done

# (c) The report over every set.
echo "== (c) report -> $REPORT_MD, $REPORT_JSON, $PLOT"
mkdir -p "$(dirname "$REPORT_MD")" "$(dirname "$REPORT_JSON")" "$(dirname "$PLOT")"
# Only warnings on stderr: the report's info lines name every file it scores.
export RUST_LOG=${RUST_LOG:-warn}
REPORT=("$BIN/ensemble-generate" report --lemmaize-missing "$RESULTS")
# The paraphrase-quality table, where the binaries have it.
if "$BIN/ensemble-generate" report --help 2>/dev/null | grep -q -- '--paraphrases'; then
    REPORT+=(--paraphrases "$T15" --paraphrases "$T07" --paraphrases myriadlama --data-dir "$DATA")
fi
if [[ $DRY_RUN == 1 ]]; then
    printf '+ %s\n' "${REPORT[*]} --format md --plot $PLOT" >&2
    exit 0
fi
{
    echo "<!-- Written by scripts/results/run_all.sh ($(date -u +%F), $MODEL on $DEVICE${DTYPE:+ $DTYPE}${MAX_SAMPLES:+, first $MAX_SAMPLES items}); the results: $RESULTS/ -->"
    echo
    "${REPORT[@]}" --format md --plot "$PLOT"
} >"$REPORT_MD.tmp"
mv "$REPORT_MD.tmp" "$REPORT_MD"
"${REPORT[@]}" --format json >"$REPORT_JSON.tmp"
mv "$REPORT_JSON.tmp" "$REPORT_JSON"
echo "report: $REPORT_MD, $REPORT_JSON, $PLOT"

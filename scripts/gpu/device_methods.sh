#!/usr/bin/env bash
# Issue 5's method table on one GPU, PyTorch and Chorus in the same session, in two
# device calls on the same warm machine (the GGUF is carried in two halves):
#   device_methods.sh a   (carry .gpu/a: smollm2.gguf.00) keeps the first GGUF half in
#                          /root/chorus and runs the PyTorch side: avg, max,
#                          per_prompt, flex, flex_share;
#   device_methods.sh b   (carry .gpu/b: method_bench.xz, flex-generate.xz,
#                          smollm2.gguf.01; 64 MiB per call in all) joins the
#                          GGUF, runs Chorus's method_bench on the same five methods,
#                          then flex --share-prefix on 64 WebQuestions items twice
#                          (kernel caches cold, then warm) to time model load and
#                          first batch of the binaries.
# Shapes on both sides: Llama-3.2-3B, random weights, bf16, 5 paraphrases of ~141
# tokens of which ~125 are the shared instruction + few-shot block, 8 items per
# batch, 10 greedy tokens.
set -u
W=/root/chorus
mkdir -p "$W"
unxz() { python3 -c "import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2],'wb'))" "$1" "$2" && chmod +x "$2"; }
LOG=$OUT/methods.log
export PYTHONUNBUFFERED=1
case "${1:-}" in
a)
  cp .gpu/a/smollm2.gguf.00 "$W/"
  {
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
    python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)"
  } > "$OUT/device.txt" 2>&1
  echo "== torch methods $(date -u +%T)" >> "$LOG"
  timeout 420 python3 scripts/gpu/torch_bench.py --parts avg,max,per_prompt,flex,flex_share \
    --paraphrases 5 --prompt-len 141 --shared-len 125 --items 24 --item-batch 8 \
    --out "$OUT/torch_methods.json" >> "$LOG" 2>&1
  ;;
b)
  for b in method_bench flex-generate; do unxz ".gpu/b/$b.xz" "$W/$b"; done
  cat "$W/smollm2.gguf.00" .gpu/b/smollm2.gguf.01 > "$W/smollm2.gguf"
  sha256sum "$W/smollm2.gguf" >> "$LOG"
  echo "== chorus method_bench $(date -u +%T)" >> "$LOG"
  timeout 300 "$W/method_bench" --tokenizer "$W/smollm2.gguf" --backend cuda-bf16 --repeats 3 \
    --out "$OUT/method_bench_bf16.json" >> "$LOG" 2>&1
  for run in cold warm; do
    echo "== flex-generate --share-prefix, 64 items, kernel caches $run $(date -u +%T)" >> "$LOG"
    timeout 120 "$W/flex-generate" --dataset data/webquestions/test.smollm2-paraphrases.jsonl \
      --data-dir data --model random:llama-3.2-3b --tokenizer "$W/smollm2.gguf" --dtype bf16 \
      --device cuda:0 --batch-size 32 --num_ensemble 6 --max_samples 64 --share-prefix \
      --output "$W/probe-$run.feather" --force >> "$LOG" 2>&1
  done
  ;;
*) echo "usage: device_methods.sh a|b" >&2; exit 2 ;;
esac
echo "== done $(date -u +%T)" >> "$LOG"

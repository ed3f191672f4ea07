#!/usr/bin/env bash
# One-GPU probe of a long run (two device calls on the same warm machine; the
# GGUF travels in halves): where model load goes, and whether batches slow down
# as the process ages.
#   device_probe.sh a   (carry .gpu/p1: smollm2.gguf.00, flex-generate.xz)
#   device_probe.sh b   (carry .gpu/p2: smollm2.gguf.01): flex --share-prefix over
#                       the 2032 WebQuestions test items, random Llama-3.2-3B bf16,
#                       batch 32, RUST_LOG=debug for the load breakdown and the
#                       engine's per-batch times; log in $OUT/probe.log.
set -u
W=/root/chorus
mkdir -p "$W"
case "${1:-}" in
a)
  cp .gpu/p1/smollm2.gguf.00 "$W/"
  python3 -c "import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2],'wb'))" \
    .gpu/p1/flex-generate.xz "$W/flex-generate" && chmod +x "$W/flex-generate"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv > "$OUT/device.txt"; nproc >> "$OUT/device.txt"
  ;;
b)
  cat "$W/smollm2.gguf.00" .gpu/p2/smollm2.gguf.01 > "$W/smollm2.gguf"
  # Run 1 (64 items) fills the kernel caches; run 2 is the probe.
  for run in 1 2; do
    few=(); [ "$run" = 1 ] && few=(--max_samples 64)
    RUST_LOG=info,chorus_llama=debug,chorus_ensemble=debug timeout 280 "$W/flex-generate" \
      --dataset data/webquestions/test.smollm2-paraphrases.jsonl --data-dir data \
      --model random:llama-3.2-3b --tokenizer "$W/smollm2.gguf" --dtype bf16 --device cuda:0 \
      --batch-size 32 --num_ensemble 6 --share-prefix --output "$W/probe$run.feather" --force "${few[@]}" \
      2>&1 | sed 's/\x1b\[[0-9;]*m//g' > "$OUT/probe$run.log"
    tail -1 "$OUT/probe$run.log"
  done
  ;;
*) echo "usage: device_probe.sh a|b" >&2; exit 2 ;;
esac

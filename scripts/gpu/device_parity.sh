#!/usr/bin/env bash
# Device call 2 (GPU machine, repository root), right after call 1 on the same warm
# machine: joins the SmolLM2 GGUF halves, runs the oracle parity check in bf16 and
# f32 and the method throughput bench (random 3B weights, SmolLM2 tokenizer).
set -u
W=/root/chorus
cat "$W/smollm2.gguf.00" .gpu/smollm2.gguf.01 > "$W/smollm2.gguf" || exit 1
ls -la "$W" > "$OUT/files.txt"
LOG=$OUT/parity.log
echo "== parity bf16 $(date -u +%T)" >> "$LOG"
timeout 150 "$W/gpu_parity" --model "$W/smollm2.gguf" --backend cuda-bf16 --out "$OUT/gpu_parity_bf16.json" >> "$LOG" 2>&1
echo "== parity f32 $(date -u +%T)" >> "$LOG"
timeout 150 "$W/gpu_parity" --model "$W/smollm2.gguf" --backend cuda-f32 --out "$OUT/gpu_parity_f32.json" >> "$LOG" 2>&1
echo "== method_bench bf16 $(date -u +%T)" >> "$LOG"
timeout 240 "$W/method_bench" --tokenizer "$W/smollm2.gguf" --backend cuda-bf16 --repeats 3 \
  --out "$OUT/method_bench_bf16.json" >> "$LOG" 2>&1
echo "== done $(date -u +%T)" >> "$LOG"

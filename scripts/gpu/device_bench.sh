#!/usr/bin/env bash
# Device call 1 (GPU machine, repository root): prefill/decode and method
# throughput, PyTorch and Chorus (Burn) in the same call. Expects .gpu/ with the
# xz-compressed release binaries (gpu_bench, method_bench, gpu_parity) and the
# first half of the SmolLM2 GGUF (smollm2.gguf.00), which it keeps in /root/chorus
# for call 2 (scripts/gpu/device_parity.sh).
set -u
W=/root/chorus
mkdir -p "$W"
cp .gpu/smollm2.gguf.00 "$W/" 2>/dev/null || true
for b in gpu_bench method_bench gpu_parity; do
  # xz, unpacked with Python's lzma (present wherever python3 is).
  [ -f ".gpu/$b.xz" ] && python3 -c "import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2],'wb'))" ".gpu/$b.xz" "$W/$b"
  chmod +x "$W/$b" 2>/dev/null
done
LOG=$OUT/bench.log
{
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
  python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)"
} > "$OUT/device.txt" 2>&1
export PYTHONUNBUFFERED=1
echo "== torch prefill/decode/avg/flex $(date -u +%T)" >> "$LOG"
timeout 200 python3 scripts/gpu/torch_bench.py --paraphrases 5 --prompt-len 141 \
  --items 24 --item-batch 8 --out "$OUT/torch_bench.json" >> "$LOG" 2>&1
echo "== burn gpu_bench bf16 $(date -u +%T)" >> "$LOG"
timeout 200 "$W/gpu_bench" --backend cuda-bf16 --out "$OUT/gpu_bench_bf16.json" >> "$LOG" 2>&1
echo "== burn gpu_bench f32 $(date -u +%T)" >> "$LOG"
timeout 100 "$W/gpu_bench" --backend cuda-f32 --decode-batch 1,8 --repeats 3 --out "$OUT/gpu_bench_f32.json" >> "$LOG" 2>&1
echo "== done $(date -u +%T)" >> "$LOG"

#!/usr/bin/env bash
# Issue 7 on a 4-GPU machine in three device calls on the same warm machine (the
# GGUF travels in two halves, 64 MiB per call):
#   device_multi_gpu.sh a   (carry .gpu/x4a: smollm2.gguf.00, ensemble-generate.xz)
#   device_multi_gpu.sh b   (carry .gpu/x4b: smollm2.gguf.01, flex-generate.xz):
#                           joins the GGUF, then multi_gpu.sh stages 1 0 2 (data,
#                           kernel-cache warm-up, the one-GPU baselines);
#   device_multi_gpu.sh c   multi_gpu.sh stages 3 4 (2 and 4 GPUs, merge, compare).
# Every call packs the per-process logs, timings.tsv and compare.jsonl into $OUT/run.tgz.
set -u
W=/root/chorus
mkdir -p "$W"
unxz() { python3 -c "import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2],'wb'))" "$1" "$2" && chmod +x "$2"; }
case "${1:-}" in
a)
  cp .gpu/x4a/smollm2.gguf.00 "$W/"
  unxz .gpu/x4a/ensemble-generate.xz "$W/ensemble-generate"
  nvidia-smi --query-gpu=index,name,driver_version,memory.total --format=csv > "$OUT/device.txt" 2>&1
  nproc >> "$OUT/device.txt"
  ;;
b)
  unxz .gpu/x4b/flex-generate.xz "$W/flex-generate"
  cat "$W/smollm2.gguf.00" .gpu/x4b/smollm2.gguf.01 > "$W/smollm2.gguf"
  sha256sum "$W/smollm2.gguf"
  METHODS="avg flex_sp" bash scripts/gpu/multi_gpu.sh 1 0 2
  ;;
c)
  METHODS="avg flex_sp" bash scripts/gpu/multi_gpu.sh 3 4
  ;;
*) echo "usage: device_multi_gpu.sh a|b|c" >&2; exit 2 ;;
esac
R=$W/results
# One archive (the device tool brings back a limited number of files), ANSI
# colour codes stripped from the logs.
if [ -d "$R" ]; then
  mkdir -p "$W/plain"
  for f in "$R"/*.log "$R"/timings.tsv "$R"/compare.jsonl; do
    [ -f "$f" ] && sed 's/\x1b\[[0-9;]*m//g' "$f" > "$W/plain/$(basename "$f")"
  done
  tar czf "$OUT/run.tgz" -C "$W/plain" .
  cp "$W/plain/timings.tsv" "$OUT/" 2>/dev/null
fi

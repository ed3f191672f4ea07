#!/usr/bin/env bash
# Builds and packs what scripts/gpu/device_gpu.sh a|b carries (run here, on the
# development machine, from the repository root). 64 MiB travel per call,
# repository included, so binaries are stripped and xz-compressed and the
# xz-compressed SmolLM2 GGUF is split in two:
#   .gpu/a: smollm2.gguf.xz.00, cuda_check.xz, gpu_parity.xz
#   .gpu/b: smollm2.gguf.xz.01, flex-generate.xz, ensemble-generate.xz, tokenizer.tar.xz
#   .gpu/c: cuda_check.xz and .gpu/b's binaries and tokenizer (device_gpu.sh c)
#   .gpu/r1: smollm2.gguf.xz.00, ensemble-generate.xz (device_results.sh r1)
#   .gpu/r2: smollm2.gguf.xz.01, flex-generate.xz (device_results.sh r2)
#   .gpu/pa: smollm2.gguf.xz.00, gpu_parity.xz; .gpu/pb: smollm2.gguf.xz.01
#            (device_gpu.sh pa, then pb: the parity alone, small enough to
#            travel beside the tree)
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_PROFILE_RELEASE_DEBUG=false
cargo build --release --features cuda -p flex-generate -p ensemble-generate
cargo build --release --features cuda -p chorus-llama --example cuda_check --example gpu_parity
cargo build --release -p chorus-llama --example export_tokenizer
mkdir -p .gpu/a .gpu/b .gpu/tok
target/release/examples/export_tokenizer models/SmolLM2-135M-Instruct.Q4_1.gguf .gpu/tok/tokenizer
tar cJf .gpu/b/tokenizer.tar.xz -C .gpu/tok tokenizer
pack() { strip -o "$2.bin" "$1" && xz -T2 -6 -c "$2.bin" > "$2" && rm "$2.bin"; }
pack target/release/examples/cuda_check .gpu/a/cuda_check.xz
pack target/release/examples/gpu_parity .gpu/a/gpu_parity.xz
pack target/release/flex-generate .gpu/b/flex-generate.xz
pack target/release/ensemble-generate .gpu/b/ensemble-generate.xz
gguf=models/SmolLM2-135M-Instruct.Q4_1.gguf
[ -f .gpu/smollm2.gguf.xz ] || xz -T2 -9 -c "$gguf" > .gpu/smollm2.gguf.xz
size=$(stat -c %s .gpu/smollm2.gguf.xz)
half=$(( (size + 1) / 2 ))
head -c "$half" .gpu/smollm2.gguf.xz > .gpu/a/smollm2.gguf.xz.00
tail -c +$((half + 1)) .gpu/smollm2.gguf.xz > .gpu/b/smollm2.gguf.xz.01
mkdir -p .gpu/c
cp .gpu/a/cuda_check.xz .gpu/b/flex-generate.xz .gpu/b/ensemble-generate.xz .gpu/b/tokenizer.tar.xz .gpu/c/
mkdir -p .gpu/r1 .gpu/r2
cp .gpu/a/smollm2.gguf.xz.00 .gpu/b/ensemble-generate.xz .gpu/r1/
cp .gpu/b/smollm2.gguf.xz.01 .gpu/b/flex-generate.xz .gpu/r2/
mkdir -p .gpu/pa .gpu/pb
cp .gpu/a/smollm2.gguf.xz.00 .gpu/a/gpu_parity.xz .gpu/pa/
cp .gpu/b/smollm2.gguf.xz.01 .gpu/pb/
du -sh .gpu/a .gpu/b .gpu/c .gpu/r1 .gpu/r2 .gpu/pa .gpu/pb

#!/usr/bin/env bash
# Issue 14's GPU run on one H200, in two device calls on the same warm machine
# (64 MiB travel per call, so the SmolLM2 GGUF goes in two halves and the
# binaries are split between the calls):
#
#   device_gpu.sh a   carry .gpu/a: smollm2.gguf.xz.00, cuda_check.xz, gpu_parity.xz
#                     - the CUDA kernels against the CPU kernels (cuda_check,
#                       f32 and bf16);
#                     - the PyTorch harness (torch_bench.py): avg, max,
#                       per_prompt, flex_share with the context encoded once
#                       at item batches 128 and 512 (its best settings; IBS=512
#                       for the best alone), and
#                       with TORCH_SMALL=1 also at 8 and 128 without;
#   device_gpu.sh b   carry .gpu/b: smollm2.gguf.xz.01, flex-generate.xz,
#                     ensemble-generate.xz, tokenizer.tar.xz
#                     - SmolLM2 parity with the PyTorch goldens (gpu_parity,
#                       bf16 and f32);
#                     - flex and avg once with every operation timed
#                       (CHORUS_PROFILE_OPS=1: where the time goes);
#                     - the 2032-item WebQuestions job (original + 5 SmolLM2
#                       paraphrases), random Llama-3.2-3B weights in bf16,
#                       batch size from free memory (BATCH=N to fix it):
#                       flex (shared context), avg, max, per_prompt,
#                       weighted_avg, weighted_max, each with the binaries'
#                       own summary line.
#
#   device_gpu.sh c   carry .gpu/c (cuda_check.xz and b's binaries and tokenizer,
#                     no GGUF): a's checks, the harness and b's timed job in one
#                     call, without the SmolLM2 parity; and the GPU's bf16
#                     GEMM rate with each run's prefill against it
#                     (gemm_rate.py; GEMM= skips it)
#
# Two own-part attention kernels can be compared in one call (a, b):
# ALT_OWN (default warps) is the CHORUS_ATTEND_OWN value of the other one,
# ALT_CHECK the cuda_check backends to run with it, ALT_METHODS the methods
# timed with it as well. Modes c and pb take any number of variants instead
# (VARIANTS, see c) and c REPEATS rounds of the timed job.
#
# Outputs (logs, JSON) go to $OUT; build the binaries first with
# scripts/gpu/prepare_gpu.sh (here, on the development machine).
set -u
W=/root/chorus
ALT_OWN=${ALT_OWN:-warps}
# The other kernel's environment: its CHORUS_ATTEND_OWN, and with ALT_SOURCE
# (a folder of kernel sources, e.g. this checkout's
# crates/chorus-llama/src/kernels/cuda) its kernels compiled from there.
alt_env=(CHORUS_ATTEND_OWN="$ALT_OWN")
[ -n "${ALT_SOURCE:-}" ] && alt_env+=(CHORUS_CUDA_SOURCE="$ALT_SOURCE")
mkdir -p "$W"
export PYTHONUNBUFFERED=1
unxz() { python3 -c "import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2],'wb'))" "$1" "$2" && chmod +x "$2"; }
# cuBLAS and NVRTC: the toolkit's and PyTorch's wheels, wherever they are.
libdirs=$(find / -xdev \( -name 'libcublas.so*' -o -name 'libnvrtc.so*' -o -name 'libcublasLt.so*' \) 2>/dev/null | grep -v /stubs/ | xargs -r -n1 dirname | sort -u | tr '\n' ':')
export LD_LIBRARY_PATH="${libdirs}${LD_LIBRARY_PATH:-}"
LOG=$OUT/gpu.log
step() { echo "== $* $(date -u +%T)" | tee -a "$LOG"; }

case "${1:-}" in
a)
  cp .gpu/a/smollm2.gguf.xz.00 "$W/"
  for b in cuda_check gpu_parity; do [ -f ".gpu/a/$b.xz" ] && unxz ".gpu/a/$b.xz" "$W/$b"; done
  {
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
    python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)"
    echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
  } > "$OUT/device.txt" 2>&1
  # Burn's bf16 reference beside ours: how far any bf16 run is from f32.
  for backend in ${CHECKS-cuda-f32 cuda-bf16 ${BURN_CHECK-burn-cuda-bf16}}; do
    step "cuda_check $backend"
    timeout 120 "$W/cuda_check" --backend "$backend" --out "$OUT/cuda_check_$backend.json" >> "$LOG" 2>&1
    echo "exit $?" >> "$LOG"
  done
  # The other own-part kernel too (CHORUS_ATTEND_OWN=$ALT_OWN), when both are timed.
  for backend in ${ALT_CHECK-}; do
    step "cuda_check $backend, $ALT_OWN${ALT_SOURCE:+ + $ALT_SOURCE}"
    env "${alt_env[@]}" timeout 120 "$W/cuda_check" --backend "$backend" \
      --out "$OUT/cuda_check_${backend}_$ALT_OWN.json" >> "$LOG" 2>&1
    echo "exit $?" >> "$LOG"
  done
  common="--paraphrases 6 --prompt-len 141 --shared-len 125 --new-tokens 10 --repeats 3"
  parts="avg,max,per_prompt,flex_share"
  if [ -n "${TORCH_SMALL:-}" ]; then
    step "torch item-batch 8"
    timeout 150 python3 scripts/gpu/torch_bench.py $common --parts $parts --items 32 --item-batch 8 \
      --out "$OUT/torch_ib8.json" >> "$LOG" 2>&1
    step "torch item-batch 128"
    timeout 150 python3 scripts/gpu/torch_bench.py $common --parts $parts --items 256 --item-batch 128 \
      --out "$OUT/torch_ib128.json" >> "$LOG" 2>&1
  fi
  for ib in ${IBS-128 512}; do
    step "torch item-batch $ib, context once"
    timeout 150 python3 scripts/gpu/torch_bench.py $common --parts $parts --items 1024 --item-batch $ib \
      --context-once --out "$OUT/torch_ib${ib}_once.json" >> "$LOG" 2>&1
  done
  ;;
b|e)
  # `e`: b's job again from the binaries in .gpu/e, without the parity (when
  # the tree and the GGUF half leave no room for both binaries in one call).
  # A binary not carried is taken from an earlier call ($W); a method whose
  # binary is in neither is skipped.
  for b in flex-generate ensemble-generate; do [ -f ".gpu/$1/$b.xz" ] && unxz ".gpu/$1/$b.xz" "$W/$b"; done
  [ -f ".gpu/$1/tokenizer.tar.xz" ] && tar xJf ".gpu/$1/tokenizer.tar.xz" -C "$W"
  TOKENIZER="$W/tokenizer/tokenizer.json"
  if [ "$1" = e ]; then
    :
  elif [ -f "$W/smollm2.gguf.xz.00" ]; then
    cat "$W/smollm2.gguf.xz.00" .gpu/b/smollm2.gguf.xz.01 > "$W/smollm2.gguf.xz"
    python3 -c "import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2],'wb'))" \
      "$W/smollm2.gguf.xz" "$W/smollm2.gguf"
    sha256sum "$W/smollm2.gguf" >> "$LOG"
    for dtype in bf16 f32; do
      step "gpu_parity $dtype"
      timeout 240 "$W/gpu_parity" --model "$W/smollm2.gguf" --backend "cuda-$dtype" \
        --golden tests/fixtures/golden --out "$OUT/parity_$dtype.json" >> "$LOG" 2>&1
    done
  else
    echo "first GGUF half missing (a fresh machine): parity skipped" >> "$LOG"
  fi
  run=(--dataset data/webquestions/test.smollm2-paraphrases.jsonl --data-dir data
       --model random:llama-3.2-3b --tokenizer "$TOKENIZER" --dtype bf16 --device cuda:0
       --num_ensemble 6 --batch-size "${BATCH:-auto}" --force)
  have() { [ -x "$W/$1" ] || { echo "$1 not carried: skipped" >> "$LOG"; false; }; }
  for method in ${PROFILED-flex avg}; do
    bin=ensemble-generate; extra=(--method $method)
    [ $method = flex ] && { bin=flex-generate; extra=(); }
    have $bin || continue
    step "$method profiled (CHORUS_PROFILE_OPS=1)"
    CHORUS_PROFILE_OPS=1 RUST_LOG=chorus_llama=debug,chorus_ensemble=info timeout 200 \
      "$W/$bin" "${extra[@]}" "${run[@]}" --output "$W/p.feather" >> "$LOG" 2>&1
  done
  if [ -n "${FLEX-1}" ] && have flex-generate; then
    step "flex-generate (shared context) warm-up"
    timeout 200 "$W/flex-generate" "${run[@]}" --max_samples 64 --output "$W/warm.feather" >> "$LOG" 2>&1
    step "flex-generate 2032 items"
    timeout 200 "$W/flex-generate" "${run[@]}" --output "$W/flex.feather" >> "$LOG" 2>&1
  fi
  for method in ${METHODS-avg max per_prompt weighted_avg weighted_max}; do
    have ensemble-generate || break
    step "ensemble-generate $method 2032 items"
    timeout 200 "$W/ensemble-generate" --method $method "${run[@]}" --output "$W/$method.feather" >> "$LOG" 2>&1
  done
  # The same job with the other own-part kernel (ALT_METHODS="flex avg").
  for method in ${ALT_METHODS-}; do
    bin=ensemble-generate; extra=(--method $method)
    [ $method = flex ] && { bin=flex-generate; extra=(); }
    have $bin || continue
    step "$method 2032 items, $ALT_OWN${ALT_SOURCE:+ + $ALT_SOURCE}"
    env "${alt_env[@]}" timeout 200 "$W/$bin" "${extra[@]}" "${run[@]}" \
      --output "$W/$method-$ALT_OWN.feather" >> "$LOG" 2>&1
  done
  grep -h "items/s" "$LOG" > "$OUT/summaries.txt"
  ;;
c)
  # Everything but the SmolLM2 parity in one call (carry .gpu/c: cuda_check.xz,
  # flex-generate.xz, ensemble-generate.xz, tokenizer.tar.xz): the kernel
  # checks, the PyTorch harness at ${IBS-512} and the GEMM rate, the PROFILED
  # methods with every operation timed, then REPEATS rounds of the 2032-item
  # job of METHODS. VARIANTS compares kernel variants in the same call: words
  # "name" or "name@VAR=value,VAR=value" (the variant's environment, e.g.
  # "main split@CHORUS_ATTENTION=split base@CHORUS_CUDA_SOURCE=dir"); each
  # check, profile and timed run goes through every variant in turn, and each
  # variant's predictions are compared with the first's. The first variant's
  # f32 check must pass (else nothing is timed); a later variant failing it
  # is dropped.
  #
  # Two words of a variant's environment are the script's, not the
  # binaries': BINDIR=folder runs the binaries packed in .gpu/c/folder (e.g.
  # an earlier commit's, "old@BINDIR=old"), BATCH=N passes --batch-size N
  # instead of auto.
  for b in cuda_check flex-generate ensemble-generate; do unxz ".gpu/c/$b.xz" "$W/$b"; done
  for dir in .gpu/c/*/; do
    [ -d "$dir" ] || continue
    dir=$(basename "$dir"); mkdir -p "$W/$dir"
    for b in flex-generate ensemble-generate; do
      [ -f ".gpu/c/$dir/$b.xz" ] && unxz ".gpu/c/$dir/$b.xz" "$W/$dir/$b"
    done
  done
  tar xJf .gpu/c/tokenizer.tar.xz -C "$W"
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv > "$OUT/device.txt" 2>&1
  read -r -a variants <<< "${VARIANTS:-main}"
  name_of() { echo "${1%%@*}"; }
  env_of() { [[ $1 == *@* ]] && tr ',' '\n' <<< "${1#*@}"; }
  value_of() { env_of "$1" | sed -n "s/^$2=//p"; }
  with() { local v=$1; shift; local e; mapfile -t e < <(env_of "$v"); env "${e[@]}" "$@"; }
  kept=()
  for v in "${variants[@]}"; do
    ok=1
    for backend in cuda-f32 cuda-bf16; do
      step "cuda_check $backend, $v"
      with "$v" timeout 120 "$W/cuda_check" --backend "$backend" \
        --out "$W/cuda_check_${backend}_$(name_of "$v").json" >> "$LOG" 2>&1
      code=$?; echo "exit $code" >> "$LOG"
      [ $backend = cuda-f32 ] && [ $code -ne 0 ] && ok=0
    done
    if [ $ok = 1 ]; then kept+=("$v")
    elif [ ${#kept[@]} = 0 ]; then step "f32 kernel check of $v failed: no timings"; exit 1
    else step "f32 kernel check of $v failed: $v not timed"; fi
  done
  # One file for every check (8 files at most come back from a device call).
  python3 -c "import json,sys; print(json.dumps({p.split('/')[-1]: json.load(open(p)) for p in sys.argv[1:]}, indent=1))" \
    "$W"/cuda_check_*.json > "$OUT/cuda_checks.json"
  common="--paraphrases 6 --prompt-len 141 --shared-len 125 --new-tokens 10 --repeats 3"
  for ib in ${IBS-512}; do
    step "torch item-batch $ib, context once"
    timeout 150 python3 scripts/gpu/torch_bench.py $common --parts avg,max,per_prompt,flex_share --items 1024 \
      --item-batch $ib --context-once --out "$OUT/torch_ib${ib}_once.json" >> "$LOG" 2>&1
  done
  # The GPU's bf16 GEMM rate on this machine (GEMM= skips it).
  if [ -n "${GEMM-1}" ]; then
    step "GEMM rate (cuBLAS through torch)"
    timeout 150 python3 scripts/gpu/gemm_rate.py --out "$OUT/gemm.json" >> "$LOG" 2>&1
  fi
  run=(--dataset data/webquestions/test.smollm2-paraphrases.jsonl --data-dir data
       --model random:llama-3.2-3b --tokenizer "$W/tokenizer/tokenizer.json" --dtype bf16
       --device cuda:0 --num_ensemble 6 --force)
  job() { # method variant output
    local bin=ensemble-generate extra=(--method "$1")
    [ "$1" = flex ] && { bin=flex-generate; extra=(); }
    local dir batch
    dir=$(value_of "$2" BINDIR); batch=$(value_of "$2" BATCH)
    with "$2" timeout 200 "$W${dir:+/$dir}/$bin" "${extra[@]}" "${run[@]}" \
      --batch-size "${batch:-auto}" --output "$3" >> "$LOG" 2>&1
  }
  for method in ${PROFILED-flex avg}; do
    for v in "${kept[@]}"; do
      step "$method profiled (CHORUS_PROFILE_OPS=1), $v"
      CHORUS_PROFILE_OPS=1 job "$method" "$v" "$W/p.feather"
    done
  done
  for round in $(seq "${REPEATS:-1}"); do
    for method in ${METHODS-flex avg max per_prompt}; do
      for v in "${kept[@]}"; do
        step "$method 2032 items, $v (round $round)"
        job "$method" "$v" "$W/$method-$(name_of "$v").feather"
        # Its predictions against every variant's before it in this round.
        for u in "${kept[@]}"; do
          [ "$u" = "$v" ] && break
          python3 scripts/gpu/compare_rows.py "$W/$method-$(name_of "$u").feather" \
            "$W/$method-$(name_of "$v").feather" >> "$LOG" 2>&1
        done
      done
    done
  done
  grep -h "items/s" "$LOG" > "$OUT/summaries.txt"
  # Each run's prefill against the GEMM rate measured before the job.
  [ -f "$OUT/gemm.json" ] && python3 scripts/gpu/gemm_rate.py --summaries "$OUT/summaries.txt" \
    --rate "$(python3 -c "import json; print(json.load(open('$OUT/gemm.json'))['gemm_rate_tflops'])")" \
    --out "$OUT/prefill_rates.json" > /dev/null
  ;;
p)
  # Where the time goes: the 2032-item job of flex and avg with every model
  # operation timed between device syncs (CHORUS_PROFILE_OPS=1) and the load's
  # debug split, then unprofiled runs at batch sizes ${BATCHES:-2032 512}.
  for b in flex-generate ensemble-generate; do unxz ".gpu/p/$b.xz" "$W/$b"; done
  tar xJf .gpu/p/tokenizer.tar.xz -C "$W"
  run=(--dataset data/webquestions/test.smollm2-paraphrases.jsonl --data-dir data
       --model random:llama-3.2-3b --tokenizer "$W/tokenizer/tokenizer.json" --dtype bf16
       --device cuda:0 --num_ensemble 6 --force)
  for method in flex avg; do
    bin=ensemble-generate; extra=(--method $method)
    [ $method = flex ] && { bin=flex-generate; extra=(); }
    step "$method profiled"
    CHORUS_PROFILE_OPS=1 RUST_LOG=chorus_llama=debug,chorus_ensemble=debug timeout 200 \
      "$W/$bin" "${extra[@]}" "${run[@]}" --batch-size 2032 --output "$W/p.feather" >> "$LOG" 2>&1
  done
  for batch in ${BATCHES:-2032 512}; do
    for method in flex avg per_prompt; do
      bin=ensemble-generate; extra=(--method $method)
      [ $method = flex ] && { bin=flex-generate; extra=(); }
      step "$method batch $batch"
      timeout 200 "$W/$bin" "${extra[@]}" "${run[@]}" --batch-size $batch --output "$W/q.feather" >> "$LOG" 2>&1
    done
  done
  grep -h "items/s" "$LOG" > "$OUT/summaries.txt"
  ;;
pa)
  # SmolLM2 parity in two small calls (pa, then pb on the same warm machine),
  # for when a's binaries and a GGUF half do not fit one call beside the tree:
  # pa carries .gpu/pa (the first GGUF half and gpu_parity.xz), pb .gpu/pb
  # (the second half) and runs the parity with every variant of VARIANTS.
  cp .gpu/pa/smollm2.gguf.xz.00 "$W/"
  unxz .gpu/pa/gpu_parity.xz "$W/gpu_parity"
  ;;
pb)
  cat "$W/smollm2.gguf.xz.00" .gpu/pb/smollm2.gguf.xz.01 > "$W/smollm2.gguf.xz"
  python3 -c "import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2],'wb'))" \
    "$W/smollm2.gguf.xz" "$W/smollm2.gguf"
  sha256sum "$W/smollm2.gguf" >> "$LOG"
  # Every variant of VARIANTS (as in c) in turn.
  read -r -a variants <<< "${VARIANTS:-main}"
  for v in "${variants[@]}"; do
    mapfile -t e < <([[ $v == *@* ]] && tr ',' '\n' <<< "${v#*@}")
    for dtype in bf16 f32; do
      step "gpu_parity $dtype, $v"
      env "${e[@]}" timeout 240 "$W/gpu_parity" --model "$W/smollm2.gguf" --backend "cuda-$dtype" \
        --golden tests/fixtures/golden --out "$W/parity_${dtype}_${v%%@*}.json" >> "$LOG" 2>&1
    done
  done
  python3 -c "import json,sys; print(json.dumps({p.split('/')[-1]: json.load(open(p)) for p in sys.argv[1:]}, indent=1))" \
    "$W"/parity_*.json > "$OUT/parity.json"
  ;;
*) echo "usage: device_gpu.sh a|b|c|p|pa|pb" >&2; exit 2 ;;
esac
step done

#!/usr/bin/env bash
# Issue 15's full-dataset results (scripts/results/run_all.sh) on the GPU
# machine, in two device calls on the same warm machine. 64 MiB travel per
# call, repository included, so the SmolLM2 GGUF goes in two halves with one
# binary each (scripts/gpu/prepare_gpu.sh builds and packs them into .gpu/r1
# and .gpu/r2, here, on the development machine):
#
#   device_results.sh r1   carry .gpu/r1: keeps the first GGUF half and
#                          ensemble-generate on the machine (seconds)
#   device_results.sh r2   carry .gpu/r2: joins the GGUF, then runs run_all.sh
#                          (T = 0.7 paraphrases, 8 methods x 4 sets, the report)
#                          for at most $BUDGET seconds (default 540). run_all.sh
#                          resumes, so when it is cut off, call r2 again on the
#                          same warm machine and it continues.
#
# Whatever has finished comes back under $OUT: results.tar.xz (every results
# folder, the T = 0.7 set, runs.log), and once the report has run report.md,
# report.json and accuracy.png. Unpack here with
#   tar xJf results.tar.xz   (from the repository root)
#
# Environment: DEVICE (default cuda:0), DTYPE (default f32: the dtype whose
# greedy ids match the PyTorch goldens 200/200 on the GPU), MAX_SAMPLES (a
# smoke run), W (the machine's stash folder, default /root/chorus).
set -u
W=${W:-/root/chorus}
BUDGET=${BUDGET:-540}
mkdir -p "$W" "$OUT"
LOG=$OUT/results.log
step() { echo "== $* $(date -u +%T)" | tee -a "$LOG"; }
unxz() { python3 -c "import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2],'wb'))" "$1" "$2"; }
# cuBLAS and NVRTC: the toolkit's and PyTorch's wheels, wherever they are.
libdirs=$(find / -xdev \( -name 'libcublas.so*' -o -name 'libnvrtc.so*' -o -name 'libcublasLt.so*' \) 2>/dev/null | grep -v /stubs/ | xargs -r -n1 dirname | sort -u | tr '\n' ':')
export LD_LIBRARY_PATH="${libdirs}${LD_LIBRARY_PATH:-}"

unpack_binaries() { # the binaries carried in .gpu/$1, into $W
    for b in flex-generate ensemble-generate; do
        if [ -f ".gpu/$1/$b.xz" ]; then
            unxz ".gpu/$1/$b.xz" "$W/$b" && chmod +x "$W/$b"
        fi
    done
}

case "${1:-}" in
r1)
    cp .gpu/r1/smollm2.gguf.xz.00 "$W/"
    unpack_binaries r1
    ls -la "$W" >> "$LOG"
    ;;
r2)
    unpack_binaries r2
    if [ ! -s "$W/SmolLM2-135M-Instruct.Q4_1.gguf" ]; then
        if [ ! -f "$W/smollm2.gguf.xz.00" ]; then
            step "first GGUF half missing (a fresh machine): run r1 first"
            exit 1
        fi
        cat "$W/smollm2.gguf.xz.00" .gpu/r2/smollm2.gguf.xz.01 | \
            python3 -c "import lzma,shutil,sys; shutil.copyfileobj(lzma.LZMAFile(sys.stdin.buffer), open(sys.argv[1],'wb'))" \
            "$W/SmolLM2-135M-Instruct.Q4_1.gguf"
        sha256sum "$W/SmolLM2-135M-Instruct.Q4_1.gguf" >> "$LOG"
    fi
    for b in flex-generate ensemble-generate; do
        [ -x "$W/$b" ] || { step "$b missing: carry it in r1 or r2"; exit 1; }
    done
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv > "$OUT/device.txt" 2>&1
    step "run_all.sh (at most $BUDGET s)"
    BIN=$W MODEL=$W/SmolLM2-135M-Instruct.Q4_1.gguf DEVICE=${DEVICE:-cuda:0} DTYPE=${DTYPE:-f32} \
        timeout "$BUDGET" bash scripts/results/run_all.sh >> "$LOG" 2>&1
    code=$?
    step "run_all.sh exit $code$([ $code = 124 ] && echo ' (cut off: call r2 again to resume)')"
    if [ -n "${MAX_SAMPLES:-}" ]; then
        results=results/smoke-$MAX_SAMPLES
        t07=$results/data/test.smollm2-paraphrases-t0.7.jsonl
        report=$results/report
        plot=$report/accuracy.png
    else
        results=results/full
        t07=data/webquestions/test.smollm2-paraphrases-t0.7.jsonl
        report=docs/results
        plot=docs/images/accuracy.png
    fi
    # Checkpoints of a cut-off run stay on the machine (r2 resumes from them);
    # what comes back is every finished file.
    paths=()
    for path in "$results" "$t07"; do [ -e "$path" ] && paths+=("$path"); done
    [ ${#paths[@]} -gt 0 ] && tar cJf "$OUT/results.tar.xz" "${paths[@]}"
    for file in "$report/report.md" "$report/report.json" "$plot"; do
        [ -f "$file" ] && cp "$file" "$OUT/"
    done
    grep -h "items/s" "$results/runs.log" > "$OUT/summaries.txt" 2>/dev/null
    ls -la "$OUT" >> "$LOG"
    ;;
*)
    echo "usage: device_results.sh r1|r2" >&2
    exit 2
    ;;
esac
step done

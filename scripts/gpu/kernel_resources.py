#!/usr/bin/env python3
"""Registers, spills and shared memory of every Chorus CUDA kernel, no GPU needed.

    python3 scripts/gpu/kernel_resources.py [--arch sm_90] [--elem bf16] [--group 3 --dim 128]

Compiles the modules as crates/chorus-llama/src/kernels/cuda/mod.rs does (NVRTC
to PTX for compute_90), then assembles the PTX with `ptxas -v`, which prints
each kernel's registers per thread, spill stores/loads and static shared
memory. With 65,536 registers per SM on Hopper, a kernel of R registers and
B threads per block keeps at most floor(65536 / (R * B)) blocks resident (the
occupancy column), which is what decides whether a latency-bound kernel can
hide its memory latency.

NVRTC comes from $CHORUS_NVRTC (e.g. the PyPI wheel nvidia-cuda-nvrtc-cu12's
lib/libnvrtc.so.12), ptxas from $CHORUS_PTXAS (the wheel nvidia-cuda-nvcc-cu12's
bin/ptxas); both wheels install here from PyPI.
"""
import argparse
import ctypes
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nvrtc_check import compile_one, tile_keys  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "crates/chorus-llama/src/kernels/cuda"
DEFINES = {"bf16": ["-DCHORUS_BF16"], "f16": ["-DCHORUS_F16"], "f32": []}

# Threads per block each kernel is launched with (cuda/mod.rs).
# attend_fused: one warp per group member (32 * GROUP).
THREADS = {"attend_own": 128, "attend_own_tiles": 128, "shared_softmax": 256}
ROW_THREADS = 256


def ptx_of(lib, source, name, options):
    ok, log, ptx = compile_one(lib, source, name, options)
    if not ok:
        sys.exit(f"{name} does not compile:\n{log}")
    return ptx


def resources(ptxas, ptx, arch):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "k.ptx"
        path.write_text(ptx)
        out = subprocess.run(
            [ptxas, f"-arch={arch}", "-v", str(path), "-o", str(Path(tmp) / "k.cubin")],
            capture_output=True,
            text=True,
            check=True,
        ).stderr
    rows, current = [], None
    for line in out.splitlines():
        if m := re.search(r"Compiling entry function '(\w+)'", line):
            current = {"kernel": m.group(1), "spill": ""}
            rows.append(current)
        elif current and (m := re.search(r"(\d+) bytes spill stores, (\d+) bytes spill loads", line)):
            current["spill"] = f"{m.group(1)}/{m.group(2)}"
        elif current and (m := re.search(r"Used (\d+) registers", line)):
            current["registers"] = int(m.group(1))
            smem = re.search(r"(\d+) bytes smem", line)
            current["smem"] = int(smem.group(1)) if smem else 0
    return rows


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--arch", default="sm_90")
    parser.add_argument("--elem", default="bf16", choices=DEFINES)
    parser.add_argument("--group", type=int, default=3)
    parser.add_argument("--dim", type=int, default=128)
    args = parser.parse_args()
    lib = ctypes.CDLL(os.environ.get("CHORUS_NVRTC", "libnvrtc.so.12"))
    ptxas = os.environ.get("CHORUS_PTXAS", "ptxas")
    common = (SRC / "common.cuh").read_text()
    base = [f"--gpu-architecture=compute_{args.arch.split('_')[1]}", "--std=c++17"] + DEFINES[args.elem]
    modules = {
        "elementwise": (common + (SRC / "elementwise.cu").read_text(), []),
        "attention": (
            common + (SRC / "attention.cu").read_text(),
            [
                f"-DGROUP={args.group}",
                f"-DHEAD_DIM={args.dim}",
                f"-DTILE_KEYS={tile_keys(args.group, args.dim, 4 if args.elem == 'f32' else 2)}",
            ],
        ),
    }
    print(f"{'kernel':<22} {'regs':>5} {'spill st/ld':>12} {'smem':>7} {'threads':>8} {'blocks/SM':>10}")
    for name, (source, defines) in modules.items():
        for row in resources(ptxas, ptx_of(lib, source, name, base + defines), args.arch):
            threads = 32 * args.group if row["kernel"] == "attend_fused" else THREADS.get(row["kernel"], ROW_THREADS)
            by_regs = 65536 // max(1, row["registers"] * threads)
            by_smem = (228 * 1024) // row["smem"] if row["smem"] else 32
            blocks = min(by_regs, by_smem, 32, 2048 // threads)
            print(
                f"{row['kernel']:<22} {row['registers']:>5} {row['spill'] or '0/0':>12} "
                f"{row['smem']:>7} {threads:>8} {blocks:>10}"
            )


if __name__ == "__main__":
    main()

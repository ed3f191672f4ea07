#!/usr/bin/env python3
"""Compile-checks Chorus's CUDA kernels with NVRTC, no GPU needed.

    python3 scripts/gpu/nvrtc_check.py [LIBNVRTC]

LIBNVRTC defaults to $CHORUS_NVRTC, else `libnvrtc.so.12` on the loader path
(e.g. from the PyPI wheel nvidia-cuda-nvrtc-cu12). Compiles each module the
way crates/chorus-llama/src/kernels/cuda/mod.rs does (every element type; the
attention module for a few head geometries) for compute_90, 80 and 75 and prints the
log of any failure. Exit status 1 on a failure.
"""
import ctypes
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "crates/chorus-llama/src/kernels/cuda"


def load(path):
    lib = ctypes.CDLL(path)
    lib.nvrtcGetErrorString.restype = ctypes.c_char_p
    return lib


def compile_one(lib, source, name, options):
    """NVRTC-compiles `source`: (ok, log, PTX text or None)."""
    prog = ctypes.c_void_p()
    rc = lib.nvrtcCreateProgram(ctypes.byref(prog), source.encode(), name.encode(), 0, None, None)
    if rc:
        return False, f"create: {lib.nvrtcGetErrorString(rc).decode()}", None
    opts = (ctypes.c_char_p * len(options))(*[o.encode() for o in options])
    rc = lib.nvrtcCompileProgram(prog, len(options), opts)
    size = ctypes.c_size_t()
    lib.nvrtcGetProgramLogSize(prog, ctypes.byref(size))
    log = ctypes.create_string_buffer(size.value)
    lib.nvrtcGetProgramLog(prog, log)
    ptx = None
    if rc == 0:
        lib.nvrtcGetPTXSize(prog, ctypes.byref(size))
        buffer = ctypes.create_string_buffer(size.value)
        lib.nvrtcGetPTX(prog, buffer)
        ptx = buffer.value.decode()
    lib.nvrtcDestroyProgram(ctypes.byref(prog))
    return rc == 0, log.value.decode(errors="replace"), ptx


def tile_keys(group, dim, elem_bytes, warps=4):
    """attend_own_tiles' key window, as kernels/packed.rs's tile_keys computes it."""
    if dim % 32:
        return 0
    budget = 40 << 10
    queries = warps * group * dim * 4
    merge_inputs = warps * (group * dim + 2 * group) * 4
    fixed = queries + merge_inputs if queries + merge_inputs <= budget else queries
    keys = max(0, budget - fixed) // ((2 * dim + 64 // elem_bytes) * elem_bytes)
    return 0 if keys < 8 else min(keys, 48)


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("CHORUS_NVRTC", "libnvrtc.so.12")
    lib = load(path)
    common = (SRC / "common.cuh").read_text()
    modules = {
        "elementwise": common + (SRC / "elementwise.cu").read_text(),
        "attention": common + (SRC / "attention.cu").read_text(),
    }
    failures = 0
    # Hopper (the GPUs measured) and two older architectures, which take the
    # paths without cp.async.
    for arch, elem in [(a, e) for a in ["compute_90", "compute_80", "compute_75"]
                       for e in ["-DCHORUS_BF16", "-DCHORUS_F16", None]]:
        for name, source in modules.items():
            geometries = [(3, 64), (3, 128), (4, 128), (7, 64), (8, 256), (2, 8)] if name == "attention" else [None]
            for geometry in geometries:
                options = [f"--gpu-architecture={arch}", "--std=c++17"]
                if elem:
                    options.append(elem)
                if geometry:
                    keys = tile_keys(geometry[0], geometry[1], 4 if elem is None else 2)
                    options += [f"-DGROUP={geometry[0]}", f"-DHEAD_DIM={geometry[1]}", f"-DTILE_KEYS={keys}"]
                ok, log, _ = compile_one(lib, source, f"{name}.cu", options)
                label = f"{name} {arch} {elem or 'f32'} {geometry or ''}"
                print(("ok   " if ok else "FAIL ") + label)
                if log.strip():
                    print(log)
                failures += not ok
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Whether the kernels of the working tree compile to the same instructions as
those of a git revision, no GPU needed.

    python3 scripts/gpu/ptx_same.py [REV]   (default HEAD)

Compiles every module and geometry as nvrtc_check.py does (compute_90, 80 and
75; bf16, f16, f32) from both sources and compares, per module, the multiset of
PTX instructions with register numbers and labels blanked out. Equal multisets
mean a change of the sources (a helper function, a renamed variable) moved or
renamed instructions but added, removed or changed none: a refactor of a kernel
that was timed on a GPU can then land without another GPU run. Exit status 1
when some module differs (its extra and missing instructions are printed).
"""
import collections
import ctypes
import os
import re
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nvrtc_check import compile_one, tile_keys  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
KERNELS = "crates/chorus-llama/src/kernels/cuda"
GEOMETRIES = [(3, 64), (3, 128), (4, 128), (7, 64), (8, 256), (2, 8)]


def sources_at(rev):
    read = (lambda name: (ROOT / KERNELS / name).read_text()) if rev is None else (
        lambda name: subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:{KERNELS}/{name}"],
                                    capture_output=True, text=True, check=True).stdout)
    common = read("common.cuh")
    return {"attention": common + read("attention.cu"), "elementwise": common + read("elementwise.cu")}


def instructions(ptx):
    text = ptx.decode() if isinstance(ptx, bytes) else ptx
    lines = (l.strip() for l in text.splitlines())
    return collections.Counter(re.sub(r"%[a-z]+\d+", "%r", re.sub(r"\$L__\w+", "L", l))
                               for l in lines if l and not l.startswith("//") and not l.startswith(".reg"))


def main():
    rev = sys.argv[1] if len(sys.argv) > 1 else "HEAD"
    lib = ctypes.CDLL(os.environ.get("CHORUS_NVRTC", "libnvrtc.so.12"))
    old, new = sources_at(rev), sources_at(None)
    differing = 0
    for arch in ["compute_90", "compute_80", "compute_75"]:
        for elem in ["-DCHORUS_BF16", "-DCHORUS_F16", None]:
            for name in old:
                for geometry in GEOMETRIES if name == "attention" else [None]:
                    options = [f"--gpu-architecture={arch}", "--std=c++17"] + ([elem] if elem else [])
                    if geometry:
                        keys = tile_keys(geometry[0], geometry[1], 4 if elem is None else 2)
                        options += [f"-DGROUP={geometry[0]}", f"-DHEAD_DIM={geometry[1]}", f"-DTILE_KEYS={keys}"]
                    compiled = [compile_one(lib, src[name], f"{name}.cu", options) for src in (old, new)]
                    if not all(ok for ok, _, _ in compiled):
                        sys.exit(f"{name} {arch} {elem} {geometry}: does not compile")
                    a, b = (instructions(ptx) for _, _, ptx in compiled)
                    if a != b:
                        differing += 1
                        print(f"differs: {name} {arch} {elem or 'f32'} {geometry or ''}")
                        print("  only before:", (a - b).most_common(3))
                        print("  only now:   ", (b - a).most_common(3))
    print(f"{differing} module(s) differ from {rev}")
    sys.exit(1 if differing else 0)


if __name__ == "__main__":
    main()

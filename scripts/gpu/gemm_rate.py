#!/usr/bin/env python3
"""The GPU's bf16 GEMM rate, and Chorus's prefill rate against it (issue 14).

    python3 scripts/gpu/gemm_rate.py [--summaries summaries.txt] [--out gemm.json]
    python3 scripts/gpu/gemm_rate.py --rate 788.2 --summaries gpu.log   # no GPU

Measures what cuBLAS (through torch.matmul / F.linear) reaches on this GPU in
bf16 with f32 accumulation: square products of 4096 to 16384, and the four
weight products of Llama-3.2-3B (qkv, o, gate_up, down) at 65,536 token rows,
each the median of --repeats timed runs (CUDA events, after a warm-up). The
GPU's GEMM rate is the best of them.

With --summaries (the binaries' summary lines, e.g. device_gpu.sh's
summaries.txt), each line's prefill ("prefill 3.05 s (223456 row tokens)")
becomes a rate: the row tokens times the FLOPs of Llama-3.2-3B's weight
products per token (2 x 28 layers x 100,663,296 weights: 5.64 GFLOP; the LM
head, attention and the shared context, encoded once, are not counted, so the
rate is a lower bound), over the prefill's seconds, and its share of the GEMM
rate. Prints one JSON object (also written to --out).
"""
import argparse
import json
import re
import statistics

# Llama-3.2-3B: hidden 3072, 24 query and 8 key/value heads of 128, MLP 8192.
HIDDEN, Q, KV, MLP, LAYERS = 3072, 24 * 128, 8 * 128, 8192, 28
WEIGHT_PRODUCTS = {  # name: (in features, out features)
    "qkv": (HIDDEN, Q + 2 * KV),
    "o": (Q, HIDDEN),
    "gate_up": (HIDDEN, 2 * MLP),
    "down": (MLP, HIDDEN),
}
FLOP_PER_TOKEN = 2 * LAYERS * sum(i * o for i, o in WEIGHT_PRODUCTS.values())
SUMMARY = re.compile(r"^(\S+): .*?after load ([\d.]+) s, ([\d.]+) items/s\); prefill ([\d.]+) s \((\d+) row tokens\)")


def measure(repeats, rows):
    import torch
    import torch.nn.functional as F

    def rate(flop, fn):
        fn()
        torch.cuda.synchronize()
        times = []
        for _ in range(repeats):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end) / 1e3)
        return flop / statistics.median(times) / 1e12

    dev, dt = "cuda", torch.bfloat16
    shapes = {}
    for n in (4096, 8192, 16384):
        a = torch.randn(n, n, device=dev, dtype=dt)
        b = torch.randn(n, n, device=dev, dtype=dt)
        shapes[f"square {n}"] = rate(2 * n**3, lambda: torch.matmul(a, b))
        del a, b
    x = torch.randn(rows, MLP, device=dev, dtype=dt)
    for name, (fan_in, fan_out) in WEIGHT_PRODUCTS.items():
        w = torch.randn(fan_out, fan_in, device=dev, dtype=dt) * 0.02
        xi = x[:, :fan_in].contiguous()
        shapes[f"{name} {rows}x{fan_in}x{fan_out}"] = rate(2 * rows * fan_in * fan_out, lambda: F.linear(xi, w))
        del w, xi
    return {
        "device": torch.cuda.get_device_name(),
        "torch": torch.__version__,
        "tflops": shapes,
        "gemm_rate_tflops": max(shapes.values()),
    }


def prefill_rates(path, gemm_rate):
    out = []
    for line in open(path):
        m = SUMMARY.search(line)
        if not m:
            continue
        seconds, tokens = float(m.group(4)), int(m.group(5))
        tflops = tokens * FLOP_PER_TOKEN / seconds / 1e12
        out.append({
            "binary": m.group(1),
            "items_per_s": float(m.group(3)),
            "prefill_s": seconds,
            "row_tokens": tokens,
            "prefill_tflops": round(tflops, 1),
            "share_of_gemm_rate": round(tflops / gemm_rate, 3),
            "line": line.strip(),
        })
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--rows", type=int, default=65536, help="token rows of the weight products")
    ap.add_argument("--summaries", help="file of the binaries' summary lines")
    ap.add_argument("--rate", type=float,
                    help="a GEMM rate measured before (TFLOP/s): no GPU needed, only --summaries read")
    ap.add_argument("--out")
    args = ap.parse_args()
    res = {"gemm_rate_tflops": args.rate} if args.rate else measure(args.repeats, args.rows)
    res["flop_per_token"] = FLOP_PER_TOKEN
    if args.summaries:
        res["prefill"] = prefill_rates(args.summaries, res["gemm_rate_tflops"])
    text = json.dumps(res, indent=1)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()

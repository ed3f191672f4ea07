#!/usr/bin/env python3
"""CPU comparison of Chorus with llama.cpp on the same GGUF, both sides in one run.

Not run in CI. Needs llama-cpp-python (built from its PyPI source distribution,
see docs/benchmarks/llama-cpp.md) and the Chorus example binary:

    cargo build --release -p chorus-llama --example gpu_bench
    python3 scripts/bench/llama_cpp_compare.py --out docs/benchmarks/raw/llama-cpp/run.json

Shapes (the same on both sides):

* prefill: one row of `--prompt-len` (140) real prompt tokens from an empty KV
  cache, logits at the last position only; tokens/s of the median run;
* decode: the same prompt as context (prefilled, untimed), then `--steps` (32)
  single-token steps on the KV cache, feeding the prompt's last id every step;
  median over runs of ms per step.

The prompt is the first golden WebQuestions prompt (tests/fixtures/golden/
prompts.jsonl) with at least `--prompt-len` tokens, cut to its first
`--prompt-len` ids; both sides get these ids (no re-tokenisation). Every timing
runs after one untimed warm-up; `--repeats` (5) timed runs, medians.

llama.cpp side: `llama_cpp.Llama` with n_threads = n_threads_batch = `--threads`
(default: the machine's cores), otherwise llama-cpp-python's defaults (f16 KV
cache, flash attention off, logits of the last position only); each timed call
is `Llama.eval` (one llama_decode per call here, n_batch 512; with logits_all off
it copies no logits to Python). Before each prefill the whole KV cache is
cleared; before each decode run the cache is cut back to the context, both
outside the timed region.

Chorus side: `gpu_bench --backend cpu --model GGUF` (HostKernels, f32 after
dequantisation at load) with CHORUS_CPU_THREADS = RAYON_NUM_THREADS = threads.

With `--single-thread` both sides are measured again with one thread.
Prints a side-by-side table and writes one JSON object to `--out`.
"""
import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--gguf", default=str(ROOT / "models/SmolLM2-135M-Instruct.Q4_1.gguf"))
    p.add_argument("--chorus-bin", default=str(ROOT / "target/release/examples/gpu_bench"))
    p.add_argument("--golden", default=str(ROOT / "tests/fixtures/golden/prompts.jsonl"))
    p.add_argument("--prompt-len", type=int, default=140)
    p.add_argument("--steps", type=int, default=32)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--single-thread", action="store_true",
                   help="also measure both sides with one thread")
    p.add_argument("--n-ctx", type=int, default=512, help="llama.cpp context size")
    p.add_argument("--out", help="write the JSON here")
    return p.parse_args()


def prompt(golden, length):
    """The first WebQuestions golden prompt with >= length ids, cut to length."""
    with open(golden) as f:
        for line in f:
            row = json.loads(line)
            if row["dataset"] == "webqa" and len(row["token_ids"]) >= length:
                return row, row["token_ids"][:length]
    sys.exit(f"no webqa prompt in {golden} has {length} tokens")


def median(xs):
    return statistics.median(xs)


def load_average():
    return list(os.getloadavg())


def machine():
    model = None
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return {
        "cpu_model": model,
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def command_output(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=True,
                              cwd=ROOT).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


# ---------------------------------------------------------------- llama.cpp --

def llama_cpp_side(args, ids, threads):
    import llama_cpp

    start = time.perf_counter()
    llm = llama_cpp.Llama(
        model_path=args.gguf,
        n_ctx=args.n_ctx,
        n_batch=512,
        n_threads=threads,
        n_threads_batch=threads,
        verbose=False,
    )
    load_s = time.perf_counter() - start
    n_vocab = llm.n_vocab()
    assert max(ids) < n_vocab, "prompt ids outside llama.cpp's vocabulary"

    def truncate(n):
        """Drop every KV entry at position >= n (the whole cache for n = 0)."""
        llm._ctx.kv_cache_seq_rm(-1, n, -1)
        llm.n_tokens = n

    def prefill_once():
        truncate(0)
        t = time.perf_counter()
        llm.eval(ids)
        return time.perf_counter() - t

    prefill_once()
    prefill_runs = [prefill_once() for _ in range(args.repeats)]

    step = [ids[-1]]
    context = len(ids)
    truncate(0)
    llm.eval(ids)

    def decode_once():
        truncate(context)
        t = time.perf_counter()
        for _ in range(args.steps):
            llm.eval(step)
        return (time.perf_counter() - t) / args.steps

    decode_once()
    decode_runs = [decode_once() * 1e3 for _ in range(args.repeats)]
    prefill_s = median(prefill_runs)
    result = {
        "impl": "llama.cpp via llama-cpp-python",
        "threads": threads,
        "n_ctx": args.n_ctx,
        "n_batch": 512,
        "load_s": load_s,
        "prefill": {
            "batch": 1, "len": len(ids), "seconds": prefill_s,
            "tokens_per_s": len(ids) / prefill_s, "runs_s": prefill_runs,
        },
        "decode": [{
            "batch": 1, "context": context, "steps": args.steps,
            "ms_per_step": median(decode_runs), "runs_ms_per_step": decode_runs,
        }],
    }
    del llm
    return result


def llama_cpp_info(args, golden_row):
    """Version, build flags (ggml's system info) and tokenisation check."""
    import llama_cpp

    info = {
        "llama_cpp_python": llama_cpp.__version__,
        "system_info": llama_cpp.llama_print_system_info().decode().strip(),
    }
    llm = llama_cpp.Llama(model_path=args.gguf, n_ctx=64, verbose=False, vocab_only=True)
    theirs = llm.tokenize(golden_row["prompt"].encode(), add_bos=False, special=False)
    info["tokenisation_matches_golden"] = theirs == golden_row["token_ids"]
    del llm
    return info


# ------------------------------------------------------------------- Chorus --

def chorus_side(args, ids, threads):
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "chorus.json"
        cmd = [
            args.chorus_bin, "--backend", "cpu", "--model", args.gguf,
            "--prompt-ids", ",".join(map(str, ids)),
            "--prefill-batch", "1", "--prefill-len", str(len(ids)),
            "--decode-batch", "1", "--decode-context", str(len(ids)),
            "--decode-steps", str(args.steps), "--repeats", str(args.repeats),
            "--out", str(out),
        ]
        env = dict(os.environ, CHORUS_CPU_THREADS=str(threads), RAYON_NUM_THREADS=str(threads))
        run = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if run.returncode != 0:
            sys.exit(f"gpu_bench failed ({run.returncode}):\n{run.stderr}")
        result = json.loads(out.read_text())
    result["threads"] = threads
    result["command"] = " ".join(cmd[:4] + ["<gguf>", "--prompt-ids", "<ids>"] + cmd[7:-2])
    result.get("tokens", {}).pop("ids", None)  # the same ids are recorded once, at the top
    return result


# -------------------------------------------------------------------- table --

def row(name, side):
    pre = side["prefill"]
    dec = side["decode"][0]
    return (name, side["threads"], pre["tokens_per_s"], pre["seconds"] * 1e3,
            dec["ms_per_step"], 1e3 / dec["ms_per_step"])


def table(runs):
    lines = [
        "| side | threads | prefill tokens/s | prefill ms | ms / decode step | decode tokens/s |",
        "|---|---|---|---|---|---|",
    ]
    for run in runs:
        for name in ("llama_cpp", "chorus"):
            r = row(name.replace("_", "."), run[name])
            lines.append(f"| {r[0]} | {r[1]} | {r[2]:.0f} | {r[3]:.1f} | {r[4]:.2f} | {r[5]:.1f} |")
    for run in runs:
        lc, ch = run["llama_cpp"], run["chorus"]
        lines.append("")
        lines.append(
            f"{run['threads']} thread(s): Chorus / llama.cpp prefill tokens/s = "
            f"{ch['prefill']['tokens_per_s'] / lc['prefill']['tokens_per_s']:.2f}, "
            f"ms per decode step = "
            f"{ch['decode'][0]['ms_per_step'] / lc['decode'][0]['ms_per_step']:.2f}")
    return "\n".join(lines)


def main():
    args = parse_args()
    if not Path(args.gguf).is_file():
        sys.exit(f"{args.gguf} missing: run scripts/fetch-model")
    if not Path(args.chorus_bin).is_file():
        sys.exit(f"{args.chorus_bin} missing: cargo build --release -p chorus-llama --example gpu_bench")
    golden_row, ids = prompt(args.golden, args.prompt_len)
    result = {
        "what": "CPU prefill and decode, llama.cpp (llama-cpp-python) vs Chorus HostKernels, same GGUF",
        "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "load_average_before": load_average(),
        "gguf": os.path.relpath(args.gguf, ROOT),
        "prompt": {
            "source": f"{os.path.relpath(args.golden, ROOT)}: dataset {golden_row['dataset']}, "
                      f"uuid {golden_row['uuid']}, paraphrase {golden_row['paraphrase_index']}, "
                      f"first {len(ids)} of {len(golden_row['token_ids'])} ids",
            "ids": ids,
        },
        "settings": {"prompt_len": len(ids), "decode_steps": args.steps,
                     "repeats": args.repeats, "warmup_runs": 1},
        "versions": {
            "chorus_commit": command_output(["git", "rev-parse", "HEAD"]),
            "chorus_tree_dirty": bool(command_output(["git", "status", "--porcelain",
                                                      "--untracked-files=no"])),
            "rustc": command_output(["rustc", "--version"]),
        },
    }
    result["versions"].update(llama_cpp_info(args, golden_row))
    runs = []
    for threads in [args.threads] + ([1] if args.single_thread and args.threads != 1 else []):
        print(f"llama.cpp, {threads} thread(s) ...", file=sys.stderr)
        lc = llama_cpp_side(args, ids, threads)
        print(f"chorus, {threads} thread(s) ...", file=sys.stderr)
        ch = chorus_side(args, ids, threads)
        runs.append({"threads": threads, "llama_cpp": lc, "chorus": ch})
    result["runs"] = runs
    result["load_average_after"] = load_average()
    result["table"] = table(runs)
    print(result["table"])
    text = json.dumps(result, indent=2)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")
        print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Markdown table of a multi_gpu.sh run from its per-process logs.

    scaling_table.py RUN_DIR [BATCH_SIZE]

RUN_DIR holds `{method}.{n}gpu[.shard{i}].feather.log` files (tracing lines
`starting`, `model loaded`, `results written`, and the summary line). For each
method and GPU count:
- wall: first process start to last result written (model load included);
- after load: items / the longest (results written - model loaded) of the shards;
- steady: items after each shard's first batch / the longest time after it (only
  when the summary line reports `first batch` — binaries from 2026-11-26 on).
Speed-ups are against the 1-GPU row of the same method.
"""

import datetime
import glob
import os
import re
import sys

STAMP = r"^(\S+Z)\s+INFO "


def stamp(text, event):
    match = re.search(STAMP + re.escape(event), text, re.M)
    return datetime.datetime.fromisoformat(match.group(1).replace("Z", "+00:00")).timestamp()


def process(path, batch):
    # Colour codes, when the log was not stripped on the device.
    text = re.sub(r"\x1b\[[0-9;]*m", "", open(path).read())
    items = int(re.search(r": (\d+) items,", text).group(1))
    record = {
        "items": items,
        "start": stamp(text, "starting"),
        "loaded": stamp(text, "model loaded"),
        "written": stamp(text, "results written"),
    }
    first = re.search(r"first batch ([\d.]+) s", text)
    if first:
        record["steady_items"] = items - min(batch, items)
        record["steady_s"] = record["written"] - record["loaded"] - float(first.group(1))
    return record


def main():
    run_dir = sys.argv[1]
    batch = int(sys.argv[2]) if len(sys.argv) > 2 else 32
    runs = {}
    for path in sorted(glob.glob(os.path.join(run_dir, "*.*gpu*.feather.log"))):
        method, gpus = os.path.basename(path).split(".")[:2]
        runs.setdefault((method, int(gpus.rstrip("gpu"))), []).append(process(path, batch))
    print("| method | GPUs | items | wall s | items/s | × | after load items/s | × | steady items/s | × |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    base = {}
    for (method, gpus), shards in sorted(runs.items()):
        items = sum(s["items"] for s in shards)
        wall = max(s["written"] for s in shards) - min(s["start"] for s in shards)
        after = items / max(s["written"] - s["loaded"] for s in shards)
        steady = None
        if all("steady_s" in s for s in shards):
            steady = sum(s["steady_items"] for s in shards) / max(s["steady_s"] for s in shards)
        rates = (items / wall, after, steady)
        if gpus == 1:
            base[method] = rates
        cells = []
        for rate, reference in zip(rates, base.get(method, rates)):
            if rate is None or reference is None:
                cells += ["—", "—"]
            else:
                cells += [f"{rate:.2f}", f"{rate / reference:.2f}"]
        print(f"| {method} | {gpus} | {items} | {wall:.1f} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()

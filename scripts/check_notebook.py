#!/usr/bin/env python3
"""Checks an executed notebook: every code cell ran, no cell has an error output,
and at least --min-images cells show a PNG.

    python3 scripts/check_notebook.py notebooks/01-mask-algebra.ipynb --min-images 6
    python3 scripts/check_notebook.py notebooks/01-mask-algebra.ipynb --execute /tmp/out.ipynb

With --execute OUT it first runs the notebook with nbclient (its own kernel, the
notebook's folder as working directory, so relative `:dep` paths resolve) and
writes the executed copy to OUT, leaving the notebook itself untouched; checking
then reads OUT. Exit 0 when the notebook passes, 1 with the reasons when not.
Checking needs only the standard library; --execute needs nbclient and nbformat.
"""
import argparse
import json
import os
import sys
import time


def problems(notebook, min_images):
    found = []
    images = 0
    for index, cell in enumerate(notebook.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        source = "".join(cell.get("source", []))
        if source.strip() and cell.get("execution_count") is None:
            found.append(f"cell {index} was not executed")
        for output in cell.get("outputs", []):
            kind = output.get("output_type")
            if kind == "error":
                found.append(f"cell {index}: {output.get('ename')}: {output.get('evalue', '')[:500]}")
            elif kind == "stream" and output.get("name") == "stderr":
                text = "".join(output.get("text", []))
                # evcxr prints compile errors on stderr for some failures.
                if "error[" in text or "error:" in text:
                    found.append(f"cell {index}: stderr: {text[:500]}")
            if "image/png" in output.get("data", {}):
                if output["data"]["image/png"]:
                    images += 1
                else:
                    found.append(f"cell {index}: empty image")
    if images < min_images:
        found.append(f"{images} image(s), expected at least {min_images}")
    return found, images


def execute(path, out, timeout):
    """Runs the notebook into `out`; an error cell stops it (and is in `out`)."""
    import nbclient
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        timeout=timeout,
        allow_errors=True,
        resources={"metadata": {"path": os.path.dirname(os.path.abspath(path))}},
    )
    started = time.monotonic()
    client.execute()
    nbformat.write(notebook, out)
    print(f"{path}: executed in {time.monotonic() - started:.0f} s -> {out}")
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebook")
    parser.add_argument("--min-images", type=int, default=1)
    parser.add_argument("--execute", metavar="OUT", help="execute first, into OUT")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    args = parser.parse_args()
    if args.execute:
        args.notebook = execute(args.notebook, args.execute, args.timeout)
    with open(args.notebook, encoding="utf-8") as file:
        notebook = json.load(file)
    found, images = problems(notebook, args.min_images)
    if found:
        print(f"{args.notebook}: FAILED", file=sys.stderr)
        for problem in found:
            print(f"  {problem}", file=sys.stderr)
        return 1
    print(f"{args.notebook}: ok, {images} image(s), no error cell")
    return 0


if __name__ == "__main__":
    sys.exit(main())

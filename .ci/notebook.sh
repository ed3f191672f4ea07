#!/usr/bin/env bash
# Executes notebooks/01-mask-algebra.ipynb headlessly with the evcxr Jupyter kernel
# and checks it: every cell ran, no error output, its mask pictures are there.
# Installs what is missing: evcxr_jupyter 0.22.0 (cargo, ~10-30 min cold on 2
# cores) and the kernel spec, and the PyPI runner (jupyter-core, nbclient,
# nbformat, ipykernel). The notebook is executed into a copy outside the clone
# (the committed notebook keeps its outputs); evcxr builds its dependencies in
# its temporary folder and caches them in ~/.cache/evcxr (`:cache` in the first
# cell), outside the clone too.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v evcxr_jupyter >/dev/null 2>&1; then
    echo "installing evcxr_jupyter 0.22.0"
    started=$(date +%s)
    cargo install --locked evcxr_jupyter@0.22.0
    echo "evcxr_jupyter installed in $(($(date +%s) - started)) s"
fi
if ! jupyter kernelspec list 2>/dev/null | grep -q '^ *rust '; then
    evcxr_jupyter --install
fi
if ! python3 -c 'import nbclient, nbformat, ipykernel, jupyter_core' 2>/dev/null; then
    python3 -m pip install --quiet jupyter-core nbclient nbformat ipykernel
fi

# evcxr loads each cell's library from its own target folder and finds each
# cell's entry point by symbol; two settings inherited from the caller break that
# and every second cell fails with "dlsym failed": a CARGO_TARGET_DIR (cargo's
# output lands elsewhere) and .ci/run's CARGO_INCREMENTAL=0 (measured: the same
# notebook passes without it, fails with it).
unset CARGO_TARGET_DIR CARGO_INCREMENTAL
work=$(mktemp -d "${TMPDIR:-/tmp}/chorus-notebook.XXXXXX")
trap 'rm -rf "$work"' EXIT
# Executed from notebooks/ (so ../crates/chorus-mask resolves) into a copy
# outside the clone, then checked.
python3 scripts/check_notebook.py notebooks/01-mask-algebra.ipynb \
    --execute "$work/01-mask-algebra.ipynb" --min-images 6

#!/usr/bin/env python3
"""Writes the pandas-made Feather files that the `report` tests read.

    python3 -m pip install pandas pyarrow
    python3 scripts/make-report-fixtures.py

The files are committed (tests/fixtures/report/ and report-errors/), so the
tests need no Python.
They are written with `DataFrame.to_feather`, as the Python pipeline writes its
results: LZ4 compression (pandas' default) and ZSTD.

- pandas_lz4.feather: a fused-method file (uuid, answers, paraphrases,
  prediction, generation). Predictions: right, right (answer inside), wrong,
  right (prediction inside the answer), empty (wrong unless --anchor-compat):
  accuracy 3/5, 4/5 with --anchor-compat.
- pandas_zstd.feather: a per_prompt file (uuid, answers, paraphrase_index as
  int64, paraphrase, prediction) of three items with three paraphrases each;
  accuracy 3/9, consistency 5/9, per-position accuracy 2/3, 1/3, 0, oracle 2/3
  (hand computation in tests/cli_e2e.rs).
- ../report-errors/bad_answers.feather: `answers` as an integer column (an
  error naming the file and the column); kept apart so that the folder
  tests/fixtures/report/ scores cleanly.
"""

from pathlib import Path

import pandas as pd

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
OUT = FIXTURES / "report"
ERRORS = FIXTURES / "report-errors"

PARAPHRASES = ["q v0", "q v1", "q v2"]


def fused() -> pd.DataFrame:
    rows = [
        ("u1", ["Paris"], "Paris"),
        ("u2", ["Rome", "Roma"], "the city of Rome"),
        ("u3", ["Berlin"], "Munich"),
        ("u4", ["New York City"], "York"),
        ("u5", ["Tokyo"], ""),
    ]
    return pd.DataFrame(
        {
            "uuid": [r[0] for r in rows],
            "answers": [r[1] for r in rows],
            "paraphrases": [PARAPHRASES for _ in rows],
            "prediction": [r[2] for r in rows],
            "generation": [f" {r[2]}\n" for r in rows],
        }
    )


def per_prompt() -> pd.DataFrame:
    items = [
        ("u1", ["Paris"], ["Paris", "paris", "Lyon"]),
        ("u2", ["Rome", "Roma"], ["Rome", "Milan", "Milan"]),
        ("u3", ["Berlin"], ["Munich", "Munich", "Munich"]),
    ]
    rows = [
        (uuid, answers, index, PARAPHRASES[index], prediction)
        for uuid, answers, predictions in items
        for index, prediction in enumerate(predictions)
    ]
    return pd.DataFrame(
        {
            "uuid": [r[0] for r in rows],
            "answers": [r[1] for r in rows],
            "paraphrase_index": pd.Series([r[2] for r in rows], dtype="int64"),
            "paraphrase": [r[3] for r in rows],
            "prediction": [r[4] for r in rows],
        }
    )


def bad_answers() -> pd.DataFrame:
    return pd.DataFrame({"uuid": ["u1"], "answers": [7], "prediction": ["Paris"]})


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    ERRORS.mkdir(parents=True, exist_ok=True)
    written = [OUT / "pandas_lz4.feather", OUT / "pandas_zstd.feather", ERRORS / "bad_answers.feather"]
    fused().to_feather(written[0])  # pandas' default: lz4
    per_prompt().to_feather(written[1], compression="zstd")
    bad_answers().to_feather(written[2])
    for path in written:
        print(path.relative_to(FIXTURES.parent.parent), path.stat().st_size, "bytes")


if __name__ == "__main__":
    main()

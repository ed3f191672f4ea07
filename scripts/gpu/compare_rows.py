#!/usr/bin/env python3
"""Compare the rows of result files with a reference run, and summarise timings.

    compare_rows.py REFERENCE.feather OTHER.feather [OTHER...]

For each OTHER: rows (as pandas reads them) equal to the reference's, column by
column, and the item indices of rows that differ; the schema metadata is not
compared (a merged file has no `shard` key, its run options are the same).
Prints one JSON object per OTHER. Exit status 1 when any row differs.
"""

import json
import sys

import pyarrow.feather as feather


def rows(path):
    table = feather.read_table(path).to_pandas()
    table = table.sort_values("item_index").reset_index(drop=True)
    # Lists come back as numpy arrays; compare them as tuples.
    return table.apply(
        lambda column: column.map(lambda v: tuple(v) if hasattr(v, "__len__") and not isinstance(v, str) else v)
    )


def main():
    reference_path, *others = sys.argv[1:]
    reference = rows(reference_path)
    failed = False
    for path in others:
        other = rows(path)
        report = {"reference": reference_path, "other": path,
                  "reference_rows": len(reference), "other_rows": len(other)}
        if list(other.columns) != list(reference.columns) or len(other) != len(reference):
            report["same_shape"] = False
            failed = True
        else:
            equal = (other == reference).all(axis=1)
            differing = reference.loc[~equal, "item_index"].tolist()
            report.update(same_shape=True, identical_rows=int(equal.sum()),
                          differing_items=differing[:50])
            failed |= bool(differing)
        print(json.dumps(report))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

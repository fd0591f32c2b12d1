"""Compare two result folders of ``signbridge run`` on the same video (e.g. before and after a refactor).

    python benchmarks/compare_results.py OUT_BEFORE OUT_AFTER

Each file of the video's result folder is compared byte for byte; ``landmarks.parquet`` also by its data
(the table without its metadata), ``result.json`` by which keys differ. Prints a table and exits 1 when a
data file differs. Used for issue #11 (the restructure kept every output; see docs/architecture.md).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path


def result_folder(out: Path) -> Path:
    folders = [p for p in out.iterdir() if p.is_dir() and p.name not in ("runs", "_index", "_staging")]
    if len(folders) != 1:
        sys.exit(f"{out}: expected one result folder, found {len(folders)}")
    return folders[0]


def compare(a: Path, b: Path) -> list[tuple[str, str]]:
    import pyarrow.parquet as pq

    rows = []
    for name in sorted(p.name for p in a.iterdir()):
        fa, fb = a / name, b / name
        if not fb.exists():
            rows.append((name, "missing in the second folder"))
        elif fa.read_bytes() == fb.read_bytes():
            rows.append((name, "identical"))
        elif name.endswith(".parquet"):
            same = pq.read_table(fa).replace_schema_metadata(None).equals(pq.read_table(fb).replace_schema_metadata(None))
            rows.append((name, "same data, other metadata" if same else "DATA DIFFER"))
        elif name == "result.json":
            da, db = json.loads(fa.read_text()), json.loads(fb.read_text())
            rows.append((name, "differs in " + ", ".join(k for k in sorted(da) if da[k] != db.get(k))))
        else:
            rows.append((name, "DIFFERS"))
    return rows


def main() -> int:
    a, b = (result_folder(Path(x)) for x in sys.argv[1:3])
    rows = compare(a, b)
    for name, verdict in rows:
        print(f"{name:<20} {verdict}")
    return int(any(v in ("DIFFERS", "DATA DIFFER") or v.startswith("missing") for n, v in rows
                   if n != "result.json"))


if __name__ == "__main__":
    sys.exit(main())

"""Compare the tables of two ``eventstudy run`` output folders: CSVs byte for byte, Parquet by content.

Used before and after a performance change: run the same study with the old and the new code
into two folders, then

    python benchmarks/compare_outputs.py OLD_OUT NEW_OUT

prints one line per table (``same``, ``same content`` for a Parquet file whose bytes differ but
whose table is equal, or the first difference) and exits 1 when any table differs or is missing
on one side.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def compare_csv(old: Path, new: Path) -> str:
    """``'same'`` or where the two files first differ (line number and both lines)."""
    a, b = old.read_bytes(), new.read_bytes()
    if a == b:
        return "same"
    lines_a, lines_b = a.split(b"\n"), b.split(b"\n")
    for number, (x, y) in enumerate(zip(lines_a, lines_b), start=1):
        if x != y:
            return f"differs at line {number}:\n    old {x[:300]!r}\n    new {y[:300]!r}"
    return f"differs in length: {len(lines_a)} vs {len(lines_b)} lines"


def compare_parquet(old: Path, new: Path) -> str:
    """``'same'``, ``'same content'`` (equal tables, schemas included) or ``'differs'``."""
    import pyarrow.parquet as pq

    if old.read_bytes() == new.read_bytes():
        return "same"
    a, b = pq.read_table(old), pq.read_table(new)
    return "same content" if a.equals(b) and a.schema.equals(b.schema) else "differs"


def compare_folders(old: Path, new: Path) -> list[tuple[str, str]]:
    """``(file name, verdict)`` for every table file in either ``old/tables`` or ``new/tables``."""
    old_tables, new_tables = old / "tables", new / "tables"
    names = sorted({p.name for p in old_tables.iterdir()} | {p.name for p in new_tables.iterdir()})
    verdicts = []
    for name in names:
        a, b = old_tables / name, new_tables / name
        if not a.exists() or not b.exists():
            verdicts.append((name, "only in " + ("new" if not a.exists() else "old")))
        elif name.endswith(".csv"):
            verdicts.append((name, compare_csv(a, b)))
        elif name.endswith(".parquet"):
            verdicts.append((name, compare_parquet(a, b)))
    return verdicts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", type=Path, help="output folder of the reference run")
    parser.add_argument("new", type=Path, help="output folder of the run to check")
    args = parser.parse_args(argv)
    verdicts = compare_folders(args.old, args.new)
    for name, verdict in verdicts:
        print(f"{name}: {verdict}")
    bad = [name for name, verdict in verdicts if verdict not in ("same", "same content")]
    print(f"{len(verdicts) - len(bad)} of {len(verdicts)} tables equal" + (f"; differ: {', '.join(bad)}" if bad else ""))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

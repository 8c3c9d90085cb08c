"""Read the CSV behind a study file's ``assets_from:`` block: one studied asset per row.

The table is keyed by ticker; the study file names the columns that give each asset's
``name``, ``group`` and ``exchange`` and the columns kept as free-form attributes (e.g.
``sector33``, ``size_class``). Every problem is recorded with the CSV file, the line (and
ticker) and the column; cells are kept as text, an empty cell means "not given".
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from eventstudy.study_fields import Problems, Where, suggestion

ROLE_COLUMNS = ("name", "group", "exchange")
"""Asset fields a column may supply, besides the ticker and the attributes."""


@dataclass(frozen=True)
class AssetTableSpec:
    """Which file to read and what each column means.

    ``columns`` maps an asset field (``name``/``group``/``exchange``) to its column; a field
    without an entry takes the column of the same name when the file has one.
    ``attributes`` = None keeps every other column as an attribute.
    """

    path: Path
    shown: str
    ticker: str = "ticker"
    columns: tuple[tuple[str, str], ...] = ()
    attributes: tuple[str, ...] | None = None


@dataclass(frozen=True)
class AssetRow:
    """One row of the table: the ticker, the asset fields it gives, its attributes."""

    ticker: str
    line: int
    fields: dict[str, str]
    attributes: dict[str, str]

    def where(self, file: str) -> Where:
        """Where this row sits, for messages about its values."""
        return Where(file, f"line {self.line} (ticker {self.ticker!r})", noun="column")


def read_asset_table(spec: AssetTableSpec, problems: Problems) -> list[AssetRow]:
    """Rows of the table with a ticker, in file order; problems are recorded, never raised.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "firms.csv").write_text("ticker,name,sector\\n7203.T,Toyota,Autos\\n")
    >>> rows = read_asset_table(AssetTableSpec(folder / "firms.csv", "firms.csv"), Problems())
    >>> rows[0].ticker, rows[0].fields, rows[0].attributes
    ('7203.T', {'name': 'Toyota'}, {'sector': 'Autos'})
    """
    where = Where(spec.shown, noun="column")
    mark = problems.mark()
    try:
        with spec.path.open(encoding="utf-8-sig", newline="") as handle:
            records = list(csv.reader(handle))
    except FileNotFoundError:
        problems.add(where.error(None, "file not found (assets_from.path)"))
        return []
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        problems.add(where.error(None, f"cannot read the CSV file: {exc}"))
        return []
    if not records:
        problems.add(where.error(None, "file is empty (expected a header row)"))
        return []
    header = [name.strip() for name in records[0]]
    columns = _resolve_columns(spec, header, where, problems)
    if columns is None:
        return []
    ticker_at, field_at, attribute_at = columns
    rows: list[AssetRow] = []
    first_line: dict[str, int] = {}
    for offset, record in enumerate(records[1:], start=2):
        if not any(cell.strip() for cell in record):
            continue  # blank line
        if len(record) != len(header):
            problems.add(
                where.at(f"line {offset}").error(
                    None, f"has {len(record)} cells, the header has {len(header)}"
                )
            )
            continue
        ticker = record[ticker_at].strip()
        if not ticker:
            problems.add(where.at(f"line {offset}").error(spec.ticker, "empty ticker"))
            continue
        if ticker in first_line:
            problems.add(
                where.at(f"line {offset} (ticker {ticker!r})").error(
                    spec.ticker, f"duplicate ticker (first on line {first_line[ticker]})"
                )
            )
            continue
        first_line[ticker] = offset
        rows.append(
            AssetRow(
                ticker=ticker,
                line=offset,
                fields=_cells(record, field_at),
                attributes=_cells(record, attribute_at),
            )
        )
    if not rows and not problems.since(mark):
        problems.add(where.error(None, "has no data rows"))
    return rows


def _resolve_columns(
    spec: AssetTableSpec, header: list[str], where: Where, problems: Problems
) -> tuple[int, dict[str, int], dict[str, int]] | None:
    """Column positions of the ticker, the asset fields and the attributes (None on a problem)."""
    mark = problems.mark()
    for i, name in enumerate(header):
        if not name:
            problems.add(where.error(None, f"header cell {i + 1} is empty"))
        elif name in header[:i]:
            problems.add(where.error(name, "appears twice in the header"))
    if problems.since(mark):
        return None

    def position(column: str, role: str) -> int | None:
        if column in header:
            return header.index(column)
        problems.add(
            where.error(
                column,
                f"not in the header (assets_from.{role}; columns: {', '.join(header)})"
                f"{suggestion(column, header)}",
            )
        )
        return None

    ticker_at = position(spec.ticker, "ticker")
    named = dict(spec.columns)
    field_at: dict[str, int] = {}
    for role in ROLE_COLUMNS:
        if role in named:
            found = position(named[role], role)
            if found is not None:
                field_at[role] = found
        elif role in header and role != spec.ticker:
            field_at[role] = header.index(role)
    used = {spec.ticker, *(header[i] for i in field_at.values())}
    wanted = (
        spec.attributes
        if spec.attributes is not None
        else [name for name in header if name not in used]
    )
    attribute_at: dict[str, int] = {}
    for name in wanted:
        if name == "group":
            problems.add(
                where.error(name, "'group' is an asset field, not an attribute (assets_from.group)")
            )
            continue
        found = position(name, "attributes")
        if found is not None:
            attribute_at[name] = found
    if problems.since(mark) or ticker_at is None:
        return None
    return ticker_at, field_at, attribute_at


def _cells(record: list[str], positions: dict[str, int]) -> dict[str, str]:
    """The non-empty cells at ``positions``, stripped."""
    cells = {name: record[i].strip() for name, i in positions.items()}
    return {name: value for name, value in cells.items() if value}

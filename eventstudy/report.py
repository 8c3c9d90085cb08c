"""Write a study's outputs to a folder: tidy tables (CSV + Parquet) and the run log.

Tables are written with pyarrow: CSV text built column by column (:mod:`eventstudy.csvtext`:
floats as ``%.10g``, missing values empty, minimal quoting, the same bytes as pandas
``to_csv``) and Parquet through ``pyarrow.parquet``. Byte-stable: the same inputs give
byte-identical files (fixed column order, fixed float formatting, no timestamps inside the
tables). Every file is written to a temporary name and renamed, so a reader never sees half a
table.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import pandas as pd

from eventstudy.csvtext import csv_chunks
from eventstudy.study import StudyResult

FLOAT_FORMAT = "%.10g"  # the CSV float text (see eventstudy.csvtext)


def write_tables(result: StudyResult, out: str | Path, extra: dict[str, pd.DataFrame] | None = None) -> list[Path]:
    """Write every result table to ``OUT/tables/<name>.csv`` and ``.parquet``; returns the paths.

    Examples
    --------
    >>> write_tables(res, "reports/tariffs-2025")  # doctest: +SKIP
    """
    written = []
    for name, frame in {**result.tables(), **(extra or {})}.items():
        written += write_table(name, frame, out)
    return written


def write_table(name: str, frame: pd.DataFrame, out: str | Path) -> list[Path]:
    """Write one table to ``OUT/tables/<name>.csv`` and ``.parquet``; returns the two paths.

    The CSV is written in pieces (:func:`eventstudy.csvtext.csv_chunks`), the Parquet file a row
    group at a time (:func:`write_table_parts` of one piece); a caller that drops ``frame``
    afterwards holds no text of it.

    Examples
    --------
    >>> write_table("joint", res.joint(), "reports/tariffs-2025")  # doctest: +SKIP
    """
    return write_table_parts(name, [frame], out)


def write_table_parts(name: str, parts: Iterable[pd.DataFrame], out: str | Path) -> list[Path]:
    """:func:`write_table` of a table given in consecutive pieces (the same columns and dtypes),
    each written as it comes and then dropped: the same two files as writing the pieces joined
    (the CSV pieces are whole lines; Parquet row groups are cut at the same rows), holding one
    piece and at most one row group of the table at a time. ``parts`` must give at least one
    frame (an empty one for an empty table).

    Examples
    --------
    >>> parts = res.joint_parts()                                   # doctest: +SKIP
    >>> write_table_parts("joint", parts.rows(), "reports/big")     # doctest: +SKIP
    """
    folder = Path(out) / "tables"
    folder.mkdir(parents=True, exist_ok=True)
    csv_path, parquet_path = folder / f"{name}.csv", folder / f"{name}.parquet"
    with _atomic_file(csv_path) as csv_stream, _atomic_file(parquet_path) as parquet_stream:
        rows = _ParquetRowGroups(parquet_stream)
        try:
            for position, part in enumerate(parts):
                part = _stable(part)
                for chunk in csv_chunks(part, header=position == 0):
                    csv_stream.write(chunk)
                rows.append(part)
            rows.finish()
        finally:
            rows.close()  # before the stream closes (the temporary file is removed on an error)
    return [csv_path, parquet_path]


PARQUET_ROW_GROUP = 1024 * 1024
"""Rows per Parquet row group: pyarrow's default (``row_group_size=None``), which
:func:`write_table` leaves alone."""


def _described(schema) -> str:
    """``name: type, ...`` of an Arrow schema, on one line."""
    return ", ".join(f"{field.name}: {field.type}" for field in schema)


class _ParquetRowGroups:
    """A Parquet file written from pieces of a table in row groups of :data:`PARQUET_ROW_GROUP`
    rows, each from one chunk per column: the bytes ``pq.write_table`` gives for the joined
    table."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream, self.writer, self.held, self.n_held, self.written = stream, None, [], 0, False

    def append(self, frame: pd.DataFrame) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(frame, preserve_index=False)
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.stream, table.schema, compression="snappy",
                                           use_dictionary=dictionary_columns(table))
        elif not table.schema.equals(self.writer.schema, check_metadata=True):
            raise ValueError(f"a piece of the table has columns {_described(table.schema)} "
                             f"instead of {_described(self.writer.schema)} (or other dtypes)")
        self.held.append(table)
        self.n_held += table.num_rows
        while self.n_held >= PARQUET_ROW_GROUP:
            self._write(PARQUET_ROW_GROUP)

    def _write(self, n_rows: int) -> None:
        import pyarrow as pa

        held = pa.concat_tables(self.held)
        self.writer.write_table(held.slice(0, n_rows).combine_chunks())  # one row group
        rest = held.slice(n_rows)
        self.held, self.n_held, self.written = ([rest] if rest.num_rows else []), rest.num_rows, True

    def finish(self) -> None:
        """Write the last rows (an empty table: its one empty row group, as ``write_table``)."""
        if self.writer is None:
            raise ValueError("no piece of the table was given (an empty table is one empty piece)")
        if self.n_held or not self.written:
            self._write(self.n_held)

    def close(self) -> None:
        """Close the file's writer (the footer); :meth:`finish` first for a complete file."""
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def write_run_log(result: StudyResult, out: str | Path, versions: dict[str, str]) -> Path:
    """``OUT/run.json``: data provenance, skipped tickers, refused pairs and package versions."""
    models = result.models
    refused = models[models["status"] != "ok"][["event_id", "asset", "status", "message"]]
    log = {
        "study": result.config.settings.name,
        "events_file": str(result.config.path) if result.config.path else None,
        "skipped": result.skipped,
        "refused_pairs": refused.to_dict(orient="records"),
        "provenance": _stable(result.provenance).astype(str).to_dict(orient="records"),
        "versions": versions,
    }
    path = Path(out) / "run.json"
    _atomic_write_text(path, json.dumps(log, indent=2, sort_keys=True, default=str) + "\n")
    return path


def _stable(frame: pd.DataFrame) -> pd.DataFrame:
    """Date columns as ISO strings, so CSV and Parquet look the same everywhere (no copy of the
    other columns)."""
    dates = [c for c in frame.columns if pd.api.types.is_datetime64_any_dtype(frame[c])]
    if not dates:
        return frame
    out = frame.copy(deep=False)
    for column in dates:
        out[column] = _iso_dates(out[column])
    return out


def _iso_dates(dates: pd.Series) -> pd.Series:
    """``dates.dt.strftime("%Y-%m-%d")``, formatting each distinct date once (a table repeats
    a few hundred sessions over many rows)."""
    codes, distinct = pd.factorize(dates)
    text = pd.Series(distinct).dt.strftime("%Y-%m-%d").array.take(codes, allow_fill=True)
    return pd.Series(text, index=dates.index, name=dates.name)


def _umask_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _atomic_write_text(path: Path, text: str) -> None:
    _atomic_write_bytes(path, text.encode("utf-8"))


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    _atomic_write_chunks(path, [data])


def _atomic_write_chunks(path: Path, chunks: Iterable[bytes | memoryview]) -> None:
    """Write the pieces (bytes or views of a buffer) one after the other to a temporary file,
    then rename it to ``path``."""
    with _atomic_file(path) as stream:
        for chunk in chunks:
            stream.write(chunk)


@contextmanager
def _atomic_file(path: Path) -> Iterator[BinaryIO]:
    """A binary stream to a temporary file beside ``path``, renamed to ``path`` when the block
    ends without an error (removed otherwise): a reader never sees half a file."""
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as stream:
            yield stream
        os.chmod(tmp, _umask_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def dictionary_columns(table) -> list[str]:
    """Columns Parquet stores with a dictionary: all but the floating-point ones.

    Statistics are nearly all distinct values, so a dictionary for them only costs time
    (4x the writing time of ``abnormal_returns``, for a file 5% smaller) and is given up
    anyway once it passes 1 MB; labels, dates and counts repeat and keep theirs.
    """
    import pyarrow as pa

    return [field.name for field in table.schema if not pa.types.is_floating(field.type)]

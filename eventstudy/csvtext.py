"""CSV text of a table, column by column with numpy and pyarrow compute (no per-value Python).

The text is byte-for-byte what ``DataFrame.to_csv(index=False, float_format="%.10g",
lineterminator="\\n")`` writes: floats as C ``%.10g``, missing values empty, booleans
``True``/``False``, strings quoted only when they hold a comma, a quote or a line break
(quotes doubled). Only the formatting is vectorised; the text is the same, so files stay
byte-stable and readable.

Examples
--------
>>> import pandas as pd
>>> csv_bytes(pd.DataFrame({"x": [0.1, 1e-5, float("nan")], "s": ["a", "b,c", None]}))
b'x,s\\n0.1,a\\n1e-05,"b,c"\\n,\\n'
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

SIGNIFICANT = 10  # digits of %.10g
_LIMIT = 290  # decimal exponents beyond +-_LIMIT are left to Python
_POWERS = 10.0 ** np.arange(-_LIMIT - SIGNIFICANT, _LIMIT + SIGNIFICANT + 1)
_STRING = pa.large_string()
_WIDTH = 17  # the longest %.10g text, e.g. '-1.234567891e-100'
_DIGIT_POWERS = 10 ** np.arange(SIGNIFICANT - 1, -1, -1, dtype=np.int64)
_NAN, _ZERO, _INF, _PYTHON = 1000, 1001, 1002, 1003  # layout keys of values not laid out by class


DISTINCT_SHARE = 0.75
"""A float column is formatted once per distinct value (bit pattern) and gathered when at most
this share of its values are distinct (degrees of freedom, sample quantiles, a return that
sits in the windows of several events); otherwise value by value."""

SAMPLE_SIZE = 1024
"""Values of an evenly spaced sample that decides, before a column is hashed whole, whether it
can have repeats worth gathering: when every sampled value is distinct the column is formatted
value by value (hashing a column of distinct values costs a third of formatting it). Either way
the text is the same."""


def format_floats(values: np.ndarray) -> pa.Array:
    """``'%.10g' % v`` for every value (``''`` for NaN) as a pyarrow string array.

    Columns with many repeated values are formatted once per distinct bit pattern (so ``-0.0``
    and ``0.0`` stay apart) and gathered, see :data:`DISTINCT_SHARE`; the text is the same.

    Each finite value is rounded to 10 significant digits in float arithmetic (``q`` digits,
    decimal exponent ``x``); the digits become characters with one pyarrow cast and are laid
    out as bytes of a numpy matrix, one row per value, in groups of equal exponent (same ``%g``
    layout: fixed or scientific, position of the decimal point), trailing zeros stripped as
    ``%g`` does; the rows' bytes become the string array's buffer. A value whose 11th digit lies so close to a tie that float rounding
    could differ from C's exact decimal rounding (``|fraction - 0.5| < 1e-4``, about one value
    in 10,000), an infinity, or a value whose exponent is extreme is formatted by Python
    instead, so the text is always exactly C's.

    Examples
    --------
    >>> format_floats(np.array([1234.5, -0.000123456789012, 1e20, 0.0])).to_pylist()
    ['1234.5', '-0.000123456789', '1e+20', '0']
    """
    v = np.ascontiguousarray(values, dtype=float)
    if len(v) > 1 and _may_repeat(v.view(np.int64)):
        codes, distinct = pd.factorize(v.view(np.int64))
        if len(distinct) <= DISTINCT_SHARE * len(v):
            return pc.take(_formatted(distinct.view(float)), pa.array(codes))
    return _formatted(v)


def _may_repeat(bits: np.ndarray) -> bool:
    """False when an evenly spaced sample of :data:`SAMPLE_SIZE` values of a longer column are
    all distinct (bit patterns): then too few values repeat for gathering to pay."""
    if len(bits) <= 2 * SAMPLE_SIZE:
        return True
    sample = bits[:: len(bits) // SAMPLE_SIZE]
    return len(np.unique(sample)) < len(sample)


def _formatted(v: np.ndarray) -> pa.Array:
    """:func:`format_floats` value by value (see there)."""
    n = len(v)
    digits, key = _round(v)
    order = np.argsort(key, kind="stable")  # values of one layout side by side
    v, digits, key = v[order], digits[order], key[order]
    regular = key < _NAN
    digits[~regular] = 10 ** (SIGNIFICANT - 1)  # every row 10 digit characters
    chars, significant = _digit_chars(digits)
    text = np.empty((n, _WIDTH + 1), dtype=np.uint8)  # column 0: the minus sign; bytes past a
    text[:, 0] = ord("-")  # field's end are never read
    start = np.where(np.signbit(v), 0, 1)
    end = np.ones(n, dtype=np.int64)
    bounds = np.flatnonzero(np.diff(key)) + 1
    for lo, hi in zip([0, *bounds.tolist()], [*bounds.tolist(), n]) if n else []:
        k = int(key[lo])
        if k == _NAN:
            start[lo:hi] = 1
        elif k == _ZERO:
            text[lo:hi, 1] = ord("0")
            end[lo:hi] = 2
        elif k > _ZERO:  # infinities and values left to Python
            for row in range(lo, hi):
                field = f"{v[row]:.10g}".encode("ascii")
                text[row, 1 : 1 + len(field)] = np.frombuffer(field, dtype=np.uint8)
                start[row], end[row] = 1, 1 + len(field)
        else:
            end[lo:hi] = 1 + _lay_out(text[lo:hi], chars[lo:hi], significant[lo:hi], k)
    inverse = np.empty(n, dtype=np.int64)
    inverse[order] = np.arange(n)
    text, start, end = text[inverse], start[inverse], end[inverse]
    keep = _KEPT[start, end]  # columns start .. end - 1 of each row
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(end - start, out=offsets[1:])
    return pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(text[keep]))


def _half_tables() -> tuple[np.ndarray, np.ndarray]:
    """For every number below ``10**5``: its five digit characters (zero-padded, in the first
    five bytes of a uint64) and its number of trailing zero digits (5 for 0)."""
    numbers = np.arange(_HALF)
    chars = np.zeros((_HALF, 8), dtype=np.uint8)
    chars[:, :5] = numbers[:, None] // 10 ** np.arange(4, -1, -1) % 10 + ord("0")
    trailing = np.full(_HALF, 5)
    for count in range(4, -1, -1):  # ends in 10**count but not in 10**(count + 1)
        trailing[(numbers % 10**count == 0) & (numbers % 10 ** (count + 1) != 0)] = count
    return chars.view(np.uint64).ravel(), trailing


_HALF = 10 ** (SIGNIFICANT // 2)
_HALF_CHARS, _HALF_TRAILING = _half_tables()
_KEPT = np.arange(_WIDTH + 1) >= np.arange(2)[:, None, None]
_KEPT = _KEPT & (np.arange(_WIDTH + 1) < np.arange(_WIDTH + 2)[None, :, None])  # [start, end, column]


def _digit_chars(digits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The 10 digit characters of each 10-digit integer (a (n, 10) uint8 view) and its number
    of significant digits (trailing zeros dropped, as ``%g`` does), from the tables of the two
    five-digit halves."""
    n = len(digits)
    high, low = np.divmod(digits, _HALF)
    buffer = np.empty((n, 16), dtype=np.uint8)
    # eight bytes at column 0 (the high half and three spare bytes), then at column 5 (the low
    # half over the spare bytes): unaligned uint64 views of the rows
    np.ndarray((n,), np.uint64, buffer, 0, (16,))[:] = _HALF_CHARS[high]
    np.ndarray((n,), np.uint64, buffer, 5, (16,))[:] = _HALF_CHARS[low]
    zeros = np.where(low == 0, 5 + _HALF_TRAILING[high], _HALF_TRAILING[low])
    return buffer[:, :SIGNIFICANT], SIGNIFICANT - zeros


def _round(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """10-digit integers ``q`` (``|v| ~ q 10^(x-9)``) and layout keys (the exponent ``x`` of a
    regular value, a code for NaN, zero, infinity and values left to Python)."""
    a = np.abs(v)
    regular = np.isfinite(v) & (a > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        exponent = np.floor(np.log10(np.where(regular, a, 1.0))).astype(np.int64)
    regular &= np.abs(exponent) <= _LIMIT
    exponent[~regular] = 0
    a = np.where(regular, a, 1.0)
    scaled, digits = _scaled(a, exponent)
    off = regular & ((scaled < 10**9 - 0.5) | (scaled >= 10**10))  # log10 one off
    exponent[off] += np.where(scaled[off] >= 10**10, 1, -1)
    scaled[off], digits[off] = _scaled(a[off], exponent[off])
    # the fraction of ``scaled`` is within 1e-4 of 0.5 (``scaled - digits``, digits its nearest
    # integer, is exact: ``|fraction - 0.5| = 0.5 - |scaled - digits|``)
    tie = regular & (0.5 - np.abs(scaled - digits) < 1e-4)
    carry = digits == 10**10  # 9.9999999999 -> 10
    digits[carry] = 10**9
    exponent[carry] += 1
    key = np.where(regular & ~tie, exponent, _PYTHON).astype(np.int16)
    irregular = ~regular
    if irregular.any():
        other = v[irregular]
        key[irregular] = np.select([np.isnan(other), other == 0, np.isinf(other)], [_NAN, _ZERO, _INF], _PYTHON)
    return digits, key


def _scaled(a: np.ndarray, exponent: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scaled = a * _POWERS[SIGNIFICANT - 1 - exponent + _LIMIT + SIGNIFICANT]
    return scaled, np.rint(scaled).astype(np.int64)


def _lay_out(text: np.ndarray, chars: np.ndarray, significant: np.ndarray, exponent: int) -> np.ndarray:
    """Write the ``%g`` text of values sharing one decimal exponent into ``text[:, 1:]`` from
    their 10 digit characters and numbers of significant digits; returns the text lengths
    (without the sign)."""
    if 0 <= exponent < SIGNIFICANT:  # fixed notation, point after digit ``exponent``
        point = exponent + 1
        text[:, 1 : 1 + point] = chars[:, :point]
        text[:, 1 + point] = ord(".")
        text[:, 2 + point : 2 + SIGNIFICANT] = chars[:, point:]
        return np.where(significant > point, significant + 1, point)
    if -4 <= exponent < 0:  # fixed notation, 0.000ddd
        zeros = -exponent  # the zeros before the first digit, the one before the point included
        text[:, 1 : 2 + zeros] = ord("0")
        text[:, 2] = ord(".")
        text[:, 2 + zeros : 2 + zeros + SIGNIFICANT] = chars
        return 1 + zeros + significant
    text[:, 1] = chars[:, 0]  # scientific: d.ddde+XX
    text[:, 2] = ord(".")
    text[:, 3 : 2 + SIGNIFICANT] = chars[:, 1:]
    length = np.where(significant > 1, significant + 1, 1)
    suffix = np.frombuffer(f"e{exponent:+03d}".encode("ascii"), dtype=np.uint8)
    rows = np.arange(len(text))[:, None]
    text[rows, 1 + length[:, None] + np.arange(len(suffix))] = suffix
    return length + len(suffix)


def column_text(series: pd.Series, dates_only: bool | None = None) -> pa.Array:
    """The CSV field text of one column (quoted where needed), ``''`` for missing values.

    ``dates_only`` says whether a datetime column holds dates without a time of day (default:
    looked up in ``series``; a caller writing a table in pieces passes the whole column's).
    Strings are quoted once per distinct value and gathered.
    """
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        values = pa.array(series, from_pandas=True)
        text = pc.if_else(values, "True", "False")
    elif pd.api.types.is_float_dtype(dtype):
        return format_floats(series.to_numpy(dtype=float, na_value=np.nan))
    elif pd.api.types.is_integer_dtype(dtype):
        text = pc.cast(pa.array(series, from_pandas=True), pa.large_string())
    elif isinstance(dtype, np.dtype) and dtype.kind == "M" and (
            _dates_only(series) if dates_only is None else dates_only):
        text = pa.array(series.dt.strftime("%Y-%m-%d"), from_pandas=True, type=_STRING)  # as pandas
    elif pd.api.types.is_string_dtype(dtype) and not pd.api.types.is_object_dtype(dtype):
        values = pa.array(series, from_pandas=True, type=pa.large_string())
        values = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
        encoded = pc.dictionary_encode(values)
        text = pc.take(_quoted(encoded.dictionary), encoded.indices)
    else:
        text = _object_text(series.to_numpy(dtype=object))
    return pc.fill_null(pc.cast(text, pa.large_string()), "")


def _object_text(values: np.ndarray) -> pa.Array:
    """Quoted ``str(value)`` of an object column (null where missing), once per distinct string."""
    codes, distinct = pd.factorize(values, use_na_sentinel=True)
    if all(type(v) is str for v in distinct):  # other types may compare equal, e.g. 1 == 1.0 == True
        quoted = _quoted(pa.array(list(distinct), type=pa.large_string()))
        return pc.take(quoted, pa.array(codes, mask=codes < 0))
    python = [None if _missing(v) else str(v) for v in values]
    return _quoted(pa.array(python, type=pa.large_string()))


def _dates_only(series: pd.Series) -> bool:
    """True when no timestamp has a time of day (pandas then writes ``YYYY-MM-DD``)."""
    stamps = series.dropna()
    return bool((stamps.dt.normalize() == stamps).all())


def _missing(value) -> bool:
    return value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and np.isnan(value))


def _quote_pattern() -> str:
    """Characters that make Python's csv writer (pandas ``to_csv``) quote a field: the
    delimiter, the quote, the line terminator and, on Python versions that do, a carriage return."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(["a\rb"])
    return r'[,"\n\r]' if buffer.getvalue().startswith('"') else r'[,"\n]'


_QUOTE_PATTERN = _quote_pattern()


def _quoted(text: pa.Array) -> pa.Array:
    """QUOTE_MINIMAL: quote fields holding a comma, a quote or a line break; double the quotes."""
    needs = pc.match_substring_regex(text, _QUOTE_PATTERN)
    quote, empty = pa.scalar('"', pa.large_string()), pa.scalar("", pa.large_string())
    escaped = pc.binary_join_element_wise(quote, pc.replace_substring(text, '"', '""'), quote, empty)
    return pc.if_else(pc.fill_null(needs, False), escaped, text)


CHUNK_ROWS = 131_072
"""Rows per piece of :func:`csv_chunks` (bounds the text held at once)."""


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """The whole table as CSV bytes (header line, one line per row, ``\\n`` line ends)."""
    return b"".join(csv_chunks(frame))


def csv_chunks(frame: pd.DataFrame, rows: int = CHUNK_ROWS, header: bool = True,
               ) -> Iterator[bytes | memoryview]:
    """:func:`csv_bytes` in pieces: the header line (unless ``header`` is False: a later piece
    of a table written in pieces), then the lines of ``rows`` rows at a time.

    ``b"".join(csv_chunks(frame))`` is ``csv_bytes(frame)``; writing the pieces as they come
    keeps the text of one piece in memory, not the whole table's. The pieces after the header
    are views of the lines' Arrow buffer, not copies of it (a copy would double the memory a
    piece takes and cost a pass over its bytes).

    Examples
    --------
    >>> [bytes(piece) for piece in csv_chunks(pd.DataFrame({"x": [1, 2, 3]}), rows=2)]
    [b'x\\n', b'1\\n2\\n', b'3\\n']
    """
    if header:
        names = _quoted(pa.array([str(c) for c in frame.columns], pa.large_string())).to_pylist()
        yield (",".join(names) + "\n").encode("utf-8")
    dates = {c: _dates_only(frame[c]) for c in frame.columns
             if isinstance(frame[c].dtype, np.dtype) and frame[c].dtype.kind == "M"}
    for start in range(0, len(frame), max(int(rows), 1)):
        part = frame.iloc[start : start + rows]
        yield _lines([column_text(part[c], dates.get(c)) for c in part.columns])


def _lines(columns: list[pa.Array]) -> memoryview:
    """The CSV lines of a table from its columns' field text: a view of the joined text's
    buffer (which the view keeps alive)."""
    comma, newline = pa.scalar(",", pa.large_string()), pa.scalar("\n", pa.large_string())
    columns = list(columns)
    if len(columns) == 1:  # the csv module writes a row of one empty field as ""
        columns[0] = pc.if_else(pc.equal(columns[0], ""), pa.scalar('""', _STRING), columns[0])
    # the line end goes on the last field, so the lines' text is copied once, not twice
    columns[-1] = pc.binary_join_element_wise(columns[-1], pa.scalar("", pa.large_string()), newline)
    lines = pc.binary_join_element_wise(*columns, comma) if len(columns) > 1 else columns[0]
    lines = lines.combine_chunks() if isinstance(lines, pa.ChunkedArray) else lines
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int64)[lines.offset : lines.offset + len(lines) + 1]
    return memoryview(lines.buffers()[2])[offsets[0] : offsets[-1]]

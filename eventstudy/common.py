"""Small helpers shared by the tables, the report page and the command line.

Window labels, significance stars, atomic file writes and the versions of the packages that
shape the results. This module imports nothing else from :mod:`eventstudy`, so every other
module can use it without import cycles.
"""

from __future__ import annotations

import math
import os
import re
import sys
import tempfile
from importlib import metadata
from pathlib import Path

VERSIONED_PACKAGES = (
    "eventstudy", "numpy", "pandas", "scipy", "statsmodels", "arch", "exchange_calendars",
    "yfinance", "pyarrow", "matplotlib", "seaborn",
)

_WINDOW_LABEL = re.compile(r"^\[(-?\d+),(-?\d+)\]$")


def format_window(window: tuple[int, int]) -> str:
    """Text form of a window used in every table: ``[a,b]``.

    Examples
    --------
    >>> format_window((0, 1))
    '[0,1]'
    """
    return f"[{window[0]},{window[1]}]"


def parse_window(label: str) -> tuple[int, int]:
    """Inverse of :func:`format_window`.

    Examples
    --------
    >>> parse_window("[-5,10]")
    (-5, 10)
    """
    match = _WINDOW_LABEL.match(label.strip())
    if not match:
        raise ValueError(f"not a window label: {label!r} (expected '[a,b]')")
    return int(match[1]), int(match[2])


def display_window(window: tuple[int, int]) -> str:
    """A window for readers, with explicit signs: ``[0,+1]``, ``[-5,+10]``.

    Examples
    --------
    >>> display_window((0, 1)), display_window((-10, -1))
    ('[0,+1]', '[-10,-1]')
    """
    return "[" + ",".join("0" if d == 0 else f"{d:+d}" for d in window) + "]"


def stars(p: float) -> str:
    """Significance stars: *** p<0.01, ** p<0.05, * p<0.10 ('' for NaN or p >= 0.10).

    Examples
    --------
    >>> stars(0.003), stars(0.2), stars(float("nan"))
    ('***', '', '')
    """
    if p is None or not math.isfinite(p):
        return ""
    return "***" if p < 0.01 else "**" if p < 0.05 else "*" if p < 0.10 else ""


def file_mode() -> int:
    """Permission bits a new file gets under the current umask (``0o666 & ~umask``)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write(path: str | Path, data: bytes | str) -> Path:
    """Write ``data`` to ``path`` through a temporary file and a rename.

    Readers never see half a file, and a crash leaves the old file (or none) in place. Text is
    written as UTF-8 without newline translation.

    Examples
    --------
    >>> atomic_write("out/report.html", "<!DOCTYPE html>...")  # doctest: +SKIP
    PosixPath('out/report.html')
    """
    payload = data.encode("utf-8") if isinstance(data, str) else data
    return atomic_save(path, lambda tmp: Path(tmp).write_bytes(payload))


def atomic_save(path: str | Path, save) -> Path:
    """Call ``save(tmp_path)`` (e.g. ``figure.savefig``) and move the result to ``path``.

    Examples
    --------
    >>> atomic_save("fig.png", lambda tmp: fig.savefig(tmp, format="png"))  # doctest: +SKIP
    """
    path = Path(path)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    os.close(handle)
    try:
        save(tmp)
        os.chmod(tmp, file_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def package_versions() -> dict[str, str]:
    """Installed versions of Python and of the packages that shape the results.

    Examples
    --------
    >>> package_versions()["python"].count(".") >= 1
    True
    """
    versions = {"python": sys.version.split()[0]}
    for name in VERSIONED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions

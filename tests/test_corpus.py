"""The study-file corpus: every ``tests/studies/*.yaml`` runs through the command line.

The first line of each file states its expected outcome:

* ``# expect: ok`` - ``eventstudy run FILE --snapshot <prices> --tables-only --no-volatility``
  exits 0 and writes non-empty tables;
* ``# expect: error: <fragment>`` - it exits 2 with exactly one line on stderr that contains the
  fragment (and no traceback).

The files differ from ``events.yaml`` the way researchers' studies do (windows, models,
exchanges, holidays, data edges, missing tickers, ...); ``run-*`` files exercise the engine,
``parse-*`` files the study-file parser.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

import pandas as pd
import pytest

from eventstudy.cli import main

STUDIES = Path(__file__).parent / "studies"
TABLES = ("abnormal_returns", "car", "tests", "models", "event_sessions")
FILES = sorted(STUDIES.glob("*.yaml"))

pytestmark = pytest.mark.realdata


def expectation(path: Path) -> tuple[str, str]:
    """``('ok', '')`` or ``('error', fragment)`` from the file's first line."""
    first = path.read_text(encoding="utf-8").splitlines()[0]
    prefix = "# expect: "
    if not first.startswith(prefix):
        raise AssertionError(f"{path.name}: the first line must be '# expect: ok' or "
                             f"'# expect: error: <fragment>', got {first!r}")
    outcome = first[len(prefix):].strip()
    if outcome == "ok":
        return "ok", ""
    if outcome.startswith("error:") and outcome[len("error:"):].strip():
        return "error", outcome[len("error:"):].strip()
    raise AssertionError(f"{path.name}: unknown expectation {outcome!r}")


def test_the_corpus_is_there():
    runs = [p for p in FILES if p.name.startswith("run-")]
    assert len(runs) >= 12
    outcomes = {expectation(p)[0] for p in runs}
    assert outcomes == {"ok", "error"}


@contextlib.contextmanager
def cli_logging():
    """Logging as in a fresh ``eventstudy`` process: the runner's ``basicConfig`` takes effect
    (pytest's own root handlers would otherwise swallow warnings printed to stderr)."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    root.handlers = []
    try:
        yield
    finally:
        for handler in root.handlers:
            handler.close()
        root.handlers, root.level = saved


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_study_file_runs_or_is_refused_in_one_line(
    path, snapshot_dir, tmp_path, capsys, monkeypatch
):
    monkeypatch.delenv("EVENTSTUDY_SNAPSHOT", raising=False)
    outcome, fragment = expectation(path)
    out = tmp_path / "out"
    with cli_logging():
        code = main(["run", str(path), "--snapshot", str(snapshot_dir), "--out", str(out),
                     "--tables-only", "--no-volatility"])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and "Traceback" not in captured.out
    if outcome == "error":
        assert code == 2, f"expected a refusal, got exit {code}: {captured.err or captured.out}"
        lines = captured.err.strip().splitlines()
        # one line per problem (a file with one problem: one line), each naming the file
        assert 1 <= len(lines) <= 11 and fragment in captured.err, captured.err
        assert all(line.startswith("eventstudy: error: ") for line in lines), captured.err
        if not path.stem.startswith("parse-bad-many"):
            assert len(lines) == 1, captured.err
        return
    assert code == 0, captured.err
    for name in TABLES:
        table = pd.read_csv(out / "tables" / f"{name}.csv")
        assert len(table) > 0, f"{name}.csv is empty"
    models = pd.read_csv(out / "tables" / "models.csv")
    assert (models["status"] == "ok").any()



"""The ``eventstudy`` command line: events check, error handling, argument parsing, start-up cost."""

from __future__ import annotations

import io
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from eventstudy import __version__, cli
from eventstudy.calendars import SESSION_TABLE_COLUMNS
from eventstudy.errors import DataError

FIXTURE = Path(__file__).parent / "fixtures" / "events" / "minimal.yaml"
HEAVY_MODULES = ("pandas", "numpy", "exchange_calendars", "yfinance", "statsmodels", "matplotlib")


@pytest.fixture(scope="module")
def events_file(repo_root: Path) -> Path:
    return repo_root / "events.yaml"


def write_broken(tmp_path: Path, old: str, new: str) -> Path:
    text = FIXTURE.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "broken.yaml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


# --- events check ------------------------------------------------------------------------------


def test_events_check_prints_the_session_table(events_file: Path, capsys):
    assert cli.main(["events", "check", str(events_file)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == list(SESSION_TABLE_COLUMNS)
    assert len(lines) == 1 + 46
    liberation = next(line for line in lines if "liberation-day" in line).split()
    assert liberation == [
        "liberation-day-reciprocal-tariffs",
        "tariff_announcement",
        "2025-04-02T16:00:00-04:00",
        "2025-04-03",
        "False",
        "2025-04-03",
        "False",
    ]


def test_events_check_csv_parses_back(events_file: Path, capsys):
    assert cli.main(["events", "check", str(events_file), "--format", "csv"]) == 0
    table = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert tuple(table.columns) == SESSION_TABLE_COLUMNS
    assert len(table) == 46
    pause = table.set_index("id").loc["reciprocal-90day-pause"]
    assert pause["tokyo_session"] == "2025-04-10" and not pause["tokyo_partial"]
    assert pause["new_york_session"] == "2025-04-09" and pause["new_york_partial"]


@pytest.mark.parametrize(
    ("old", "new", "fragment"),
    [
        ("returns: simple", "returns: [simple", "invalid YAML"),
        (
            "announced: '2025-04-02T16:00:00-04:00'",
            "announced: '2025-04-02 16:00'",
            "naive timestamp",
        ),
        ("category: tariff_announcement", "category: tariff news", "field 'category'"),
        ("benchmark: ^TOPX", "benchmark: ^TOPIX", "unknown ticker '^TOPIX'"),
        ("  returns: simple", "  retruns: simple", "did you mean 'returns'"),
    ],
)
def test_malformed_file_exits_2_with_one_stderr_line(tmp_path, capsys, old, new, fragment):
    path = write_broken(tmp_path, old, new)
    assert cli.main(["events", "check", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"eventstudy: error: {path}: ")
    assert fragment in lines[0]


def test_a_file_with_several_problems_lists_each_on_its_own_line(tmp_path: Path, capsys):
    path = tmp_path / "study.yaml"
    path.write_text(
        "assets:\n  - {ticker: ^N225, grup: index}\n"
        "events:\n"
        "  - {id: e1, category: other, announced: '2025-04-02T16:00:00', sources: [x]}\n"
        "  - {id: e2, announced: '2025-04-02T16:00:00-04:00', sources: [x]}\n",
        encoding="utf-8",
    )
    assert cli.main(["events", "check", str(path)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 3
    assert all(line.startswith(f"eventstudy: error: {path}: ") for line in lines)
    assert "asset '^N225': field 'grup'" in lines[0]
    assert "event 'e1': field 'announced'" in lines[1]
    assert "event 'e2': field 'category'" in lines[2]


def test_missing_file_exits_2(tmp_path: Path, capsys):
    assert cli.main(["events", "check", str(tmp_path / "absent.yaml")]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"eventstudy: error: {tmp_path / 'absent.yaml'}: file not found"
    ]


# --- errors ------------------------------------------------------------------------------------


def test_event_study_errors_exit_2(monkeypatch, capsys):
    def fail(args):
        raise DataError("no prices for ^N225\n(snapshot empty)")

    monkeypatch.setattr(cli, "events_check", fail)
    assert cli.main(["events", "check", "x.yaml"]) == 2
    assert capsys.readouterr().err == "eventstudy: error: no prices for ^N225 (snapshot empty)\n"


@pytest.mark.parametrize("verbose", [[], ["--verbose"], ["events", "check", "x.yaml", "--verbose"]])
def test_internal_errors_exit_1_with_one_line_or_a_traceback(monkeypatch, capsys, verbose):
    def crash(args):
        raise RuntimeError("boom")

    monkeypatch.setattr(cli, "events_check", crash)
    argv = verbose if "events" in verbose else [*verbose, "events", "check", "x.yaml"]
    assert cli.main(argv) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[-1] == (
        "eventstudy: internal error: RuntimeError: boom (run with --verbose for the traceback)"
    )
    if verbose:
        assert err[0] == "Traceback (most recent call last):"
    else:
        assert len(err) == 1


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["events"],
        ["bogus"],
        ["events", "check"],
        ["events", "check", "f.yaml", "--format", "x"],
    ],
)
def test_usage_errors_exit_2(argv, capsys):
    assert cli.main(argv) == 2
    assert "usage: eventstudy" in capsys.readouterr().err


def test_version(capsys):
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"eventstudy {__version__}"


# --- argument parsing of the commands owned elsewhere ---------------------------------------------


def test_prices_fetch_arguments():
    args = cli.build_parser().parse_args(
        ["prices", "fetch", "events.yaml", "--snapshot", "snap", "--cache-dir", "c", "--offline"]
    )
    assert args.command is cli.prices_fetch
    assert (args.file, args.snapshot, args.cache_dir) == (
        Path("events.yaml"),
        Path("snap"),
        Path("c"),
    )
    assert args.offline is True and args.verbose is False
    defaults = cli.build_parser().parse_args(["prices", "fetch", "events.yaml"])
    assert (defaults.snapshot, defaults.cache_dir, defaults.offline) == (None, None, False)


def test_prices_show_arguments():
    args = cli.build_parser().parse_args(["prices", "show", "^N225", "--cache-dir", "c"])
    assert args.command is cli.prices_show
    assert (args.ticker, args.cache_dir) == ("^N225", Path("c"))


@pytest.mark.parametrize(
    "argv",
    [
        [
            "run",
            "events.yaml",
            "--snapshot",
            "s",
            "--out",
            "o",
            "--tables-only",
            "--no-volatility",
            "--verbose",
        ],
        [
            "--verbose",
            "run",
            "events.yaml",
            "--snapshot",
            "s",
            "--out",
            "o",
            "--tables-only",
            "--no-volatility",
        ],
    ],
)
def test_run_arguments(argv):
    args = cli.build_parser().parse_args(argv)
    assert args.command is cli.run
    assert (args.file, args.snapshot, args.out) == (Path("events.yaml"), Path("s"), Path("o"))
    assert args.tables_only and args.no_volatility and args.verbose


def test_run_defaults():
    args = cli.build_parser().parse_args(["run", "events.yaml"])
    assert (args.snapshot, args.out, args.tables_only, args.no_volatility, args.verbose) == (
        None,
        None,
        False,
        False,
        False,
    )
    assert (args.no_volume, args.assets_from) == (False, None)


def test_run_volume_and_assets_from_arguments():
    args = cli.build_parser().parse_args(
        ["run", "studies/tokyo-sectors.yaml", "--no-volume", "--assets-from", "firms.csv"]
    )
    assert args.no_volume and args.assets_from == Path("firms.csv")


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (None, "file not found (assets_from.path)"),
        ("ticker,name_en,sector33,sector17,size_class,market_segment\n8035.T,\"Tokyo,A,B,C,D\n",
         "line 2: has 2 cells, the header has 6"),
    ],
)
def test_a_bad_assets_from_file_is_one_line_exit_2(repo_root, tmp_path, capsys, content, fragment):
    firms = tmp_path / "firms.csv"
    if content is not None:
        firms.write_text(content, encoding="utf-8")
    study = repo_root / "studies" / "tokyo-sectors.yaml"
    code = cli.main(["run", str(study), "--assets-from", str(firms), "--out", str(tmp_path / "o")])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert captured.err.splitlines() == [f"eventstudy: error: {firms}: {fragment}"]
    assert not (tmp_path / "o").exists()


# --- start-up cost and entry points ---------------------------------------------------------------


def test_help_is_fast_in_a_fresh_process():
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "eventstudy", "--help"],
        check=False,
        capture_output=True,
        text=True,
        timeout=30,
    )
    elapsed = time.perf_counter() - started
    assert result.returncode == 0
    assert "usage: eventstudy" in result.stdout
    assert elapsed < 1.5


def test_importing_the_cli_imports_no_heavy_module():
    code = (
        "import sys, eventstudy.cli; "
        f"print(','.join(m for m in {HEAVY_MODULES!r} if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_python_dash_m_runs_events_check(events_file: Path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "eventstudy",
            "events",
            "check",
            str(events_file),
            "--format",
            "csv",
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 47

"""The ``eventstudy`` command line: a thin layer over ``events``, ``calendars``, ``data`` and ``runner``.

Heavy modules (pandas, numpy, exchange_calendars, yfinance, statsmodels, matplotlib) are imported
inside the command functions only, so ``eventstudy --help`` answers at once.

Examples
--------
.. code-block:: console

    $ eventstudy events check events.yaml --format csv
    $ eventstudy prices fetch events.yaml --snapshot prices
    $ eventstudy run events.yaml --out reports/tariffs-2025
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from eventstudy import __version__
from eventstudy.errors import EventStudyError

if TYPE_CHECKING:
    import pandas as pd

PROG = "eventstudy"


def events_check(args: argparse.Namespace) -> int:
    """Validate a study file and print each event's Tokyo and New York day 0.

    With ``--explain``, print the effective settings instead: every default filled in and
    marked, each asset's model and reaction, and counts of assets and events.
    """
    if args.explain:
        from eventstudy.explain import explain_study

        sys.stdout.write(explain_study(args.file))
        return 0
    from eventstudy.calendars import session_table
    from eventstudy.events import load_config

    table = session_table(load_config(args.file))
    if args.format == "csv":
        sys.stdout.write(table.to_csv(index=False))
    else:
        print(table.to_string(index=False))
    return 0


def prices_fetch(args: argparse.Namespace) -> int:
    """Load the prices a study needs (snapshot, cache or Yahoo) and summarise what arrived."""
    from eventstudy.data import fetch_prices
    from eventstudy.events import load_config
    from eventstudy.study import left_out

    config = load_config(args.file)
    prices = fetch_prices(
        config, snapshot=args.snapshot, cache_dir=args.cache_dir, offline=args.offline
    )
    missing = {t: f"{reason}; {left_out(config, t)}" for t, reason in prices.missing.items()}
    for line in _price_summary(prices.closes, missing):
        print(line)
    for ticker, note in prices.notes.items():
        print(f"note {ticker}: {note}")
    return 0


def _price_summary(closes: pd.DataFrame, missing: dict[str, str]) -> list[str]:
    """Lines describing a closes frame (dates x tickers) and the tickers that could not be loaded."""
    loaded = [ticker for ticker in closes.columns if closes[ticker].notna().any()]
    lines = [f"loaded {len(loaded)} tickers: {', '.join(map(str, loaded))}"]
    if len(closes.index):
        first, last = closes.index.min(), closes.index.max()
        lines.append(f"rows: {len(closes.index)} dates from {first:%Y-%m-%d} to {last:%Y-%m-%d}")
    else:
        lines.append("rows: 0")
    lines.extend(f"missing {ticker}: {reason}" for ticker, reason in missing.items())
    return lines


def prices_show(args: argparse.Namespace) -> int:
    """Print what the on-disk cache holds for one ticker."""
    from eventstudy.data import describe_cached

    print(describe_cached(args.ticker, args.cache_dir))
    return 0


def run(args: argparse.Namespace) -> int:
    """Run the whole study and write its report (delegates to ``eventstudy.runner``)."""
    from eventstudy.runner import run_command

    return run_command(args)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``eventstudy`` command (each leaf sets ``command``).

    Examples
    --------
    >>> args = build_parser().parse_args(["events", "check", "events.yaml"])
    >>> args.command.__name__, args.format, args.verbose
    ('events_check', 'table', False)
    """
    parser = argparse.ArgumentParser(
        prog=PROG, description="Event studies of policy news on exchange-traded assets."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _add_verbose(parser, default=False)
    groups = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    _add_events_commands(groups)
    _add_prices_commands(groups)
    _add_run_command(groups)
    return parser


def _add_verbose(parser: argparse.ArgumentParser, default: object = argparse.SUPPRESS) -> None:
    """``--verbose`` on the main parser and every subcommand (SUPPRESS keeps the main value)."""
    parser.add_argument(
        "--verbose",
        action="store_true",
        default=default,
        help="print progress details and, on an internal error, the traceback",
    )


def _leaf(groups, name: str, command: Callable[[argparse.Namespace], int], help_text: str):
    parser = groups.add_parser(name, help=help_text, description=help_text)
    parser.set_defaults(command=command)
    _add_verbose(parser)
    return parser


def _add_events_commands(groups) -> None:
    events = groups.add_parser("events", help="check a study file").add_subparsers(
        title="events commands", metavar="COMMAND", required=True
    )
    check = _leaf(
        events, "check", events_check, "validate a study file and print every event's day 0"
    )
    check.add_argument("file", type=Path, help="the study file (events.yaml)")
    check.add_argument("--format", choices=("table", "csv"), default="table")
    check.add_argument(
        "--explain",
        action="store_true",
        help="print the effective settings instead (YAML, every default filled in and marked "
        "'# default'; each asset's model and reaction; counts of assets and events)",
    )


def _add_prices_commands(groups) -> None:
    prices = groups.add_parser("prices", help="fetch or inspect prices").add_subparsers(
        title="prices commands", metavar="COMMAND", required=True
    )
    fetch = _leaf(prices, "fetch", prices_fetch, "load every price series a study file needs")
    fetch.add_argument("file", type=Path, help="the study file (events.yaml)")
    fetch.add_argument("--snapshot", type=Path, help="read prices from this snapshot folder")
    fetch.add_argument("--cache-dir", type=Path, help="on-disk price cache folder")
    fetch.add_argument("--offline", action="store_true", help="read the cache only, no network")
    show = _leaf(prices, "show", prices_show, "describe the cached prices of one ticker")
    show.add_argument("ticker")
    show.add_argument("--cache-dir", type=Path, help="on-disk price cache folder")


def _add_run_command(groups) -> None:
    run_parser = _leaf(groups, "run", run, "run a study and write its tables and figures")
    run_parser.add_argument("file", type=Path, help="the study file (events.yaml)")
    run_parser.add_argument("--snapshot", type=Path, help="read prices from this snapshot folder")
    run_parser.add_argument("--out", type=Path, help="output folder of the report")
    run_parser.add_argument("--tables-only", action="store_true", help="skip the figures")
    run_parser.add_argument(
        "--no-volatility", action="store_true", help="skip the volatility stage"
    )
    run_parser.add_argument(
        "--no-volume", action="store_true", help="skip the abnormal-volume stage"
    )
    run_parser.add_argument(
        "--assets-from",
        type=Path,
        metavar="PATH",
        help="read the assets from this CSV instead of the study file's assets_from.path "
        "(relative to the working directory; the study file's column names still apply)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return the exit code.

    Exit codes: 0 success; 2 usage error or :class:`~eventstudy.errors.EventStudyError`
    (one line on stderr per problem: a study file with several problems lists each); 1 unexpected internal error (one line, the traceback with
    ``--verbose``).

    Examples
    --------
    >>> main(["events", "check", "events.yaml", "--format", "csv"])  # doctest: +SKIP
    0
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_request:  # --help, --version and usage errors
        return 0 if exit_request.code is None else int(exit_request.code)
    try:
        return args.command(args)
    except EventStudyError as error:
        # a study file with several problems lists each on its own line; other messages are one line
        lines = str(error).splitlines() if hasattr(error, "problems") else [str(error)]
        for line in lines:
            _error_line(f"error: {line}")
        return 2
    except KeyboardInterrupt:
        _error_line("interrupted")
        return 130
    except Exception as error:  # noqa: BLE001 - the promise: one line, no unasked-for traceback
        if args.verbose:
            traceback.print_exc()
        _error_line(
            f"internal error: {type(error).__name__}: {error} (run with --verbose for the traceback)"
        )
        return 1


def _error_line(message: str) -> None:
    print(f"{PROG}: {' '.join(message.split())}", file=sys.stderr)

"""``eventstudy run``: run a study and write its tables (and, unless ``--tables-only``, the report)."""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path

from eventstudy.common import package_versions

log = logging.getLogger("eventstudy")

__all__ = ["package_versions", "run_command"]


def run_command(args) -> int:
    """Run the study named by ``args.file`` and write ``args.out`` (default ``reports/<study>``)."""
    from eventstudy.study import single_blas_thread

    with single_blas_thread():  # byte-identical outputs whatever the machine's BLAS threading
        return _run(args)


def _run(args) -> int:
    from eventstudy import aggregate, report
    from eventstudy.events import load_config
    from eventstudy.study import Study

    started = time.perf_counter()
    config = load_config(args.file)
    out = Path(args.out) if getattr(args, "out", None) else Path("reports") / config.settings.name
    progress = _progress_printer(getattr(args, "verbose", False))
    study = Study(config, snapshot=getattr(args, "snapshot", None))
    volatility = False if getattr(args, "no_volatility", False) else None
    result = study.run(volatility=volatility, progress=progress, n_jobs=min(os.cpu_count() or 1, 4))
    progress("joint estimation")
    joint = result.joint()
    progress("writing tables")
    aggregates = aggregate.tables(result)
    written = report.write_tables(result, out, extra={"joint": joint, **aggregates})
    report.write_run_log(result, out, package_versions())
    page = None
    if not getattr(args, "tables_only", False):
        from eventstudy import page as report_page

        page = report_page.write_report(result, out, joint=joint, progress=progress,
                                        tables=aggregates)
    _print_summary(result, out, len(written), time.perf_counter() - started)
    print(_last_line(out, page, time.perf_counter() - started))
    return 0


def _last_line(out: Path, page: Path | None, seconds: float) -> str:
    """Where to look and how long it took (always the last line a run prints)."""
    if page is None:
        return f"done in {seconds:.1f} s: tables in {out / 'tables'} (no report page: --tables-only)"
    return f"done in {seconds:.1f} s: open {page}"


def _progress_printer(verbose: bool):
    """A :class:`Reporter`: bars and stage lines on a terminal, quiet otherwise; ``--verbose`` logs."""
    from eventstudy.progress import Reporter

    if verbose:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    else:
        logging.basicConfig(level=logging.WARNING, format="warning: %(message)s", stream=sys.stderr)
    return Reporter(enabled=sys.stderr.isatty() or verbose)


def _print_summary(result, out: Path, n_files: int, seconds: float) -> None:
    models = result.models
    ok = int((models["status"] == "ok").sum())
    print(f"study {result.config.settings.name!r}: {len(result.config.events)} events, "
          f"{ok}/{len(models)} (event, asset) pairs estimated in {seconds:.1f}s")
    for ticker, reason in sorted(result.skipped.items()):
        print(f"  skipped {ticker}: {reason}")
    refused = models[models["status"] != "ok"]
    if len(refused):
        counts = refused.groupby("status").size().to_dict()
        print(f"  not estimated: {counts} (reasons in tables/models.csv)")
    print(f"wrote {n_files} table files to {out / 'tables'}")

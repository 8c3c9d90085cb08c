"""``eventstudy run``: run a study and write its tables (and, unless ``--tables-only``, the report)."""

from __future__ import annotations

import logging
import os
import sys
import time
from importlib import metadata
from pathlib import Path

log = logging.getLogger("eventstudy")

VERSIONED_PACKAGES = (
    "eventstudy", "numpy", "pandas", "scipy", "statsmodels", "arch", "exchange_calendars",
    "yfinance", "pyarrow", "matplotlib", "seaborn",
)


def package_versions() -> dict[str, str]:
    """Installed versions of the packages that shape the results."""
    versions = {"python": sys.version.split()[0]}
    for name in VERSIONED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def run_command(args) -> int:
    """Run the study named by ``args.file`` and write ``args.out`` (default ``reports/<study>``)."""
    from eventstudy.study import single_blas_thread

    with single_blas_thread():  # byte-identical outputs whatever the machine's BLAS threading
        return _run(args)


def _run(args) -> int:
    from eventstudy import report
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
    joint = result.joint_tables()
    progress("writing tables")
    written = report.write_tables(result, out, extra=joint)
    report.write_run_log(result, out, package_versions())
    if not getattr(args, "tables_only", False):
        _write_report(result, out, joint["joint"], progress)
    _print_summary(result, out, len(written), time.perf_counter() - started)
    return 0


def _write_report(result, out: Path, joint, progress) -> None:
    """Figures and report.html (provided by :mod:`eventstudy.report_html` when available)."""
    try:
        from eventstudy import report_html
    except ImportError:
        log.info("report page not available in this version; tables only")
        return
    report_html.write_report(result, out, joint=joint, progress=progress)


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

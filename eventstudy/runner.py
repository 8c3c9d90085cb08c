"""``eventstudy run``: run a study and write its tables (and, unless ``--tables-only``, the report)."""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path

from eventstudy.common import package_versions

log = logging.getLogger("eventstudy")

__all__ = ["package_versions", "run_command", "write_outputs"]


def run_command(args) -> int:
    """Run the study named by ``args.file`` and write ``args.out`` (default ``reports/<study>``)."""
    _system_arrow_memory()  # before anything imports pandas, which starts pyarrow
    _reuse_freed_memory()
    from eventstudy.study import single_blas_thread

    with single_blas_thread():  # byte-identical outputs whatever the machine's BLAS threading
        return _run(args)


def _system_arrow_memory() -> None:
    """Let pyarrow (the string columns of pandas, the table writers) allocate with the system
    allocator, which gives freed memory back to the stages that follow; pyarrow's own pool
    (mimalloc) keeps it. Same numbers and bytes; at 318 x 46 the run's peak is ~130 MB lower.

    When pyarrow is not yet imported (the command line), its default pool is set to the system
    one before it starts (``ARROW_DEFAULT_MEMORY_POOL``, unless already set): mimalloc, once
    started, reserves 1 GiB of address space, which counts against an address-space limit
    (``ulimit -v``, batch schedulers' virtual-memory caps) although it is never touched."""
    if "pyarrow" not in sys.modules:
        os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
    import pyarrow as pa

    pa.set_memory_pool(pa.system_memory_pool())


MALLOC_RETAINED = {-1: 2**31 - 1, -2: 64 << 20, -3: 32 << 20}
"""glibc ``mallopt`` settings of a run: ``M_TRIM_THRESHOLD`` (-1), ``M_TOP_PAD`` (-2) and
``M_MMAP_THRESHOLD`` (-3, glibc's largest, 32 MiB)."""


def _reuse_freed_memory() -> bool:
    """Have glibc keep the memory a stage frees for the stages that follow, instead of giving
    it back to the kernel and faulting fresh zeroed pages in again (arrays up to 32 MiB come
    from the heap, which is not trimmed). Same numbers and bytes. At 318 x 46 a run takes about
    120,000 fewer page faults; on a VM whose freed memory goes back to the host each fault is
    dear (docs/performance.md). No-op (False) where the C library has no ``mallopt``."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return all(mallopt(option, value) == 1 for option, value in MALLOC_RETAINED.items())


def _returns_kept(config, volatility: bool | None, tables_only: bool) -> str:
    """``'event'`` when the run reads the realised returns over the event period only: tables
    only (the page's cross-section reads the betas), no volatility stage and no cross-section
    (both read the estimation window); ``'all'`` otherwise."""
    from eventstudy.cross_section import has_attributes

    run_volatility = config.settings.volatility if volatility is None else volatility
    return "event" if tables_only and not run_volatility and not has_attributes(config) else "all"


def _run(args) -> int:
    from eventstudy.events import load_config
    from eventstudy.study import Study

    started = time.perf_counter()
    config = load_config(args.file, assets_from=getattr(args, "assets_from", None))
    out = Path(args.out) if getattr(args, "out", None) else Path("reports") / config.settings.name
    verbose = getattr(args, "verbose", False)
    progress = StageTimes(_progress_printer(verbose))
    study = Study(config, snapshot=getattr(args, "snapshot", None))
    volatility = False if getattr(args, "no_volatility", False) else None
    volume = False if getattr(args, "no_volume", False) else None
    tables_only = getattr(args, "tables_only", False)
    result = study.run(volatility=volatility, progress=progress, volume=volume,
                       expected="event",  # the tables and the page read it there only
                       ret=_returns_kept(config, volatility, tables_only))
    written, page = write_outputs(result, out, progress, tables_only)
    progress.stop()
    _print_summary(result, out, len(written), time.perf_counter() - started)
    if verbose:
        print("\n".join(progress.lines()), file=sys.stderr)
    print(_last_line(out, page, time.perf_counter() - started))
    return 0


def _cpu_seconds() -> float:
    """CPU seconds of this process and its finished children (figure workers)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def _peak_memory_gb() -> float:
    """The process's peak resident memory so far, in GB of 10^9 bytes (``ru_maxrss``: KiB on
    Linux, bytes on macOS)."""
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1e9 if sys.platform == "darwin" else peak * 1024 / 1e9


class StageTimes:
    """A progress callable that also records when each stage starts, for a table of wall and
    CPU seconds per stage and the process's peak memory at the end of it (``--verbose``); every
    other attribute is the wrapped reporter's.

    Figure stages (``'figure <name>'`` and ``'figures: ...'``) are summed into one row. The
    peak is the process's high-water mark so far (figure workers not counted): the stage where
    it rises is the stage that set it.

    Examples
    --------
    >>> clock = iter([0.0, 0.0, 2.0, 1.5, 2.5, 2.5, 3.0, 3.0])
    >>> peaks = iter([0.2, 0.2, 0.5, 0.5])
    >>> times = StageTimes(lambda stage: None, clock=lambda: next(clock), memory=lambda: next(peaks))
    >>> times("prices"); times("figure a"); times("figure b"); times.stop()
    >>> times.lines()[1:]
    ['  prices                          2.0 wall    1.5 CPU   0.20 GB peak', '  figures (2)                     1.0 wall    1.5 CPU   0.50 GB peak']
    """

    def __init__(self, reporter, clock=None, memory=None) -> None:
        self.reporter = reporter
        self.clock = clock or (lambda: time.perf_counter())
        self.cpu = _cpu_seconds if clock is None else self.clock
        self.memory = memory or _peak_memory_gb
        self.marks: list[tuple[str, float, float, float]] = []

    def __call__(self, stage: str) -> None:
        self.marks.append((stage, self.clock(), self.cpu(), self.memory()))
        self.reporter(stage)

    def __getattr__(self, name: str):
        return getattr(self.reporter, name)

    def stop(self) -> None:
        """Close the last stage."""
        self.marks.append(("", self.clock(), self.cpu(), self.memory()))

    def lines(self) -> list[str]:
        """``stage  wall  CPU  peak`` lines, stages in order of their first start."""
        totals: dict[str, list[float]] = {}
        for (stage, wall, cpu, _), (_, next_wall, next_cpu, peak) in zip(self.marks, self.marks[1:]):
            key = "figures" if stage.startswith("figure") else stage
            row = totals.setdefault(key, [0.0, 0.0, 0, 0.0])
            row[0] += next_wall - wall
            row[1] += next_cpu - cpu
            row[2] += stage.startswith("figure ")
            row[3] = max(row[3], peak)
        out = ["stage times (seconds):"]
        for stage, (wall, cpu, n, peak) in totals.items():
            name = f"figures ({int(n)})" if stage == "figures" else stage
            out.append(f"  {name:<28s}{wall:7.1f} wall {cpu:6.1f} CPU {peak:6.2f} GB peak")
        return out


def write_outputs(result, out: str | Path, progress=None, tables_only: bool = False,
                  ) -> tuple[list[Path], Path | None]:
    """Everything ``eventstudy run`` writes for a finished study: the tables (the result's, the
    joint estimation, CAR paths and averages and, for a study whose assets carry attributes, the
    ``cross_section`` regression of the report's key events), the run log and, unless
    ``tables_only``, the report page. Returns the table files and the page (None).

    Examples
    --------
    >>> written, page = write_outputs(res, "reports/tokyo-sectors")  # doctest: +SKIP
    """
    from eventstudy import aggregate, report
    from eventstudy.featured import choose

    step = progress or (lambda stage: None)
    out = Path(out)
    step("writing tables")  # each table is written as soon as it is made (the same files)
    written = report.write_tables(result, out)
    step("joint estimation")
    page_joint = None
    if tables_only:  # each cluster's rows written as they are estimated, none held after
        parts = result.joint_parts()
        written += report.write_table_parts("joint", parts.rows(), out)
        step("writing tables")
        written += report.write_table("joint_clusters", parts.clusters(), out)
    else:  # the report page reads the whole table
        joint = result.joint_tables()
        page_joint = joint["joint"]
        step("writing tables")
        written += _write_and_release(joint, out)
    step("CAR paths and averages")
    averages = aggregate.Aggregates(result)
    if tables_only:  # the pairs' paths written a piece at a time, none held after
        written += report.write_table_parts("car_paths", averages.car_path_parts(), out)
        aggregates = {"caar": averages.caar()}
    else:
        aggregates = {"car_paths": averages.car_paths(), "caar": averages.caar()}
    del averages
    from eventstudy.cross_section import has_attributes

    featured = None  # the report's choices, made once for the regression and the page
    if not tables_only or has_attributes(result.config):
        featured = choose(result, aggregates["caar"])
    aggregates.update(_cross_section_tables(result, featured, step))
    step("writing tables")
    if tables_only:
        written += _write_and_release(aggregates, out)
    else:
        written += [path for name, frame in aggregates.items()
                    for path in report.write_table(name, frame, out)]
    report.write_run_log(result, out, package_versions())
    if tables_only:
        return written, None
    step("planning the report")
    from eventstudy import page as report_page

    page = report_page.write_report(result, out, joint=page_joint, progress=progress,
                                    tables=aggregates, featured=featured)
    return written, page


def _write_and_release(tables: dict, out: Path) -> list[Path]:
    """Write the tables one by one, each taken out of ``tables`` (emptied) before it is written,
    so that none is held after its files are."""
    from eventstudy import report

    written = []
    for name in list(tables):
        written += report.write_table(name, tables.pop(name), out)
    return written


def _cross_section_tables(result, featured, step) -> dict:
    """``{"cross_section": ...}`` for a study whose assets carry attributes (else empty): the
    regression of the report's key events over its primary window."""
    from eventstudy.cross_section import has_attributes, report_cross_section

    if not has_attributes(result.config):
        return {}
    step("cross-sectional regression")
    return {"cross_section": report_cross_section(result, featured)}


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
    for line in summary_lines(result, seconds):
        print(line)
    print(f"wrote {n_files} table files to {out / 'tables'}")


MAX_LISTED = 10


def summary_lines(result, seconds: float) -> list[str]:
    """What the run did and what it refused: series without prices (and what that leaves out),
    proxies used in a series' place, and the (event, asset) pairs that were not estimated.

    Examples
    --------
    >>> print("\\n".join(summary_lines(result, 1.2)))  # doctest: +SKIP
    study 'tariffs-2025': 46 events, 640/644 (event, asset) pairs estimated in 1.2s
      no prices for NIKKEI_SEMI: no file 'NIKKEI_SEMI.csv' in snapshot ...; leaves out NIKKEI_SEMI
      not estimated: 4 pairs (reasons in tables/models.csv)
        round8 / 285A.T: insufficient: only 97 estimation returns for 285A.T (...)
    """
    from eventstudy.study import left_out

    # one row per (event, asset): an asset's own model (a total-reaction twin shares its fate)
    models = result.models.drop_duplicates(["event_id", "asset"])
    ok = int((models["status"] == "ok").sum())
    twins = len(result.models) - len(models)
    extra = f" (+ {twins} total-reaction twins)" if twins else ""
    headline = (f"study {result.config.settings.name!r}: {len(result.config.events)} events, "
                f"{ok}/{len(models)} (event, asset) pairs estimated{extra} in {seconds:.1f}s")
    lines = [headline]
    for ticker, reason in result.missing.items():
        lines.append(f"  no prices for {ticker}: {reason}; {left_out(result.config, ticker)}")
    for ticker, reason in sorted(result.skipped.items()):
        if ticker not in result.missing and "its model needs" not in reason:
            lines.append(f"  skipped {ticker}: {reason}")
    lines.extend(volume_lines(result))
    provenance = result.provenance
    if "proxy" in provenance.columns:
        for row in provenance[provenance["proxy"].fillna("") != ""].itertuples():
            lines.append(f"  proxy: {row.ticker} is the series {row.proxy} (a different series, "
                         "as study.prices.proxies asks)")
    refused = models[models["status"] != "ok"]
    if len(refused):
        pairs = "pair" if len(refused) == 1 else "pairs"
        lines.append(f"  not estimated: {len(refused)} {pairs} (reasons in tables/models.csv)")
        groups = list(refused.groupby(["asset", "status"], sort=False))
        for (asset, status), rows in groups[:MAX_LISTED]:
            first = rows.iloc[0]
            if len(rows) == 1:
                lines.append(f"    {first.event_id} / {asset}: {status}: {first.message}")
            else:
                lines.append(f"    {asset}: {len(rows)} events {status}, e.g. {first.event_id}: "
                             f"{first.message}")
        if len(groups) > MAX_LISTED:
            rest = sum(len(rows) for _, rows in groups[MAX_LISTED:])
            lines.append(f"    ... and {rest} more")
    return lines


def volume_lines(result) -> list[str]:
    """What the abnormal-volume stage measured and which series it skipped for want of volume.

    Examples
    --------
    >>> print("\\n".join(volume_lines(result)))  # doctest: +SKIP
      abnormal volume: 14,674 (event, asset) pairs of 319 assets (tables/volume.csv)
      abnormal volume skipped ^TOPX: no volume data (all missing)
    """
    lines = []
    if result.volume is not None:
        ok = result.volume.drop_duplicates(["event_id", "asset"])
        ok = ok[ok["status"] == "ok"]
        lines.append(f"  abnormal volume: {len(ok):,} (event, asset) pairs of "
                     f"{ok['asset'].nunique():,} assets (tables/volume.csv)")
    elif result.volume_skipped:
        lines.append("  abnormal volume: not measured, no studied series has volume")
    skipped = sorted(result.volume_skipped.items())
    for ticker, reason in skipped[:MAX_LISTED]:
        lines.append(f"  abnormal volume skipped {ticker}: {reason}")
    if len(skipped) > MAX_LISTED:
        lines.append(f"    ... and {len(skipped) - MAX_LISTED} more")
    return lines

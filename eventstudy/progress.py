"""Progress reporting for the command line: stage lines and counters drawn as a bar on a terminal.

Silent when standard error is not a terminal (CI logs, pipes), unless ``verbose``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

BAR_WIDTH = 28


class Reporter:
    """Prints ``[  1.2s] stage`` lines and ``label [#####.....] 12/40`` bars to ``stream``.

    Calling the reporter with a stage name is the same as :meth:`stage`, so it can be passed
    wherever a plain ``progress(stage)`` callable is expected.

    Examples
    --------
    >>> reporter = Reporter(enabled=True)        # doctest: +SKIP
    >>> advance = reporter.counter("GARCH fits", 694)  # doctest: +SKIP
    >>> advance(10)  # doctest: +SKIP
    """

    def __init__(self, enabled: bool | None = None, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.interactive = self.stream.isatty()
        self.started = time.perf_counter()

    def __call__(self, stage: str) -> None:
        self.stage(stage)

    def stage(self, name: str) -> None:
        """Announce that a stage starts."""
        if self.enabled:
            print(f"[{time.perf_counter() - self.started:6.1f}s] {name}", file=self.stream, flush=True)

    def counter(self, label: str, total: int) -> Callable[[int], None]:
        """A function ``advance(n)`` that moves a bar of ``total`` steps by ``n``."""
        done = 0

        def advance(n: int = 1) -> None:
            nonlocal done
            done = min(total, done + n)
            if not self.enabled or total <= 0:
                return
            if self.interactive:
                filled = int(BAR_WIDTH * done / total)
                bar = "#" * filled + "." * (BAR_WIDTH - filled)
                end = "\n" if done >= total else ""
                print(f"\r         {label} [{bar}] {done}/{total}", end=end, file=self.stream, flush=True)
            elif done >= total:
                print(f"         {label}: {done}/{total}", file=self.stream, flush=True)

        return advance

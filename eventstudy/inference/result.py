"""The result of one test over K cross-sections (or K cells of single pairs)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class TestResult:
    """Statistics of one test over K cross-sections.

    A test that cannot be computed in a cross-section gets NaN there with the reason in
    ``note`` (the first reason recorded wins); ``note`` is ``''`` where it was computed.
    ``p_value`` is set by tests whose p-value is not parametric (bootstrap, permutation).
    """

    __test__ = False  # not a pytest test class

    statistic: np.ndarray
    distribution: str
    df: np.ndarray
    n: np.ndarray
    note: np.ndarray
    r_bar: np.ndarray | None = None
    p_value: np.ndarray | None = None

    @classmethod
    def start(cls, n: np.ndarray, distribution: str) -> TestResult:
        size = len(n)
        note = np.empty(size, dtype=object)
        note[:] = ""
        return cls(
            statistic=np.full(size, np.nan),
            distribution=distribution,
            df=np.full(size, np.nan),
            n=np.asarray(n, dtype=np.int64),
            note=note,
        )

    def fail(self, condition: np.ndarray, reason: str) -> None:
        """Record ``reason`` where ``condition`` holds and no earlier reason was given."""
        condition = np.asarray(condition, dtype=bool)
        if condition.any():  # (most conditions hold nowhere: no string comparison then)
            self.note[condition & (self.note == "")] = reason

    def finish(self, statistic: np.ndarray) -> TestResult:
        """Set the statistic, NaN wherever a reason was recorded or the value is not finite."""
        self.fail(~np.isfinite(statistic), "not computable: non-finite input")
        failed = self.note != ""
        self.statistic = np.where(failed, np.nan, statistic)
        if self.distribution == "t":
            self.df = np.where(failed, np.nan, self.df)
        if self.p_value is not None:
            self.p_value = np.where(failed, np.nan, self.p_value)
        return self

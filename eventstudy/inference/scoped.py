"""The one execution route of the cross-sectional tests: a battery per scope.

:func:`scoped_tests` runs every test of :data:`TEST_IDS` on every event-period day and
every CAR window of each scope; :func:`daily_tests` and :func:`window_tests` are its
one-scope case (all pairs of the panel). What belongs to a pair alone is computed once per
call (:class:`~eventstudy.inference.sections.PairTable`), what depends on a scope's pairs
once per scope; nothing is cached between calls. A test that assumes independent pairs is
not computed where it is withheld on every day (window) of a scope: its rows show ``n`` only,
as they would if it were computed and then withheld.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from eventstudy import registry
from eventstudy.abnormal import bhar, format_window
from eventstudy.inference import frames
from eventstudy.inference import statistics as st
from eventstudy.inference.bootstrap import skew_t_test
from eventstudy.inference.kernels import distinct_rows, pair_slices, r_bar_from_sums
from eventstudy.inference.pvalues import check_alternative, parametric_p_value
from eventstudy.inference.ranks import RankSums, ScopeMembers, scope_rank_sums
from eventstudy.inference.result import TestResult
from eventstudy.inference.sections import PairTable, ScopeData, Sections, scope_order
from eventstudy.panel import AbnormalPanel
from eventstudy.scopes import (
    SCOPE_LABELS,
    Scope,
    calendar_span,
    overlapping_periods,
    shares_an_event,
)

BATTERY: dict[str, Callable[[ScopeData, Sections], TestResult]] = {
    "cs_t": st.cs_t,
    "patell": st.patell,
    "bmp": st.bmp,
    "kp_bmp": st.kp_bmp,
    "kp_patell": st.kp_patell,
    "crude_dependence": st.crude_dependence,
    "lamb": st.lamb,
    "sign": st.sign,
    "gen_sign": st.gen_sign,
    "corrado": st.corrado,
    "corrado_zivney": st.corrado_zivney,
    "grank": st.grank,
    "wilcoxon": st.wilcoxon,
}
"""Tests of the abnormal return of a day (AR) and of a window (CAR), in output order."""
BHAR_TEST = "bhar_skew_t"
DAILY_TEST_IDS: tuple[str, ...] = tuple(BATTERY)
"""Cross-sectional tests reported for each event-period day."""
TEST_IDS: tuple[str, ...] = (*DAILY_TEST_IDS, BHAR_TEST)
"""Cross-sectional tests reported for each window (the day tests plus the BHAR test)."""


UNSIZED_NOTE = (
    "not reported: assumes independent pairs; these share an event or a session "
    "(docs/methods.md#withheld-clustered)"
)
"""``note`` of a test that assumes independent pairs where the scope's pairs are not (they
reject 9-11% of true nulls at 5% when 30 stocks share a date, docs/validation.md)."""


def clustering_note(test_id: str) -> str:
    """What a cross-sectional row's ``note`` says about same-date clustering (from the registry).

    Examples
    --------
    >>> clustering_note("kp_bmp")
    'robust to same-date clustering'
    """
    return (
        "robust to same-date clustering"
        if _robust(test_id)
        else "assumes independent pairs: here they belong to different events and share no session"
    )


def scoped_tests(
    panel: AbnormalPanel,
    scopes: Sequence[Scope],
    windows: Sequence[tuple[int, int]],
    alternative: str = "two-sided",
    returns: str = "simple",
    assume_independent: bool | None = None,
    tests: Sequence[str] | None = None,
    pairs_per_slice: int | None = None,
) -> pd.DataFrame:
    """Daily and window cross-sectional tests of every scope of one panel.

    Parameters
    ----------
    panel : AbnormalPanel
        Abnormal returns of all pairs.
    scopes : sequence of Scope
        The cross-sections (:func:`eventstudy.scopes.build_scopes`); ``Scope.rows`` is a
        boolean mask over the panel's pairs.
    windows : sequence of (int, int)
        CAR windows ``(first, last)``, inclusive.
    alternative : {'two-sided', 'greater', 'less'}
        Alternative hypothesis of the p-values (H0: no abnormal return).
    returns : {'simple', 'log'}
        Kind of ``panel.ret``; BHARs compound simple returns.
    assume_independent : bool, optional
        Whether the tests that assume independent pairs (registry flag
        ``robust_to_clustering=False``) are computed. Default: only where the scope's
        pairs, for that day or window, belong to different events and share no calendar day of
        its sessions (docs/methods.md#withheld-clustered); elsewhere they are NaN with
        :data:`UNSIZED_NOTE`.
        ``True`` computes them everywhere (for size studies of the tests themselves).
    tests : sequence of str, optional
        Compute only these ids of :data:`TEST_IDS` (default: all); rows keep the same order.
    pairs_per_slice : int, optional
        Prepare the per-pair inputs this many pairs at a time (default: all at once); the
        rows do not depend on it, only the working memory does.

    Returns
    -------
    DataFrame
        Columns :data:`~eventstudy.inference.frames.TEST_COLUMNS` (``asset`` ``''``); per
        scope first the daily rows (by ``rel_day``, then :data:`DAILY_TEST_IDS`; ``window``
        ``''``), then each window's rows (:data:`TEST_IDS`; ``rel_day`` NA). A statistic that
        cannot be computed is NaN with the reason in ``note``; every ``note`` says whether
        the test is robust to same-date clustering.

    Examples
    --------
    >>> scoped_tests(panel, result.scopes(), [(0, 1)])  # doctest: +SKIP
    """
    check_alternative(alternative)
    if tests is not None:
        unknown = sorted(set(tests) - set(TEST_IDS))
        if unknown:
            raise ValueError(f"unknown test id(s) {', '.join(unknown)}; known: {', '.join(TEST_IDS)}")
    test_ids = TEST_IDS if tests is None else tuple(t for t in TEST_IDS if t in tests)
    battery = _Battery.prepare(
        panel, windows, days=True, returns=returns, alternative=alternative,
        assume_independent=assume_independent, pairs_per_slice=pairs_per_slice,
        with_bhar=BHAR_TEST in test_ids,
    )
    battery.test_ids = test_ids
    members = [np.flatnonzero(np.asarray(scope.rows, dtype=bool)) for scope in scopes]
    known = _CorradoSums.build(battery, members) if "corrado" in battery.test_ids else None
    blocks = [
        battery.scope_block(rows, None if known is None else known.scope_sums(position))
        for position, rows in enumerate(members)
    ]
    if not blocks:
        return frames.empty(frames.TEST_COLUMNS)
    columns = battery.stack(blocks)
    sizes = [len(block["test"]) for block in blocks]
    labels = np.array([scope.labels() for scope in scopes], dtype=object)
    owner = np.repeat(np.arange(len(scopes)), sizes)
    for position, name in enumerate(SCOPE_LABELS):
        columns[name] = frames.labels_taken(labels[:, position], owner)
    columns["asset"] = frames.labels_taken([""], np.zeros(len(owner), dtype=np.intp))
    return frames.frame(columns, frames.TEST_COLUMNS)


def daily_tests(
    panel: AbnormalPanel, alternative: str = "two-sided", assume_independent: bool | None = None
) -> pd.DataFrame:
    """Cross-sectional tests of every event-period day over all pairs of ``panel``.

    The one-scope case of :func:`scoped_tests`.

    Parameters
    ----------
    panel : AbnormalPanel
        Abnormal returns of N (event, asset) pairs.
    alternative : {'two-sided', 'greater', 'less'}
        Alternative hypothesis of the p-values.
    assume_independent : bool, optional
        As in :func:`scoped_tests`.

    Returns
    -------
    DataFrame
        One row per (event-period ``rel_day``, test of :data:`DAILY_TEST_IDS`), in that
        order, with columns ``rel_day, test, statistic, p_value, distribution, df, n, r_bar,
        note``.

    Examples
    --------
    >>> table = daily_tests(panel)  # doctest: +SKIP
    >>> table.query("rel_day == 0 and test == 'kp_bmp'")  # doctest: +SKIP
    """
    check_alternative(alternative)
    battery = _Battery.prepare(
        panel, [], days=True, returns="simple", alternative=alternative,
        assume_independent=assume_independent,
    )
    columns = battery.stack([battery.scope_block(np.arange(panel.n_pairs))])
    columns["rel_day"] = np.asarray(columns["rel_day"], dtype=np.int64)
    return frames.frame(columns, frames.DAILY_COLUMNS)


def window_tests(
    panel: AbnormalPanel,
    window: tuple[int, int],
    alternative: str = "two-sided",
    returns: str = "simple",
    assume_independent: bool | None = None,
) -> pd.DataFrame:
    """Cross-sectional tests of the abnormal return over ``window`` (all pairs of ``panel``).

    The one-scope, one-window case of :func:`scoped_tests`.

    Parameters
    ----------
    panel : AbnormalPanel
        Abnormal returns of N (event, asset) pairs.
    window : tuple of int
        ``(first, last)`` event-period ``rel_day`` of the window, inclusive.
    alternative : {'two-sided', 'greater', 'less'}
        Alternative hypothesis of the p-values.
    returns : {'simple', 'log'}
        Kind of ``panel.ret`` (for the BHARs).
    assume_independent : bool, optional
        As in :func:`scoped_tests`.

    Returns
    -------
    DataFrame
        One row per test of :data:`TEST_IDS` with columns ``test, statistic, p_value,
        distribution, df, n, r_bar, note``.

    Examples
    --------
    >>> window_tests(panel, (0, 1))  # doctest: +SKIP
    """
    check_alternative(alternative)
    battery = _Battery.prepare(
        panel, [tuple(window)], days=False, returns=returns, alternative=alternative,
        assume_independent=assume_independent,
    )
    columns = battery.stack([battery.scope_block(np.arange(panel.n_pairs))])
    return frames.frame(columns, frames.WINDOW_COLUMNS)


@dataclass
class _Battery:
    """One call's inputs: the pairs, the day and window cross-sections, the settings."""

    pairs: PairTable
    days: Sections | None
    windows: Sections | None
    rel_days: np.ndarray
    labels: list[str]
    alternative: str
    bootstrap_memo: dict
    event_days: np.ndarray
    event_ids: np.ndarray
    assume_independent: bool | None
    test_ids: tuple[str, ...] = TEST_IDS

    @classmethod
    def prepare(
        cls,
        panel: AbnormalPanel,
        windows: Sequence[tuple[int, int]],
        days: bool,
        returns: str,
        alternative: str,
        assume_independent: bool | None = None,
        pairs_per_slice: int | None = None,
        with_bhar: bool = True,
    ) -> _Battery:
        """Every pair's inputs, once per panel, ``pairs_per_slice`` pairs at a time (default all
        at once): a pair's values depend on it alone, so the slices only bound the working
        arrays (a slice is never a single pair of a larger panel, see
        :func:`~eventstudy.inference.kernels.pair_slices`). ``with_bhar``: the windows' BHARs too
        (only :data:`BHAR_TEST` reads them; they need the panel's ``ret`` and ``expected``)."""
        windows = [tuple(int(day) for day in window) for window in windows]
        n_days = len(panel.event_rel_days)
        selector = np.array([panel.window_selector(w).astype(bool) for w in windows])
        bhars = np.array([bhar(panel, w, returns) for w in windows]) if windows and with_bhar else None
        day_parts, window_parts = [], []
        slices = pair_slices(panel.n_pairs, pairs_per_slice or panel.n_pairs) or [slice(0, 0)]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            table = PairTable.from_slices(panel, slices)
            for rows in slices:
                if days:
                    day_parts.append(
                        Sections.build(panel, rows, np.eye(n_days, dtype=bool), is_window=False)
                    )
                if windows:
                    window_parts.append(
                        Sections.build(panel, rows, selector, is_window=True,
                                       bhar=None if bhars is None else bhars[:, rows])
                    )
        return cls(
            table,
            Sections.concat(day_parts) if days else None,
            Sections.concat(window_parts) if windows else None,
            panel.event_rel_days.astype(np.int64),
            [format_window(w) for w in windows],
            alternative,
            {},
            panel.event_calendar_days(),
            np.asarray(panel.event_ids),
            assume_independent,
        )

    def scope_block(self, rows: np.ndarray, rank_sums: dict | None = None) -> dict[str, np.ndarray]:
        """Output columns of one scope (all but the labels), rows in output order;
        ``rank_sums``: the scope's :attr:`ScopeData.rank_sums` known beforehand."""
        rows = scope_order(self.pairs.n_est_obs, rows)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            days = self.days.take(rows) if self.days is not None else None
            windows = self.windows.take(rows) if self.windows is not None else None
            daily_ids = [t for t in DAILY_TEST_IDS if t in self.test_ids] if days is not None else []
            window_ids = list(self.test_ids) if windows is not None else []
            suppress = {
                "days": self._clustered(days, rows) if daily_ids else None,
                "windows": self._clustered(windows, rows) if window_ids else None,
            }
            computed = set(
                [t for t in daily_ids if not _withheld_everywhere(t, suppress["days"])]
                + [t for t in window_ids if not _withheld_everywhere(t, suppress["windows"])]
            )
            scope = ScopeData.build(self.pairs.take(rows), self.alternative)
            scope.rank_sums.update(rank_sums or {})
            if computed & _READS_R_BAR:
                _prefill_r_bar(scope, [s.std_members for s in (days, windows) if s is not None])
            kinds = [(sections, ids, suppress["days" if is_day else "windows"], is_day)
                     for sections, ids, is_day in ((days, daily_ids, True), (windows, window_ids, False))
                     if ids]
            results: dict[bool, list[tuple[str, TestResult]]] = {True: [], False: []}
            order = [t for t in TEST_IDS if t in daily_ids or t in window_ids]
            for position, test_id in enumerate(order):  # each test on days and windows
                scope.release(_unread_inputs(order[position:], scope.prepared()))
                if test_id in computed:  # its inputs made first, so that what they are made of
                    scope.prepare(_LARGE_INPUTS_READ.get(test_id, ()))  # can be dropped
                    scope.release(_unread_inputs(order[position:], scope.prepared()))
                for sections, ids, where, is_day in kinds:
                    if test_id in ids:
                        results[is_day].append((test_id, self._result(test_id, scope, sections, where)))
            parts = [self._columns(results[is_day], sections.count, is_day, where)
                     for sections, _, where, is_day in kinds]
        if not parts:  # e.g. only the BHAR test and no window
            return {name: np.empty(0, dtype=dtype) for name, dtype in _BLOCK_DTYPES.items()}
        return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}

    def _result(
        self, test_id: str, scope: ScopeData, sections: Sections, suppress: np.ndarray
    ) -> TestResult:
        """One test over K cross-sections; not computed where it is withheld in all of them
        (its rows show only ``n``, the same rows as computing it and masking it)."""
        withheld = _withheld_everywhere(test_id, suppress)
        if test_id == BHAR_TEST:
            members = np.isfinite(sections.bhar)
            if withheld:
                return TestResult.start(members.sum(axis=1), "bootstrap")
            return skew_t_test(sections.bhar, members, self.alternative, self.bootstrap_memo)
        if withheld:
            return st.withheld(test_id, sections)
        return BATTERY[test_id](scope, sections)

    def _clustered(self, sections: Sections, rows: np.ndarray) -> np.ndarray:
        """Per cross-section: do two of the scope's pairs share an event or a calendar day of
        its sessions?"""
        if self.assume_independent is not None:
            return np.full(sections.count, not self.assume_independent)
        if shares_an_event(self.event_ids[rows]):
            return np.ones(sections.count, dtype=bool)
        days = self.event_days[rows]
        return np.array(
            [overlapping_periods(*calendar_span(days, s)) for s in sections.selector], dtype=bool
        )

    def _columns(
        self, results: list[tuple[str, TestResult]], n_sections: int, is_day: bool,
        suppress: np.ndarray,
    ) -> dict:
        """Columns of K cross-sections x tests, ordered by cross-section then test; where
        ``suppress`` (K,) holds, the tests that assume independent pairs are NaN with their
        reason."""
        unsized = {
            test_id for test_id, _ in results
            if suppress.any() and not _robust(test_id)
        }
        everywhere = bool(suppress.all())  # then those tests were not computed: nothing to mask
        results = [(t, _not_reported(r, suppress) if t in unsized and not everywhere else r)
                   for t, r in results]
        n_tests = len(results)
        order = np.arange(n_tests * n_sections).reshape(n_tests, n_sections).T.ravel()
        test_rank = np.repeat([TEST_IDS.index(test_id) for test_id, _ in results], n_sections)
        p_value = [  # NaN: parametric, computed for all rows at once in stack()
            r.p_value if r.p_value is not None else np.full(n_sections, np.nan) for _, r in results
        ]
        notes: list[str] = []
        for test_id, r in results:
            note = clustering_note(test_id)
            joined = "; " + note
            notes += [x + joined if x else note for x in r.note.tolist()]
            if test_id in unsized:
                for j in np.flatnonzero(suppress).tolist():
                    notes[len(notes) - n_sections + j] = UNSIZED_NOTE
        section = np.tile(np.arange(n_sections), n_tests)
        columns = {
            "test": test_rank,
            "statistic": np.concatenate([r.statistic for _, r in results]),
            "p_value": np.concatenate(p_value),
            "distribution": np.repeat(
                np.array([r.distribution for _, r in results], dtype=object), n_sections
            ),
            "df": np.concatenate([r.df for _, r in results]).astype(float),
            "n": np.concatenate([r.n for _, r in results]).astype(np.int64),
            "r_bar": np.concatenate(
                [
                    r.r_bar if r.r_bar is not None else np.full(n_sections, np.nan)
                    for _, r in results
                ]
            ).astype(float),
            "note": np.array(notes, dtype=object),
            "rel_day": self.rel_days[section] if is_day else np.zeros(len(section), dtype=np.int64),
            "is_day": np.full(len(section), is_day),
            "window": section if not is_day else np.full(len(section), -1),
        }
        return {name: values[order] for name, values in columns.items()}

    def stack(self, blocks: list[dict[str, np.ndarray]]) -> dict[str, object]:
        """Frame columns of the scopes' blocks (labels and p-values decoded)."""
        columns = {name: np.concatenate([block[name] for block in blocks]) for name in blocks[0]}
        out: dict[str, object] = {name: columns[name] for name in ("statistic", "df", "n", "r_bar")}
        parametric = np.isin(columns["distribution"], ("t", "normal"))
        out["p_value"] = np.where(
            parametric,
            parametric_p_value(
                columns["statistic"], columns["distribution"], columns["df"], self.alternative
            ),
            columns["p_value"],
        )
        out["test"] = frames.labels_taken(TEST_IDS, columns["test"])
        out["distribution"] = frames.encoded(columns["distribution"])
        out["note"] = frames.encoded(columns["note"])
        out["rel_day"] = frames.int_or_na(columns["rel_day"], ~columns["is_day"])
        out["window"] = frames.labels_taken(["", *self.labels], columns["window"] + 1)
        return out


_BLOCK_DTYPES = {
    "test": np.int64, "statistic": float, "p_value": float, "distribution": object,
    "df": float, "n": np.int64, "r_bar": float, "note": object, "rel_day": np.int64,
    "is_day": bool, "window": np.int64,
}
"""Columns of a scope's block (:meth:`_Battery._columns`), for a block without rows."""


@dataclass
class _CorradoSums:
    """Corrado's rank sums of every scope, from each pair's own rank terms.

    Corrado's ranks are the pair's own (time-series ranks, the same in every scope) and its
    sums are exact, so each pair's centred ranks are formed once per cross-section and every
    scope adds up its pairs' (:func:`~eventstudy.inference.ranks.scope_rank_sums`), instead
    of ranking each scope's pairs again.
    """

    estimation2: dict  # is_window -> (S, K, T) int32, twice the sums
    event: dict  # is_window -> (S, K, E)

    @classmethod
    def build(cls, battery: _Battery, members: Sequence[np.ndarray]) -> _CorradoSums:
        """The sums of the scopes whose pairs are ``members`` (integer indices)."""
        table = battery.pairs
        scopes = ScopeMembers(members, len(table.n_est_obs))
        tested = [sections for sections in (battery.days, battery.windows) if sections is not None]
        if not tested:
            return cls({}, {})
        estimation2, event = scope_rank_sums(  # days and windows together: each day shifted once
            table.position, table.ar_rank2, table.n_est_obs, table.event_ar, table.ar_below,
            table.ar_at_most, np.concatenate([sections.members for sections in tested]),
            np.concatenate([sections.selector for sections in tested]), scopes,
        )
        bounds = np.cumsum([0] + [sections.count for sections in tested])
        keys = [sections.is_window for sections in tested]
        estimation2 = {key: estimation2[:, a:b] for key, a, b in zip(keys, bounds[:-1], bounds[1:])}
        event = {key: event[:, a:b] for key, a, b in zip(keys, bounds[:-1], bounds[1:])}
        return cls(estimation2, event)

    def scope_sums(self, position: int) -> dict:
        """:attr:`ScopeData.rank_sums` of scope ``position`` (``counts`` left to the test:
        they depend on the members only)."""
        return {("corrado", is_window): RankSums(self.estimation2[is_window][position] * 0.5,
                                                 None, self.event[is_window][position])
                for is_window in self.estimation2}


_READS_R_BAR = frozenset({"kp_bmp", "kp_patell", "grank"})
"""Tests that read the cross-sections' ``r_bar``."""

_LARGE_INPUTS_READ: dict[str, frozenset[str]] = {
    "crude_dependence": frozenset({"est_resid", "est_weight"}),
    "gen_sign": frozenset({"est_mask", "est_resid", "est_weight"}),
    "corrado": frozenset({"est_weight"}),  # and est_ar_sorted where its rank sums are not known
    "corrado_zivney": frozenset({"est_sar_sorted", "_corrado_zivney"}),
    "grank": frozenset({"est_sar_sorted"}),
}
"""The (scope pairs x grid) inputs of :class:`ScopeData` each test reads: a scope makes them
before the test and drops each after the last test that reads it (or reads an input not yet
made from it, :data:`_MADE_FROM`). Only memory depends on these tables: an input read after it
was dropped is computed again, the same. The residual correlations are read by none (``r_bar``
is filled in for every member set beforehand)."""
_MADE_FROM: dict[str, frozenset[str]] = {
    "est_mask": frozenset({"_position"}),
    "est_weight": frozenset({"_position"}),
    "est_resid": frozenset({"_position"}),
    "est_ar_sorted": frozenset({"_position", "est_weight"}),
    "est_sar_sorted": frozenset({"_position", "est_weight", "est_resid"}),
    "_corrado_zivney": frozenset({"est_sar_sorted"}),
}
_LARGE_INPUTS = frozenset({"correlation", *_MADE_FROM}).union(*_LARGE_INPUTS_READ.values(),
                                                               *_MADE_FROM.values())


def _unread_inputs(tests: Sequence[str], made: frozenset[str]) -> frozenset[str]:
    """The large scope inputs none of ``tests`` reads, directly or through an input not yet
    ``made``."""
    needed: set[str] = set()
    pending = [name for t in tests for name in _LARGE_INPUTS_READ.get(t, ())]
    while pending:
        name = pending.pop()
        if name not in needed:
            needed.add(name)
            if name not in made:
                pending += _MADE_FROM.get(name, ())
    return _LARGE_INPUTS - needed


def _withheld_everywhere(test_id: str, suppress: np.ndarray | None) -> bool:
    """Whether ``test_id`` assumes independent pairs and is withheld in every cross-section."""
    return (
        suppress is not None
        and not _robust(test_id)
        and bool(suppress.all())
    )


def _robust(test_id: str) -> bool:
    """The registry's ``robust_to_clustering`` of a cross-sectional test."""
    return bool(registry.CROSS_SECTIONAL_TESTS[test_id].robust_to_clustering)


def _not_reported(result: TestResult, where: np.ndarray) -> TestResult:
    """``result`` with NaN statistic, p-value and df in the cross-sections ``where`` (a test
    not reported there)."""
    p_value = result.p_value if result.p_value is not None else np.full(len(where), np.nan)
    return TestResult(
        statistic=np.where(where, np.nan, result.statistic), distribution=result.distribution,
        df=np.where(where, np.nan, result.df), n=result.n, note=result.note,
        r_bar=result.r_bar, p_value=np.where(where, np.nan, p_value),
    )


def _prefill_r_bar(scope: ScopeData, member_sets: list[np.ndarray]) -> None:
    """``r_bar`` of every cross-section of ``member_sets`` in one pass over distinct member sets."""
    stacked = np.concatenate(member_sets, axis=0)
    if stacked.shape[0] == 0 or stacked.shape[1] == 0:
        return
    first, inverse = distinct_rows(stacked)
    total, count = scope.correlation.pair_sums(stacked[first])
    r_bar = r_bar_from_sums(total, count)[inverse]
    start = 0
    for m in member_sets:
        key = np.ascontiguousarray(m).tobytes() + repr(m.shape).encode()
        scope.r_bar_memo[key] = r_bar[start : start + len(m)]
        start += len(m)

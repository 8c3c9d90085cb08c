"""The engine's array view of abnormal returns: N (event, asset) pairs on one event-time grid.

Every statistic (``inference``, ``volatility``) reads an :class:`AbnormalPanel`; the
``abnormal`` module builds it from fitted models. Rows are pairs, columns are
sessions relative to each pair's day 0 (``rel_days``), so one column is one
event-time day for every pair.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np


class _ComputedArray:
    """What the panel's computed ``(N, T)`` columns share: an attribute or operation they do not
    define builds the whole array (``np.asarray``) and is read there."""

    ndim = 2
    _OWN: tuple[str, ...] = ()  # the instance's own attributes (never looked up in the array)

    def __len__(self) -> int:
        return self.shape[0]

    def __getattr__(self, name: str):
        if name.startswith("__") or name in self._OWN:
            raise AttributeError(name)
        return getattr(np.asarray(self), name)  # .ravel(), .astype(), .copy(), ...

    def __eq__(self, other):
        return np.asarray(self) == other

    __hash__ = None

    @staticmethod
    def _rows_and_columns(key) -> tuple | None:
        """``(rows, columns)`` of a two-axis index; None for one the whole array must read
        (``...``, ``None``, more axes)."""
        key = key if isinstance(key, tuple) else (key,)
        if len(key) > 2 or any(k is Ellipsis or k is None for k in key):
            return None
        return key if len(key) == 2 else (key[0], slice(None))


class SessionDates(_ComputedArray):
    """The session dates of a panel's cells, computed when read instead of stored per cell.

    Row ``i`` is the run of sessions ``sessions[first[i] + t]`` (``t`` = 0 .. T-1) of the pair's
    asset, NaT where ``first[i] + t`` falls outside the asset's sessions ``[lo[i], hi[i])``.
    It behaves as the ``(N, T)`` ``datetime64[D]`` array it stands for: indexing returns
    arrays (row selections alone return another :class:`SessionDates`), and ``np.asarray``
    or any array attribute builds the whole array. Three integers per pair instead of T dates.

    Examples
    --------
    >>> days = np.array(["2025-04-03", "2025-04-04", "2025-04-07"], dtype="datetime64[D]")
    >>> dates = SessionDates(days, first=np.array([-1, 1]), lo=np.array([0, 0]), hi=np.array([3, 3]), n_days=2)
    >>> np.asarray(dates).astype(str).tolist()
    [['NaT', '2025-04-03'], ['2025-04-04', '2025-04-07']]
    >>> dates[1, 0], dates[:1].shape
    (np.datetime64('2025-04-04'), (1, 2))
    """

    dtype = np.dtype("datetime64[D]")
    _OWN = ("sessions", "first", "lo", "hi", "n_days")

    def __init__(self, sessions: np.ndarray, first: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                 n_days: int) -> None:
        self.sessions = np.asarray(sessions, dtype="datetime64[D]")
        self.first, self.lo, self.hi = (np.asarray(a, dtype=np.int64) for a in (first, lo, hi))
        self.n_days = int(n_days)

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self.first), self.n_days)

    def __repr__(self) -> str:
        return f"SessionDates(shape={self.shape})"

    def _dates(self, index: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        inside = (index >= lo) & (index < hi)
        if not len(self.sessions):
            return np.full(np.shape(index), np.datetime64("NaT"), dtype=self.dtype)
        out = np.where(inside, self.sessions[np.clip(index, 0, len(self.sessions) - 1)],
                       np.datetime64("NaT"))
        return out[()] if out.ndim == 0 else out

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        out = self._dates(self.first[:, None] + np.arange(self.n_days), self.lo[:, None],
                          self.hi[:, None])
        return out if dtype is None else out.astype(dtype)

    def __getitem__(self, key):
        split = self._rows_and_columns(key)
        if split is None:
            return np.asarray(self)[key]
        rows, columns = split
        fancy_rows, fancy_columns = (not isinstance(k, slice) and np.ndim(k) > 0 for k in (rows, columns))
        if fancy_rows and fancy_columns:  # indices paired element by element: as numpy does it
            return np.asarray(self)[key]
        one_row = np.ndim(rows) == 0 and not isinstance(rows, slice)
        if not one_row and columns == slice(None):  # rows only: still computed when read
            return SessionDates(self.sessions, self.first[rows], self.lo[rows], self.hi[rows],
                                self.n_days)
        offsets = np.arange(self.n_days)[columns]
        first, lo, hi = self.first[rows], self.lo[rows], self.hi[rows]
        if not one_row and np.ndim(offsets):
            first, lo, hi = first[:, None], lo[:, None], hi[:, None]
        return self._dates(first + offsets, lo, hi)


class EventPeriodValues(_ComputedArray):
    """An ``(N, T)`` array of which only the event-period columns are kept: the columns before
    ``event_start`` read as NaN. A panel holds its normal returns so when the caller said it
    reads them over the event period only (:func:`eventstudy.abnormal.estimate` with
    ``expected='event'``), saving ``N x (T - E)`` floats.

    Indexing the event-period columns (``[:, event_start:]``, or a part of them) returns the
    kept values; row selections alone return another :class:`EventPeriodValues`; anything
    else, ``np.asarray`` and array attributes build the whole array.

    Examples
    --------
    >>> values = EventPeriodValues(np.array([[1.0, 2.0], [3.0, 4.0]]), event_start=1, n_days=3)
    >>> np.asarray(values).tolist()
    [[nan, 1.0, 2.0], [nan, 3.0, 4.0]]
    >>> values[:, 1:].tolist(), values[1:].shape
    ([[1.0, 2.0], [3.0, 4.0]], (1, 3))
    """

    dtype = np.dtype(float)
    _OWN = ("values", "event_start", "n_days")

    def __init__(self, values: np.ndarray, event_start: int, n_days: int) -> None:
        self.values = np.asarray(values, dtype=float)
        self.event_start, self.n_days = int(event_start), int(n_days)
        if self.values.ndim != 2 or self.values.shape[1] != self.n_days - self.event_start:
            raise ValueError(f"event-period values of shape {self.values.shape} do not fill "
                             f"columns {self.event_start}..{self.n_days - 1}")

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self.values), self.n_days)

    def __repr__(self) -> str:
        return f"EventPeriodValues(shape={self.shape}, event_start={self.event_start})"

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        out = np.full(self.shape, np.nan)
        out[:, self.event_start:] = self.values
        return out if dtype is None else out.astype(dtype)

    def __getitem__(self, key):
        split = self._rows_and_columns(key)
        if split is None or not isinstance(split[1], slice):
            return np.asarray(self)[key]
        rows, columns = split
        if columns == slice(None) and (isinstance(rows, slice) or np.ndim(rows) > 0):
            return EventPeriodValues(self.values[rows], self.event_start, self.n_days)
        start, stop, step = columns.indices(self.n_days)
        if step == 1 and start >= self.event_start:
            return self.values[rows, start - self.event_start : max(stop, start) - self.event_start]
        return np.asarray(self)[key]


COVARIANCE_BLOCK = 2048
"""Pairs whose covariance factors :class:`PredictionCovariance` computes at a time (4 MB of
working arrays at 16 event days)."""


def prediction_covariance(x_pred: np.ndarray, xtx_inv: np.ndarray) -> np.ndarray:
    """``I + X* (X'X)^-1 X*'`` for every pair, shape (P, E, E), as explicit sums over k x k.

    Each pair's factor is computed from its own rows alone, in a fixed order, so any subset of
    pairs gets the same bits as the whole.

    Examples
    --------
    >>> x = np.array([[[1.0, 0.5], [1.0, 0.25]]])  # one pair, E = 2 days, k = 2
    >>> prediction_covariance(x, np.array([[[0.5, 0.0], [0.0, 2.0]]])).tolist()
    [[[2.0, 0.75], [0.75, 1.625]]]
    """
    n_pairs, n_event, k = x_pred.shape
    out = np.zeros((n_pairs, n_event, n_event))
    term = np.empty((n_pairs, n_event, n_event))
    for a in range(k):
        left = x_pred[:, :, a, None]
        for b in range(k):
            out += np.multiply(left * xtx_inv[:, a, b, None, None], x_pred[:, None, :, b], out=term)
    diagonal = np.arange(n_event)
    out[:, diagonal, diagonal] += 1.0
    return out


def prediction_variance_factor(x_pred: np.ndarray, xtx_inv: np.ndarray) -> np.ndarray:
    """The diagonal of :func:`prediction_covariance`, shape (P, E), with the same bits.

    Examples
    --------
    >>> x = np.array([[[1.0, 0.5], [1.0, 0.25]]])
    >>> prediction_variance_factor(x, np.array([[[0.5, 0.0], [0.0, 2.0]]])).tolist()
    [[2.0, 1.625]]
    """
    n_pairs, n_event, k = x_pred.shape
    out = np.zeros((n_pairs, n_event))
    term = np.empty((n_pairs, n_event))
    for a in range(k):
        left = x_pred[:, :, a]
        for b in range(k):
            out += np.multiply(left * xtx_inv[:, a, b, None], x_pred[:, :, b], out=term)
    out += 1.0
    return out


class PredictionCovariance(_ComputedArray):
    """The ``(N, E, E)`` prediction-error covariance factors of a panel, computed when read from
    each pair's event-period regressors ``X*`` (N, E, k) and ``(X'X)^-1`` (N, k, k).

    ``(E + k) k`` floats per pair are kept instead of ``E^2`` (36 instead of 256 for the market
    model over 16 event days). It behaves as the array it stands for: row selections alone
    return another :class:`PredictionCovariance`; any other index returns the computed
    values; ``np.asarray`` builds the whole array, a block of pairs at a time; :meth:`diagonal`
    gives the variance factors without building the matrices. Every read gives the bits
    :func:`prediction_covariance` gives for the whole panel. Pairs of fewer parameters may be
    padded with zero columns of ``X*`` and zero rows and columns of ``(X'X)^-1``.

    Examples
    --------
    >>> x = np.array([[[1.0, 0.5], [1.0, 0.25]]])
    >>> factor = PredictionCovariance(x, np.array([[[0.5, 0.0], [0.0, 2.0]]]))
    >>> factor.shape, factor[0, 0, 1], factor[:1].diagonal().tolist()
    ((1, 2, 2), np.float64(0.75), [[2.0, 1.625]])
    """

    ndim = 3
    dtype = np.dtype(float)
    _OWN = ("x_pred", "xtx_inv")

    def __init__(self, x_pred: np.ndarray, xtx_inv: np.ndarray) -> None:
        self.x_pred = np.asarray(x_pred, dtype=float)
        self.xtx_inv = np.asarray(xtx_inv, dtype=float)
        n_pairs, _, k = self.x_pred.shape
        if self.xtx_inv.shape != (n_pairs, k, k):
            raise ValueError(f"(X'X)^-1 of shape {self.xtx_inv.shape} does not match X* of shape "
                             f"{self.x_pred.shape}")

    @property
    def shape(self) -> tuple[int, int, int]:
        n_pairs, n_event, _ = self.x_pred.shape
        return (n_pairs, n_event, n_event)

    def __repr__(self) -> str:
        return f"PredictionCovariance(shape={self.shape})"

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        out = np.empty(self.shape)
        for rows in _row_blocks(len(self)):
            out[rows] = prediction_covariance(self.x_pred[rows], self.xtx_inv[rows])
        return out if dtype is None else out.astype(dtype)

    def __getitem__(self, key):
        key = key if isinstance(key, tuple) else (key,)
        if any(k is Ellipsis or k is None for k in key) or len(key) > 3:
            return np.asarray(self)[key]
        rows, rest = key[0], key[1:]
        if all(isinstance(k, slice) and k == slice(None) for k in rest) and (isinstance(rows, slice) or np.ndim(rows) > 0):
            return PredictionCovariance(self.x_pred[rows], self.xtx_inv[rows])
        if np.ndim(rows) == 0 and not isinstance(rows, slice):  # one pair
            return prediction_covariance(self.x_pred[rows][None], self.xtx_inv[rows][None])[(0, *rest)]
        return np.asarray(self[rows])[(slice(None), *rest)]

    def diagonal(self, offset: int = 0, axis1: int = 1, axis2: int = 2) -> np.ndarray:
        """The variance factors ``C_i,tau``, shape (N, E) (only the default axes)."""
        if (offset, axis1, axis2) != (0, 1, 2):
            return np.asarray(self).diagonal(offset, axis1, axis2)
        return prediction_variance_factor(self.x_pred, self.xtx_inv)


def factor_diagonal(cov_factor) -> np.ndarray:
    """The diagonals ``(N, E)`` of ``(N, E, E)`` covariance factors, stored or computed."""
    if isinstance(cov_factor, PredictionCovariance):
        return cov_factor.diagonal()
    return np.diagonal(cov_factor, axis1=1, axis2=2)


def is_finite_factor(cov_factor) -> bool:
    """Whether every entry of the covariance factors is finite (for computed factors, a bound
    on the entries from ``X*`` and ``(X'X)^-1`` that rules out overflow)."""
    if isinstance(cov_factor, PredictionCovariance):
        k = cov_factor.x_pred.shape[2]
        if not len(cov_factor) or not k:
            return True
        x_max, inv_max = (float(np.max(np.abs(a))) for a in (cov_factor.x_pred, cov_factor.xtx_inv))
        return np.isfinite(x_max) and np.isfinite(inv_max) and x_max * x_max * inv_max * k * k < 1e300
    return bool(np.isfinite(np.asarray(cov_factor)).all())


def _row_blocks(n_rows: int, size: int = COVARIANCE_BLOCK):
    """Consecutive slices of at most ``size`` of ``n_rows`` rows."""
    for start in range(0, n_rows, size):
        yield slice(start, min(start + size, n_rows))


def covariance_blocks(cov_factor, size: int = COVARIANCE_BLOCK):
    """``(rows, factors)`` over consecutive slices of at most ``size`` pairs, stored or computed
    (a computed block is formed when it is reached)."""
    for rows in _row_blocks(len(cov_factor), size):
        yield rows, np.asarray(cov_factor[rows], dtype=float)


@dataclass(frozen=True)
class AbnormalPanel:
    """Abnormal returns and their prediction-error variances for N pairs.

    Attributes
    ----------
    event_ids, assets : ndarray of object, shape (N,)
        The key of each row.
    rel_days : ndarray of int, shape (T,)
        Consecutive sessions relative to day 0, from the estimation-window start to the
        event-period end.
    dates : ndarray of datetime64[D] or SessionDates, shape (N, T)
        The exchange session of each cell (NaT outside the asset's data range); estimated
        panels hold a :class:`SessionDates`, which computes the dates when they are read.
    ret, expected : ndarray, shape (N, T)
        Realised return and model-implied normal return (NaN where missing). ``expected`` may
        be an :class:`EventPeriodValues` (the event period kept, NaN before it) when the panel
        was estimated with ``expected='event'``.
    ar : ndarray, shape (N, T)
        In-sample residual on estimation days, out-of-sample abnormal return on event-period
        days, NaN elsewhere (gap days, excluded days, missing prices).
    is_estimation : ndarray of bool, shape (N, T)
        The pair's estimation sample (after exclusions and missing data).
    event_start : int
        Column index of the first event-period day; the event period is
        ``rel_days[event_start:]``.
    cov_factor : ndarray or PredictionCovariance, shape (N, E, E)
        ``I + X*(X'X)^-1 X*'`` over the E event-period days (docs/methods.md#prediction-error), so that
        ``Cov(AR_i) = s2_i * cov_factor_i``. Estimated panels hold a
        :class:`PredictionCovariance`, which computes the factors from ``X*`` and ``(X'X)^-1``
        when they are read (the same bits).
    s2 : ndarray, shape (N,)
        Residual variance ``SSR / (L1 - k)``.
    n_est : ndarray of int, shape (N,)
        ``L1``, the number of estimation returns used.
    k : ndarray of int, shape (N,)
        Number of estimated mean parameters.
    reactions : ndarray of object, shape (N,), optional
        ``'total'`` or ``'relative'`` per pair (see :meth:`StudyConfig.reaction_of`); a
        cross-section never mixes the two. None when the caller did not say (all alike).
    """

    event_ids: np.ndarray
    assets: np.ndarray
    rel_days: np.ndarray
    dates: np.ndarray
    ret: np.ndarray
    expected: np.ndarray
    ar: np.ndarray
    is_estimation: np.ndarray
    event_start: int
    cov_factor: np.ndarray
    s2: np.ndarray
    n_est: np.ndarray
    k: np.ndarray
    reactions: np.ndarray | None = None

    @property
    def n_pairs(self) -> int:
        return len(self.event_ids)

    @property
    def event_rel_days(self) -> np.ndarray:
        return self.rel_days[self.event_start :]

    def event_calendar_days(self) -> np.ndarray:
        """Calendar day (days since 1970, float; NaN when unknown) of each pair's event-period
        sessions, shape (N, E)."""
        dates = np.asarray(self.dates[:, self.event_start :], dtype="datetime64[D]")
        days = dates.astype(np.int64).astype(float)
        days[np.isnat(dates)] = np.nan
        return days

    @property
    def dof(self) -> np.ndarray:
        """Residual degrees of freedom ``L1 - k``."""
        return self.n_est - self.k

    @property
    def event_ar(self) -> np.ndarray:
        """Abnormal returns over the event period, shape (N, E)."""
        return self.ar[:, self.event_start :]

    @property
    def variance_factor(self) -> np.ndarray:
        """``C_i,tau`` on event-period days, shape (N, E): ``Var(AR) = s2 * C``."""
        return factor_diagonal(self.cov_factor)

    @property
    def var_ar(self) -> np.ndarray:
        """Prediction-error variance of each event-period AR, shape (N, E)."""
        return self.s2[:, None] * self.variance_factor

    @property
    def sar(self) -> np.ndarray:
        """Standardised ARs on event-period days, ``AR / sqrt(s2 C)``, shape (N, E)."""
        return self.event_ar / np.sqrt(self.var_ar)

    def column(self, rel_day: int) -> int:
        """Column index of ``rel_day`` in the grid."""
        idx = int(rel_day - self.rel_days[0])
        if not 0 <= idx < len(self.rel_days):
            raise KeyError(f"rel_day {rel_day} is outside the grid {self.rel_days[0]}..{self.rel_days[-1]}")
        return idx

    def window_selector(self, window: tuple[int, int]) -> np.ndarray:
        """0/1 vector ``gamma`` over the event period selecting the days of ``window``."""
        days = self.event_rel_days
        if window[0] < days[0] or window[1] > days[-1] or window[0] > window[1]:
            raise KeyError(f"window {list(window)} is outside the event period {days[0]}..{days[-1]}")
        return ((days >= window[0]) & (days <= window[1])).astype(float)

    def car(self, window: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """CAR and its full-covariance variance ``s2 * gamma' F gamma`` for each pair.

        A pair with any missing AR inside the window gets NaN (missing stays missing). The
        CARs are computed once per window and panel (read-only arrays, kept with the panel and
        handed to its subsets: each pair's numbers depend on that pair alone).
        """
        return self.cars([window])[0]

    def cars(self, windows: Sequence[tuple[int, int]]) -> list[tuple[np.ndarray, np.ndarray]]:
        """:meth:`car` of each window; the windows not yet computed share one pass over the
        covariance factors."""
        keys = [(int(w[0]), int(w[1])) for w in windows]
        cars = self.__dict__.get("_cars")
        if cars is None:
            cars = {}
            object.__setattr__(self, "_cars", cars)
        todo = list(dict.fromkeys(key for key in keys if key not in cars))
        if todo:
            gammas = [self.window_selector(key) for key in todo]
            quads = np.empty((len(todo), self.n_pairs))
            for rows, factors in covariance_blocks(self.cov_factor):
                for quad, gamma in zip(quads, gammas):
                    quad[rows] = np.einsum("e,nef,f->n", gamma, factors, gamma)
            for key, gamma, quad in zip(todo, gammas, quads):
                car = self.event_ar[:, gamma.astype(bool)].sum(axis=1)  # NaN propagates
                out = (car, self.s2 * quad)
                for values in out:
                    values.flags.writeable = False
                cars[key] = out
        return [cars[key] for key in keys]

    def bhar(self, window: tuple[int, int]) -> np.ndarray:
        """Buy-and-hold abnormal return ``prod(1+R) - prod(1+E[R])`` over ``window``."""
        inside = self.window_selector(window).astype(bool)
        ret = self.ret[:, self.event_start :][:, inside]
        exp = self.expected[:, self.event_start :][:, inside]
        return np.prod(1.0 + ret, axis=1) - np.prod(1.0 + exp, axis=1)

    def estimation_residuals(self) -> np.ndarray:
        """Residuals on estimation days, NaN elsewhere, shape (N, T)."""
        return np.where(self.is_estimation, self.ar, np.nan)

    def subset(self, rows: np.ndarray) -> AbnormalPanel:
        """The panel restricted to ``rows`` (boolean mask or integer index)."""
        take = np.asarray(rows)
        part = replace(
            self,
            event_ids=self.event_ids[take],
            assets=self.assets[take],
            dates=self.dates[take],
            ret=self.ret[take],
            expected=self.expected[take],
            ar=self.ar[take],
            is_estimation=self.is_estimation[take],
            cov_factor=self.cov_factor[take],
            s2=self.s2[take],
            n_est=self.n_est[take],
            k=self.k[take],
            reactions=None if self.reactions is None else self.reactions[take],
        )
        cars = self.__dict__.get("_cars")
        if cars:
            taken = {}
            for key, values in cars.items():
                taken[key] = tuple(v[take] for v in values)
                for v in taken[key]:
                    v.flags.writeable = False
            object.__setattr__(part, "_cars", taken)
        return part

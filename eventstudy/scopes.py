"""Cross-sectional scopes: which (event, asset) pairs a cross-sectional statistic pools.

A scope pools the pairs of one event (``kind='event'``) or of every event of a category or
tag (``'category'``, ``'tag'``), restricted to one value of one asset partition
(``group_by='group'`` and ``group='chips'``, or an attribute such as ``group_by='sector33'``)
and to one kind of reaction (``'total'`` or ``'relative'``): a cross-section never averages
total reactions with reactions relative to a market (like with like). ``group_by='all'``
(``group='all'``) pools every studied asset and exists only when all share one reaction kind.

Every cross-sectional table (tests, volatility, portfolio CARs) carries the label columns
:data:`SCOPE_LABELS` in this order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

SCOPE_KINDS = ("event", "category", "tag")
SCOPE_LABELS = ["scope", "scope_id", "group_by", "group", "reaction"]
"""Label columns of a cross-sectional row; single-pair rows use ``scope='pair'``,
``scope_id`` = the event id, ``group_by=''``, ``group`` = the asset's group."""


@dataclass(frozen=True)
class Scope:
    """One cross-section: a boolean mask over a panel's pairs and the labels that name it.

    Attributes
    ----------
    kind : str
        ``'event'``, ``'category'`` or ``'tag'`` (what is pooled across events).
    id : str
        The event id, category or tag.
    group_by : str
        ``'group'``, an asset attribute name, or ``'all'``.
    group : str
        The value of ``group_by`` shared by the scope's assets (``'all'`` for ``group_by='all'``).
    reaction : str
        ``'total'`` or ``'relative'``.
    rows : ndarray of bool, shape (N,)
        The pairs of the panel in this scope.
    """

    kind: str
    id: str
    group_by: str
    group: str
    reaction: str
    rows: np.ndarray = field(repr=False, compare=False)

    def labels(self) -> list[str]:
        """The label values in :data:`SCOPE_LABELS` order."""
        return [self.kind, self.id, self.group_by, self.group, self.reaction]

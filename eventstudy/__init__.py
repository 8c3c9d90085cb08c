"""eventstudy: how markets react to policy news.

Examples
--------
>>> import eventstudy as es
>>> res = es.run("events.yaml", snapshot="prices")  # doctest: +SKIP
>>> res.summary((0, 1))                                        # doctest: +SKIP
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["Study", "StudyResult", "__version__", "event_panel", "event_study", "load_config", "run"]


def __getattr__(name: str):
    """Lazy public API: ``import eventstudy`` stays fast (the CLI's ``--help`` imports it)."""
    if name in ("Study", "StudyResult", "run"):
        from eventstudy import study

        return getattr(study, name)
    if name in ("event_study", "event_panel"):
        from eventstudy import frames

        return getattr(frames, name)
    if name == "load_config":
        from eventstudy.events import load_config

        return load_config
    raise AttributeError(f"module 'eventstudy' has no attribute {name!r}")

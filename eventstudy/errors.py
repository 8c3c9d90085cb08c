"""Exception types whose message is a complete one-line explanation for the user."""

from __future__ import annotations


class EventStudyError(Exception):
    """Base class: the CLI prints ``str(error)`` on one line and exits with code 2."""


class ConfigError(EventStudyError):
    """A malformed ``events.yaml``; the message names the file, the event id or line, and the field."""


class DataError(EventStudyError):
    """Prices that cannot be obtained (unknown ticker, empty download, corrupt cache, missing snapshot)."""


class EstimationError(EventStudyError):
    """A normal-return model that cannot be fitted (too few returns, singular design)."""

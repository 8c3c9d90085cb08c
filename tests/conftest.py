"""Shared fixtures. Tests never touch the network; real prices are read in place from the snapshot."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

REPO = Path(__file__).resolve().parents[1]

# Property tests draw the same examples on every run (a red CI is then a real change, not a new
# random draw); `HYPOTHESIS_PROFILE=explore` draws fresh examples when hunting for edge cases.
settings.register_profile("repeatable", derandomize=True, print_blob=True)
settings.register_profile("explore", derandomize=False, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))


def snapshot_path() -> Path | None:
    """The price snapshot: ``EVENTSTUDY_SNAPSHOT`` if set, else ``../shared/prices`` beside the repo."""
    env = os.environ.get("EVENTSTUDY_SNAPSHOT")
    candidates = [Path(env)] if env else []
    candidates.append(REPO.parent / "shared" / "prices")
    for path in candidates:
        if (path / "manifest.json").exists():
            return path
    return None


@pytest.fixture(scope="session")
def snapshot_dir() -> Path:
    """Path of the real price snapshot; tests using it are skipped when it is absent."""
    path = snapshot_path()
    if path is None:
        pytest.skip("price snapshot not found (set EVENTSTUDY_SNAPSHOT)")
    return path


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    """Fail loudly if any test opens a network connection."""
    import socket

    real_connect = socket.socket.connect

    def guarded_connect(sock, address):
        host = address[0] if isinstance(address, tuple) else None
        if host is not None and host not in ("127.0.0.1", "localhost", "::1"):
            raise RuntimeError(f"tests must not touch the network (tried {address})")
        return real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)


@pytest.fixture(scope="module")
def reference_events(repo_root: Path) -> list[dict]:
    """Events of ../shared/events-2025-reference.yaml (skipped when absent)."""
    import yaml

    path = repo_root.parent / "shared" / "events-2025-reference.yaml"
    if not path.exists():
        pytest.skip(f"reference events not found at {path}")
    return yaml.safe_load(path.read_text(encoding="utf-8"))["events"]


@pytest.fixture(scope="module")
def study(repo_root: Path):
    """The project's events.yaml, parsed."""
    from eventstudy.events import load_config

    return load_config(repo_root / "events.yaml")

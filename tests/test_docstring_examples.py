"""Every ``Examples`` section of the package runs as written (doctest), so an example cannot
drift from the code it shows."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import eventstudy

MODULES = sorted(info.name for info in pkgutil.walk_packages(eventstudy.__path__, "eventstudy.")
                 if not info.name.endswith("__main__"))  # __main__ runs the command line


@pytest.mark.parametrize("name", MODULES)
def test_the_examples_of_each_module_run_as_written(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples of {name} failed"


def test_the_examples_are_found():
    assert len(MODULES) > 40
    attempted = sum(doctest.testmod(importlib.import_module(name), report=False).attempted
                    for name in ("eventstudy.panel", "eventstudy.batches"))
    assert attempted >= 10

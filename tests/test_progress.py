"""Progress reporting: bars on a terminal, silence elsewhere."""

from __future__ import annotations

import io

from eventstudy.progress import Reporter


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_bar_is_drawn_on_a_terminal_and_ends_with_a_newline():
    stream = _Terminal()
    advance = Reporter(stream=stream).counter("GARCH fits", 4)
    advance(1)
    advance(3)
    text = stream.getvalue()
    assert "GARCH fits [" in text and "1/4" in text and text.endswith("4/4\n")
    assert "#" * 28 in text


def test_silent_when_not_a_terminal():
    stream = io.StringIO()
    reporter = Reporter(stream=stream)
    reporter.stage("tests")
    reporter.counter("fits", 3)(3)
    assert stream.getvalue() == ""


def test_verbose_off_terminal_prints_stage_lines_and_final_counts():
    stream = io.StringIO()
    reporter = Reporter(enabled=True, stream=stream)
    reporter("prices")
    reporter.counter("fits", 2)(2)
    lines = stream.getvalue().splitlines()
    assert lines[0].endswith("prices") and lines[1].strip() == "fits: 2/2"

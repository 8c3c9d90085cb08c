"""HTML building blocks of the report page: escaped cells, tables in scroll boxes, the style sheet.

Every function returns HTML text; arguments that are plain text are escaped here.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Sequence

import pandas as pd

from eventstudy.common import stars

NA = '<span class="na">–</span>'


def esc(text: object) -> str:
    """Escaped text (``None`` becomes '')."""
    return "" if text is None else html.escape(str(text))


def table(header: Sequence[str], rows: Sequence[Sequence[str]], cls: str = "",
          caption: str = "") -> str:
    """A table inside a box that scrolls sideways on narrow screens; cells are HTML already."""
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "\n".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    attr = f' class="{cls}"' if cls else ""
    cap = f"<caption>{caption}</caption>" if caption else ""
    return (f'<div class="scroll"><table{attr}>{cap}\n<thead><tr>{head}</tr></thead>\n<tbody>\n'
            f"{body}\n</tbody></table></div>")


def finite(value: object) -> bool:
    """True for a finite number."""
    try:
        return value is not None and math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def pct(value: float, digits: int = 1, signed: bool = True) -> str:
    """A fraction as a coloured percent (red below 0, blue above)."""
    if not finite(value):
        return NA
    cls = "neg" if value < 0 else "pos"
    text = f"{100 * value:+.{digits}f}%" if signed else f"{100 * value:.{digits}f}%"
    return f'<span class="{cls}">{text.replace("-", "−")}</span>'


def p_text(p: float) -> str:
    """``p = 0.0123`` (or ``p < 0.0001``), plain text."""
    if not finite(p):
        return "p n/a"
    return "p < 0.0001" if p < 1e-4 else f"p = {p:.4f}"


def interval(low: float, high: float) -> str:
    """``[−8.1, −2.9]`` in percent points, or '' when unknown."""
    if not (finite(low) and finite(high)):
        return ""
    return f"[{100 * low:+.1f}, {100 * high:+.1f}]".replace("-", "−")


def estimate_cell(value: float, p: float | None = None, low: float | None = None,
                  high: float | None = None) -> str:
    """Percent with stars, then the interval and the p-value in small print."""
    if not finite(value):
        return NA
    text = pct(value)
    if p is not None:
        text += f"<sup>{stars(p)}</sup>"
    extra = " ".join(x for x in (interval(low, high), p_text(p) if p is not None else "") if x)
    return text + (f"<br><small>{extra}</small>" if extra else "")


def num(value: float, digits: int = 2) -> str:
    """A number or a dash."""
    return f"{float(value):.{digits}f}" if finite(value) else "–"


def date(value: object) -> str:
    """``YYYY-MM-DD`` or a dash."""
    return "–" if value is None or pd.isna(value) else pd.Timestamp(value).strftime("%Y-%m-%d")


def badge(text: str, color: str) -> str:
    """A coloured label."""
    return f'<span class="badge" style="background:{color}">{esc(text.replace("_", " "))}</span>'


def details(summary: str, body: str) -> str:
    """A collapsed block (opens on click)."""
    return f"<details><summary>{summary}</summary>{body}</details>"


def slug(text: str) -> str:
    """A file- and anchor-safe name."""
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") or "x"


SOURCE_PATTERN = re.compile(r"^(?P<text>.*?)\s*<(?P<url>https?://[^>\s]+)>\s*$")


def source_link(source: str) -> str:
    """``'Text <https://...>'`` -> a link; anything else is shown as text.

    Examples
    --------
    >>> source_link("Reuters: headline <https://example.com/a?b=1&c=2>")
    '<a href="https://example.com/a?b=1&amp;c=2">Reuters: headline</a>'
    """
    match = SOURCE_PATTERN.match(source.strip())
    if not match:
        return esc(source)
    text = match["text"].strip(" :-") or match["url"]
    return f'<a href="{html.escape(match["url"], quote=True)}">{esc(text)}</a>'


CSS = """
*{box-sizing:border-box}
body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;font-size:15px;color:#222;
max-width:1200px;margin:0 auto;padding:0 16px 48px;line-height:1.5;overflow-wrap:break-word}
header{border-bottom:2px solid #333;margin-bottom:12px}
h1{font-size:26px;margin:18px 0 6px;line-height:1.2}
h2{font-size:21px;border-bottom:1px solid #ccc;padding-bottom:4px;margin-top:40px}
h3{font-size:17px;margin:22px 0 6px}h3 small{font-weight:normal;color:#666;font-size:13px}
.lead{color:#444;max-width:900px}.question{font-size:17px;max-width:900px}
nav{margin:8px 0 12px;font-size:14px;line-height:1.9}nav a{white-space:nowrap;margin-right:10px}
a{color:#0b5cad;text-decoration:none}a:hover{text-decoration:underline}
p,li{max-width:900px}
.scroll{overflow-x:auto;max-width:100%;margin:6px 0 16px;-webkit-overflow-scrolling:touch}
table{border-collapse:collapse;font-size:13px}
caption{text-align:left;font-size:13px;color:#444;padding:2px 0 4px}
th,td{border:1px solid #ddd;padding:4px 7px;vertical-align:top;text-align:left}
thead th{background:#f1f3f5}
tbody tr:nth-child(even){background:#fafbfc}
table.numbers td{text-align:right;white-space:nowrap}
table.numbers td:first-child{text-align:left;white-space:normal;min-width:11em}
table.events td:nth-child(2){min-width:16em}table.events td:last-child{font-size:12px;min-width:14em}
td.group{font-weight:bold;background:#f6f6f6}
small{color:#666}sup{color:#b00;font-weight:bold}
.neg{color:#b2182b}.pos{color:#2166ac}.na{color:#aaa}
.badge{color:#fff;border-radius:3px;padding:1px 6px;font-size:12px;white-space:nowrap}
.flag{background:#fff3cd;border:1px solid #e0c060;border-radius:3px;padding:0 4px;font-size:12px}
.note{background:#f4f8fb;border-left:4px solid #7aa7cf;padding:6px 10px}
.finding{border:1px solid #ddd;border-radius:6px;padding:4px 14px 2px;margin:14px 0}
.finding p{margin:6px 0 10px}
figure{margin:18px 0 28px}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:14px;color:#333;max-width:900px}
.skipped{color:#555;font-style:italic}
ul.limits li{margin-bottom:6px}
code{font-size:13px;background:#f4f4f4;padding:0 3px;overflow-wrap:anywhere}
td code{overflow-wrap:normal;white-space:nowrap}
details{margin:4px 0}summary{cursor:pointer;color:#0b5cad}
@media (max-width:640px){body{font-size:14px;padding:0 10px 32px}h1{font-size:21px}
h2{font-size:18px}table{font-size:12px}th,td{padding:3px 5px}
table.numbers td:first-child{min-width:8em}table.events td:nth-child(2){min-width:11em}}
"""

"""Small inline SVG charts rendered on the server (no JavaScript, no library): a bar chart, a line
chart over time and a scatter plot. Every mark has a <title> tooltip; every chart an aria-label."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

W, H = 460, 220
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 12, 34


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    exponent = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * exponent:
            return step * exponent
    return 10 * exponent


def _count_max(value: float) -> int:
    """Top of a count axis whose four ticks are whole numbers: the gridlines of a histogram of
    candidates sit at counts it can have (a top of 25 put them at 6.25, 12.5, 18.75)."""
    step = max(1, math.ceil(value / 4))
    exponent = 10 ** (len(str(step)) - 1)
    for mantissa in (1, 2, 3, 4, 5, 6, 8):
        if mantissa * exponent >= step:
            return 4 * mantissa * exponent
    return 4 * 10 * exponent  # step has as many digits as exponent: 10 x exponent covers it


def _frame(title: str, body: list[str], x_label: str, y_label: str) -> SafeString:
    parts = [
        f'<svg class="chart" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>',
        f'<line class="axis" x1="{LEFT}" y1="{H - BOTTOM}" x2="{W - RIGHT}" y2="{H - BOTTOM}"/>',
        f'<line class="axis" x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{H - BOTTOM}"/>',
        *body,
        f'<text x="{(LEFT + W - RIGHT) / 2}" y="{H - 4}" text-anchor="middle">'
        f"{escape(x_label)}</text>",
        f'<text x="10" y="{(TOP + H - BOTTOM) / 2}" text-anchor="middle" '
        f'transform="rotate(-90 10 {(TOP + H - BOTTOM) / 2})">{escape(y_label)}</text>',
        "</svg>",
    ]
    return mark_safe("".join(parts))


def _y_ticks(lo: float, hi: float, fmt: str = "{:g}") -> list[str]:
    out = []
    for i in range(5):
        value = lo + (hi - lo) * i / 4
        y = H - BOTTOM - (H - TOP - BOTTOM) * i / 4
        out.append(
            f'<line class="grid-line" x1="{LEFT}" y1="{y:.1f}" x2="{W - RIGHT}" y2="{y:.1f}"/>'
        )
        out.append(
            f'<text x="{LEFT - 4}" y="{y + 4:.1f}" text-anchor="end">'
            f"{escape(fmt.format(value))}</text>"
        )
    return out


def bar_chart(
    pairs: Sequence[tuple[Any, float]], *, title: str, x_label: str, y_label: str
) -> SafeString:
    """Bars for (category, value) pairs, e.g. votes per decision -> candidates."""
    if not pairs:
        return _frame(title, [_empty()], x_label, y_label)
    top = _count_max(max(v for _, v in pairs))
    span = min((W - LEFT - RIGHT) / len(pairs), 48.0)
    body = _y_ticks(0, top, "{:.0f}")
    for i, (category, value) in enumerate(pairs):
        h = (H - TOP - BOTTOM) * value / top
        x = LEFT + i * span + span * 0.12
        body.append(
            f'<rect class="column" x="{x:.1f}" y="{H - BOTTOM - h:.1f}" width="{span * 0.76:.1f}" '
            f'height="{h:.1f}"><title>{escape(category)}: {escape(f"{value:,.0f}")}</title></rect>'
        )
        if len(pairs) <= 24 or i % math.ceil(len(pairs) / 24) == 0:
            body.append(
                f'<text x="{x + span * 0.38:.1f}" y="{H - BOTTOM + 13}" text-anchor="middle">'
                f"{escape(category)}</text>"
            )
    return _frame(title, body, x_label, y_label)


def line_chart(
    points: Sequence[tuple[datetime, float]],
    *,
    title: str,
    x_label: str,
    y_label: str,
    lo: float | None = None,
    hi: float | None = None,
    target: float | None = None,
    fmt: str = "{:.3f}",
) -> SafeString:
    """A value over time (e.g. estimated precision), with an optional dashed target line."""
    points = [(t, v) for t, v in points if v is not None]
    if not points:
        return _frame(title, [_empty()], x_label, y_label)
    values = [v for _, v in points] + ([target] if target is not None else [])
    lo = min(values) if lo is None else lo
    hi = max(values) if hi is None else hi
    if hi - lo < 1e-9:
        lo, hi = lo - 0.005, hi + 0.005
    t0, t1 = points[0][0].timestamp(), points[-1][0].timestamp()
    t_span = max(t1 - t0, 1.0)

    def xy(t: datetime, v: float) -> tuple[float, float]:
        x = LEFT + (W - LEFT - RIGHT) * ((t.timestamp() - t0) / t_span if len(points) > 1 else 0.5)
        y = H - BOTTOM - (H - TOP - BOTTOM) * (v - lo) / (hi - lo)
        return x, y

    body = _y_ticks(lo, hi, fmt)
    if target is not None and lo <= target <= hi:
        _, ty = xy(points[0][0], target)
        body.append(
            f'<line class="target" x1="{LEFT}" y1="{ty:.1f}" x2="{W - RIGHT}" y2="{ty:.1f}">'
            f"<title>target {escape(fmt.format(target))}</title></line>"
        )
    path = " ".join(
        f"{'M' if i == 0 else 'L'}{x:.1f},{y:.1f}"
        for i, (x, y) in enumerate(xy(t, v) for t, v in points)
    )
    body.append(f'<path class="line" d="{path}"/>')
    for t, v in points[-60:]:
        x, y = xy(t, v)
        body.append(
            f'<circle class="dot" cx="{x:.1f}" cy="{y:.1f}" r="2.5"><title>'
            f"{escape(t.strftime('%Y-%m-%d %H:%M'))}: {escape(fmt.format(v))}</title></circle>"
        )
    body.append(
        f'<text x="{LEFT}" y="{H - BOTTOM + 13}">'
        f"{escape(points[0][0].strftime('%m-%d %H:%M'))}</text>"
    )
    body.append(
        f'<text x="{W - RIGHT}" y="{H - BOTTOM + 13}" text-anchor="end">'
        f"{escape(points[-1][0].strftime('%m-%d %H:%M'))}</text>"
    )
    return _frame(title, body, x_label, y_label)


def scatter_chart(
    points: Sequence[dict[str, Any]],
    *,
    title: str,
    x_label: str,
    y_label: str,
    y_lo: float = 0.0,
    y_hi: float = 1.0,
    floor: float | None = None,
) -> SafeString:
    """Points {x, y, label, cls}: e.g. annotators' seconds per image vs gold accuracy."""
    points = [p for p in points if p.get("x") is not None and p.get("y") is not None]
    if not points:
        return _frame(title, [_empty()], x_label, y_label)
    x_hi = _nice_max(max(p["x"] for p in points))
    body = _y_ticks(y_lo, y_hi, "{:.0%}")
    for i in range(1, 5):
        x = LEFT + (W - LEFT - RIGHT) * i / 4
        body.append(
            f'<text x="{x:.1f}" y="{H - BOTTOM + 13}" text-anchor="middle">'
            f"{escape(f'{x_hi * i / 4:g}')}</text>"
        )
    if floor is not None:
        y = H - BOTTOM - (H - TOP - BOTTOM) * (floor - y_lo) / (y_hi - y_lo)
        body.append(f'<line class="target" x1="{LEFT}" y1="{y:.1f}" x2="{W - RIGHT}" y2="{y:.1f}">'
                    f"<title>gold accuracy floor {floor:.0%}</title></line>")  # fmt: skip
    for p in points:
        x = LEFT + (W - LEFT - RIGHT) * min(p["x"] / x_hi, 1.0)
        y = H - BOTTOM - (H - TOP - BOTTOM) * (min(max(p["y"], y_lo), y_hi) - y_lo) / (y_hi - y_lo)
        body.append(
            f'<circle class="dot {escape(p.get("cls", ""))}" cx="{x:.1f}" cy="{y:.1f}" r="4">'
            f"<title>{escape(p.get('label', ''))}</title></circle>"
        )
    return _frame(title, body, x_label, y_label)


def _empty() -> str:
    return f'<text x="{W / 2}" y="{H / 2}" text-anchor="middle">no data yet</text>'

"""Server-side SVG charts (no JavaScript library): line curves, horizontal bars, heatmaps.

Every function returns a complete, escaped `<svg>` string with a <title> for screen readers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2")


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 100:
        return f"{v:.0f}"
    if abs(v) >= 1:
        return f"{v:.2f}".rstrip("0").rstrip(".")
    return f"{v:.3f}".rstrip("0").rstrip(".")


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if hi <= lo:
        hi = lo + 1
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = min((s * mag for s in (1, 2, 2.5, 5, 10) if s * mag >= raw), default=raw)
    start = math.floor(lo / step) * step
    out, v = [], start
    while v <= hi + step * 1e-9:
        out.append(round(v, 10))
        v += step
    return out


def line_chart(
    series: dict[str, Sequence[tuple[float, float]]],
    *,
    title: str,
    x_label: str = "epoch",
    y_label: str = "",
    width: int = 460,
    height: int = 240,
    y_min: float | None = None,
    y_max: float | None = None,
) -> str:
    """One or more named (x, y) series on shared axes."""
    pts = [p for s in series.values() for p in s if p[1] is not None]
    ml, mr, mt, mb = 48, 12, 28, 36
    w, h = width - ml - mr, height - mt - mb
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>',
        f'<text x="{ml}" y="16" class="chart-title" font-size="13" font-weight="600">'
        f"{escape(title)}</text>",
    ]
    if not pts:
        parts.append(
            f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" fill="#666">'
            "waiting for the first epoch…</text></svg>"
        )
        return "".join(parts)
    xs = [p[0] for p in pts]
    ys = [p[1] for p in pts]
    x0, x1 = min(xs), max(xs)
    if x0 == x1:
        x0, x1 = x0 - 1, x1 + 1
    y0 = min(ys) if y_min is None else y_min
    y1 = max(ys) if y_max is None else y_max
    if y1 <= y0:
        y1 = y0 + 1
    yt = _ticks(y0, y1)
    y0, y1 = min(y0, yt[0]), max(y1, yt[-1])

    def sx(x: float) -> float:
        return ml + (x - x0) / (x1 - x0) * w

    def sy(y: float) -> float:
        return mt + h - (y - y0) / (y1 - y0) * h

    for t in yt:
        parts.append(
            f'<line x1="{ml}" x2="{ml + w}" y1="{sy(t):.1f}" y2="{sy(t):.1f}" stroke="#e5e7eb"/>'
            f'<text x="{ml - 6}" y="{sy(t) + 4:.1f}" text-anchor="end" font-size="10">'
            f"{_fmt(t)}</text>"
        )
    xt = sorted({int(x) for x in xs})
    step = max(1, math.ceil(len(xt) / 10))
    for t in xt[::step]:
        parts.append(
            f'<text x="{sx(t):.1f}" y="{mt + h + 14}" text-anchor="middle" font-size="10">'
            f"{t}</text>"
        )
    parts.append(
        f'<line x1="{ml}" x2="{ml}" y1="{mt}" y2="{mt + h}" stroke="#9ca3af"/>'
        f'<line x1="{ml}" x2="{ml + w}" y1="{mt + h}" y2="{mt + h}" stroke="#9ca3af"/>'
        f'<text x="{ml + w / 2}" y="{height - 4}" text-anchor="middle" font-size="11">'
        f"{escape(x_label)}</text>"
    )
    if y_label:
        parts.append(
            f'<text transform="translate(12 {mt + h / 2}) rotate(-90)" text-anchor="middle" '
            f'font-size="11">{escape(y_label)}</text>'
        )
    lx = ml + w
    for i, (name, s) in enumerate(series.items()):
        color = PALETTE[i % len(PALETTE)]
        good = [(x, y) for x, y in s if y is not None]
        if good:
            path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in good)
            parts.append(
                f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2" '
                f'data-series="{escape(name)}"/>'
            )
            for x, y in good:
                parts.append(
                    f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="2.5" fill="{color}">'
                    f"<title>{escape(name)} epoch {_fmt(x)}: {_fmt(y)}</title></circle>"
                )
        lx -= 8 + 7 * len(name) + 14
        parts.append(
            f'<rect x="{lx}" y="8" width="10" height="10" fill="{color}"/>'
            f'<text x="{lx + 14}" y="17" font-size="11">{escape(name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def grouped_bars(
    rows: Sequence[tuple[str, Sequence[float]]],
    *,
    names: Sequence[str],
    title: str,
    width: int = 640,
    bar_h: int = 5,
) -> str:
    """Horizontal grouped bars in [0, 1]: one group per row label (e.g. precision/recall/F1)."""
    ml, mr, mt, mb = 150, 16, 30, 24
    group_h = bar_h * len(names) + 6
    height = mt + mb + group_h * max(1, len(rows))
    w = width - ml - mr
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>',
        f'<text x="{ml}" y="16" font-size="13" font-weight="600">{escape(title)}</text>',
    ]
    lx = width - mr
    for i, name in enumerate(reversed(list(names))):
        color = PALETTE[(len(names) - 1 - i) % len(PALETTE)]
        lx -= 14 + 7 * len(name) + 10
        parts.append(
            f'<rect x="{lx}" y="8" width="10" height="10" fill="{color}"/>'
            f'<text x="{lx + 14}" y="17" font-size="11">{escape(name)}</text>'
        )
    for t in (0, 0.25, 0.5, 0.75, 1.0):
        x = ml + t * w
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{mt - 4}" y2="{height - mb}" stroke="#e5e7eb"/>'
            f'<text x="{x:.1f}" y="{height - mb + 14}" text-anchor="middle" font-size="10">'
            f"{_fmt(t)}</text>"
        )
    for gi, (label, values) in enumerate(rows):
        y = mt + gi * group_h
        parts.append(
            f'<text x="{ml - 6}" y="{y + group_h / 2 + 3:.1f}" text-anchor="end" font-size="10">'
            f"{escape(label[:24])}</text>"
        )
        for bi, v in enumerate(values):
            v = max(0.0, min(1.0, float(v or 0)))
            parts.append(
                f'<rect x="{ml}" y="{y + bi * bar_h}" width="{v * w:.1f}" height="{bar_h - 1}" '
                f'fill="{PALETTE[bi % len(PALETTE)]}"><title>{escape(label)} {escape(names[bi])}: '
                f"{v:.3f}</title></rect>"
            )
    parts.append("</svg>")
    return "".join(parts)


def heatmap(
    matrix: Sequence[Sequence[int]],
    labels: Sequence[str],
    *,
    title: str,
    cell: int = 0,
    max_size: int = 560,
) -> str:
    """Confusion-matrix heatmap: rows = true class, columns = predicted; colour = row fraction."""
    n = len(labels)
    cell = cell or max(8, min(36, (max_size - 130) // max(1, n)))
    ml, mt = 130, 40
    size_w = max(ml + n * cell + 90, 420)  # room for the rotated column labels and the note
    size_h = mt + n * cell + 110
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart heatmap" role="img" '
        f'viewBox="0 0 {size_w} {size_h}" width="{size_w}" height="{size_h}" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>',
        f'<text x="4" y="16" font-size="13" font-weight="600">{escape(title)}</text>',
        '<text x="4" y="32" font-size="10" fill="#555">rows: true class · columns: predicted · '
        "colour: share of the row</text>",
    ]
    for i, row in enumerate(matrix):
        total = sum(row) or 1
        y = mt + i * cell
        parts.append(
            f'<text x="{ml - 4}" y="{y + cell / 2 + 3:.1f}" text-anchor="end" font-size="10">'
            f"{escape(labels[i][:20])}</text>"
        )
        for j, v in enumerate(row):
            frac = v / total
            if i == j:
                fill = f"rgba(22,163,74,{0.12 + 0.88 * frac:.3f})"
            else:
                fill = f"rgba(220,38,38,{0.04 + 0.96 * frac:.3f})" if v else "#f9fafb"
            parts.append(
                f'<rect x="{ml + j * cell}" y="{y}" width="{cell - 1}" height="{cell - 1}" '
                f'fill="{fill}"><title>true {escape(labels[i])} → predicted {escape(labels[j])}: '
                f"{v}</title></rect>"
            )
            if v and cell >= 22:
                parts.append(
                    f'<text x="{ml + j * cell + cell / 2:.1f}" y="{y + cell / 2 + 3:.1f}" '
                    f'text-anchor="middle" font-size="9">{v}</text>'
                )
    for j, lab in enumerate(labels):
        x = ml + j * cell + cell / 2
        y = mt + n * cell + 6
        parts.append(
            f'<text transform="translate({x:.1f} {y}) rotate(60)" font-size="10">'
            f"{escape(lab[:16])}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)

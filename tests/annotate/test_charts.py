"""The server-rendered bar chart: whole-number gridlines on a count axis, bars to scale."""

from __future__ import annotations

import re

import pytest

from annotate.views.charts import BOTTOM, TOP, H, bar_chart


def _ticks(svg: str) -> list[str]:
    return re.findall(r'text-anchor="end">([^<]+)</text>', svg)


@pytest.mark.parametrize(
    ("top_count", "ticks"),
    [
        (24, ["0", "6", "12", "18", "24"]),
        (25, ["0", "8", "16", "24", "32"]),
        (3, ["0", "1", "2", "3", "4"]),
        (1234, ["0", "400", "800", "1200", "1600"]),
    ],
)
def test_count_axis_ticks_are_whole_numbers_at_or_above_the_tallest_bar(
    top_count: int, ticks: list[str]
) -> None:
    svg = str(bar_chart([("3", 1), ("10", top_count)], title="t", x_label="x", y_label="y"))
    assert _ticks(svg) == ticks


def test_bar_heights_are_to_scale() -> None:
    svg = str(bar_chart([("3", 6), ("4", 24)], title="t", x_label="x", y_label="y"))
    heights = [float(h) for h in re.findall(r'<rect class="column"[^>]* height="([\d.]+)"', svg)]
    plot = H - TOP - BOTTOM
    assert heights == pytest.approx([plot * 6 / 24, plot], abs=0.06)

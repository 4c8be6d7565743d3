"""Template filters for the quality pages."""

from __future__ import annotations

from typing import Any

from django import template

from curation.storage import thumb_url

register = template.Library()


@register.filter
def heat(value: Any) -> str:
    """Background colour for a confidence in 0..1: red (no) through white to green (yes)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return ""
    if v >= 0.5:
        lightness = 100 - (v - 0.5) * 2 * 45
        return f"background: hsl(140 60% {lightness:.0f}%)"
    lightness = 100 - (0.5 - v) * 2 * 45
    return f"background: hsl(0 70% {lightness:.0f}%)"


@register.filter
def pct(value: Any, digits: int = 1) -> str:
    try:
        return f"{float(value) * 100:.{int(digits)}f}%"
    except (TypeError, ValueError):
        return "—"


@register.filter
def num(value: Any, digits: int = 2) -> str:
    try:
        return f"{float(value):.{int(digits)}f}"
    except (TypeError, ValueError):
        return "—"


@register.filter
def seconds(ms: Any) -> str:
    try:
        return f"{float(ms) / 1000:.1f} s"
    except (TypeError, ValueError):
        return "—"


@register.filter
def thumb(sha256: str) -> str:
    return thumb_url(sha256)

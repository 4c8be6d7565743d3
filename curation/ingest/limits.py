"""Ingest limits, read from settings once per job (see config/settings/base.py, INGEST_*)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 32 * 1024 * 1024
    max_pixels: int = 50_000_000
    min_side: int = 32
    allowed_formats: frozenset[str] = frozenset({"JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF"})
    thumb_size: int = 256
    url_connect_timeout: float = 5.0
    url_read_timeout: float = 15.0
    url_total_timeout: float = 45.0
    url_max_redirects: int = 5
    url_retries: int = 2
    url_per_host: int = 4
    url_threads: int = 16
    url_allow_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = field(
        default_factory=tuple
    )
    url_user_agent: str = "SynsetLab/0.1"
    archive_max_ratio: int = 100
    archive_max_total_bytes: int = 20 * 1024 * 1024 * 1024
    archive_max_entries: int = 1_000_000

    @classmethod
    def from_settings(cls, **overrides: Any) -> Limits:
        from django.conf import settings

        formats = {f.strip().upper() for f in settings.INGEST_ALLOWED_FORMATS if f.strip()}
        if "JPEG" in formats:
            formats.add("MPO")  # multi-picture JPEGs from cameras are JPEGs
        values: dict[str, Any] = {
            "max_bytes": settings.INGEST_MAX_BYTES,
            "max_pixels": settings.INGEST_MAX_PIXELS,
            "min_side": settings.INGEST_MIN_SIDE,
            "allowed_formats": frozenset(formats),
            "thumb_size": settings.INGEST_THUMB_SIZE,
            "url_connect_timeout": settings.INGEST_URL_CONNECT_TIMEOUT,
            "url_read_timeout": settings.INGEST_URL_READ_TIMEOUT,
            "url_total_timeout": settings.INGEST_URL_TOTAL_TIMEOUT,
            "url_max_redirects": settings.INGEST_URL_MAX_REDIRECTS,
            "url_retries": settings.INGEST_URL_RETRIES,
            "url_per_host": settings.INGEST_URL_PER_HOST,
            "url_threads": settings.INGEST_URL_THREADS,
            "url_allow_networks": parse_networks(settings.INGEST_URL_ALLOW_NETWORKS),
            "url_user_agent": settings.INGEST_URL_USER_AGENT,
            "archive_max_ratio": settings.INGEST_ARCHIVE_MAX_RATIO,
            "archive_max_total_bytes": settings.INGEST_ARCHIVE_MAX_TOTAL_BYTES,
            "archive_max_entries": settings.INGEST_ARCHIVE_MAX_ENTRIES,
        }
        values.update(overrides)
        return cls(**values)


def parse_networks(
    items: list[str] | tuple[str, ...],
) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """CIDRs or single addresses ("10.0.0.0/8", "127.0.0.1") as networks."""
    return tuple(ipaddress.ip_network(item.strip(), strict=False) for item in items if item.strip())

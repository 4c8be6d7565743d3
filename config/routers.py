"""DRF routers that accept every route with or without its trailing slash.

DRF's `trailing_slash` constructor argument only takes True/False (anything truthy becomes "/"),
so the optional slash is set after construction; `format_suffix_patterns` is left off so the only
URL forms are `/api/v1/things` and `/api/v1/things/`.
"""

from __future__ import annotations

from typing import Any

from rest_framework.routers import DefaultRouter, SimpleRouter

OPTIONAL_SLASH = "/?"


class OptionalSlashRouter(SimpleRouter):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.trailing_slash = OPTIONAL_SLASH


class OptionalSlashDefaultRouter(DefaultRouter):
    """With the browsable API root view (`/api/v1/`)."""

    include_format_suffixes = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.trailing_slash = OPTIONAL_SLASH

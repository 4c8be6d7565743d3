from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from curation.roles import is_annotator, is_curator


def roles(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    return {
        "is_curator": bool(user and is_curator(user)),
        "is_annotator": bool(user and is_annotator(user)),
    }

"""The two roles: curators (manage everything) and annotators (label in /annotate/ only)."""

from __future__ import annotations

from typing import Any

CURATOR = "curator"
ANNOTATOR = "annotator"
ROLES = (CURATOR, ANNOTATOR)


def _groups(user: Any) -> set[str]:
    cached = getattr(user, "_synsetlab_groups", None)
    if cached is None:
        cached = set(user.groups.values_list("name", flat=True)) if user.pk else set()
        user._synsetlab_groups = cached
    return cached


def is_curator(user: Any) -> bool:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    return bool(user.is_superuser or CURATOR in _groups(user))


def is_annotator(user: Any) -> bool:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    return ANNOTATOR in _groups(user) or is_curator(user)


def role_of(user: Any) -> str:
    if is_curator(user):
        return "admin" if user.is_superuser else CURATOR
    if is_annotator(user):
        return ANNOTATOR
    return "anonymous" if not getattr(user, "is_authenticated", False) else "none"

"""Reads over duplicate groups: the review list (filters, largest first), one image's group."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.db.models import Count, Prefetch, Q, QuerySet

from curation.models import Candidate, DuplicateGroup, DuplicateMember

KINDS = ("exact", "near_exact", "near")
STATUSES = ("proposed", "confirmed")


class FilterError(ValueError):
    pass


def _bool(value: str | None) -> bool | None:
    if value in (None, ""):
        return None
    low = str(value).lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off"):
        return False
    raise FilterError(f"crosses_synsets must be true or false, not {str(value)[:40]!r}")


def duplicate_groups(
    *,
    kind: str | None = None,
    crosses_synsets: str | bool | None = None,
    status: str | None = None,
    image: str | int | None = None,
) -> QuerySet[DuplicateGroup]:
    """Groups largest first, members (representative first) with their images prefetched;
    `image`: only the group holding that image (an image is in one group at most)."""
    qs = DuplicateGroup.objects.all()
    if image not in (None, ""):
        text = str(image)
        if not text.isdigit() or len(text) > 18:
            raise FilterError(f"image must be an image id, not {text[:40]!r}")
        qs = qs.filter(members__image_id=int(text))
    if kind:
        if kind not in KINDS:
            raise FilterError(f"kind must be one of {', '.join(KINDS)}, not {kind[:40]!r}")
        qs = qs.filter(kind=kind)
    crosses = crosses_synsets if isinstance(crosses_synsets, bool) else _bool(crosses_synsets)
    if crosses is not None:
        qs = qs.filter(crosses_synsets=crosses)
    if status:
        if status not in STATUSES:
            raise FilterError(f"status must be one of {', '.join(STATUSES)}, not {status[:40]!r}")
        qs = qs.filter(status=status)
    members = DuplicateMember.objects.select_related("image").order_by("-similarity", "image_id")
    return qs.order_by("-size", "id").prefetch_related(Prefetch("members", queryset=members))


def member_synsets(groups: list[DuplicateGroup]) -> dict[int, list[tuple[str, str, str]]]:
    """image id -> [(wnid, synset name, candidate state)] for the members of these groups."""
    ids = [m.image_id for g in groups for m in g.members.all()]
    out: dict[int, list[tuple[str, str, str]]] = defaultdict(list)
    rows = Candidate.objects.filter(image_id__in=ids).values_list(
        "image_id", "synset__wnid", "synset__name", "state"
    )
    for image_id, wnid, name, state in rows.order_by("synset__wnid"):
        out[image_id].append((wnid, name, state))
    return out


def image_duplicate_view(image_id: int) -> dict[str, Any] | None:
    """The image page's duplicates section: its group, its own link, and the other members with
    their synsets (representative first)."""
    group = duplicate_groups(image=image_id).first()
    if group is None:
        return None
    members = list(group.members.all())  # prefetched with their images, most similar first
    synsets = member_synsets([group])
    for m in members:
        m.synset_list = synsets.get(m.image_id, [])
    others = sorted(
        (m for m in members if m.image_id != image_id),
        key=lambda m: m.image_id != group.representative_id,
    )
    member = next(m for m in members if m.image_id == image_id)
    return {"group": group, "member": member, "others": others}


def image_duplicate_group(image_id: int) -> dict[str, Any] | None:
    """The image's group for the image API: id, kind, status, representative, members."""
    member = DuplicateMember.objects.select_related("group").filter(image_id=image_id).first()
    if member is None:
        return None
    group = member.group
    return {
        "id": group.pk,
        "kind": group.kind,
        "status": group.status,
        "crosses_synsets": group.crosses_synsets,
        "representative": group.representative_id,
        "is_representative": group.representative_id == image_id,
        "similarity": member.similarity,
        "members": list(group.members.order_by("image_id").values_list("image_id", flat=True)),
    }


def duplicate_summary() -> dict[str, int]:
    agg = DuplicateGroup.objects.aggregate(
        groups=Count("id"),
        exact=Count("id", filter=Q(kind="exact")),
        near_exact=Count("id", filter=Q(kind="near_exact")),
        near=Count("id", filter=Q(kind="near")),
        crosses=Count("id", filter=Q(crosses_synsets=True)),
        confirmed=Count("id", filter=Q(status="confirmed")),
    )
    agg["members"] = DuplicateMember.objects.count()
    return agg

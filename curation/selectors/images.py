"""Reads over images and candidates: the candidate grid, an image with everything about it."""

from __future__ import annotations

from typing import Any

from django.db.models import F, Q, QuerySet
from django.db.models.functions import Least

from curation.models import Candidate, Image, Synset

# The shorter side decides: below 224 px an image is too small to train on at ImageNet sizes.
SIZE_FILTERS: dict[str, tuple[str, Q]] = {
    "small": ("small (< 224 px)", Q(short_side__lt=224)),
    "medium": ("medium (224-499 px)", Q(short_side__gte=224, short_side__lt=500)),
    "large": ("large (≥ 500 px)", Q(short_side__gte=500)),
}
SORTS: dict[str, tuple[str, list[Any]]] = {
    "newest": ("newest first", [F("created_at").desc(), F("id").desc()]),
    "score_desc": (
        "machine score, high first",
        [F("machine_score").desc(nulls_last=True), F("id").asc()],
    ),
    "score_asc": (
        "machine score, low first",
        [F("machine_score").asc(nulls_last=True), F("id").asc()],
    ),
    "size": ("largest first", [F("area").desc(), F("id").asc()]),
}


def candidate_search(
    *,
    synset: Synset | None = None,
    state: str | None = None,
    source: str | None = None,
    size: str | None = None,
    sort: str = "newest",
    image_id: int | None = None,
) -> QuerySet[Candidate]:
    """Candidates filtered by synset, state, source and size, in one of SORTS' orders."""
    qs = Candidate.objects.select_related("image", "synset")
    if synset is not None:
        qs = qs.filter(synset=synset)
    if image_id is not None:
        qs = qs.filter(image_id=image_id)
    if state:
        qs = qs.filter(state=state)
    if source is not None and source != "":
        qs = qs.filter(source=source)
    if size in SIZE_FILTERS:
        qs = qs.annotate(short_side=Least("image__width", "image__height")).filter(
            SIZE_FILTERS[size][1]
        )
    if sort == "size":
        qs = qs.annotate(area=F("image__width") * F("image__height"))
    return qs.order_by(*SORTS.get(sort, SORTS["newest"])[1])


def candidate_sources(synset: Synset) -> list[str]:
    return list(
        Candidate.objects.filter(synset=synset)
        .order_by("source")
        .values_list("source", flat=True)
        .distinct()
    )


def image_get(pk: int) -> Image | None:
    return Image.objects.filter(pk=pk).first()


def image_candidacies(image: Image) -> QuerySet[Candidate]:
    return image.candidates.select_related("synset", "job").order_by("synset__wnid")


def image_origins(image: Image, limit: int = 200) -> list[Any]:
    return list(image.origins.select_related("job").order_by("created_at", "id")[:limit])

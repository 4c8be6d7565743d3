"""Reads over the synset catalogue: search, detail, hypernym paths, counts."""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

from django.core.paginator import Paginator
from django.db.models import Case, Count, IntegerField, Q, QuerySet, Value, When

from curation.models import Candidate, Synset, SynsetClosure, SynsetEdge

WNID_RE = re.compile(r"^n\d{8}$")


def synset_search(
    *, q: str = "", active: bool | None = None, under: str | None = None
) -> QuerySet[Synset]:
    """Filter by text (wnid, name or lemma), active flag and ancestor; best matches first."""
    qs = Synset.objects.all()
    if active is not None:
        qs = qs.filter(active=active)
    if under:
        qs = qs.filter(
            pk__in=SynsetClosure.objects.filter(ancestor__wnid=under, distance__gt=0).values(
                "descendant_id"
            )
        )
    q = q.strip().lower()
    if q:
        if WNID_RE.match(q):
            return qs.filter(wnid=q)
        # search_text holds each lemma with underscores and with spaces, so one LIKE is enough.
        needle = q.replace(" ", "_")
        qs = qs.filter(search_text__contains=needle)
        # Exact lemma or name first, then lemma prefixes, then anything containing the text.
        qs = qs.annotate(
            rank=Case(
                When(
                    Q(search_text__contains=f"|{needle}|") | Q(search_text__contains=f"|{q}|"),
                    then=Value(0),
                ),
                When(name__startswith=needle + ".", then=Value(1)),
                When(search_text__contains="|" + needle, then=Value(2)),
                default=Value(3),
                output_field=IntegerField(),
            )
        ).order_by("rank", "depth", "name")
    return qs


def synset_get(wnid_or_name: str) -> Synset | None:
    key = wnid_or_name.strip()
    field = "wnid" if WNID_RE.match(key) else "name"
    return Synset.objects.filter(**{field: key}).first()


def synset_parents(synset: Synset) -> list[Synset]:
    return list(Synset.objects.filter(child_edges__child=synset).order_by("name"))


def synset_children(synset: Synset) -> QuerySet[Synset]:
    return Synset.objects.filter(parent_edges__parent=synset).order_by("name")


class _KnownCountPaginator(Paginator):
    def __init__(self, object_list: Any, per_page: int, count: int) -> None:
        super().__init__(object_list, per_page)
        self._known_count = count

    @property
    def count(self) -> int:  # type: ignore[override]
        return self._known_count


def synset_descendants_page(synset: Synset, page: Any, per_page: int = 100) -> Any:
    """One page of descendants, nearest first, read off the (ancestor, distance) index.

    The count is the stored descendant_count, so entity.n.01's 82,114 cost no COUNT or sort.
    """
    closure = (
        SynsetClosure.objects.filter(ancestor=synset, distance__gt=0)
        .order_by("distance", "descendant_id")
        .select_related("descendant")
    )
    paginator = _KnownCountPaginator(closure, per_page, synset.descendant_count)
    result = paginator.get_page(page)
    result.object_list = [row.descendant for row in result.object_list]
    return result


def hypernym_paths(synset: Synset) -> list[list[Synset]]:
    """Every path from the root (entity.n.01) down to `synset`: two queries, then a walk."""
    ancestor_ids = list(
        SynsetClosure.objects.filter(descendant=synset).values_list("ancestor_id", flat=True)
    )
    nodes = {s.pk: s for s in Synset.objects.filter(pk__in=ancestor_ids)}
    parents: dict[int, list[int]] = defaultdict(list)
    for parent_id, child_id in SynsetEdge.objects.filter(child_id__in=ancestor_ids).values_list(
        "parent_id", "child_id"
    ):
        parents[child_id].append(parent_id)
    paths: list[list[Synset]] = []

    def walk(node_id: int, suffix: list[Synset]) -> None:
        here = [nodes[node_id], *suffix]
        if not parents[node_id]:
            paths.append(here)
            return
        for parent_id in sorted(parents[node_id], key=lambda pk: nodes[pk].name):
            walk(parent_id, here)

    walk(synset.pk, [])
    return sorted(paths, key=lambda path: (len(path), [s.name for s in path]))


def candidate_counts(synset: Synset, *, subtree: bool = False) -> dict[str, int]:
    """Candidates of this synset (or its whole subtree) by state."""
    qs = Candidate.objects.all()
    if subtree:
        qs = qs.filter(
            synset_id__in=SynsetClosure.objects.filter(ancestor=synset).values("descendant_id")
        )
    else:
        qs = qs.filter(synset=synset)
    counts: dict[str, Any] = {state: 0 for state in Candidate.State.values}
    for row in qs.values("state").annotate(n=Count("id")):
        counts[row["state"]] = row["n"]
    counts["total"] = sum(counts[state] for state in Candidate.State.values)
    return counts


def catalogue_stats() -> dict[str, int]:
    return {
        "synsets": Synset.objects.count(),
        "active": Synset.objects.filter(active=True).count(),
    }

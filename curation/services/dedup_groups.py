"""Duplicate groups from stored edges: union-find that never joins a "not a duplicate" pair, the
reconciliation of the groups in the database, and the exclusion of non-representative members'
candidates from annotation. Pure Python and SQL (no FAISS): the web's review actions use it too.

Grouping rules (documented in the README):
- edges are joined strictest first (exact, near-exact, near; higher similarity first); an edge
  whose two components would then hold a NotDuplicatePair is skipped, so the pair ends in
  different groups;
- a group's kind is its loosest joining edge; a member's kind and similarity are those of its
  strongest edge inside the group (the representative has similarity 1);
- an existing group keeps its id, status and representative when its members are unchanged; a
  group that changed goes back to "proposed"; a new group's representative is the largest picture
  (width x height), then the earliest image;
- members other than the representative have their open candidates (pending, in review) excluded
  (`decided_by="duplicate"`) and their queue rows closed; gold candidates and decided candidates
  are never auto-excluded. A member that leaves a group gets those candidates back (pending, then
  re-decided from their votes).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from curation.models import (
    Candidate,
    DuplicateEdge,
    DuplicateGroup,
    DuplicateKind,
    DuplicateMember,
    Image,
    NotDuplicatePair,
)

KIND_RANK = {DuplicateKind.EXACT: 0, DuplicateKind.NEAR_EXACT: 1, DuplicateKind.NEAR: 2}
DECIDED_BY = "duplicate"


# --- edges ----------------------------------------------------------------------------------------


def edges_upsert(*, edges: Iterable[tuple[int, int, str, float]]) -> int:
    """Store links (a, b, kind, similarity); a pair already stored keeps its stricter kind.
    Idempotent: the same edges twice change nothing. Returns the number of new or changed rows."""
    best: dict[tuple[int, int], tuple[str, float]] = {}
    for a, b, kind, sim in edges:
        if a == b:
            continue
        key = (min(a, b), max(a, b))
        old = best.get(key)
        if old is None or (KIND_RANK[kind], -sim) < (KIND_RANK[old[0]], -old[1]):
            best[key] = (kind, float(sim))
    if not best:
        return 0
    existing: dict[tuple[int, int], tuple[str, float]] = {}
    lows = sorted({a for a, _ in best})
    for start in range(0, len(lows), 5000):
        rows = DuplicateEdge.objects.filter(image_a__in=lows[start : start + 5000]).values_list(
            "image_a", "image_b", "kind", "similarity"
        )
        for a, b, kind, sim in rows:
            if (a, b) in best:
                existing[(a, b)] = (kind, sim)
    live = set(
        Image.objects.filter(pk__in={i for k in best for i in k}).values_list("pk", flat=True)
    )
    create, changed = [], 0
    for (a, b), (kind, sim) in best.items():
        if a not in live or b not in live:
            continue
        old = existing.get((a, b))
        if old is None:
            create.append(DuplicateEdge(image_a_id=a, image_b_id=b, kind=kind, similarity=sim))
        elif (KIND_RANK[kind], -sim) < (KIND_RANK[old[0]], -old[1]):
            DuplicateEdge.objects.filter(image_a_id=a, image_b_id=b).update(
                kind=kind, similarity=sim
            )
            changed += 1
    created = DuplicateEdge.objects.bulk_create(create, ignore_conflicts=True, batch_size=5000)
    return len(created) + changed


# --- union-find with cannot-link ------------------------------------------------------------------


class _Components:
    def __init__(self, forbidden: dict[int, set[int]]) -> None:
        self.parent: dict[int, int] = {}
        self.members: dict[int, list[int]] = {}
        self.forbidden = forbidden  # image -> images it must never share a group with

    def find(self, x: int) -> int:
        parent = self.parent
        if x not in parent:
            parent[x] = x
            self.members[x] = [x]
            return x
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    def union(self, a: int, b: int) -> bool:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return False
        small, big = sorted((ra, rb), key=lambda r: len(self.members[r]))
        big_set = set(self.members[big]) if self.forbidden else set()
        for m in self.members[small]:
            if self.forbidden.get(m, set()) & big_set:
                return False
        self.parent[small] = big
        self.members[big].extend(self.members.pop(small))
        return True


def components_from_edges(
    edges: list[tuple[int, int, str, float]], forbidden_pairs: Iterable[tuple[int, int]]
) -> list[tuple[set[int], list[tuple[int, int, str, float]]]]:
    """Groups (members, joining edges) of size >= 2; strictest edges join first."""
    forbidden: dict[int, set[int]] = defaultdict(set)
    for a, b in forbidden_pairs:
        forbidden[a].add(b)
        forbidden[b].add(a)
    uf = _Components(dict(forbidden))
    used: list[tuple[int, int, str, float]] = []
    for edge in sorted(edges, key=lambda e: (KIND_RANK[e[2]], -e[3], e[0], e[1])):
        if uf.union(edge[0], edge[1]):
            used.append(edge)
    by_root: dict[int, list[tuple[int, int, str, float]]] = defaultdict(list)
    for edge in used:
        by_root[uf.find(edge[0])].append(edge)
    return [(set(uf.members[root]), es) for root, es in by_root.items()]


# --- groups in the database -----------------------------------------------------------------------


def _pick_representative(members: set[int], sizes: dict[int, int]) -> int:
    return min(members, key=lambda i: (-sizes.get(i, 0), i))


@transaction.atomic
def duplicate_groups_rebuild() -> dict[str, Any]:
    """Recompute every group from the stored edges and NotDuplicatePairs; idempotent."""
    edges = [
        (a, b, k, s)
        for a, b, k, s in DuplicateEdge.objects.values_list(
            "image_a", "image_b", "kind", "similarity"
        ).iterator(chunk_size=20_000)
    ]
    forbidden = list(NotDuplicatePair.objects.values_list("image_a", "image_b"))
    comps = components_from_edges(edges, forbidden)
    all_ids = {i for members, _ in comps for i in members}
    sizes = {
        pk: w * h
        for pk, w, h in Image.objects.filter(pk__in=all_ids).values_list("pk", "width", "height")
    }
    synsets: dict[int, set[int]] = defaultdict(set)
    for image_id, synset_id in Candidate.objects.filter(image_id__in=all_ids).values_list(
        "image_id", "synset_id"
    ):
        synsets[image_id].add(synset_id)

    groups = {g.pk: g for g in DuplicateGroup.objects.select_for_update().order_by("pk")}
    old_members: dict[int, set[int]] = defaultdict(set)
    old_group_of: dict[int, int] = {}
    for image_id, group_id in DuplicateMember.objects.values_list("image_id", "group_id"):
        old_members[group_id].add(image_id)
        old_group_of[image_id] = group_id

    wanted: dict[int, tuple[int, str, float]] = {}  # image -> (group id, kind, similarity)
    kept: set[int] = set()
    stats = {"groups": 0, "new_groups": 0, "changed_groups": 0, "members": 0}
    for members, used in sorted(comps, key=lambda c: (-len(c[0]), min(c[0]))):
        overlap: dict[int, int] = defaultdict(int)
        for m in members:
            if m in old_group_of and old_group_of[m] not in kept:
                overlap[old_group_of[m]] += 1
        group = groups[max(overlap, key=lambda g: (overlap[g], -g))] if overlap else None
        unchanged = group is not None and old_members[group.pk] == members
        if group is None:
            group = DuplicateGroup(representative_id=_pick_representative(members, sizes))
            stats["new_groups"] += 1
        elif group.representative_id not in members:
            group.representative_id = _pick_representative(members, sizes)
        if not unchanged and group.pk is not None:
            group.status = DuplicateGroup.Status.PROPOSED
            stats["changed_groups"] += 1
        best: dict[int, tuple[str, float]] = {}
        for a, b, kind, sim in used:
            for m in (a, b):
                if m not in best or (KIND_RANK[kind], -sim) < (KIND_RANK[best[m][0]], -best[m][1]):
                    best[m] = (kind, sim)
        group.kind = max((e[2] for e in used), key=lambda k: KIND_RANK[k])
        group.size = len(members)
        group.crosses_synsets = len(set().union(*(synsets[m] for m in members))) > 1
        group.min_similarity = min(best[m][1] for m in members if m != group.representative_id)
        group.save()
        kept.add(group.pk)
        for m in members:
            kind, sim = best[m]
            wanted[m] = (group.pk, kind, 1.0 if m == group.representative_id else sim)
        stats["groups"] += 1
        stats["members"] += len(members)

    # Members: drop rows that moved or left, then write the wanted ones.
    current = {
        m.image_id: m for m in DuplicateMember.objects.select_for_update().order_by("image_id")
    }
    stale = [
        pk for image_id, m in current.items()
        if image_id not in wanted or wanted[image_id][0] != m.group_id
        for pk in [m.pk]
    ]  # fmt: skip
    DuplicateMember.objects.filter(pk__in=stale).delete()
    DuplicateGroup.objects.exclude(pk__in=kept).delete()
    create = []
    for image_id, (group_id, kind, sim) in wanted.items():
        m = current.get(image_id)
        if m is not None and m.group_id == group_id:
            if m.kind != kind or abs(m.similarity - sim) > 1e-6:
                DuplicateMember.objects.filter(pk=m.pk).update(kind=kind, similarity=sim)
            continue
        create.append(
            DuplicateMember(group_id=group_id, image_id=image_id, kind=kind, similarity=sim)
        )
    DuplicateMember.objects.bulk_create(create, batch_size=5000)
    touched = set(current) | set(wanted)
    stats.update(duplicate_exclusions_sync(image_ids=touched))
    stats["edges"] = len(edges)
    return stats


# --- exclusions -----------------------------------------------------------------------------------


@transaction.atomic
def duplicate_exclusions_sync(*, image_ids: Iterable[int]) -> dict[str, int]:
    """Exclude the open candidates of non-representative members, give back those of images
    that are no longer excluded duplicates. Gold and decided candidates are never touched."""
    from django.conf import settings

    from annotate.models import QueueItem
    from annotate.services.consensus.update import consensus_update
    from annotate.services.queue import score_priority

    ids = set(image_ids)
    if not ids:
        return {"excluded": 0, "restored": 0}
    excluded_images: set[int] = set()
    id_list = sorted(ids)
    for start in range(0, len(id_list), 5000):
        excluded_images |= set(
            DuplicateMember.objects.filter(image_id__in=id_list[start : start + 5000])
            .exclude(image_id=F("group__representative_id"))
            .values_list("image_id", flat=True)
        )
    to_exclude = list(
        Candidate.objects.filter(image_id__in=excluded_images, state__in=Candidate.OPEN)
        .filter(gold__isnull=True)
        .values_list("pk", flat=True)
    )
    to_restore = list(
        Candidate.objects.filter(
            image_id__in=ids - excluded_images,
            state=Candidate.State.EXCLUDED,
            decided_by=DECIDED_BY,
        ).values_list("pk", flat=True)
    )
    now = timezone.now()
    # Lock order everywhere: queue rows, then candidate rows (each in id order).
    list(
        QueueItem.objects.select_for_update()
        .filter(candidate_id__in=to_exclude + to_restore)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    if to_exclude:
        QueueItem.objects.filter(candidate_id__in=to_exclude).update(open=False, need=0)
        Candidate.objects.filter(pk__in=to_exclude).update(
            state=Candidate.State.EXCLUDED, decided_by=DECIDED_BY, decided_at=now
        )
    if to_restore:
        Candidate.objects.filter(pk__in=to_restore).update(
            state=Candidate.State.PENDING, decided_by="", decided_at=None
        )
        queued = set(
            QueueItem.objects.filter(candidate_id__in=to_restore).values_list(
                "candidate_id", flat=True
            )
        )
        QueueItem.objects.filter(candidate_id__in=queued).update(
            open=True, need=settings.ANNOTATE_MIN_VOTES
        )
        QueueItem.objects.bulk_create(
            [
                QueueItem(
                    candidate_id=pk,
                    synset_id=synset_id,
                    need=settings.ANNOTATE_MIN_VOTES,
                    priority=score_priority(score),
                )
                for pk, synset_id, score in Candidate.objects.filter(pk__in=to_restore)
                .exclude(pk__in=queued)
                .filter(gold__isnull=True)
                .values_list("pk", "synset_id", "machine_score")
            ],
            ignore_conflicts=True,
        )
        consensus_update(candidate_ids=to_restore)
    return {"excluded": len(to_exclude), "restored": len(to_restore)}

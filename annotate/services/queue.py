"""The work queue: which candidates need votes (a QueueItem per open, non-gold candidate, holding
`need`, the further votes wanted now, set by consensus, and `leased`, the leases out right now),
leases expiring and being given back. Leasing itself is in annotate.services.assignment."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterable

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, F, Max, OuterRef, QuerySet
from django.db.models.functions import Greatest
from django.utils import timezone

from annotate.models import (
    Annotator,
    Assignment,
    AssignmentItem,
    GoldItem,
    QueueItem,
)
from curation.models import Candidate

logger = logging.getLogger(__name__)

RECENT_WINDOW = 2_000  # candidate ids below the high-water mark re-checked on every request
NO_SCORE = 1e6  # candidates without a machine score come after those with one
SYNC_BATCH = 100_000  # queue rows created per pass at most (the next pass takes the rest)
_last_housekeeping = 0.0
_checked_up_to: int | None = None  # this process's queue_sync has checked candidates up to here


def housekeeping() -> None:
    """Expire lapsed leases and queue new candidates, at most every ANNOTATE_HOUSEKEEPING_SECONDS
    per process (each is a couple of cheap queries, not worth paying on every request)."""
    global _last_housekeeping
    now = time.monotonic()
    if now - _last_housekeeping < settings.ANNOTATE_HOUSEKEEPING_SECONDS:
        return
    _last_housekeeping = now
    leases_expire(limit=200)
    queue_sync()


# --- the queue ------------------------------------------------------------------------------------


def score_priority(score: float | None) -> float:
    """Order among candidates with equal vote counts, per ANNOTATE_SCORE_ORDER (lower first):
    desc = likely positives first (as ImageNet did), asc, uncertain = closest to 0.5, none."""
    if score is None:
        return NO_SCORE
    order = settings.ANNOTATE_SCORE_ORDER
    if order == "desc":
        return -float(score)
    if order == "asc":
        return float(score)
    if order == "uncertain":
        return abs(float(score) - 0.5)
    return 0.0


def queue_sync(*, full: bool = False, synset_ids: Iterable[int] | None = None) -> int:
    """Give new open candidates a QueueItem (gold candidates never get one) and top up each
    affected synset's random calibration subset. On every request this looks only above what
    this process has already checked (and a small window below it, for ingest transactions that
    committed out of order); `full` (the consensus job) checks every candidate, closes rows
    whose candidate left the open states and refreshes priorities, in `synset_ids` only when
    given (a refit of a few synsets then reads their rows, not the whole queue). Returns the
    number of rows created."""
    scope = None if synset_ids is None else sorted(set(synset_ids))
    candidates = Candidate.objects.filter(state__in=Candidate.OPEN).exclude(gold__isnull=False)
    if scope is not None:
        candidates = candidates.filter(synset_id__in=scope)
    top = None
    if not full:
        # From the highest candidate id this process has checked (decided, excluded or gold
        # candidates above the queue's own top would otherwise be re-read on every pass), or
        # the queue's top on a process's first pass.
        global _checked_up_to
        top = Candidate.objects.aggregate(m=Max("pk"))["m"] or 0
        floor = _checked_up_to
        if floor is None or top < floor:  # first pass, or the table was emptied or restored
            floor = QueueItem.objects.aggregate(m=Max("candidate_id"))["m"] or 0
        candidates = candidates.filter(pk__gt=max(0, floor - RECENT_WINDOW), pk__lte=top)
    missing = list(
        candidates.exclude(Exists(QueueItem.objects.filter(candidate_id=OuterRef("pk"))))
        .values_list("pk", "synset_id", "machine_score")
        .order_by("pk")[:SYNC_BATCH]
    )
    if missing:
        QueueItem.objects.bulk_create(
            [
                QueueItem(
                    candidate_id=pk,
                    synset_id=synset_id,
                    need=settings.ANNOTATE_MIN_VOTES,
                    priority=score_priority(score),
                )
                for pk, synset_id, score in missing
            ],
            ignore_conflicts=True,
            batch_size=5000,
        )
    synsets = {synset_id for _, synset_id, _ in missing}
    # Only a pass over every synset that saw all of its range may move the mark.
    if top is not None and scope is None and len(missing) < SYNC_BATCH:
        _checked_up_to = top
    if full:
        rows = (
            QueueItem.objects.all()
            if scope is None
            else QueueItem.objects.filter(synset_id__in=scope)
        )
        closed = rows.filter(open=True).filter(
            ~Exists(Candidate.objects.filter(pk=OuterRef("candidate_id"), state__in=Candidate.OPEN))
            | Exists(GoldItem.objects.filter(candidate_id=OuterRef("candidate_id")))
        )
        update_free(list(closed.values_list("pk", flat=True)), open=False, need=0)
        synsets |= set(rows.values_list("synset_id", flat=True).distinct())
        _refresh_priorities(rows)
    if synsets:
        from annotate.services.consensus.update import consensus_rows_for

        consensus_rows_for(synsets)
        for synset_id in synsets:
            _top_up_calibration(synset_id)
    return len(missing)


def update_free(ids: list[int], **values: object) -> int:
    """Background bookkeeping on queue rows: update those nobody holds right now (SKIP LOCKED, in
    id order), so it never waits on, or deadlocks with, leasing, submits or consensus; rows held
    now are caught by the next pass."""
    updated = 0
    for start in range(0, len(ids), 1000):
        with transaction.atomic():
            free = list(
                QueueItem.objects.select_for_update(skip_locked=True)
                .filter(pk__in=ids[start : start + 1000])
                .order_by("pk")
                .values_list("pk", flat=True)
            )
            updated += QueueItem.objects.filter(pk__in=free).update(**values)
    return updated


def _refresh_priorities(queue: QuerySet[QueueItem]) -> None:
    by_priority: dict[float, list[int]] = {}
    rows = queue.filter(open=True).values_list(
        "candidate_id", "priority", "candidate__machine_score"
    )
    for candidate_id, priority, score in rows.iterator(chunk_size=10_000):
        wanted = score_priority(score)
        if wanted != priority:
            by_priority.setdefault(wanted, []).append(candidate_id)
    for priority, ids in by_priority.items():
        update_free(ids, priority=priority)


def _top_up_calibration(synset_id: int) -> None:
    size = settings.ANNOTATE_CALIBRATION_SIZE
    if size <= 0:
        return
    have = QueueItem.objects.filter(synset_id=synset_id, calibration=True).count()
    if have >= size:
        return
    picks = list(
        QueueItem.objects.filter(synset_id=synset_id, open=True, calibration=False)
        .order_by("?")
        .values_list("pk", flat=True)[: size - have]
    )
    update_free(
        picks,
        calibration=True,
        need=Greatest(settings.ANNOTATE_CALIBRATION_VOTES - F("votes"), 0),
    )


def _release(assignment_ids: list[int], status: str) -> int:
    """Give back the leases the assignments hold; mark them `status`. In a transaction."""
    items = AssignmentItem.objects.filter(assignment_id__in=assignment_ids, leased=True)
    per_candidate = Counter(items.values_list("candidate_id", flat=True))
    if per_candidate:
        locked = list(
            QueueItem.objects.select_for_update()
            .filter(candidate_id__in=list(per_candidate))
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        by_count: dict[int, list[int]] = {}
        for candidate_id in locked:
            by_count.setdefault(per_candidate[candidate_id], []).append(candidate_id)
        for count, ids in by_count.items():
            QueueItem.objects.filter(pk__in=ids).update(leased=Greatest(F("leased") - count, 0))
        items.update(leased=False)
    return Assignment.objects.filter(pk__in=assignment_ids, status=Assignment.Status.OPEN).update(
        status=status
    )


def leases_expire(*, limit: int = 200) -> int:
    """Expire open tasks past their lease; their items go back to the queue."""
    now = timezone.now()
    with transaction.atomic():
        ids = list(
            Assignment.objects.select_for_update(skip_locked=True)
            .filter(status=Assignment.Status.OPEN, expires_at__lt=now)
            .order_by("expires_at")
            .values_list("pk", flat=True)[:limit]
        )
        if not ids:
            return 0
        return _release(ids, Assignment.Status.EXPIRED)


@transaction.atomic
def tasks_release_for(*, annotator: Annotator) -> int:
    """Give back every open task of an annotator (e.g. when they are blocked)."""
    ids = list(
        Assignment.objects.select_for_update()
        .filter(annotator=annotator, status=Assignment.Status.OPEN)
        .values_list("pk", flat=True)
    )
    return _release(ids, Assignment.Status.EXPIRED) if ids else 0

"""Task assignment: the next task for an annotator, its heartbeat.

Leasing selects QueueItem rows FOR UPDATE SKIP LOCKED with `leased < need` in the WHERE clause and
increments `leased` in the same transaction: a row another request holds is skipped, and a row
changed by a request that committed meanwhile is re-checked on its new version by PostgreSQL, so
concurrent requests never lease more than needed. An annotator's own requests are serialized by a
lock on their Annotator row (no double lease of one candidate to one person, even with two tabs).
On SQLite, writes are serialized by the database.
"""

from __future__ import annotations

import math
import random
import secrets
import time
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Case, Exists, FloatField, OuterRef, When
from django.db.models.functions import Cast, Coalesce
from django.utils import timezone

from annotate.models import (
    Annotator,
    Assignment,
    AssignmentItem,
    GoldItem,
    Study,
    Vote,
)
from annotate.services import task_sql
from annotate.services.annotators import AnnotatorBlocked
from annotate.services.queue import housekeeping


class TaskNotFound(Exception):
    """No such task for this annotator."""


class TaskExpired(Exception):
    """The task's lease ran out and its items went back to the queue."""


def routing_trust(annotator: Annotator) -> float | None:
    """What routing believes of an annotator: the fitted trust (Dawid-Skene balanced accuracy)
    once there is one, else the Laplace-smoothed gold accuracy after a few gold answers."""
    if annotator.trust is not None:
        return annotator.trust
    if annotator.gold_answers >= settings.ANNOTATE_ROUTE_MIN_GOLD:
        return (annotator.gold_correct + 1) / (annotator.gold_answers + 2)
    return None


def routed_to_calibration(annotator: Annotator) -> bool:
    """Trust routing (ANNOTATE_ROUTE_MIN_TRUST > 0): annotators not (yet) known to be reliable
    get only calibration items, which need many votes from many people anyway; the candidates
    that are decided vote by vote go to the reliable ones, whose votes carry the most
    information. It is how a crowd of mixed quality reaches high precision in few votes."""
    floor = settings.ANNOTATE_ROUTE_MIN_TRUST
    if floor <= 0:
        return False
    trust = routing_trust(annotator)
    if trust is None:
        return True
    if trust >= floor:
        return False
    # The best ANNOTATE_ROUTE_POOL recently active annotators get regular items whatever their
    # trust (a small or weak crowd still finishes, and trust estimates shrunk by few votes can
    # grow); ranked by what routing believes of each (a fitted trust, else gold accuracy), so
    # before the first Dawid-Skene fit the pool is the best by gold, not everyone. Items the pool
    # may have exhausted go to everyone (task_next's min_votes), so a small pool never stalls one.
    pool = route_pool()
    recent = timezone.now() - timedelta(hours=1)
    cutoff = (
        Annotator.objects.filter(status=Annotator.Status.ACTIVE, last_seen_at__gte=recent)
        .annotate(believed=_routing_trust_sql())
        .filter(believed__isnull=False)
        .order_by("-believed")
        .values_list("believed", flat=True)[pool - 1 : pool]
    )
    nth = next(iter(cutoff), None)
    return nth is not None and trust < nth


def route_pool() -> int:
    return max(1, settings.ANNOTATE_ROUTE_POOL)


def _routing_trust_sql() -> Coalesce:
    """routing_trust() as a database expression."""
    gold_accuracy = Case(
        When(
            gold_answers__gte=settings.ANNOTATE_ROUTE_MIN_GOLD,
            then=(Cast("gold_correct", FloatField()) + 1.0)
            / (Cast("gold_answers", FloatField()) + 2.0),
        ),
        default=None,
        output_field=FloatField(),
    )
    return Coalesce("trust", gold_accuracy, output_field=FloatField())


def _gold_count(annotator: Annotator, regular: int, open_gold: int) -> int:
    """How many hidden gold items to mix in: ~ANNOTATE_GOLD_FRACTION of the task, drawn at random
    (a fixed count would be countable); more until a new annotator has ANNOTATE_ONBOARDING_GOLD
    gold answers, so the accuracy floor can act on their first tasks."""
    fraction = min(max(settings.ANNOTATE_GOLD_FRACTION, 0.0), 0.9)
    if fraction <= 0 or regular <= 0:
        return 0
    # Binomial: about `fraction` of the task, never a fixed, countable number.
    per_item = min(fraction / (1.0 - fraction), 1.0)
    rng = random.SystemRandom()
    count = sum(1 for _ in range(regular) if rng.random() < per_item)
    onboarding = settings.ANNOTATE_ONBOARDING_GOLD - annotator.gold_answers - open_gold
    if onboarding > 0:
        count = max(count, min(onboarding, math.ceil(regular / 2)))
    return min(count, settings.ANNOTATE_TASK_SIZE - regular) if regular else 0


def task_next(
    *, annotator: Annotator, have: Iterable[str] = (), study: Study | None = None
) -> Assignment | None:
    """The annotator's next task: an open one they do not hold in `have` (resume), or a new lease
    on the synset whose candidates most need votes. None when there is nothing to do."""
    if annotator.status == Annotator.Status.BLOCKED:
        raise AnnotatorBlocked("this annotator is blocked")
    housekeeping()
    held = set(have)
    now = timezone.now()
    with transaction.atomic():
        # NO KEY UPDATE: serializes this annotator's own next-task requests without holding up
        # the foreign-key checks of their concurrent submit (a prefetch while they submit).
        locked = Annotator.objects.select_for_update(no_key=True).get(pk=annotator.pk)
        if locked.status == Annotator.Status.BLOCKED:
            raise AnnotatorBlocked("this annotator is blocked")
        open_tasks = list(
            Assignment.objects.filter(
                annotator=locked, status=Assignment.Status.OPEN, expires_at__gt=now
            ).order_by("created_at", "pk")
        )
        for task in open_tasks:
            if task.token not in held:
                return task
        if len(open_tasks) >= settings.ANNOTATE_MAX_OPEN_TASKS:
            return None
        size = settings.ANNOTATE_TASK_SIZE
        regular_room = max(1, size - round(size * settings.ANNOTATE_GOLD_FRACTION))
        held_ids = (
            list(
                AssignmentItem.objects.filter(assignment__in=open_tasks).values_list(
                    "candidate_id", flat=True
                )
            )
            if open_tasks
            else []
        )
        routed = routed_to_calibration(locked)
        if routed and routing_trust(locked) is None:
            # Not judged yet: the gold qualification first (gold answers are free, real items
            # are not), so a spammer is found out before any of their votes is spent.
            qualification = _qualification_task(locked, now, study)
            if qualification is not None:
                return qualification
        # Routed-out annotators take only calibration items and items with at least as many
        # votes as the pool has members (the pool may have voted on all of them: without this an
        # item could wait forever for its next vote).
        min_votes = route_pool() if routed else None
        tried: set[int] = set()
        leased: list[int] = []
        synset_id = None
        for attempt in range(8):
            synset_id = task_sql.neediest_synset(locked.pk, held_ids, tried, min_votes)
            if synset_id is None:
                break
            locked_ids = task_sql.lock_neediest(locked.pk, held_ids, synset_id, min_votes,
                                                regular_room)  # fmt: skip
            usable = task_sql.usable(locked_ids)
            leased = [c for c in locked_ids if c in usable]
            if leased:
                break
            if not locked_ids:
                # Everything there is held by concurrent requests (which may leave some of it
                # leasable when they commit): wait a moment once or twice, then try elsewhere.
                if attempt < 2:
                    time.sleep(random.SystemRandom().uniform(0.005, 0.03))
                    continue
                tried.add(synset_id)
        if (not leased or synset_id is None) and routed:
            return _qualification_task(locked, now, study)
        if not leased or synset_id is None:
            return None
        task_sql.lease(leased)
        open_gold = (
            AssignmentItem.objects.filter(assignment__in=open_tasks, is_gold=True).count()
            if open_tasks
            else 0
        )
        gold = task_sql.random_gold(
            locked.pk, synset_id, _gold_count(locked, len(leased), open_gold)
        )
        entries = [(c, False) for c in leased] + [(c, True) for c in gold]
        random.SystemRandom().shuffle(entries)
        task = _create_task(locked, synset_id, study, entries, now)
    return task


def _create_task(
    annotator: Annotator,
    synset_id: int,
    study: Study | None,
    entries: list[tuple[int, bool]],
    now: datetime,
) -> Assignment:
    """The Assignment and its items (candidate id, is gold) in the given order."""
    task = Assignment.objects.create(
        token=secrets.token_urlsafe(12),
        annotator=annotator,
        synset_id=synset_id,
        study=study,
        size=len(entries),
        expires_at=now + timedelta(seconds=settings.ANNOTATE_LEASE_SECONDS),
        heartbeat_at=now,
    )
    task_sql.insert_items(
        task.pk,
        [
            (candidate_id, secrets.token_urlsafe(12), position, is_gold, not is_gold)
            for position, (candidate_id, is_gold) in enumerate(entries)
        ],
    )
    return task


def _qualification_task(
    annotator: Annotator, now: datetime, study: Study | None
) -> Assignment | None:
    """A routed-out annotator with too few gold answers to be judged gets a task of gold items
    (a qualification test, as on crowd platforms) so they can earn routing to regular work."""
    size = settings.ANNOTATE_ROUTE_QUALIFICATION_GOLD
    if annotator.gold_answers >= size:
        return None
    synset_id = (
        GoldItem.objects.filter(candidate__synset__active=True)
        .exclude(
            Exists(Vote.objects.filter(candidate_id=OuterRef("candidate_id"), annotator=annotator))
        )
        .values_list("candidate__synset_id", flat=True)
        .first()
    )
    if synset_id is None:
        return None
    gold = task_sql.random_gold(annotator.pk, synset_id, min(size, settings.ANNOTATE_TASK_SIZE))
    if not gold:
        return None
    return _create_task(annotator, synset_id, study, [(c, True) for c in gold], now)


def task_for(*, annotator: Annotator, token: str) -> Assignment:
    task = Assignment.objects.filter(token=token, annotator=annotator).first()
    if task is None:
        raise TaskNotFound("no such task for this annotator")
    return task


def task_heartbeat(*, annotator: Annotator, token: str) -> Assignment:
    """Extend an open task's lease while the annotator works on it."""
    now = timezone.now()
    with transaction.atomic():
        task = (
            Assignment.objects.select_for_update().filter(token=token, annotator=annotator).first()
        )
        if task is None:
            raise TaskNotFound("no such task for this annotator")
        if task.status == Assignment.Status.EXPIRED:
            raise TaskExpired("this task expired; its images went to other annotators")
        if task.status == Assignment.Status.OPEN:
            task.expires_at = now + timedelta(seconds=settings.ANNOTATE_LEASE_SECONDS)
            task.heartbeat_at = now
            task.save(update_fields=["expires_at", "heartbeat_at"])
    return task

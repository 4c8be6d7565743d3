"""Submitting a task: votes first (committed before anything else), then consensus.

Order matters. Transaction 1 stores the votes, returns the leases and marks the task submitted;
it commits before consensus runs (transaction 2) and before any broker work (a refit job), so a
bug in consensus or Redis being down can never lose a vote. Submit is idempotent by the client's
token: a retry of the same submit replays the stored reply and records nothing twice; one vote per
(annotator, candidate) is also a database constraint.
"""

from __future__ import annotations

import logging
import time as clock
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any

from django.conf import settings
from django.db import OperationalError, transaction
from django.db.models import F
from django.utils import timezone

from annotate.models import (
    Annotator,
    Assignment,
    StudyParticipant,
    Vote,
)
from annotate.services import task_sql
from annotate.services.annotators import gold_below_floor
from annotate.services.assignment import TaskNotFound

logger = logging.getLogger(__name__)
MAX_MS = 24 * 3600 * 1000


class SubmitError(ValueError):
    """The submitted answers are malformed (nothing was stored)."""


class SubmitConflict(Exception):
    """The task was already submitted with a different client token."""


@dataclass(frozen=True)
class Answer:
    item: str
    shows: bool | None  # None: skipped (e.g. the image did not load)
    ms: int | None = None


def parse_answers(raw: Any, *, limit: int) -> list[Answer]:
    """Validate JSON answers: a list of {"item": token, "shows": true|false|null, "ms": int}."""
    if not isinstance(raw, list):
        raise SubmitError("answers must be a list")
    if len(raw) > limit:
        raise SubmitError(f"too many answers: {len(raw)} for a task of {limit} images")
    answers: list[Answer] = []
    seen: set[str] = set()
    for position, entry in enumerate(raw):
        if not isinstance(entry, dict):
            raise SubmitError(f"answer {position} must be an object")
        item = entry.get("item")
        if not isinstance(item, str) or not 1 <= len(item) <= 32:
            raise SubmitError(f"answer {position}: item must be the item's token")
        if item in seen:
            raise SubmitError(f"answer {position}: item {item!r} is answered twice")
        seen.add(item)
        shows = entry.get("shows")
        if shows is not None and not isinstance(shows, bool):
            raise SubmitError(f"answer {position}: shows must be true, false or null")
        ms = entry.get("ms")
        if ms is not None and (isinstance(ms, bool) or not isinstance(ms, int) or ms < 0):
            raise SubmitError(f"answer {position}: ms must be a non-negative whole number")
        answers.append(Answer(item=item, shows=shows, ms=min(ms, MAX_MS) if ms else ms))
    return answers


def _client_token(value: Any) -> str:
    if not isinstance(value, str) or not 8 <= len(value) <= 64 or not value.isprintable():
        raise SubmitError("client_token must be 8 to 64 printable characters (e.g. a UUID)")
    return value


def task_submit(
    *,
    annotator: Annotator,
    token: str,
    client_token: Any,
    answers: Sequence[Answer],
    duration_ms: int | None = None,
    source: str = Vote.Source.UI,
    decide_now: bool = False,
) -> dict[str, Any]:
    """Record the votes of a task; returns the reply (replayed as-is on a retried submit).
    `decide_now`: re-decide its candidates here even with ANNOTATE_CONSENSUS_ASYNC (in-process
    simulations, which ask for the next task at once and have no worker to wait for)."""
    client = _client_token(client_token)
    if duration_ms is not None and (not isinstance(duration_ms, int) or duration_ms < 0):
        raise SubmitError("duration_ms must be a non-negative whole number")
    task, reply, fresh, status, stored = _store_votes(
        annotator=annotator,
        token=token,
        client=client,
        answers=answers,
        duration_ms=duration_ms,
        source=source,
    )
    if fresh and stored is not None:
        _after_votes(
            annotator=annotator,
            task=task,
            counted=status != Annotator.Status.BLOCKED,
            stored=stored,
            decide_now=decide_now,
        )
    return {**reply, "progress": annotator_progress(annotator=annotator)}


@transaction.atomic
def _store_votes(
    *,
    annotator: Annotator,
    token: str,
    client: str,
    answers: Sequence[Answer],
    duration_ms: int | None,
    source: str,
) -> tuple[Assignment, dict[str, Any], bool, str, StoredVotes | None]:
    task = Assignment.objects.select_for_update().filter(token=token, annotator=annotator).first()
    if task is None:
        raise TaskNotFound("no such task for this annotator")
    if task.status == Assignment.Status.SUBMITTED:
        if task.client_token == client:
            return task, {**task.result, "replayed": True}, False, "", None
        raise SubmitConflict("this task was already submitted")
    items = {item: (cand, gold, leased) for item, cand, gold, leased in
             task_sql.submit_items(task.pk)}  # fmt: skip
    unknown = [a.item for a in answers if a.item not in items]
    if unknown:
        raise SubmitError(f"unknown item token(s) for this task: {', '.join(unknown[:5])}")
    answered = [a for a in answers if a.shows is not None]
    per_item_ms = (
        min(duration_ms // max(len(answered), 1), MAX_MS) if duration_ms is not None else None
    )
    now = timezone.now()
    recorded = task_sql.insert_votes(
        [
            (items[a.item][0], bool(a.shows), a.ms if a.ms is not None else per_item_ms)
            for a in answered
        ],
        annotator_id=annotator.pk,
        synset_id=task.synset_id,
        task_id=task.pk,
        source=source,
        now=now,
    )
    task_sql.release_items(task.pk)
    reply: dict[str, Any] = {"task": task.token, "recorded": len(recorded), "completion": None}
    if task.study_id:
        reply["completion"] = _study_progress(task, annotator, now)
    task.status = Assignment.Status.SUBMITTED
    task.client_token = client
    task.submitted_at = now
    task.duration_ms = duration_ms
    task.result = reply
    task.save(update_fields=["status", "client_token", "submitted_at", "duration_ms", "result"])
    # The annotator row: their status as of this (locked) update decides whether the votes count.
    status, gold_answers, gold_correct = task_sql.annotator_seen(annotator.pk, len(recorded), now)
    counting = status != Annotator.Status.BLOCKED
    # Leases come back; each counted new vote uses up one unit of its candidate's need until
    # consensus recomputes it (`dirty`: the drain's list, see consensus/drain.py). Last before the
    # commit: other annotators' submits on these candidates wait for these row locks.
    leased = [cand for cand, _, is_leased in items.values() if is_leased]
    task_sql.settle_queue(leased, sorted(recorded) if counting else [])
    regular = [cand for cand, gold, _ in items.values() if not gold]
    stored = StoredVotes(
        regular=regular,
        regular_votes=len(recorded.intersection(regular)),
        under_gold_floor=status == Annotator.Status.ACTIVE
        and gold_below_floor(gold_correct, gold_answers) is not None,
    )
    return task, reply, True, status, stored


def _study_progress(task: Assignment, annotator: Annotator, now: datetime) -> dict[str, Any] | None:
    participant, _ = StudyParticipant.objects.get_or_create(study=task.study, annotator=annotator)
    StudyParticipant.objects.filter(pk=participant.pk).update(tasks_done=F("tasks_done") + 1)
    participant.refresh_from_db()
    study = task.study
    if study is None or participant.tasks_done < study.tasks_required:
        return None
    if participant.completed_at is None:
        StudyParticipant.objects.filter(pk=participant.pk).update(completed_at=now)
    return {"code": study.completion_code, "return_url": study.return_link}


@dataclass(frozen=True)
class StoredVotes:
    """What _store_votes already knows and the consensus step needs."""

    regular: list[int]  # the task's non-gold candidates
    regular_votes: int  # votes recorded on them
    under_gold_floor: bool = False  # an active annotator whose gold accuracy is now too low


def _after_votes(
    *,
    annotator: Annotator,
    task: Assignment,
    counted: bool,
    stored: StoredVotes,
    decide_now: bool = False,
) -> None:
    """Consensus for the touched candidates, gold bookkeeping, and maybe a refit job. Failures are
    logged, never raised: the votes are already safe, and a full `consensus` run catches up."""
    from annotate.services.consensus import (
        consensus_drain_request,
        consensus_note_votes,
        consensus_request_refit,
    )

    # Off the request path when asked (the drain re-decides the rows this submit marked), unless
    # the drain cannot be requested: then here, as before.
    inline = decide_now or not (
        settings.ANNOTATE_CONSENSUS_ASYNC and counted and consensus_drain_request()
    )
    if (inline or stored.under_gold_floor) and not _decide(
        task, annotator.pk, stored, inline=inline
    ):
        return
    if not counted:
        return
    try:
        # In a statement of its own: the synset's vote counter is one row every submit on the
        # synset updates, so it is locked for one statement, not for a whole transaction.
        wanted = consensus_note_votes(synset_counts={task.synset_id: stored.regular_votes})
        consensus_request_refit(synset_ids=wanted)
    except Exception:
        logger.exception("counting the votes of task %s for a refit failed", task.pk)


def _decide(task: Assignment, annotator_id: int, stored: StoredVotes, *, inline: bool) -> bool:
    """The gold floor (when this submit left the annotator under it) and, when `inline`, the
    re-decision of the task's candidates, apart from the votes' transaction: flagging or blocking
    re-decides other candidates, whose locks must not be taken while this task's queue rows are
    held. False when it failed (logged; a full `consensus` run catches up)."""
    from annotate.services.annotators import annotator_apply_gold_floor
    from annotate.services.consensus import consensus_update

    for attempt in range(3):
        try:
            with transaction.atomic():
                if stored.under_gold_floor:
                    annotator_apply_gold_floor(annotator_id)
                if inline:
                    consensus_update(candidate_ids=stored.regular)
            return True
        except OperationalError as exc:  # a deadlock or lock timeout: re-deciding is idempotent
            if attempt == 2:
                logger.exception("consensus after submitting task %s failed", task.pk)
                return False
            logger.warning("consensus after task %s: %s; retrying", task.pk, exc)
            clock.sleep(0.05 * (attempt + 1))
        except Exception:
            logger.exception("consensus after submitting task %s failed", task.pk)
            return False
    return False


def annotator_progress(*, annotator: Annotator) -> dict[str, Any]:
    """What the annotator sees about themselves: work today and their standing (never gold
    results, which would reveal which images were gold)."""
    start = timezone.make_aware(datetime.combine(timezone.localdate(), time.min))
    tasks, images, status = task_sql.progress(annotator.pk, start)
    annotator.status = status or annotator.status
    standing = {
        Annotator.Status.ACTIVE: "good standing",
        Annotator.Status.FLAGGED: "under review",
        Annotator.Status.BLOCKED: "paused",
    }.get(status or Annotator.Status.ACTIVE, "good standing")
    return {"tasks_today": tasks, "images_today": images, "standing": standing}

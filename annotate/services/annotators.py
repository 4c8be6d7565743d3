"""Annotators: who they are, how good they are (gold, Dawid-Skene), and blocking.

Quality comes from two places: hidden gold answers (a direct, unbiased measure, used for the
flag/auto-block floor) and a Dawid-Skene fit over every vote with the gold items clamped (uses all
of a worker's votes; gives each worker's sensitivity and specificity, hence their votes' weight).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.conf import settings
from django.contrib.auth.models import Group, User
from django.db import transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from annotate.models import Annotator, GoldItem, Vote
from annotate.services.bulk import bulk_set_unlocked
from annotate.stats.aggregation import dawid_skene, vote_weights
from curation.models import Candidate
from curation.roles import ANNOTATOR
from curation.services.audit import audit_record

logger = logging.getLogger(__name__)

# A worker with no Dawid-Skene fit yet is taken as this accurate, moved by their gold answers.
PRIOR_ACCURACY = 0.75
PRIOR_STRENGTH = 4.0


class AnnotatorBlocked(Exception):
    """A blocked annotator asked for work."""


def annotator_for_user(user: User) -> Annotator:
    """The Annotator row of a signed-in user (created on first use)."""
    existing = getattr(user, "annotator", None)
    if existing is not None:
        return existing
    annotator, _ = Annotator.objects.get_or_create(
        user=user,
        defaults={"platform": Annotator.Platform.LOCAL, "external_id": f"user:{user.pk}"},
    )
    return annotator


def annotator_external(*, platform: str, external_id: str) -> Annotator:
    """The Annotator row of an external worker id, with a passwordless user in the annotator
    group so the ordinary session and role machinery applies to them."""
    annotator, _ = Annotator.objects.get_or_create(platform=platform, external_id=external_id)
    if annotator.user_id is None:
        with transaction.atomic():
            annotator = Annotator.objects.select_for_update().get(pk=annotator.pk)
            if annotator.user_id is None:
                user = User.objects.create(username=f"worker-{annotator.pk}-{platform}"[:150])
                user.set_unusable_password()
                user.save(update_fields=["password"])
                user.groups.add(Group.objects.get_or_create(name=ANNOTATOR)[0])
                annotator.user = user
                annotator.save(update_fields=["user"])
    return annotator


def worker_accuracy(annotator_row: dict[str, Any]) -> tuple[float, float]:
    """(sensitivity, specificity) to score a worker's votes with: the Dawid-Skene fit when there
    is one, otherwise the prior moved by their gold answers."""
    se, sp = annotator_row.get("sensitivity"), annotator_row.get("specificity")
    if se is not None and sp is not None:
        return float(se), float(sp)
    answers = annotator_row.get("gold_answers") or 0
    correct = annotator_row.get("gold_correct") or 0
    acc = (correct + PRIOR_ACCURACY * PRIOR_STRENGTH) / (answers + PRIOR_STRENGTH)
    return acc, acc


# --- status ---------------------------------------------------------------------------------------


@transaction.atomic
def annotator_set_status(
    *, annotator: Annotator, status: str, reason: str = "", by: User | None = None
) -> list[int]:
    """Block, flag or reinstate an annotator. Blocking (or unblocking) changes which votes count,
    so every candidate they voted on is re-decided. Returns those candidate ids."""
    if status not in Annotator.Status.values:
        raise ValueError(f"unknown status {status!r}; one of {', '.join(Annotator.Status.values)}")
    locked = Annotator.objects.select_for_update().get(pk=annotator.pk)
    counting_changed = (locked.status == Annotator.Status.BLOCKED) != (
        status == Annotator.Status.BLOCKED
    )
    locked.status = status
    locked.status_reason = reason[:300]
    locked.status_changed_at = timezone.now()
    locked.status_changed_by = by if getattr(by, "pk", None) else None
    locked.save(update_fields=["status", "status_reason", "status_changed_at", "status_changed_by"])
    annotator.status = locked.status
    audit_record(
        actor=by,
        action=f"annotator.{status}",
        target=locked,
        summary=f"annotator {locked} set to {status}" + (f": {reason[:200]}" if reason else ""),
        details={"status": status, "reason": reason[:300]},
    )
    if not counting_changed:
        return []
    candidate_ids = list(
        Vote.objects.filter(annotator=locked).values_list("candidate_id", flat=True)
    )
    if status == Annotator.Status.BLOCKED:
        # Their open leases go back to the queue now rather than at expiry.
        from annotate.services.queue import tasks_release_for

        tasks_release_for(annotator=locked)
    from annotate.services.consensus import consensus_update

    consensus_update(candidate_ids=candidate_ids)
    return candidate_ids


def _gold_counts(annotator_ids: list[int] | None = None) -> dict[int, tuple[int, int]]:
    votes = Vote.objects.filter(candidate__gold__isnull=False)
    if annotator_ids is not None:
        votes = votes.filter(annotator_id__in=annotator_ids)
    rows = votes.values("annotator_id").annotate(
        answers=Count("id"), correct=Count("id", filter=Q(answer=F("candidate__gold__truth")))
    )
    return {r["annotator_id"]: (r["answers"], r["correct"]) for r in rows}


def gold_below_floor(correct: int, answers: int) -> float | None:
    """The gold accuracy if, after ANNOTATE_GOLD_MIN_ANSWERS answers, we are
    ANNOTATE_GOLD_CONFIDENCE sure the annotator's accuracy is under ANNOTATE_GOLD_FLOOR (Beta
    posterior from a uniform prior); None otherwise. Ten answers are a small sample: an honest
    70%-accurate worker scores 6/10 or worse one time in three, so the point estimate alone
    would block many honest people."""
    # The regularized incomplete beta function itself (scipy.stats.beta.sf without the
    # distribution machinery, which costs a web process a heavy import and ~40 us a call).
    from scipy.special import betaincc

    if answers < settings.ANNOTATE_GOLD_MIN_ANSWERS:
        return None
    p_at_least_floor = float(
        betaincc(correct + 1, answers - correct + 1, settings.ANNOTATE_GOLD_FLOOR)
    )
    if p_at_least_floor > 1.0 - settings.ANNOTATE_GOLD_CONFIDENCE:
        return None
    return correct / answers


def annotators_refresh_gold(*, annotator_ids: list[int] | None = None) -> list[int]:
    """Recount gold answers and apply the floor (see gold_below_floor): an annotator below it is
    flagged, or blocked when ANNOTATE_AUTO_BLOCK. Returns the ids newly blocked (their
    candidates are re-decided)."""
    counts = _gold_counts(annotator_ids)
    ids = annotator_ids if annotator_ids is not None else list(counts)
    rows = list(Annotator.objects.filter(pk__in=ids))
    changed = []
    for annotator in rows:
        answers, correct = counts.get(annotator.pk, (0, 0))
        if (annotator.gold_answers, annotator.gold_correct) != (answers, correct):
            annotator.gold_answers, annotator.gold_correct = answers, correct
            changed.append(annotator)
    if changed and annotator_ids is not None:  # named annotators (a gold edit): write them
        Annotator.objects.bulk_update(changed, ["gold_answers", "gold_correct"])
    elif changed:  # everyone (a consensus job): never hold up annotators' requests
        bulk_set_unlocked(Annotator, changed, ["gold_answers", "gold_correct"])
    return [a.pk for a in rows if _apply_gold_floor(a)]


def annotator_apply_gold_floor(annotator_id: int) -> bool:
    """The gold floor for one annotator whose submit left their stored gold counts under it
    (task_sql.annotator_seen re-tallies them on every submit); True when this blocked them."""
    return _apply_gold_floor(Annotator.objects.get(pk=annotator_id))


def _apply_gold_floor(annotator: Annotator) -> bool:
    """Flag (or, with ANNOTATE_AUTO_BLOCK, block) an active annotator whose gold accuracy is
    under the floor; True when this blocked them."""
    if annotator.status != Annotator.Status.ACTIVE:
        return False  # a curator's flag/block/reinstatement is not overridden here
    below = gold_below_floor(annotator.gold_correct, annotator.gold_answers)
    if below is None:
        return False
    reason = (
        f"gold accuracy {below:.0%} ({annotator.gold_correct}/{annotator.gold_answers}) is "
        f"under the floor of {settings.ANNOTATE_GOLD_FLOOR:.0%} with "
        f"{settings.ANNOTATE_GOLD_CONFIDENCE:.0%} confidence"
    )
    status = Annotator.Status.BLOCKED if settings.ANNOTATE_AUTO_BLOCK else Annotator.Status.FLAGGED
    annotator_set_status(annotator=annotator, status=status, reason=reason)
    return status == Annotator.Status.BLOCKED


# --- the Dawid-Skene fit over every vote ----------------------------------------------------------


@dataclass
class WorkerFit:
    annotators: int = 0
    votes: int = 0
    iterations: int = 0
    converged: bool = True
    seconds: float = 0.0


def annotators_fit() -> WorkerFit:
    """Fit every annotator's sensitivity/specificity by Dawid-Skene over all votes (gold clamped,
    a prevalence per synset), then their weights, agreement with decisions and speed."""
    import time

    started = time.perf_counter()
    rows = np.array(
        list(
            Vote.objects.values_list(
                "annotator_id", "candidate_id", "answer", "synset_id"
            ).iterator(chunk_size=20_000)
        ),
        dtype=np.int64,
    ).reshape(-1, 4)
    if rows.shape[0] == 0:
        return WorkerFit()
    annotator_ids, worker_index = np.unique(rows[:, 0], return_inverse=True)
    candidate_ids, item_index = np.unique(rows[:, 1], return_inverse=True)
    synset_of_item = np.zeros(candidate_ids.size, dtype=np.int64)
    synset_of_item[item_index] = rows[:, 3]
    _, group_index = np.unique(synset_of_item, return_inverse=True)
    gold = np.full(candidate_ids.size, -1.0)
    gold_truth = dict(
        GoldItem.objects.filter(candidate_id__in=candidate_ids.tolist()).values_list(
            "candidate_id", "truth"
        )
    )
    if gold_truth:
        positions = np.searchsorted(candidate_ids, np.fromiter(gold_truth, dtype=np.int64))
        gold[positions] = np.array([float(v) for v in gold_truth.values()])
    result = dawid_skene(
        item_index,
        worker_index,
        rows[:, 2],
        n_items=candidate_ids.size,
        n_workers=annotator_ids.size,
        groups=group_index,
        gold=gold,
        prior_accuracy=PRIOR_ACCURACY,
        prior_strength=PRIOR_STRENGTH,
    )
    votes_per_worker = np.bincount(worker_index, minlength=annotator_ids.size)
    w_yes, w_no, _, _ = vote_weights(result.sensitivity, result.specificity, votes_per_worker)

    # Agreement with decisions: votes on accepted/rejected candidates that match the decision.
    decided = dict(  # consensus decisions only: gold is measured by gold accuracy
        Candidate.objects.filter(pk__in=candidate_ids.tolist(), state__in=Candidate.DECIDED)
        .exclude(gold__isnull=False)
        .values_list("pk", "state")
    )
    decided_truth = np.full(candidate_ids.size, -1)
    if decided:
        positions = np.searchsorted(candidate_ids, np.fromiter(decided, dtype=np.int64))
        decided_truth[positions] = [
            1 if s == Candidate.State.ACCEPTED else 0 for s in decided.values()
        ]
    vote_truth = decided_truth[item_index]
    on_decided = vote_truth >= 0
    agree = np.bincount(
        worker_index[on_decided],
        weights=(rows[on_decided, 2] == vote_truth[on_decided]).astype(float),
        minlength=annotator_ids.size,
    )
    n_decided = np.bincount(worker_index[on_decided], minlength=annotator_ids.size)
    medians = _median_ms(annotator_ids.tolist())

    now = timezone.now()
    annotators = Annotator.objects.in_bulk(annotator_ids.tolist())
    updated = []
    for index, annotator_id in enumerate(annotator_ids.tolist()):
        annotator = annotators[annotator_id]
        se, sp = float(result.sensitivity[index]), float(result.specificity[index])
        annotator.sensitivity, annotator.specificity = se, sp
        annotator.trust = (se + sp) / 2.0
        annotator.weight_yes = float(w_yes[index])
        annotator.weight_no = float(w_no[index])
        annotator.votes_count = int(votes_per_worker[index])
        annotator.agreement = float(agree[index] / n_decided[index]) if n_decided[index] else None
        annotator.median_ms = medians.get(annotator_id)
        annotator.fitted_at = now
        updated.append(annotator)
    # Short batches of rows nobody holds: a fit must not stall annotators' next-task and submit
    # (each locks its annotator's row); a busy annotator's figures wait for the next fit.
    bulk_set_unlocked(
        Annotator,
        updated,
        [
            "sensitivity",
            "specificity",
            "trust",
            "weight_yes",
            "weight_no",
            "votes_count",
            "agreement",
            "median_ms",
            "fitted_at",
        ],
    )
    return WorkerFit(
        annotators=len(updated),
        votes=int(rows.shape[0]),
        iterations=result.iterations,
        converged=result.converged,
        seconds=time.perf_counter() - started,
    )


def _median_ms(annotator_ids: list[int]) -> dict[int, float]:
    """Median time per image, from the last 500 timed votes of each annotator."""
    times: dict[int, list[int]] = {}
    for annotator_id, ms in (
        Vote.objects.filter(annotator_id__in=annotator_ids, time_ms__isnull=False)
        .order_by("annotator_id", "-id")
        .values_list("annotator_id", "time_ms")
        .iterator(chunk_size=20_000)
    ):
        bucket = times.setdefault(annotator_id, [])
        if len(bucket) < 500:
            bucket.append(ms)
    return {k: float(np.median(v)) for k, v in times.items() if v}

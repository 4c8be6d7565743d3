"""Curator truth: gold items (hidden checks that measure annotators) and adjudication of
escalated candidates. Both decide the candidate with a manual method consensus never overrides."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from annotate.models import Decision, GoldItem, QueueItem
from curation.models import Candidate
from curation.services.audit import audit_record


class CandidateNotEligible(ValueError):
    """The candidate cannot take this action (e.g. it is excluded as a duplicate)."""


def _decide(
    *, candidate: Candidate, accept: bool, method: str, user: User | None, note: str
) -> Candidate:
    # Queue row before candidate row: the lock order consensus uses.
    list(QueueItem.objects.select_for_update().filter(candidate_id=candidate.pk))
    locked = Candidate.objects.select_for_update().get(pk=candidate.pk)
    if locked.state == Candidate.State.EXCLUDED:
        raise CandidateNotEligible(
            f"candidate {locked.pk} is excluded (a duplicate); it cannot be decided"
        )
    new_state = Candidate.State.ACCEPTED if accept else Candidate.State.REJECTED
    now = timezone.now()
    Decision.objects.create(
        candidate=locked,
        state=new_state,
        previous_state=locked.state,
        method=method,
        confidence=1.0 if accept else 0.0,
        votes_yes=locked.votes_yes,
        votes_no=locked.votes_no,
        user=user if getattr(user, "pk", None) else None,
        note=note[:500],
    )
    locked.state = new_state
    locked.confidence = 1.0 if accept else 0.0
    locked.decided_by = method
    locked.decided_at = now
    locked.save(update_fields=["state", "confidence", "decided_by", "decided_at", "updated_at"])
    QueueItem.objects.filter(candidate=locked).update(open=False, need=0)
    return locked


@transaction.atomic
def gold_mark(
    *, candidate: Candidate, truth: bool, user: User | None = None, note: str = ""
) -> GoldItem:
    """Make a candidate gold with the given truth. It is decided by that truth, leaves the
    work queue, and from now on is mixed hidden into tasks of its synset to measure annotators."""
    gold, _ = GoldItem.objects.update_or_create(
        candidate=candidate,
        defaults={"truth": truth, "note": note[:500], "created_by": user if user else None},
    )
    _decide(
        candidate=candidate,
        accept=truth,
        method=Decision.Method.GOLD,
        user=user,
        note=note or "marked gold",
    )
    _refresh_gold_stats(candidate)
    audit_record(
        actor=user,
        action="gold.mark",
        target=candidate,
        summary=f"candidate {candidate.pk} made gold: {'yes' if truth else 'no'}",
        details={"truth": truth, "note": note[:200]},
    )
    return gold


@transaction.atomic
def gold_unmark(*, candidate: Candidate, user: User | None = None) -> None:
    """Stop using a candidate as gold; consensus decides it from its votes again."""
    from annotate.services.consensus import consensus_update

    deleted, _ = GoldItem.objects.filter(candidate=candidate).delete()
    if not deleted:
        return
    audit_record(
        actor=user,
        action="gold.unmark",
        target=candidate,
        summary=f"candidate {candidate.pk} no longer gold",
    )
    list(QueueItem.objects.select_for_update().filter(candidate_id=candidate.pk))
    locked = Candidate.objects.select_for_update().get(pk=candidate.pk)
    if locked.decided_by == Decision.Method.GOLD:
        Decision.objects.create(
            candidate=locked,
            state=Candidate.State.IN_REVIEW,
            previous_state=locked.state,
            method=Decision.Method.CURATOR,
            user=user if getattr(user, "pk", None) else None,
            note="gold removed; back to consensus",
        )
        locked.state = Candidate.State.IN_REVIEW
        locked.decided_by = ""
        locked.decided_at = None
        locked.confidence = None
        locked.save(update_fields=["state", "decided_by", "decided_at", "confidence", "updated_at"])
        QueueItem.objects.get_or_create(candidate=locked, defaults={"synset_id": locked.synset_id})
    _refresh_gold_stats(candidate)
    consensus_update(candidate_ids=[candidate.pk])


def _refresh_gold_stats(candidate: Candidate) -> None:
    from annotate.models import Vote
    from annotate.services.annotators import annotators_refresh_gold

    voters = list(Vote.objects.filter(candidate=candidate).values_list("annotator_id", flat=True))
    if voters:
        annotators_refresh_gold(annotator_ids=voters)


@transaction.atomic
def candidate_adjudicate(
    *, candidate: Candidate, accept: bool, user: User | None = None, note: str = ""
) -> Candidate:
    """A curator decides a candidate (typically an escalated one); consensus keeps it."""
    decided = _decide(
        candidate=candidate,
        accept=accept,
        method=Decision.Method.CURATOR,
        user=user,
        note=note or "adjudicated",
    )
    audit_record(
        actor=user,
        action="candidate.adjudicate",
        target=candidate,
        summary=f"candidate {candidate.pk} {'accepted' if accept else 'rejected'} by a curator",
        details={"accept": accept, "note": note[:200]},
    )
    return decided


def gold_summary() -> dict[str, Any]:
    return {
        "items": GoldItem.objects.count(),
        "yes": GoldItem.objects.filter(truth=True).count(),
        "no": GoldItem.objects.filter(truth=False).count(),
    }

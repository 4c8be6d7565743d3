"""Reads for curators: per-synset quality, annotator figures, escalations, hierarchy positives."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any

from django.db.models import Count, Q, QuerySet

from annotate.models import (
    Annotator,
    Decision,
    GoldItem,
    QualitySnapshot,
    QueueItem,
    SynsetConsensus,
    Vote,
)
from annotate.services.consensus.evaluate import policy_for
from curation.models import Candidate, Synset, SynsetClosure

STATES = ("pending", "in_review", "accepted", "rejected", "escalated", "excluded")
AUTO_METHODS = tuple(SynsetConsensus.Method.values)


# --- hierarchy ------------------------------------------------------------------------------------


def positive_images_under(synset: Synset) -> QuerySet[Any]:
    """Images accepted for the synset or any hyponym: a husky is a dog is an animal. (A "no" for
    a hyponym says nothing about the synset, so negatives are never propagated upwards.)"""
    return (
        Candidate.objects.filter(
            state=Candidate.State.ACCEPTED,
            synset_id__in=SynsetClosure.objects.filter(ancestor=synset).values("descendant_id"),
        )
        .values_list("image_id", flat=True)
        .distinct()
    )


def synset_positive_counts(synset: Synset) -> dict[str, int]:
    return {
        "direct": Candidate.objects.filter(synset=synset, state=Candidate.State.ACCEPTED).count(),
        "with_hyponyms": positive_images_under(synset).count(),
    }


# --- synsets --------------------------------------------------------------------------------------


def _state_counts(synset_ids: list[int] | None = None) -> dict[int, Counter[str]]:
    qs = Candidate.objects.all()
    if synset_ids is not None:
        qs = qs.filter(synset_id__in=synset_ids)
    out: dict[int, Counter[str]] = defaultdict(Counter)
    for synset_id, state, n in qs.values_list("synset_id", "state").annotate(n=Count("id")):
        out[synset_id][state] = n
    return out


def synset_quality_rows(*, q: str = "") -> list[dict[str, Any]]:
    """One row per synset with candidates: counts by state, votes per decided candidate,
    estimated precision, agreement, calibration and policy."""
    counts = _state_counts()
    synsets = Synset.objects.filter(pk__in=list(counts)).order_by("name")
    if q:
        synsets = synsets.filter(search_text__contains=q.strip().lower().replace(" ", "_"))
    consensus = {c.synset_id: c for c in SynsetConsensus.objects.filter(synset_id__in=counts)}
    votes = dict(
        Vote.objects.filter(synset_id__in=list(counts))
        .values_list("synset_id")
        .annotate(n=Count("id"))
    )
    latest: dict[int, QualitySnapshot] = {}
    for snap in QualitySnapshot.objects.filter(synset_id__in=list(counts)).order_by("created_at"):
        latest[snap.synset_id] = snap  # type: ignore[index]
    rows = []
    for synset in synsets:
        c = counts[synset.pk]
        decided = c["accepted"] + c["rejected"]
        row_consensus = consensus.get(synset.pk)
        policy = policy_for(row_consensus)
        snap = latest.get(synset.pk)
        rows.append(
            {
                "synset": synset,
                "counts": {s: c[s] for s in STATES},
                "open": c["pending"] + c["in_review"],
                "total": sum(c.values()),
                "votes": votes.get(synset.pk, 0),
                "votes_per_decided": (votes.get(synset.pk, 0) / decided) if decided else None,
                "precision": snap.precision_estimate if snap else None,
                "alpha": row_consensus.alpha if row_consensus else None,
                "kappa": row_consensus.kappa if row_consensus else None,
                "calibrated": bool(row_consensus and row_consensus.calibrated),
                "method": policy.method,
            }
        )
    return rows


def votes_per_decision_histogram(synset: Synset | None = None) -> list[tuple[int, int]]:
    """How many counted votes automatic decisions took: [(votes, candidates)]."""
    qs = Candidate.objects.filter(state__in=Candidate.DECIDED, decided_by__in=AUTO_METHODS).exclude(
        gold__isnull=False
    )
    if synset is not None:
        qs = qs.filter(synset=synset)
    counter: Counter[int] = Counter()
    for yes, no in qs.values_list("votes_yes", "votes_no").iterator(chunk_size=10_000):
        counter[yes + no] += 1
    return sorted(counter.items())


def precision_series(synset: Synset | None = None, limit: int = 200) -> list[QualitySnapshot]:
    qs = (
        QualitySnapshot.objects.filter(synset=synset)
        if synset
        else QualitySnapshot.objects.filter(synset__isnull=True)
    )
    return list(reversed(qs.order_by("-created_at")[:limit]))


def synset_quality(synset: Synset) -> dict[str, Any]:
    """Everything the per-synset quality page shows."""
    consensus = SynsetConsensus.objects.filter(synset=synset).first()
    policy = policy_for(consensus)
    counts = _state_counts([synset.pk])[synset.pk]
    decided = counts["accepted"] + counts["rejected"]
    n_votes = Vote.objects.filter(synset=synset).count()
    calibration = list(
        QueueItem.objects.filter(synset=synset, calibration=True)
        .select_related("candidate__image")
        .order_by("candidate_id")
    )
    return {
        "synset": synset,
        "consensus": consensus,
        "policy": policy,
        "counts": {s: counts[s] for s in STATES},
        "total": sum(counts.values()),
        "votes": n_votes,
        "votes_per_decided": (n_votes / decided) if decided else None,
        "positives": synset_positive_counts(synset),
        "calibration": calibration,
        "calibration_done": sum(1 for q in calibration if q.votes >= policy.calibration_votes),
        "histogram": votes_per_decision_histogram(synset),
        "series": precision_series(synset),
        "gold": GoldItem.objects.filter(candidate__synset=synset).count(),
    }


def review_queryset(
    *, synset: Synset | None = None, state: str | None = None
) -> QuerySet[Candidate]:
    """Candidates to review, most recently changed first (paginate it; see with_gold_truth)."""
    qs = Candidate.objects.select_related("image", "synset").order_by("-updated_at", "pk")
    if synset is not None:
        qs = qs.filter(synset=synset)
    if state:
        qs = qs.filter(state=state)
    return qs


def with_gold_truth(rows: Iterable[Candidate]) -> list[Candidate]:
    """The rows, each with `gold_truth` (None when not gold), in one query."""
    rows = list(rows)
    gold = dict(
        GoldItem.objects.filter(candidate_id__in=[c.pk for c in rows]).values_list(
            "candidate_id", "truth"
        )
    )
    for c in rows:
        c.gold_truth = gold.get(c.pk)  # type: ignore[attr-defined]
    return rows


def escalated_queryset(*, synset: Synset | None = None) -> QuerySet[Candidate]:
    return review_queryset(synset=synset, state=Candidate.State.ESCALATED)


def candidate_history(candidate: Candidate) -> list[Decision]:
    return list(Decision.objects.filter(candidate=candidate).select_related("user")[:50])


# --- annotators -----------------------------------------------------------------------------------


def annotator_queryset(
    *, status: str | None = None, order: str = "-votes_count"
) -> QuerySet[Annotator]:
    qs = Annotator.objects.select_related("user")
    if status:
        qs = qs.filter(status=status)
    allowed = {"votes_count", "-votes_count", "trust", "-trust", "agreement", "median_ms", "id"}
    return qs.order_by(order if order in allowed else "-votes_count", "pk")


def annotator_detail(annotator: Annotator) -> dict[str, Any]:
    votes = Vote.objects.filter(annotator=annotator)
    per_synset = list(
        votes.values("synset__wnid", "synset__name")
        .annotate(
            n=Count("id"),
            yes=Count("id", filter=Q(answer=True)),
        )
        .order_by("-n")[:50]
    )
    return {
        "annotator": annotator,
        "per_synset": per_synset,
        "recent": list(
            votes.select_related("candidate__image", "candidate__synset").order_by("-id")[:48]
        ),
        "tasks": annotator.assignments.count(),
    }


def overall_summary() -> dict[str, Any]:
    counts: Counter[str] = Counter()
    for state, n in Candidate.objects.values_list("state").annotate(n=Count("id")):
        counts[state] = n
    snapshot = QualitySnapshot.objects.filter(synset__isnull=True).order_by("-created_at").first()
    return {
        "counts": {s: counts[s] for s in STATES},
        "votes": Vote.objects.count(),
        "annotators": Annotator.objects.count(),
        "blocked": Annotator.objects.filter(status=Annotator.Status.BLOCKED).count(),
        "flagged": Annotator.objects.filter(status=Annotator.Status.FLAGGED).count(),
        "gold": GoldItem.objects.count(),
        "snapshot": snapshot,
    }

"""Fitting a synset's model and thresholds, and its quality figures (agreement, snapshots)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.conf import settings
from django.db.models import Avg, Count, Q
from django.utils import timezone

from annotate.models import Annotator, QualitySnapshot, QueueItem, SynsetConsensus, Vote
from annotate.services.annotators import worker_accuracy
from annotate.services.consensus.evaluate import policy_for
from annotate.services.consensus.update import consensus_rows_for, consensus_update
from annotate.stats.agreement import agreement
from annotate.stats.latent import DEFAULT_MODEL, SynsetModel, fit_counts, fit_weighted
from annotate.stats.policy import WorkerPool, choose_thresholds
from annotate.stats.score_prior import fit_score_prior
from curation.models import Candidate

logger = logging.getLogger(__name__)
SIMULATED_ITEMS = 20_000


def calibration_complete(synset_id: int) -> bool:
    """Every calibration item still in play has its votes (none, if calibration is off)."""
    if settings.ANNOTATE_CALIBRATION_SIZE <= 0:
        return True
    items = QueueItem.objects.filter(synset_id=synset_id, calibration=True).exclude(
        candidate__state=Candidate.State.EXCLUDED
    )
    if not items.exists():
        return False
    return not items.filter(votes__lt=settings.ANNOTATE_CALIBRATION_VOTES).exists()


def _fit_rows(synset_id: int) -> list[tuple[Any, ...]]:
    """Counted votes on the synset's candidates that inform its model (not gold, not excluded)."""
    rows = (
        Vote.objects.filter(synset_id=synset_id)
        .exclude(annotator__status=Annotator.Status.BLOCKED)
        .exclude(candidate__gold__isnull=False)
        .exclude(candidate__state=Candidate.State.EXCLUDED)
        .values_list(
            "candidate_id",
            "annotator_id",
            "answer",
            "annotator__sensitivity",
            "annotator__specificity",
            "annotator__gold_answers",
            "annotator__gold_correct",
        )
    )
    out = []
    for cand, ann, answer, se, sp, ga, gc in rows.iterator(chunk_size=20_000):
        sens, spec = worker_accuracy(
            {"sensitivity": se, "specificity": sp, "gold_answers": ga, "gold_correct": gc}
        )
        out.append((cand, ann, answer, sens, spec))
    return out


def _fit_machine_prior(
    model: SynsetModel,
    synset_id: int,
    cand_ids: np.ndarray,
    items: np.ndarray,
    answers: np.ndarray,
    rows: list[tuple[Any, ...]],
    *,
    weighted: bool,
) -> tuple[SynsetModel, np.ndarray | None]:
    """Calibrate the machine score against the votes (annotate.stats.score_prior); returns the
    model with the calibration and the scores of the synset's undecided-by-hand candidates (the
    items threshold choice simulates), or None when the synset has no scores."""
    population = list(
        Candidate.objects.filter(synset_id=synset_id, gold__isnull=True)
        .exclude(state=Candidate.State.EXCLUDED)
        .values_list("pk", "machine_score")
    )
    score_of = {pk: score for pk, score in population}
    scores = np.array([np.nan if v is None else v for v in score_of.values()], dtype=float)
    if not np.isfinite(scores).any():
        return model, None
    if weighted:
        sens = np.array([r[3] for r in rows], dtype=float)
        spec = np.array([r[4] for r in rows], dtype=float)
        lp_v, ln_v, la_v = model.vote_logs(answers, sens, spec)
    else:
        lp_v, ln_v, la_v = model.vote_logs(answers)
    n = cand_ids.size
    lp, ln, la = (np.bincount(items, weights=v, minlength=n) for v in (lp_v, ln_v, la_v))
    item_scores = np.array(
        [np.nan if score_of.get(int(c)) is None else score_of[int(c)] for c in cand_ids]
    )
    model, _ = fit_score_prior(model, lp=lp, ln=ln, la=la, scores=item_scores)
    return model, scores


@dataclass
class SynsetFit:
    synset_id: int
    method: str
    calibrated: bool
    items: int
    votes: int
    threshold_accept: float | None
    threshold_reject: float | None


def synset_fit(*, synset_id: int, force: bool = False) -> SynsetFit:
    """Fit the synset's latent-class model (once its calibration items have their votes, or when
    forced) and choose its thresholds by simulation; store them on its SynsetConsensus."""
    consensus = consensus_rows_for([synset_id])[synset_id]
    policy = policy_for(consensus)
    rows = _fit_rows(synset_id)
    votes_total = Vote.objects.filter(synset_id=synset_id).count()
    ready = force or consensus.calibrated or calibration_complete(synset_id)
    now = timezone.now()
    updates: dict[str, Any] = {"votes_total": votes_total}
    if policy.majority:
        updates.update(calibrated=True, calibrated_at=consensus.calibrated_at or now)
    elif ready and rows:
        cand_ids, items = np.unique(np.array([r[0] for r in rows]), return_inverse=True)
        answers = np.array([float(r[2]) for r in rows])
        if policy.weighted:
            sens = np.array([r[3] for r in rows])
            spec = np.array([r[4] for r in rows])
            model, info = fit_weighted(items, answers, sens, spec, n_items=cand_ids.size)
            workers, worker_index = np.unique(np.array([r[1] for r in rows]), return_inverse=True)
            first = np.zeros(workers.size, dtype=np.int64)
            first[worker_index] = np.arange(len(rows))
            pool = WorkerPool(
                sensitivity=sens[first],
                specificity=spec[first],
                share=np.bincount(worker_index, minlength=workers.size).astype(float),
            )
        else:
            yes = np.bincount(items, weights=answers, minlength=cand_ids.size)
            total = np.bincount(items, minlength=cand_ids.size)
            model, info = fit_counts(yes, total - yes)
            pool = None
        scores = None
        if policy.machine_prior_weight > 0:
            model, scores = _fit_machine_prior(
                model, synset_id, cand_ids, items, answers, rows, weighted=policy.weighted
            )
        if consensus.threshold_override is not None:
            stats = None
        else:
            stats = choose_thresholds(
                model,
                target_precision=settings.ANNOTATE_TARGET_PRECISION,
                target_reject_precision=settings.ANNOTATE_REJECT_PRECISION,
                cap=settings.ANNOTATE_VOTE_CAP,
                min_votes=settings.ANNOTATE_MIN_VOTES,
                pool=pool,
                n_items=SIMULATED_ITEMS,
                seed=synset_id,
                scores=scores,
                prior_weight=policy.machine_prior_weight,
            )
        updates.update(
            model=model.as_dict(),
            table=model.table(settings.ANNOTATE_VOTE_CAP),
            fit_items=info.items,
            fitted_votes=votes_total,
            fitted_at=now,
            calibrated=True,
            calibrated_at=consensus.calibrated_at or now,
        )
        if stats is not None:
            updates.update(
                threshold_accept=stats.threshold_accept,
                threshold_reject=stats.threshold_reject,
                predicted_precision=stats.accept_precision,
                predicted_reject_precision=stats.reject_precision,
                predicted_votes=stats.votes_per_decided,
                predicted_escalated=stats.escalated,
            )
    elif not consensus.model:
        updates.update(
            model=DEFAULT_MODEL.as_dict(), table=DEFAULT_MODEL.table(settings.ANNOTATE_VOTE_CAP)
        )
    SynsetConsensus.objects.filter(pk=consensus.pk).update(**updates)
    consensus.refresh_from_db()
    return SynsetFit(
        synset_id=synset_id,
        method=policy.method,
        calibrated=consensus.calibrated,
        items=consensus.fit_items,
        votes=votes_total,
        threshold_accept=consensus.threshold_accept,
        threshold_reject=consensus.threshold_reject,
    )


def synset_quality_refresh(*, synset_id: int | None) -> QualitySnapshot:
    """Agreement over counted votes and a snapshot of the synset's (or, for None, the whole
    site's) quality figures: counts, votes per decided candidate, estimated precision."""
    votes = Vote.objects.exclude(annotator__status=Annotator.Status.BLOCKED).exclude(
        candidate__gold__isnull=False
    )
    candidates = Candidate.objects.exclude(gold__isnull=False)
    if synset_id is not None:
        votes = votes.filter(synset_id=synset_id)
        candidates = candidates.filter(synset_id=synset_id)
    pairs = np.array(list(votes.values_list("candidate_id", "answer")), dtype=np.int64)
    figures = agreement(pairs[:, 0], pairs[:, 1]) if pairs.size else {"alpha": None, "kappa": None}
    states = dict(candidates.values_list("state").annotate(n=Count("id")))
    decided = states.get("accepted", 0) + states.get("rejected", 0)
    estimates = candidates.filter(decided_by__in=SynsetConsensus.Method.values).aggregate(
        accepted=Avg("confidence", filter=Q(state=Candidate.State.ACCEPTED)),
        rejected=Avg("confidence", filter=Q(state=Candidate.State.REJECTED)),
    )
    n_votes = int(pairs.shape[0]) if pairs.size else 0
    snapshot = QualitySnapshot.objects.create(
        synset_id=synset_id,
        open=states.get("pending", 0) + states.get("in_review", 0),
        accepted=states.get("accepted", 0),
        rejected=states.get("rejected", 0),
        escalated=states.get("escalated", 0),
        votes=n_votes,
        votes_per_decided=(n_votes / decided) if decided else None,
        precision_estimate=estimates["accepted"],
        reject_precision_estimate=(1.0 - estimates["rejected"])
        if estimates["rejected"] is not None
        else None,
        alpha=figures["alpha"],
        kappa=figures["kappa"],
    )
    if synset_id is not None:
        SynsetConsensus.objects.filter(synset_id=synset_id).update(
            alpha=figures["alpha"], kappa=figures["kappa"]
        )
    return snapshot


def consensus_synset(*, synset_id: int, force: bool = False) -> dict[str, Any]:
    """Refit one synset, re-decide all its candidates, refresh its quality figures."""
    fit = synset_fit(synset_id=synset_id, force=force)
    ids = list(Candidate.objects.filter(synset_id=synset_id).values_list("pk", flat=True))
    changes = consensus_update(candidate_ids=ids)
    synset_quality_refresh(synset_id=synset_id)
    return {"synset_id": synset_id, "calibrated": fit.calibrated, **changes}

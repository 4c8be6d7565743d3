"""The `consensus` Job (cpu queue): refit workers, then every (or the chosen) synsets; and the
cheap trigger that asks for a refit when a synset finished calibrating or its votes grew."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from annotate.models import QualitySnapshot, QueueItem, SynsetConsensus, Vote
from annotate.services.annotators import annotators_fit, annotators_refresh_gold
from annotate.services.consensus.fit import (
    calibration_complete,
    consensus_synset,
    synset_quality_refresh,
)
from curation.models import Job, JobChunk, Synset
from curation.services.jobs import ChunkSpec, Progress, job_create, job_dispatch, result_counts

logger = logging.getLogger(__name__)
KIND = "consensus"
SYNSETS_PER_CHUNK = 5


def consensus_synset_ids(wnids: Iterable[str] | None = None) -> list[int]:
    """Synsets to recompute: the named ones, or every synset that has votes or queued work."""
    if wnids:
        return list(Synset.objects.filter(wnid__in=list(wnids)).values_list("pk", flat=True))
    with_votes = set(Vote.objects.values_list("synset_id", flat=True).distinct())
    queued = set(QueueItem.objects.values_list("synset_id", flat=True).distinct())
    return sorted(with_votes | queued)


class ConsensusHandler:
    """params: synsets (wnids; default all with votes or work), workers (refit annotators first,
    default true), force (fit even if calibration is incomplete)."""

    def plan(self, job: Job) -> Iterable[ChunkSpec]:
        from annotate.services.queue import leases_expire, queue_sync

        leases_expire(limit=10_000)
        named = job.params.get("synsets")
        ids = consensus_synset_ids(named)
        # A refit of named synsets checks their queue rows only; a full run checks them all.
        queue_sync(full=True, synset_ids=ids if named else None)
        if job.params.get("workers", True):
            fit = annotators_fit()
            blocked = annotators_refresh_gold()
            job.result = {
                **job.result,
                "workers": {
                    "annotators": fit.annotators,
                    "votes": fit.votes,
                    "iterations": fit.iterations,
                    "seconds": round(fit.seconds, 2),
                    "newly_blocked": len(blocked),
                },
            }
            Job.objects.filter(pk=job.pk).update(result=job.result)
        for start in range(0, len(ids), SYNSETS_PER_CHUNK):
            part = ids[start : start + SYNSETS_PER_CHUNK]
            yield ChunkSpec(payload={"synsets": part}, size=len(part))

    def run_chunk(self, job: Job, chunk: JobChunk, progress: Progress) -> None:
        force = bool(job.params.get("force"))
        names = dict(
            Synset.objects.filter(pk__in=chunk.payload["synsets"]).values_list("pk", "name")
        )
        for synset_id in chunk.payload["synsets"]:
            outcome = consensus_synset(synset_id=synset_id, force=force)
            progress(
                1,
                message=f"{names.get(synset_id, synset_id)}: {outcome.get('accepted', 0)} newly "
                f"accepted, {outcome.get('rejected', 0)} rejected, "
                f"{outcome.get('escalated', 0)} escalated",
            )

    def finalize(self, job: Job) -> dict[str, Any]:
        # New positives change the embedding-similarity scores of synsets the model cannot name.
        from curation.services.scoring import similarity_scores_refresh

        named = job.params.get("synsets")
        if named:
            # Only the refitted synsets gained positives; each synset's own snapshot was taken
            # in its chunk. The site-wide one reads every vote, so a stream of automatic refits
            # takes it at most every ANNOTATE_SITE_SNAPSHOT_SECONDS.
            similarity_scores_refresh(synset_ids=consensus_synset_ids(named))
            snapshot = _recent_site_snapshot() or synset_quality_refresh(synset_id=None)
        else:
            similarity_scores_refresh()
            snapshot = synset_quality_refresh(synset_id=None)
        return {
            "accepted": snapshot.accepted,
            "rejected": snapshot.rejected,
            "escalated": snapshot.escalated,
            "open": snapshot.open,
            "votes": snapshot.votes,
            "votes_per_decided": snapshot.votes_per_decided,
            "alpha": snapshot.alpha,
            "kappa": snapshot.kappa,
        }

    def summary(self, result: dict[str, Any]) -> str:
        return (
            "all synsets, gold aside: {accepted} accepted, {rejected} rejected,"
            " {escalated} escalated, {open} open; {votes} votes"
        ).format_map(result_counts(result))


def _recent_site_snapshot() -> QualitySnapshot | None:
    since = timezone.now() - timedelta(seconds=settings.ANNOTATE_SITE_SNAPSHOT_SECONDS)
    return (
        QualitySnapshot.objects.filter(synset__isnull=True, created_at__gte=since)
        .order_by("-created_at")
        .first()
    )


def consensus_job(
    *,
    wnids: list[str] | None = None,
    workers: bool = True,
    force: bool = False,
    created_by: Any = None,
    reason: str = "",
) -> Job:
    title = "Consensus" + (
        f" ({', '.join(wnids[:3])}{'…' if len(wnids) > 3 else ''})" if wnids else ""
    )
    return job_create(
        kind=KIND,
        params={"synsets": wnids or None, "workers": workers, "force": force, "reason": reason},
        title=title,
        created_by=created_by,
    )


def dispatch_quietly(job: Job) -> None:
    """Send a job to the broker; if the broker is down, leave it queued for the stale-job sweeper
    (votes are already committed, and must never depend on Redis)."""
    try:
        job_dispatch(job=job)
    except Exception:  # the broker being down must not fail the request that asked
        logger.warning("could not dispatch job %s; the sweeper will retry", job.pk, exc_info=True)


def consensus_note_votes(*, synset_counts: dict[int, int]) -> list[int]:
    """Count new votes per synset and say which synsets want a refit now: calibration just
    completed (never fitted), or votes grew by ANNOTATE_REFIT_GROWTH since the last fit."""
    from annotate.services import task_sql

    wanted = []
    for synset_id, n in synset_counts.items():
        row = task_sql.count_synset_votes(synset_id, n)
        if row is None:
            continue
        calibrated, votes_total, fitted_votes, method = row
        if method == SynsetConsensus.Method.MAJORITY:
            continue
        if not calibrated:
            if calibration_complete(synset_id):
                wanted.append(synset_id)
        elif votes_total >= max(
            fitted_votes * (1 + settings.ANNOTATE_REFIT_GROWTH), fitted_votes + 50
        ):
            wanted.append(synset_id)
    return wanted


def consensus_request_refit(*, synset_ids: list[int]) -> Job | None:
    """Queue one refit job for these synsets unless a consensus job is already on its way, or,
    when every one of them has been fitted before, one started less than
    ANNOTATE_REFIT_MIN_SECONDS ago (the trigger fires again on a later submit, so nothing is lost
    by skipping). A synset's first fit is never held back: until then its items wait."""
    if not synset_ids:
        return None
    now = timezone.now()
    recent = now - timedelta(minutes=15)
    if Job.objects.filter(
        kind=KIND, status__in=[Job.Status.QUEUED, Job.Status.RUNNING], created_at__gte=recent
    ).exists():
        return None
    fitted = SynsetConsensus.objects.filter(synset_id__in=synset_ids, calibrated=True).count()
    first_fit = fitted < len(set(synset_ids))
    # A refit per growth step is plenty: the model moves slowly, while each refit re-decides a
    # whole synset (every row, on the worker and in the database) and crowds out the requests
    # of a busy crowd when it runs back to back.
    pause = timedelta(seconds=settings.ANNOTATE_REFIT_MIN_SECONDS)
    if not first_fit and Job.objects.filter(kind=KIND, created_at__gte=now - pause).exists():
        return None
    # The annotators' fit reads every vote of every synset: first fits arriving one after another
    # share the last one (annotator weights move slowly) rather than each redoing it.
    workers_fitted = Job.objects.filter(
        kind=KIND, params__workers=True, created_at__gte=now - pause
    ).exists()
    wnids = list(Synset.objects.filter(pk__in=synset_ids).values_list("wnid", flat=True))
    job = consensus_job(
        wnids=wnids, workers=not workers_fitted, reason="calibration done or votes grew"
    )
    transaction.on_commit(lambda: dispatch_quietly(job))
    return job

"""Celery tasks: thin wrappers that take ids and call services.

Every task is idempotent and `acks_late`: a message redelivered after a worker death re-runs work
that the services make safe to repeat.
"""

from __future__ import annotations

import logging

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded

from config.logging import job_id_var

logger = logging.getLogger(__name__)

CHUNK_MAX_RETRIES = 3


@shared_task(acks_late=True, bind=True, max_retries=5, default_retry_delay=5)
def job_run(self, job_id: int) -> None:  # type: ignore[no-untyped-def]
    """Plan a job and fan its chunks out to the job's queue."""
    from curation.services.jobs import job_start

    token = job_id_var.set(str(job_id))
    try:
        job_start(
            job_id,
            enqueue=lambda chunk_id, queue: job_chunk.apply_async(
                args=[chunk_id], queue=queue, **_limits(job_id)
            ),
        )
    finally:
        job_id_var.reset(token)


def _limits(job_id: int) -> dict[str, int]:
    """Per-kind time limits (a training run takes days, not the default minutes)."""
    from curation.jobkinds import JOB_KINDS
    from curation.models import Job

    kind = JOB_KINDS.get(Job.objects.filter(pk=job_id).values_list("kind", flat=True).first() or "")
    if kind is None or kind.time_limit is None:
        return {}
    return {"soft_time_limit": kind.time_limit, "time_limit": kind.time_limit + 120}


@shared_task(acks_late=True, bind=True, max_retries=CHUNK_MAX_RETRIES)
def job_chunk(self, chunk_id: int) -> None:  # type: ignore[no-untyped-def]
    """Run one idempotent chunk; retry with backoff, then fail the job with the reason."""
    from curation.models import JobChunk
    from curation.services.jobs import job_chunk_gave_up, job_run_chunk

    job_id = JobChunk.objects.filter(pk=chunk_id).values_list("job_id", flat=True).first()
    token = job_id_var.set(str(job_id))
    try:
        job_run_chunk(chunk_id)
    except SoftTimeLimitExceeded:
        job_chunk_gave_up(chunk_id, "time limit exceeded")
    except Exception as exc:
        if self.request.retries >= CHUNK_MAX_RETRIES:
            logger.exception("chunk %s failed for good", chunk_id)
            job_chunk_gave_up(chunk_id, repr(exc))
            return
        raise self.retry(exc=exc, countdown=2 ** (self.request.retries + 1)) from exc
    finally:
        job_id_var.reset(token)


@shared_task(acks_late=True)
def jobs_sweep_stale() -> dict[str, int]:
    """Beat task: re-queue jobs whose worker died."""
    from curation.services.jobs import jobs_sweep_stale as sweep

    return sweep()


@shared_task(acks_late=True)
def consensus_drain_task() -> int:
    """Re-decide the candidates submits marked (annotate/services/consensus/drain.py); also run
    by beat, which picks up whatever a lost request or a crash left marked."""
    from annotate.services.consensus.drain import DRAIN_KEY, consensus_drain
    from config.redis import redis_client

    try:
        redis_client().delete(DRAIN_KEY)  # marks made from now on ask for the next drain
    except Exception:  # the key expires by itself; draining matters more
        logger.warning("could not clear the drain key", exc_info=True)
    return consensus_drain()

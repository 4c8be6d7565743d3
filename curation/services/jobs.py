"""Jobs: create, dispatch, progress, finish, and the stale-job sweeper.

A job is planned into JobChunk rows once (idempotently); each chunk runs as one Celery task and is
idempotent itself, so a chunk re-run after a worker death changes nothing twice. The last chunk to
finish finalizes the job under a row lock. No Celery chord or result backend is involved: a chord
whose member died never fires, while chunk rows in the database survive anything.
"""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from curation.jobkinds import JOB_KINDS
from curation.models import Job, JobChunk

logger = logging.getLogger(__name__)


class JobCancelled(Exception):
    """Raised inside a handler when its job was cancelled."""


@dataclass
class ChunkSpec:
    payload: dict[str, Any] = field(default_factory=dict)
    size: int = 1


class Progress(Protocol):
    def __call__(self, done: int = 0, *, errors: int = 0, message: str | None = None) -> None: ...


class JobHandler(Protocol):
    def plan(self, job: Job) -> Iterable[ChunkSpec]: ...

    def run_chunk(self, job: Job, chunk: JobChunk, progress: Progress) -> None: ...

    def finalize(self, job: Job) -> dict[str, Any]: ...

    # Optional: `summary(result) -> str`, the finished job's message (the whole job's figures;
    # the message otherwise stays the last chunk's).


class _Counts(dict):
    def __missing__(self, key: str) -> str:
        return "0"


def result_counts(result: dict[str, Any]) -> dict[str, str]:
    """A job's result for a summary line's `str.format_map`: numbers with thousands separators,
    0 for a count that is absent or null."""
    return _Counts(
        {
            key: f"{int(value):,}"
            if isinstance(value, int | float) and not isinstance(value, bool)
            else str(value)
            for key, value in result.items()
            if value is not None
        }
    )


def handler_for(kind: str) -> JobHandler:
    spec = JOB_KINDS[kind]
    module_name, _, class_name = spec.handler.partition(":")
    return getattr(importlib.import_module(module_name), class_name)()


# --- writes -------------------------------------------------------------------------------------


def job_create(
    *,
    kind: str,
    params: dict[str, Any] | None = None,
    title: str = "",
    created_by: Any = None,
    parent: Job | None = None,
) -> Job:
    if kind not in JOB_KINDS:
        raise ValueError(f"unknown job kind {kind!r}; known: {', '.join(sorted(JOB_KINDS))}")
    spec = JOB_KINDS[kind]
    return Job.objects.create(
        kind=kind,
        params=params or {},
        title=title or spec.label,
        queue=spec.queue,
        created_by=created_by if getattr(created_by, "pk", None) else None,
        parent=parent,
    )


def job_dispatch(*, job: Job) -> None:
    """Send the job to its queue once the current transaction commits."""
    from worker.tasks import job_run  # local: keeps Celery task modules out of import cycles

    result = job_run.apply_async(args=[job.pk], queue=job.queue)
    Job.objects.filter(pk=job.pk).update(celery_task_id=result.id or "")


def job_dispatch_on_commit(*, job: Job) -> None:
    transaction.on_commit(lambda: job_dispatch(job=job))


def job_progress(
    job_id: int,
    done: int = 0,
    *,
    errors: int = 0,
    total: int | None = None,
    message: str | None = None,
) -> None:
    """Atomically add to done/errors and beat the heartbeat; raise JobCancelled if cancelled."""
    updates: dict[str, Any] = {"heartbeat_at": timezone.now()}
    if done:
        updates["done"] = F("done") + done
    if errors:
        updates["errors"] = F("errors") + errors
    if total is not None:
        updates["total"] = total
    if message is not None:
        updates["message"] = message[:2000]
    Job.objects.filter(pk=job_id).update(**updates)
    if Job.objects.filter(pk=job_id, status=Job.Status.CANCELLED).exists():
        raise JobCancelled(f"job {job_id} was cancelled")


def job_cancel(*, job: Job) -> Job:
    Job.objects.filter(pk=job.pk, status__in=[Job.Status.QUEUED, Job.Status.RUNNING]).update(
        status=Job.Status.CANCELLED, finished_at=timezone.now(), message="cancelled"
    )
    job.refresh_from_db()
    return job


def job_fail(*, job_id: int, error: str) -> None:
    Job.objects.filter(pk=job_id).exclude(status__in=Job.FINISHED).update(
        status=Job.Status.FAILED, error=error[:10_000], finished_at=timezone.now()
    )


def _mark_started(job_id: int) -> Job | None:
    now = timezone.now()
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.is_finished:
            return None
        if job.status == Job.Status.QUEUED:
            job.status = Job.Status.RUNNING
            if job.started_at is None:  # the first start; the sweeper counts each re-queue
                job.attempts += 1
            job.started_at = job.started_at or now
        job.heartbeat_at = now
        job.save(update_fields=["status", "started_at", "attempts", "heartbeat_at"])
    return job


def job_plan(*, job: Job) -> list[int]:
    """Create the job's chunks once; return ids of chunks not yet done."""
    if not job.result.get("planned"):
        handler = handler_for(job.kind)
        batch: list[JobChunk] = []
        total = 0
        index = 0
        for spec in handler.plan(job):
            batch.append(JobChunk(job=job, index=index, payload=spec.payload, size=spec.size))
            total += spec.size
            index += 1
            if len(batch) >= 1000:
                JobChunk.objects.bulk_create(batch, ignore_conflicts=True)
                batch.clear()
                job_progress(job.pk)
        JobChunk.objects.bulk_create(batch, ignore_conflicts=True)
        job.refresh_from_db()
        job.result = {**job.result, "planned": True, "chunks": index}
        if job.total is None:
            job.total = total
        job.save(update_fields=["result", "total"])
    return list(
        job.chunks.exclude(status=JobChunk.Status.DONE)
        .order_by("index")
        .values_list("pk", flat=True)
    )


def job_start(job_id: int, *, enqueue: Callable[[int, str], None] | None) -> list[int]:
    """Mark running, plan, and enqueue the pending chunks (or return them for inline running)."""
    job = _mark_started(job_id)
    if job is None:
        return []
    try:
        pending = job_plan(job=job)
    except JobCancelled:
        return []
    except Exception as exc:
        logger.exception("planning job %s failed", job_id)
        job_fail(job_id=job_id, error=f"planning failed: {exc}")
        return []
    if not pending:
        job_finalize(job_id=job_id)
        return []
    if enqueue is not None:
        for chunk_id in pending:
            enqueue(chunk_id, job.queue)
    return pending


def job_run_chunk(chunk_id: int) -> None:
    """Run one chunk (idempotent), then finalize the job if it was the last one."""
    chunk = JobChunk.objects.select_related("job").filter(pk=chunk_id).first()
    if chunk is None or chunk.job.is_finished:
        return
    job = chunk.job
    if chunk.status != JobChunk.Status.DONE:
        with transaction.atomic():
            # A re-run chunk (its worker died) takes back what it counted the first time.
            chunk = JobChunk.objects.select_for_update().get(pk=chunk.pk)
            Job.objects.filter(pk=job.pk).update(
                done=F("done") - chunk.done, errors=F("errors") - chunk.errors
            )
            JobChunk.objects.filter(pk=chunk.pk).update(
                status=JobChunk.Status.RUNNING,
                attempts=F("attempts") + 1,
                started_at=timezone.now(),
                done=0,
                errors=0,
            )
        job_progress(job.pk)

        def progress(done: int = 0, *, errors: int = 0, message: str | None = None) -> None:
            if done or errors:
                JobChunk.objects.filter(pk=chunk.pk).update(
                    done=F("done") + done, errors=F("errors") + errors
                )
            job_progress(job.pk, done, errors=errors, message=message)

        try:
            handler_for(job.kind).run_chunk(job, chunk, progress)
        except JobCancelled:
            return
        except Exception as exc:
            JobChunk.objects.filter(pk=chunk.pk).update(
                status=JobChunk.Status.FAILED, error=repr(exc)[:5000]
            )
            raise
        JobChunk.objects.filter(pk=chunk.pk).update(
            status=JobChunk.Status.DONE, finished_at=timezone.now(), error=""
        )
    if not job.chunks.exclude(status=JobChunk.Status.DONE).exists():
        job_finalize(job_id=job.pk)


def job_chunk_gave_up(chunk_id: int, error: str) -> None:
    """A chunk failed past its retries: the job fails with that reason."""
    chunk = JobChunk.objects.filter(pk=chunk_id).first()
    if chunk is None:
        return
    JobChunk.objects.filter(pk=chunk_id).update(status=JobChunk.Status.FAILED, error=error[:5000])
    job_fail(job_id=chunk.job_id, error=f"chunk {chunk.index} failed: {error}")


def job_finalize(*, job_id: int) -> None:
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.is_finished:
            return
        handler = handler_for(job.kind)
        try:
            extra = handler.finalize(job) if hasattr(handler, "finalize") else {}
        except Exception as exc:
            logger.exception("finalizing job %s failed", job_id)
            job.status = Job.Status.FAILED
            job.error = f"finalize failed: {exc}"[:10_000]
            job.finished_at = timezone.now()
            job.save(update_fields=["status", "error", "finished_at"])
            return
        job.refresh_from_db()
        job.result = {**job.result, **(extra or {})}
        job.status = Job.Status.SUCCEEDED
        job.finished_at = timezone.now()
        fields = ["result", "status", "finished_at"]
        summary = getattr(handler, "summary", None)
        if summary is not None:
            try:
                job.message = str(summary(job.result))[:2000]
                fields.append("message")
            except Exception:  # a message is not worth failing a finished job over
                logger.exception("summarising job %s failed", job_id)
        job.save(update_fields=fields)
    _start_followers(job)


# Inside `followers_inline()`, job_run_inline collects a job's followers here and runs them inline
# after it, instead of sending them to the broker (which an inline run, e.g. the demo's
# preparation or a command's --inline, may not have).
_chain_inline: ContextVar[bool] = ContextVar("chain_inline", default=False)
_inline_followers: ContextVar[list[int] | None] = ContextVar("inline_followers", default=None)


@contextmanager
def followers_inline() -> Iterator[None]:
    """Inline job runs in this block also run their followers inline (ingest -> prelabel ->
    dedup in one process)."""
    token = _chain_inline.set(True)
    try:
        yield
    finally:
        _chain_inline.reset(token)


def _start_followers(job: Job) -> None:
    """Jobs chained after this one (e.g. prelabel after ingest) start when it succeeds."""
    collected = _inline_followers.get()
    for follower in job.followers.filter(status=Job.Status.QUEUED, started_at__isnull=True):
        if collected is not None:
            collected.append(follower.pk)
        else:
            job_dispatch_on_commit(job=follower)


def job_run_inline(*, job: Job, on_progress: Callable[[Job], None] | None = None) -> Job:
    """Run every step of a job in this process (commands with --inline, tests). Its followers
    go to the broker, or run here after it inside `followers_inline()`."""
    token = _inline_followers.set([] if _chain_inline.get() else None)
    try:
        for chunk_id in job_start(job.pk, enqueue=None):
            job_run_chunk(chunk_id)
            if on_progress is not None:
                job.refresh_from_db()
                on_progress(job)
        followers = _inline_followers.get() or []
    finally:
        _inline_followers.reset(token)
    for follower in Job.objects.filter(pk__in=followers).order_by("pk"):
        job_run_inline(job=follower, on_progress=on_progress)
    job.refresh_from_db()
    return job


def jobs_sweep_stale(*, stale_after: timedelta | None = None) -> dict[str, int]:
    """Re-queue jobs whose worker died (stale heartbeat); fail those past their attempts."""
    if stale_after is None:
        stale_after = timedelta(seconds=settings.JOB_STALE_AFTER_SECONDS)
    cutoff = timezone.now() - stale_after
    requeued = failed = 0
    stale = Job.objects.filter(status=Job.Status.RUNNING, heartbeat_at__lt=cutoff)
    # A queued job whose message was lost (broker restarted with nothing on disk) never starts.
    lost = Job.objects.filter(
        status=Job.Status.QUEUED, created_at__lt=cutoff, started_at__isnull=True
    ).filter(  # a follower waits for its parent to succeed: not lost
        Q(parent__isnull=True) | Q(parent__status=Job.Status.SUCCEEDED)
    )
    for job in list(stale) + list(
        lost.filter(heartbeat_at__isnull=True) | lost.filter(heartbeat_at__lt=cutoff)
    ):
        if job.attempts >= settings.JOB_MAX_ATTEMPTS:
            job_fail(
                job_id=job.pk,
                error=(
                    f"worker lost: no heartbeat for {int(stale_after.total_seconds())} s "
                    f"after {job.attempts} attempts"
                ),
            )
            failed += 1
            continue
        # Counted here, not when a worker picks it up again: a chunk message left from the dead
        # worker may set the job running before the job task does.
        updated = Job.objects.filter(pk=job.pk, status=job.status).update(
            status=Job.Status.QUEUED,
            attempts=F("attempts") + 1,
            heartbeat_at=timezone.now(),
            message=f"re-queued after the worker was lost (attempt {job.attempts + 1})",
        )
        if updated:
            job.chunks.filter(status=JobChunk.Status.RUNNING).update(status=JobChunk.Status.PENDING)
            job_dispatch(job=job)
            requeued += 1
    return {"requeued": requeued, "failed": failed}


# --- a trivial handler for tests of the machinery -------------------------------------------------


class SleepHandler:
    """Counts to params['n'] in chunks of params['chunk'], sleeping params['sleep'] per item."""

    def plan(self, job: Job) -> Iterable[ChunkSpec]:
        n, size = int(job.params.get("n", 10)), int(job.params.get("chunk", 5))
        for start in range(0, n, size):
            yield ChunkSpec(
                payload={"start": start, "stop": min(n, start + size)}, size=min(size, n - start)
            )

    def run_chunk(self, job: Job, chunk: JobChunk, progress: Progress) -> None:
        for _ in range(chunk.payload["start"], chunk.payload["stop"]):
            time.sleep(float(job.params.get("sleep", 0)))
            progress(1)

    def finalize(self, job: Job) -> dict[str, Any]:
        return {"counted": job.params.get("n", 10)}

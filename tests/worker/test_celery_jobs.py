"""Real Celery worker processes: a job runs on the worker; a SIGKILLed worker's job is recovered."""

from __future__ import annotations

from datetime import timedelta

import pytest

from curation.models import Job
from curation.services.jobs import job_create, job_dispatch, jobs_sweep_stale
from tests.conftest import WorkerProcess, wait_for


def test_worker_runs_job_and_updates_progress(celery_worker: WorkerProcess) -> None:
    job = job_create(kind="test_sleep", params={"n": 12, "chunk": 4, "sleep": 0.01})
    job_dispatch(job=job)
    wait_for(
        lambda: Job.objects.get(pk=job.pk).is_finished,
        timeout=60,
        what=f"job\n{celery_worker.output()}",
    )
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, celery_worker.output()
    assert (job.done, job.total) == (12, 12)
    assert job.started_at and job.finished_at and job.heartbeat_at


@pytest.mark.slow
def test_killed_worker_job_is_recovered_without_double_counting(live_db) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import purge_queues

    purge_queues()
    job = job_create(kind="test_sleep", params={"n": 40, "chunk": 10, "sleep": 0.1})
    worker = WorkerProcess().start()
    try:
        job_dispatch(job=job)
        wait_for(lambda: Job.objects.get(pk=job.pk).done >= 5, timeout=60, what="progress")
        worker.kill()
    finally:
        worker.stop()
    job.refresh_from_db()
    assert job.status == Job.Status.RUNNING and job.done < 40

    result = jobs_sweep_stale(stale_after=timedelta(seconds=0))
    assert result["requeued"] == 1, (result, Job.objects.filter(pk=job.pk).values()[0])
    worker = WorkerProcess().start()
    try:
        wait_for(lambda: Job.objects.get(pk=job.pk).is_finished, timeout=90, what="recovery")
    finally:
        worker.stop()
        purge_queues()
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED
    assert (job.done, job.total) == (40, 40)
    assert job.attempts == 2

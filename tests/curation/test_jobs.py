"""The job machinery in-process: chunks, progress, idempotent re-runs, stale sweeps, cancel."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from curation.models import Job, JobChunk
from curation.services.jobs import (
    followers_inline,
    job_cancel,
    job_create,
    job_run_chunk,
    job_run_inline,
    job_start,
    jobs_sweep_stale,
)

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


def test_inline_job_counts_every_item_once() -> None:
    job = job_run_inline(job=job_create(kind="test_sleep", params={"n": 23, "chunk": 5}))
    assert job.status == Job.Status.SUCCEEDED
    assert (job.done, job.total) == (23, 23)
    assert job.chunks.count() == 5
    assert job.result["counted"] == 23
    assert job.rate is not None and job.eta_seconds is None


def test_rerunning_a_chunk_does_not_double_count() -> None:
    job = job_create(kind="test_sleep", params={"n": 10, "chunk": 5})
    first, second = job_start(job.pk, enqueue=None)
    job_run_chunk(first)
    JobChunk.objects.filter(pk=first).update(
        status=JobChunk.Status.RUNNING
    )  # as if its worker died
    job_run_chunk(first)
    job_run_chunk(second)
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED and job.done == 10


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown job kind"):
        job_create(kind="nope")


def test_sweeper_requeues_stale_running_job(
    django_capture_on_commit_callbacks, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    dispatched: list[int] = []
    monkeypatch.setattr(
        "curation.services.jobs.job_dispatch", lambda *, job: dispatched.append(job.pk)
    )
    job = job_create(kind="test_sleep", params={"n": 10, "chunk": 5})
    chunks = job_start(job.pk, enqueue=None)
    JobChunk.objects.filter(pk=chunks[0]).update(status=JobChunk.Status.RUNNING)
    Job.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=10))
    assert jobs_sweep_stale(stale_after=timedelta(minutes=2)) == {"requeued": 1, "failed": 0}
    job.refresh_from_db()
    assert job.status == Job.Status.QUEUED and "re-queued" in job.message
    assert dispatched == [job.pk]
    assert not job.chunks.filter(status=JobChunk.Status.RUNNING).exists()
    # The re-dispatched job completes, counting each item once.
    for chunk_id in job_start(job.pk, enqueue=None):
        job_run_chunk(chunk_id)
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED and job.done == 10 and job.attempts == 2


def test_sweeper_fails_job_after_max_attempts(settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr("curation.services.jobs.job_dispatch", lambda *, job: None)
    settings.JOB_MAX_ATTEMPTS = 2
    job = job_create(kind="test_sleep")
    Job.objects.filter(pk=job.pk).update(
        status=Job.Status.RUNNING, attempts=2, heartbeat_at=timezone.now() - timedelta(hours=1)
    )
    assert jobs_sweep_stale(stale_after=timedelta(minutes=2)) == {"requeued": 0, "failed": 1}
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED and "worker lost" in job.error


def test_sweeper_leaves_fresh_jobs_alone(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr("curation.services.jobs.job_dispatch", lambda *, job: None)
    job = job_create(kind="test_sleep")
    job_start(job.pk, enqueue=None)
    assert jobs_sweep_stale(stale_after=timedelta(minutes=2)) == {"requeued": 0, "failed": 0}


def test_cancelled_job_stops_and_stays_cancelled() -> None:
    job = job_create(kind="test_sleep", params={"n": 10, "chunk": 5})
    first, second = job_start(job.pk, enqueue=None)
    job_run_chunk(first)
    job_cancel(job=job)
    job_run_chunk(second)
    job.refresh_from_db()
    assert job.status == Job.Status.CANCELLED and job.done == 5


def test_job_api_reports_progress(curator_api) -> None:  # type: ignore[no-untyped-def]
    job = job_run_inline(job=job_create(kind="test_sleep", params={"n": 4, "chunk": 2}))
    body = curator_api.get(f"/api/v1/jobs/{job.pk}/").json()
    assert body["status"] == "succeeded" and body["done"] == 4 and body["total"] == 4
    assert body["fraction"] == 1.0 and body["rate"] > 0
    assert curator_api.get("/api/v1/jobs/?kind=test_sleep").json()["count"] == 1


def test_job_page_shows_progress_bar(curator) -> None:  # type: ignore[no-untyped-def]
    from django.test import Client

    job = job_run_inline(job=job_create(kind="test_sleep", params={"n": 4, "chunk": 2}))
    client = Client()
    client.force_login(curator)
    html = client.get(f"/curate/jobs/{job.pk}/").content.decode()
    assert 'class="job-progress"' in html and f'data-job-id="{job.pk}"' in html
    assert 'role="progressbar"' in html and 'aria-valuenow="100"' in html


def test_inline_run_runs_its_followers_inline_without_the_broker(
    django_capture_on_commit_callbacks,
) -> None:  # type: ignore[no-untyped-def]
    parent = job_create(kind="test_sleep", params={"n": 4, "chunk": 2})
    follower = job_create(kind="test_sleep", params={"n": 3, "chunk": 3}, parent=parent)
    second = job_create(kind="test_sleep", params={"n": 2, "chunk": 2}, parent=follower)
    with django_capture_on_commit_callbacks(execute=False) as callbacks, followers_inline():
        job_run_inline(job=parent)
    assert callbacks == []  # nothing went to the broker
    for job, n in ((parent, 4), (follower, 3), (second, 2)):
        job.refresh_from_db()
        assert (job.status, job.done) == (Job.Status.SUCCEEDED, n)


def test_job_page_shows_the_result_as_rows() -> None:
    from curation.views.jobs import result_rows

    result = {"groups": 12345, "gpu": False, "model": "lite0", "share": 0.123456, "none": None}
    rows = result_rows({**result, "failures": [[1, "cannot decode <img>"]]})
    assert rows[:5] == [
        ("groups", "12,345", False),
        ("gpu", "no", False),
        ("model", "lite0", False),
        ("share", "0.1235", False),
        ("none", "—", False),
    ]
    key, shown, structured = rows[5]
    assert key == "failures" and structured and '"cannot decode <img>"' in shown
    assert result_rows({}) == []


def test_job_page_escapes_its_result(curator) -> None:  # type: ignore[no-untyped-def]
    from django.test import Client

    job = job_run_inline(job=job_create(kind="test_sleep", params={"n": 2, "chunk": 2}))
    Job.objects.filter(pk=job.pk).update(result={"error": "<script>x</script>", "n": 1000})
    client = Client()
    client.force_login(curator)
    html = client.get(f"/curate/jobs/{job.pk}/").content.decode()
    assert "<dt>n</dt><dd>1,000</dd>" in html
    assert "<script>x</script>" not in html and "&lt;script&gt;x&lt;/script&gt;" in html


@pytest.mark.parametrize("broken", [False, True])
def test_a_finished_jobs_message_is_its_handlers_summary(monkeypatch, broken: bool) -> None:  # type: ignore[no-untyped-def]
    from curation.services.jobs import SleepHandler

    def summary(self, result):  # type: ignore[no-untyped-def]
        if broken:
            raise ValueError("no figures")
        return f"counted {result['counted']}"

    monkeypatch.setattr(SleepHandler, "summary", summary, raising=False)
    job = job_run_inline(job=job_create(kind="test_sleep", params={"n": 4, "chunk": 2}))
    assert job.status == Job.Status.SUCCEEDED  # a failing summary does not fail the job
    assert job.message == ("" if broken else "counted 4")

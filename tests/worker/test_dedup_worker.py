"""Dedup on real Celery workers: an ingest chains a dedup job that finds the planted duplicates;
a worker SIGKILLed mid-dedup is replaced and the job completes with exactly the rows a clean run
makes."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from curation.models import DuplicateEdge, DuplicateGroup, DuplicateMember, Job, JobChunk
from curation.services.dedup import dedup_start
from curation.services.ingest import ingest_start
from curation.services.jobs import jobs_sweep_stale
from tests.conftest import WorkerProcess, purge_queues, wait_for
from tests.worker.test_dedup import build_set, clean_data_root, image_of
from worker.dedup import store


def planted_groups(copies: dict) -> set[frozenset[int]]:
    return {
        frozenset({image_of(o), *(image_of(p) for p in made.values())})
        for o, made in copies.items()
    }


def current_groups() -> set[frozenset[int]]:
    return {
        frozenset(g.members.values_list("image_id", flat=True))
        for g in DuplicateGroup.objects.all()
    }


def test_ingest_chains_prelabel_and_dedup_on_a_worker(
    celery_worker: WorkerProcess, tmp_path: Path, settings
) -> None:  # type: ignore[no-untyped-def]
    settings.PIPELINE_FOLLOWERS = True
    clean_data_root()
    _, copies = build_set(tmp_path / "src", n_originals=8, planted=2)
    ingest = ingest_start(source=tmp_path / "src", source_name="chained")
    prelabel = ingest.followers.get(kind="prelabel")  # ingest -> prelabel -> dedup
    dedup = prelabel.followers.get(kind="dedup")
    assert (prelabel.queue, dedup.queue) == ("gpu", "cpu")
    wait_for(lambda: Job.objects.get(pk=dedup.pk).is_finished, 300, what=celery_worker.output())
    prelabel.refresh_from_db()
    dedup.refresh_from_db()
    assert prelabel.status == Job.Status.SUCCEEDED, (prelabel.error, celery_worker.output())
    assert dedup.status == Job.Status.SUCCEEDED, (dedup.error, celery_worker.output())
    assert dedup.done == dedup.total > 0
    found = current_groups()
    # Every planted group is found whole (embeddings may also link other look-alike drawings).
    for planted in planted_groups(copies):
        assert any(planted <= group for group in found), (planted, found)
    assert (store.index_dir("phash") / "index.faiss").exists()  # persisted for the next run
    clean_data_root()


@pytest.mark.slow
def test_killed_worker_mid_dedup_completes_with_no_duplicate_rows(
    live_db, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    clean_data_root()
    monkeypatch.setenv("DEDUP_CHUNK_SIZE", "2")  # read by the worker processes
    monkeypatch.setenv("DEDUP_THROTTLE_S", "0.4")
    _, copies = build_set(tmp_path / "src", n_originals=12, planted=3)
    ingest_start(source=tmp_path / "src", source_name="kill", inline=True)
    Job.objects.filter(kind="dedup").delete()  # the follower: this test starts its own
    purge_queues()
    worker = WorkerProcess().start()
    try:
        job = dedup_start()
        wait_for(lambda: Job.objects.get(pk=job.pk).done >= 6, 120, what=worker.output())
        worker.kill()
    finally:
        worker.stop()
    job.refresh_from_db()
    assert job.status == Job.Status.RUNNING and job.done < job.total
    assert job.chunks.filter(status=JobChunk.Status.DONE).count() < job.chunks.count()

    assert jobs_sweep_stale(stale_after=timedelta(seconds=0))["requeued"] == 1
    worker = WorkerProcess().start()
    try:
        wait_for(lambda: Job.objects.get(pk=job.pk).is_finished, 180, what=worker.output())
    finally:
        worker.stop()
        purge_queues()
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.done == job.total and job.attempts == 2
    assert current_groups() == planted_groups(copies)
    edges = set(DuplicateEdge.objects.values_list("image_a", "image_b", "kind"))
    members = set(DuplicateMember.objects.values_list("image_id", "group_id", "kind"))

    # A clean run from scratch makes exactly the same rows: nothing doubled, nothing lost.
    DuplicateGroup.objects.all().delete()
    DuplicateEdge.objects.all().delete()
    clean_data_root()
    monkeypatch.setenv("DEDUP_THROTTLE_S", "0")
    again = dedup_start(inline=True)
    assert again.status == Job.Status.SUCCEEDED
    assert set(DuplicateEdge.objects.values_list("image_a", "image_b", "kind")) == edges
    assert len(members) == DuplicateMember.objects.count()
    assert current_groups() == planted_groups(copies)
    clean_data_root()

"""Ingest on real Celery workers: chunks on the cpu queue; a worker SIGKILLed mid-job is replaced
and the job finishes with no duplicate and no lost item."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest
from django.core.files.storage import default_storage

from curation.models import Candidate, Image, ImageOrigin, IngestItem, Job, JobChunk
from curation.services.ingest import ingest_start
from curation.services.jobs import jobs_sweep_stale
from tests.conftest import WorkerProcess, purge_queues, wait_for
from tests.ingest.conftest import CAT, DOG, SERVER_HOST, Routes, jpeg, write


def test_ingest_runs_as_chunks_on_a_worker(celery_worker: WorkerProcess, tmp_path: Path) -> None:
    root = tmp_path / "src"
    for i in range(8):
        write(root / DOG / f"{i}.jpg", jpeg(500 + i))
    write(root / DOG / "bad.jpg", b"<html>nope</html>")
    job = ingest_start(source=root, source_name="worker")
    assert job.queue == "cpu"
    wait_for(lambda: Job.objects.get(pk=job.pk).is_finished, 90, what=celery_worker.output())
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, (job.error, celery_worker.output())
    assert (job.done, job.total, job.errors) == (9, 9, 1)
    assert job.result["summary"]["new_images"] == 8
    for image in Image.objects.all():
        assert default_storage.exists(image.storage_key) and default_storage.exists(image.thumb_key)


@pytest.fixture
def slow_server() -> Iterator[str]:
    server = ThreadingHTTPServer((SERVER_HOST, 0), Routes)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Routes.hits = {}
    try:
        yield f"http://{SERVER_HOST}:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.slow
def test_killed_worker_mid_ingest_finishes_exactly_once(
    live_db, slow_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    # The worker processes read these from the environment (config.settings.base).
    monkeypatch.setenv("INGEST_URL_ALLOW_NETWORKS", f"{SERVER_HOST}/32")
    monkeypatch.setenv("INGEST_URL_CHUNK_SIZE", "10")
    monkeypatch.setenv("INGEST_URL_PER_HOST", "2")
    lines = [f"{DOG}\t{slow_server}/slow/{i}.jpg" for i in range(100)]
    lines += [f"{CAT}\t{slow_server}/slow/{i}.jpg" for i in range(10)]  # same images, 2nd synset
    lines += [f"{DOG}\t{slow_server}/status/404?{i}" for i in range(10)]
    source = write(tmp_path / "urls.txt", ("\n".join(lines) + "\n").encode())
    purge_queues()
    worker = WorkerProcess().start()
    try:
        job = ingest_start(source=source, source_name="resume")
        wait_for(lambda: Job.objects.get(pk=job.pk).done >= 35, 120, what=worker.output())
        worker.kill()
    finally:
        worker.stop()
    job.refresh_from_db()
    assert job.status == Job.Status.RUNNING and job.done < job.total == len(lines)
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
    assert (job.done, job.total, job.errors) == (len(lines), len(lines), 10)
    assert job.attempts == 2
    assert not IngestItem.objects.filter(job=job, status="pending").exists()
    # Exactly once: every image, candidacy and origin, and the credit for creating them.
    assert Image.objects.count() == 100
    assert Candidate.objects.filter(synset__wnid=DOG).count() == 100
    assert Candidate.objects.filter(synset__wnid=CAT).count() == 10
    assert ImageOrigin.objects.count() == 100  # one URL per image, whatever the synset
    summary = job.result["summary"]
    assert (summary["new_images"], summary["new_candidates"], summary["errors"]) == (100, 110, 10)
    assert summary["already_known"] == 0
    for image in Image.objects.all():
        with default_storage.open(image.storage_key) as f:
            assert len(f.read()) == image.bytes  # no partial file left behind by the kill

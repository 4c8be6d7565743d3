"""A failed or killed export leaves no version directory: disk full on a 64 KiB tmpfs, and a real
Celery worker SIGKILLed mid-export (the re-queued job completes with byte-identical manifests)."""

from __future__ import annotations

import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings

from curation.models import Job
from curation.services.exports import export_create, export_verify
from curation.services.exports.writer import exports_root
from curation.services.jobs import jobs_sweep_stale
from tests.conftest import WorkerProcess, child_env, purge_queues, wait_for
from tests.exports.conftest import BIRD, CAT, DOG, Planted, build_fixture

CONFIG = {"synsets": [DOG, CAT, BIRD], "val_per_class": 3, "formats": ["imagefolder", "webdataset"]}


@pytest.fixture
def tiny_export_root(settings, tmp_path: Path):  # type: ignore[no-untyped-def]
    root = tmp_path / "data" / "exports"
    root.mkdir(parents=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(root)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.strip()}")
    try:
        yield root
    finally:
        subprocess.run(["umount", str(root)], check=False)


@pytest.mark.django_db
def test_disk_full_fails_clearly_and_corrupts_nothing(
    planted: Planted, tiny_export_root: Path
) -> None:
    small = export_create(
        name="small",
        config={"synsets": [CAT], "val_per_class": 1, "formats": ["jsonl"]},
        seed=0,
        inline=True,
    )
    assert small.status == "ready", small.error
    before = {p: p.read_bytes() for p in Path(small.path).rglob("*") if p.is_file()}
    big = export_create(
        name="big", config={**CONFIG, "imagefolder_mode": "copy"}, seed=0, inline=True
    )
    assert big.status == "failed"
    assert big.error.startswith("disk full while writing the export"), big.error
    assert Job.objects.get(pk=big.job_id).status == "failed"
    assert sorted(p.name for p in tiny_export_root.iterdir()) == ["small"]  # no big, no .tmp-*
    assert {p: p.read_bytes() for p in Path(small.path).rglob("*") if p.is_file()} == before
    assert export_verify(version=small)["ok"]


class SlowWorker(WorkerProcess):
    """A real worker whose export writes one image per 0.15 s, so it can be killed mid-way."""

    def start(self) -> WorkerProcess:
        import tests.conftest as c

        original = c.child_env
        c.child_env = lambda **extra: original(EXPORT_WRITE_DELAY_S="0.15", **extra)
        try:
            return super().start()
        finally:
            c.child_env = original


@pytest.mark.slow
def test_sigkilled_worker_mid_export_leaves_no_partial_version_and_the_job_completes(
    live_db, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    assert child_env()  # the workers see this session's database
    build_fixture(tmp_path / "src")
    root = exports_root()
    for name in ("killed", "reference"):
        shutil.rmtree(root / name, ignore_errors=True)
    purge_queues()
    worker = SlowWorker().start()
    try:
        version = export_create(name="killed", config=CONFIG, seed=9)
        job = Job.objects.get(pk=version.job_id)

        def writing() -> bool:
            job.refresh_from_db()
            return job.done >= 5

        wait_for(writing, timeout=120, what="the export to be writing images")
        assert any(p.name.startswith(".tmp-killed-") for p in root.iterdir())
        worker.kill()
        assert not (root / "killed").exists()
        version.refresh_from_db()
        assert version.status == "running"
    finally:
        worker.kill()
    worker = WorkerProcess().start()
    try:
        assert jobs_sweep_stale(stale_after=timedelta(0))["requeued"] == 1

        def finished() -> bool:
            job.refresh_from_db()
            return job.is_finished

        wait_for(finished, timeout=180, what="the re-queued export to finish")
        version.refresh_from_db()
        assert job.status == "succeeded", (job.error, worker.output()[-3000:])
        assert version.status == "ready"
        assert not [p for p in root.iterdir() if p.name.startswith(".tmp-")]
        assert export_verify(version=version)["ok"]
        reference = export_create(name="reference", config=CONFIG, seed=9, inline=True)
        assert (Path(version.path) / "manifest.jsonl").read_bytes() == (
            Path(reference.path) / "manifest.jsonl"
        ).read_bytes()
        assert job.attempts == 2
    finally:
        worker.stop()
        purge_queues()
        for name in ("killed", "reference"):
            shutil.rmtree(root / name, ignore_errors=True)
        assert settings.DATA_ROOT

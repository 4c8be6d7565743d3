"""Training runs on a real Celery worker (gpu queue): metrics stream into the database, register,
cancel, failure with the log tail, and recovery from a SIGKILLed worker by resuming."""

from __future__ import annotations

import os
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.test import Client
from rest_framework.test import APIClient

from curation.models import Job, ModelArtifact, TrainingRun
from curation.services.jobs import jobs_sweep_stale
from curation.services.training import artifact_weights_path
from tests.conftest import WorkerProcess, make_user, purge_queues, wait_for
from tests.training.app_helpers import FAST_CONFIG, make_version


def api_for(user: User) -> APIClient:
    api = APIClient()
    api.force_authenticate(user)
    return api


def run_of(pk: int) -> TrainingRun:
    return TrainingRun.objects.select_related("job").get(pk=pk)


def test_run_streams_metrics_then_registers_as_a_prelabel_model(
    celery_worker: WorkerProcess,
) -> None:
    curator = make_user("cora", "curator")
    version = make_version()
    api = api_for(curator)
    r = api.post(
        "/api/v1/training-runs/",
        {"dataset_version": version.name, "arch": "resnet18", "epochs": 2, "config": FAST_CONFIG},
        format="json",
    )
    assert r.status_code == 201, r.content
    pk = r.json()["id"]
    assert r.json()["job"]["queue"] == "gpu"
    wait_for(
        lambda: run_of(pk).status in ("succeeded", "failed"), timeout=300,
        what=f"training run\n{celery_worker.output()[-3000:]}",
    )  # fmt: skip
    run = run_of(pk)
    assert run.status == "succeeded", (run.log_tail, celery_worker.output()[-3000:])
    assert [h["epoch"] for h in run.history] == [1, 2]
    assert run.job.status == Job.Status.SUCCEEDED and (run.job.done, run.job.total) == (2, 2)
    assert run.job.result["run_id"] == pk
    assert "epoch 2/2" in run.job.message
    detail = api.get(f"/api/v1/training-runs/{pk}/").json()
    assert len(detail["history"]) == 2 and detail["metrics"]["top5"] == detail["top5"]
    assert {"per_class", "confusion_matrix", "worst_confused", "misclassified"} <= set(
        detail["metrics"]
    )

    client = Client()
    client.force_login(curator)
    page = client.get(f"/curate/runs/{pk}/").content.decode()
    assert page.count("<svg") >= 4  # loss, accuracy, per-class bars, heatmap
    assert "Register as pre-label model" in page
    for example in run.metrics["misclassified"][:2]:
        img = client.get(f"/curate/runs/{pk}/examples/{example['sha256']}")
        assert img.status_code == 200 and img["Content-Type"] == "image/png"
    assert client.get(f"/curate/runs/{pk}/examples/{'0' * 64}").status_code == 404

    r = api.post(f"/api/v1/training-runs/{pk}/register/", {"name": "sample-r18"}, format="json")
    assert r.status_code == 201 and r.json()["model_artifact"] == "sample-r18"
    artifact = ModelArtifact.objects.get(name="sample-r18")
    assert artifact.kind == "trained" and artifact.classes == run.metrics["classes"]

    import torch

    from training.models import load_for_inference

    model, classes, prep = load_for_inference(str(artifact_weights_path(artifact)))
    assert classes == artifact.classes and prep.input_size == artifact.input_size
    assert model(torch.zeros(1, 3, 64, 64)).softmax(1).shape == (1, len(classes))
    r = api.post(f"/api/v1/training-runs/{pk}/register/", {"name": "again"}, format="json")
    assert r.status_code == 400 and "already registered" in r.json()["detail"]


def test_cancel_terminates_the_training_process(celery_worker: WorkerProcess) -> None:
    version = make_version()
    api = api_for(make_user("cora", "curator"))
    r = api.post(
        "/api/v1/training-runs/",
        {"dataset_version": version.name, "epochs": 500, "config": FAST_CONFIG},
        format="json",
    )
    pk = r.json()["id"]
    wait_for(lambda: len(run_of(pk).history) >= 1, timeout=300, what="first epoch")
    pid_file = Path(run_of(pk).out_dir) / "train.pid"
    pid = int(pid_file.read_text().split()[0])
    r = api.post(f"/api/v1/training-runs/{pk}/cancel/")
    assert r.status_code == 200
    wait_for(lambda: run_of(pk).status == "cancelled", timeout=60, what="cancelled")
    run = run_of(pk)
    assert run.job.status == Job.Status.CANCELLED and run.cancel_requested
    assert len(run.history) < 500
    wait_for(lambda: not Path(f"/proc/{pid}").exists(), timeout=30, what="training process gone")
    assert not pid_file.exists()


def test_failure_shows_the_log_tail(celery_worker: WorkerProcess) -> None:
    curator = make_user("cora", "curator")
    version = make_version()
    shutil.rmtree(Path(version.path) / "imagefolder" / "val")  # the export loses its val split
    for tar in (Path(version.path) / "webdataset").glob("val-*"):
        tar.unlink()
    r = api_for(curator).post(
        "/api/v1/training-runs/", {"dataset_version": version.name, "epochs": 1}, format="json"
    )
    pk = r.json()["id"]
    wait_for(lambda: run_of(pk).status in ("failed", "succeeded"), timeout=300, what="failure")
    run = run_of(pk)
    assert run.status == "failed"
    assert "training: error: split 'val' is missing" in run.log_tail
    assert run.job.status == Job.Status.FAILED and "exited with code 5" in run.job.error
    client = Client()
    client.force_login(curator)
    page = client.get(f"/curate/runs/{pk}/").content.decode()
    assert "Log tail" in page and "split &#x27;val&#x27; is missing" in page


@pytest.mark.slow
def test_sigkilled_worker_run_resumes_from_its_checkpoint(live_db) -> None:  # type: ignore[no-untyped-def]
    purge_queues()
    version = make_version()
    api = api_for(make_user("cora", "curator"))
    r = api.post(
        "/api/v1/training-runs/",
        {"dataset_version": version.name, "epochs": 4, "config": FAST_CONFIG},
        format="json",
    )
    pk = r.json()["id"]
    worker = WorkerProcess().start()
    try:
        wait_for(lambda: len(run_of(pk).history) >= 1, timeout=300, what="first epoch")
        pid = int((Path(run_of(pk).out_dir) / "train.pid").read_text().split()[0])
        worker.kill()
    finally:
        worker.stop()
    # PR_SET_PDEATHSIG: the training process dies with the worker.
    wait_for(lambda: not Path(f"/proc/{pid}").exists(), timeout=30, what="orphan to die")
    run = run_of(pk)
    assert run.status == "running" and run.job.status == Job.Status.RUNNING
    assert jobs_sweep_stale(stale_after=timedelta(seconds=0))["requeued"] == 1
    worker = WorkerProcess().start()
    try:
        wait_for(
            lambda: run_of(pk).status in ("succeeded", "failed"), timeout=300,
            what=f"recovery\n{worker.output()[-2000:]}",
        )  # fmt: skip
    finally:
        worker.stop()
        purge_queues()
    run = run_of(pk)
    assert run.status == "succeeded", run.log_tail
    assert [h["epoch"] for h in run.history] == [1, 2, 3, 4]
    assert "resumed from" in (Path(run.out_dir) / "train.log").read_text()
    assert run.job.attempts == 2 and (run.job.done, run.job.total) == (4, 4)
    assert os.path.exists(Path(run.out_dir) / "metrics.json")

"""Training runs in the app: service rules, API and pages (in-process), the train command."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from curation.models import DatasetVersion, Job, ModelArtifact, TrainingRun
from curation.services.training import (
    TRAINING_ARCHS,
    TrainingRunError,
    artifact_weights_path,
    training_run_cancel,
    training_run_register,
    training_run_start,
)
from tests.training.app_helpers import FAST_CONFIG, make_version

pytestmark = pytest.mark.django_db


def test_arch_list_mirrors_the_training_module() -> None:
    from training.models import ARCHITECTURES

    assert TRAINING_ARCHS == ARCHITECTURES


def test_start_creates_a_queued_run_and_a_gpu_train_job(curator) -> None:  # type: ignore[no-untyped-def]
    version = make_version()
    run = training_run_start(
        dataset_version=version, arch="resnet18", epochs=3, config=FAST_CONFIG,
        created_by=curator, dispatch=False,
    )  # fmt: skip
    assert run.status == TrainingRun.Status.QUEUED and f"/runs/{run.pk}-" in run.out_dir
    assert (run.job.kind, run.job.queue, run.job.total) == ("train", "gpu", 3)
    assert run.job.params == {"run_id": run.pk, "epochs": 3}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"arch": "vgg16"}, "unknown architecture"),
        ({"epochs": 0}, "epochs must be"),
        ({"epochs": True}, "epochs must be"),
        ({"epochs": 10_000}, "epochs must be"),
        ({"config": {"batch_size": -1}}, "between"),
        ({"config": {"batch_size": "many"}}, "must be a number"),
        ({"config": {"lr": None}}, "must be a number"),
        ({"config": {"format": "tfrecord"}}, "must be one of"),
        ({"config": {"rm -rf": 1}}, "unknown config option"),
        ({"config": ["not", "a", "dict"]}, "config must be an object"),
    ],
)
def test_start_refuses_bad_input(kwargs: dict, message: str) -> None:
    version = make_version()
    with pytest.raises(TrainingRunError, match=message):
        training_run_start(dataset_version=version, **{"epochs": 1, **kwargs}, dispatch=False)
    assert not TrainingRun.objects.exists() and not Job.objects.exists()


def test_start_refuses_a_version_not_ready_or_without_files() -> None:
    pending = DatasetVersion.objects.create(name="pending", status=DatasetVersion.Status.RUNNING)
    with pytest.raises(TrainingRunError, match="not ready"):
        training_run_start(dataset_version=pending, epochs=1)
    gone = DatasetVersion.objects.create(
        name="gone", status=DatasetVersion.Status.READY, path="/nonexistent/export"
    )
    with pytest.raises(TrainingRunError, match="no export directory"):
        training_run_start(dataset_version=gone, epochs=1)


def test_cancel_of_a_queued_run_is_immediate(curator) -> None:  # type: ignore[no-untyped-def]
    run = training_run_start(dataset_version=make_version(), epochs=1, dispatch=False)
    run = training_run_cancel(run=run, actor=curator)
    assert run.status == TrainingRun.Status.CANCELLED and run.cancel_requested
    assert Job.objects.get(pk=run.job_id).status == Job.Status.CANCELLED


def test_a_run_whose_job_the_sweeper_failed_reads_failed(curator_api) -> None:  # type: ignore[no-untyped-def]
    from curation.services.jobs import job_fail

    run = training_run_start(dataset_version=make_version(), epochs=1, dispatch=False)
    TrainingRun.objects.filter(pk=run.pk).update(status=TrainingRun.Status.RUNNING)
    job_fail(job_id=run.job_id, error="worker lost: no heartbeat for 120 s after 3 attempts")
    body = curator_api.get(f"/api/v1/training-runs/{run.pk}/").json()
    assert body["status"] == "failed" and "worker lost" in body["log_tail"]
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.FAILED and run.finished_at


def test_register_refuses_unfinished_runs_and_bad_names(curator) -> None:  # type: ignore[no-untyped-def]
    run = training_run_start(dataset_version=make_version(), epochs=1, dispatch=False)
    with pytest.raises(TrainingRunError, match="only a succeeded run"):
        training_run_register(run=run, name="m1", actor=curator)
    TrainingRun.objects.filter(pk=run.pk).update(status=TrainingRun.Status.SUCCEEDED)
    with pytest.raises(TrainingRunError, match="slug"):
        training_run_register(run=run, name="../etc/passwd", actor=curator)
    with pytest.raises(TrainingRunError, match="no checkpoint"):
        training_run_register(run=run, name="m1", actor=curator)
    assert not ModelArtifact.objects.filter(kind=ModelArtifact.Kind.TRAINED).exists()


def test_api_and_pages_are_for_curators_only(annotator_api, client, annotator) -> None:  # type: ignore[no-untyped-def]
    run = training_run_start(dataset_version=make_version(), epochs=1, dispatch=False)
    assert annotator_api.get("/api/v1/training-runs/").status_code == 403
    assert annotator_api.post("/api/v1/training-runs/", {}).status_code == 403
    assert annotator_api.post(f"/api/v1/training-runs/{run.pk}/cancel/").status_code == 403
    assert annotator_api.post(f"/api/v1/training-runs/{run.pk}/register/").status_code == 403
    client.force_login(annotator)
    for url in ("/curate/runs/", f"/curate/runs/{run.pk}/", f"/curate/runs/{run.pk}/live/"):
        assert client.get(url).status_code == 403
    assert client.post(f"/curate/runs/{run.pk}/cancel/").status_code == 403
    assert client.post("/curate/exports/sample-v1/train/").status_code == 403
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.QUEUED


def test_api_rejects_hostile_requests(curator_api) -> None:  # type: ignore[no-untyped-def]
    make_version()
    bad = [
        {"dataset_version": "nope", "arch": "resnet18", "epochs": 1},
        {"dataset_version": "sample-v1", "arch": "alexnet", "epochs": 1},
        {"dataset_version": "sample-v1", "epochs": -3},
        {"dataset_version": "sample-v1", "epochs": 1, "config": {"image_size": 10**9}},
        {"dataset_version": "sample-v1", "epochs": 1, "config": {"evil": "x"}},
    ]
    for body in bad:
        r = curator_api.post("/api/v1/training-runs/", body, format="json")
        assert r.status_code == 400, (body, r.content)
    assert not TrainingRun.objects.exists()
    assert curator_api.get("/api/v1/training-runs/999/").status_code == 404
    r = curator_api.post("/api/v1/training-runs/999/register/", {"name": "x"}, format="json")
    assert r.status_code == 404


def test_export_train_view_starts_a_run_and_redirects(client, curator) -> None:  # type: ignore[no-untyped-def]
    make_version()
    client.force_login(curator)
    r = client.post("/curate/exports/sample-v1/train/", {"arch": "resnet18", "epochs": "2"})
    run = TrainingRun.objects.get()
    assert r.status_code == 302 and r["Location"] == f"/curate/runs/{run.pk}/"
    assert run.epochs == 2 and run.job.queue == "gpu"
    page = client.get(r["Location"])
    assert page.status_code == 200 and b"waiting for the first epoch" in page.content
    assert client.post("/curate/exports/nope/train/").status_code == 404
    client.post("/curate/exports/sample-v1/train/", {"arch": "bogus"})
    assert TrainingRun.objects.count() == 1


def test_train_command_inline_then_register(curator, capsys) -> None:  # type: ignore[no-untyped-def]
    make_version(classes=3, per_class=6, val_per_class=2)
    call_command(
        "train", "--export", "sample-v1", "--epochs", "1", "--inline", "--batch-size", "8",
        "--workers", "0", "--image-size", "32",
    )  # fmt: skip
    out = capsys.readouterr().out
    assert "epoch 1/1" in out and "succeeded: top-1" in out
    run = TrainingRun.objects.get()
    assert run.status == TrainingRun.Status.SUCCEEDED and len(run.history) == 1
    assert run.job.status == Job.Status.SUCCEEDED and (run.job.done, run.job.total) == (1, 1)
    assert {"top1", "top5", "per_class", "confusion_matrix"} <= set(run.metrics)

    artifact = training_run_register(run=run, name="sample-r18", actor=curator)
    assert artifact.kind == ModelArtifact.Kind.TRAINED and artifact.architecture == "resnet18"
    assert artifact.classes == run.metrics["classes"] and len(artifact.classes) == 3
    assert artifact.provenance["training_run"] == run.pk
    assert artifact.provenance["dataset_version"] == "sample-v1"
    assert artifact.embedding_dim == 512 and not artifact.active

    import torch

    from training.models import load_for_inference

    model, classes, _prep = load_for_inference(str(artifact_weights_path(artifact)))
    assert classes == artifact.classes
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 3)
    with pytest.raises(TrainingRunError, match="already registered"):
        training_run_register(run=run, name="again", actor=curator)

    with pytest.raises(CommandError, match="no export named"):
        call_command("train", "--export", "missing")

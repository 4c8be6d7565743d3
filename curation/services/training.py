"""Training runs: start (a `train` Job on the gpu queue), cancel, register as a ModelArtifact.

Web code: no torch here. The worker's handler (worker/training_handler.py) runs `python -m training`
as a subprocess and streams RUN_DIR/metrics.jsonl into TrainingRun.history.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from curation.models import DatasetVersion, Job, ModelArtifact, TrainingRun
from curation.services.audit import audit_record
from curation.services.jobs import job_cancel, job_create, job_dispatch_on_commit

# Mirrors training.models.ARCHITECTURES (that module imports torch; a test keeps them equal).
TRAINING_ARCHS = ("resnet18", "resnet50", "efficientnet_lite0")
MAX_EPOCHS = 1000
# Options a run's config may carry, with their types and bounds: they become CLI flags.
CONFIG_OPTIONS: dict[str, tuple[type, float, float]] = {
    "batch_size": (int, 1, 4096),
    "lr": (float, 0.0, 10.0),
    "workers": (int, 0, 64),
    "seed": (int, 0, 2**31 - 1),
    "image_size": (int, 16, 1024),
    "gpus": (int, 0, 64),
}
CONFIG_CHOICES = {
    "format": ("auto", "imagefolder", "webdataset"),
    "amp": ("auto", "off", "bf16", "fp16"),
    "device": ("auto", "cpu", "cuda"),
}


class TrainingRunError(ValueError):
    """A request the service refuses, with a message for the user."""


def runs_root() -> Path:
    return Path(settings.DATA_ROOT) / "runs"


def clean_config(config: dict[str, Any] | None) -> dict[str, Any]:
    if config is None:
        return {}
    if not isinstance(config, dict):
        raise TrainingRunError("config must be an object")
    out: dict[str, Any] = {}
    for key, value in config.items():
        if key in CONFIG_OPTIONS:
            typ, lo, hi = CONFIG_OPTIONS[key]
            if isinstance(value, bool) or value is None:
                raise TrainingRunError(f"config.{key} must be a number")
            try:
                num = typ(value)
            except (TypeError, ValueError):
                raise TrainingRunError(f"config.{key} must be a number") from None
            if typ is int and num != value and str(num) != str(value):
                raise TrainingRunError(f"config.{key} must be a whole number")
            if not lo <= num <= hi:
                raise TrainingRunError(f"config.{key} must be between {lo} and {hi}")
            out[key] = num
        elif key in CONFIG_CHOICES:
            if value not in CONFIG_CHOICES[key]:
                raise TrainingRunError(
                    f"config.{key} must be one of {', '.join(CONFIG_CHOICES[key])}"
                )
            out[key] = value
        else:
            known = ", ".join(sorted([*CONFIG_OPTIONS, *CONFIG_CHOICES]))
            raise TrainingRunError(f"unknown config option {key!r}; known: {known}")
    return out


@transaction.atomic
def training_run_start(
    *,
    dataset_version: DatasetVersion,
    arch: str = "resnet18",
    epochs: int = 10,
    config: dict[str, Any] | None = None,
    created_by: Any = None,
    dispatch: bool = True,
) -> TrainingRun:
    """Create a TrainingRun and its `train` Job (gpu queue), dispatched on commit.

    `dispatch=False` leaves the job queued for the caller to run inline (`train --inline`)."""
    if arch not in TRAINING_ARCHS:
        raise TrainingRunError(f"unknown architecture {arch!r}; choose {', '.join(TRAINING_ARCHS)}")
    if isinstance(epochs, bool) or not isinstance(epochs, int) or not 1 <= epochs <= MAX_EPOCHS:
        raise TrainingRunError(f"epochs must be a whole number from 1 to {MAX_EPOCHS}")
    cfg = clean_config(config)
    if dataset_version.status != DatasetVersion.Status.READY:
        raise TrainingRunError(
            f"dataset version {dataset_version.name} is {dataset_version.status}, not ready"
        )
    if not dataset_version.path or not (Path(dataset_version.path) / "synsets.txt").is_file():
        raise TrainingRunError(
            f"dataset version {dataset_version.name} has no export directory on disk "
            f"({dataset_version.path or 'no path'})"
        )
    run = TrainingRun.objects.create(
        dataset_version=dataset_version,
        arch=arch,
        epochs=epochs,
        config=cfg,
        created_by=created_by if getattr(created_by, "pk", None) else None,
    )
    # Unique per run, even across databases that reuse ids: a new run never resumes another's
    # checkpoint.
    run.out_dir = str(runs_root() / f"{run.pk}-{uuid.uuid4().hex[:8]}")
    job = job_create(
        kind="train",
        params={"run_id": run.pk, "epochs": epochs},
        title=f"Train {arch} on {dataset_version.name} (run {run.pk})",
        created_by=created_by,
    )
    job.total = epochs
    job.save(update_fields=["total"])
    run.job = job
    run.save(update_fields=["out_dir", "job"])
    audit_record(
        actor=created_by, action="training_run.start", target=run,
        summary=f"{arch}, {epochs} epochs on {dataset_version.name}",
        details={"config": cfg, "job": job.pk},
    )  # fmt: skip
    if dispatch:
        job_dispatch_on_commit(job=job)
    return run


@transaction.atomic
def training_run_cancel(*, run: TrainingRun, actor: Any = None) -> TrainingRun:
    """Ask the run to stop: the handler terminates the training process group."""
    run = TrainingRun.objects.select_for_update().get(pk=run.pk)
    if run.status in (TrainingRun.Status.QUEUED, TrainingRun.Status.RUNNING):
        run.cancel_requested = True
        fields = ["cancel_requested"]
        if run.status == TrainingRun.Status.QUEUED:
            run.status = TrainingRun.Status.CANCELLED
            run.finished_at = timezone.now()
            fields += ["status", "finished_at"]
        run.save(update_fields=fields)
        if run.job_id:
            job_cancel(job=run.job)
        audit_record(actor=actor, action="training_run.cancel", target=run, summary="cancelled")
    return run


@transaction.atomic
def training_run_register(
    *, run: TrainingRun, name: str, actor: Any = None, activate: bool = False
) -> ModelArtifact:
    """Register a finished run's checkpoint as a `trained` ModelArtifact (a pre-label model)."""
    from django.core.exceptions import ValidationError
    from django.core.validators import validate_slug

    run = TrainingRun.objects.select_for_update().select_related("dataset_version").get(pk=run.pk)
    if run.status != TrainingRun.Status.SUCCEEDED:
        raise TrainingRunError(
            f"run {run.pk} is {run.status}; only a succeeded run can be registered"
        )
    if run.model_artifact_id:
        raise TrainingRunError(f"run {run.pk} is already registered as {run.model_artifact.name}")
    try:
        validate_slug(name)
    except ValidationError:
        raise TrainingRunError("name must be a slug: letters, digits, - and _") from None
    if len(name) > 100:
        raise TrainingRunError("name must be at most 100 characters")
    if ModelArtifact.objects.filter(name=name).exists():
        raise TrainingRunError(f"a model named {name!r} already exists")
    weights = Path(run.out_dir) / "checkpoint.pt"
    if not weights.is_file():
        raise TrainingRunError(f"run {run.pk} has no checkpoint at {weights}")
    metrics = run.metrics or {}
    classes = metrics.get("classes") or _export_classes(run.dataset_version)
    prep = metrics.get("preprocessing") or {}
    data_root = Path(settings.DATA_ROOT).resolve()
    try:
        location = str(weights.resolve().relative_to(data_root))
    except ValueError:
        location = str(weights.resolve())
    if activate:
        ModelArtifact.objects.filter(active=True).update(active=False)
    artifact = ModelArtifact.objects.create(
        name=name,
        kind=ModelArtifact.Kind.TRAINED,
        architecture=run.arch,
        classes=list(classes),
        weights=location,
        input_size=int(prep.get("input_size", 224)),
        mean=list(prep.get("mean", [])),
        std=list(prep.get("std", [])),
        embedding_dim=int(metrics.get("embedding_dim", 0)),
        provenance={
            "training_run": run.pk,
            "dataset_version": run.dataset_version.name,
            "dataset_version_id": run.dataset_version_id,
            "manifest_sha256": run.dataset_version.manifest_sha256,
            "arch": run.arch,
            "epochs": run.epochs,
            "config": run.config,
        },
        metrics={
            k: metrics.get(k) for k in ("top1", "top5", "val_loss", "num_val") if k in metrics
        },
        active=activate,
    )
    run.model_artifact = artifact
    run.save(update_fields=["model_artifact"])
    audit_record(
        actor=actor, action="training_run.register", target=artifact,
        summary=f"run {run.pk} registered as {name}{' (active)' if activate else ''}",
        details={"run": run.pk, "weights": location},
    )  # fmt: skip
    return artifact


def training_run_sync(*, run: TrainingRun) -> TrainingRun:
    """Align a run whose job ended without its handler (the sweeper gave up on a lost worker,
    a job cancelled from the jobs page before it started): the run says what the job says."""
    if run.status not in (TrainingRun.Status.QUEUED, TrainingRun.Status.RUNNING) or not run.job_id:
        return run
    job_status = Job.objects.filter(pk=run.job_id).values_list("status", "error").first()
    if job_status is None or job_status[0] not in (Job.Status.FAILED, Job.Status.CANCELLED):
        return run
    status = (
        TrainingRun.Status.FAILED if job_status[0] == Job.Status.FAILED
        else TrainingRun.Status.CANCELLED
    )  # fmt: skip
    tail = log_tail(run.out_dir) if run.out_dir else ""
    note = f"\n[job {run.job_id} {job_status[0]}] {job_status[1]}".rstrip()
    TrainingRun.objects.filter(pk=run.pk, status=run.status).update(
        status=status, finished_at=timezone.now(), log_tail=(tail + note)[-8000:],
        history=read_history(run.out_dir) if run.out_dir else run.history,
    )  # fmt: skip
    run.refresh_from_db()
    return run


def _export_classes(version: DatasetVersion) -> list[str]:
    path = Path(version.path) / "synsets.txt"
    return [line.split()[0] for line in path.read_text().splitlines() if line.strip()]


def artifact_weights_path(artifact: ModelArtifact) -> Path:
    """The absolute checkpoint path of a trained artifact (weights are relative to DATA_ROOT)."""
    p = Path(artifact.weights)
    return p if p.is_absolute() else Path(settings.DATA_ROOT) / p


def read_history(out_dir: str | Path) -> list[dict[str, Any]]:
    """metrics.jsonl rows (a torn last line of a running or killed process is skipped)."""
    path = Path(out_dir) / "metrics.jsonl"
    rows: list[dict[str, Any]] = []
    if not path.exists():
        return rows
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict) and "epoch" in row:
            rows.append(row)
    return rows


def log_tail(out_dir: str | Path, chars: int = 6000) -> str:
    path = Path(out_dir) / "train.log"
    if not path.exists():
        return ""
    with path.open("rb") as fh:
        fh.seek(0, 2)
        size = fh.tell()
        fh.seek(max(0, size - chars))
        return fh.read().decode("utf-8", errors="replace")

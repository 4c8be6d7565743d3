"""Versioned dataset exports and the training runs made from them."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class DatasetVersion(models.Model):
    """An immutable export: a function of (accepted candidates, config, seed).

    Its files live in `DATA_ROOT / "exports" / name` (written to a temp dir, renamed atomically);
    layout in training/EXPORT_FORMAT.md.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "queued"
        RUNNING = "running", "running"
        READY = "ready", "ready"
        FAILED = "failed", "failed"

    name = models.SlugField(max_length=100, unique=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    config = models.JSONField(default=dict, help_text="synsets, split scheme, formats, limits")
    seed = models.BigIntegerField(default=0)
    path = models.CharField(max_length=500, blank=True, help_text="the directory with dataset.json")
    counts = models.JSONField(default=dict, blank=True, help_text="per class and split")
    leakage = models.JSONField(default=dict, blank=True, help_text="the independent leakage report")
    manifest_sha256 = models.CharField(max_length=64, blank=True)
    num_classes = models.PositiveIntegerField(default=0)
    num_images = models.PositiveBigIntegerField(default=0)
    error = models.TextField(blank=True)
    job = models.ForeignKey("curation.Job", null=True, blank=True, on_delete=models.SET_NULL)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name


class TrainingRun(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "queued"
        RUNNING = "running", "running"
        SUCCEEDED = "succeeded", "succeeded"
        FAILED = "failed", "failed"
        CANCELLED = "cancelled", "cancelled"

    dataset_version = models.ForeignKey(
        DatasetVersion, on_delete=models.PROTECT, related_name="training_runs"
    )
    arch = models.CharField(max_length=64, default="resnet18")
    epochs = models.PositiveIntegerField(default=10)
    config = models.JSONField(default=dict, blank=True, help_text="batch size, lr, seed, ...")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    out_dir = models.CharField(max_length=500, blank=True)
    history = models.JSONField(default=list, blank=True, help_text="metrics.jsonl rows, per epoch")
    metrics = models.JSONField(default=dict, blank=True, help_text="final metrics.json")
    log_tail = models.TextField(blank=True)
    cancel_requested = models.BooleanField(default=False)
    model_artifact = models.OneToOneField(
        "curation.ModelArtifact",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="training_run",
    )
    job = models.ForeignKey("curation.Job", null=True, blank=True, on_delete=models.SET_NULL)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"run {self.pk} ({self.arch} on {self.dataset_version_id})"

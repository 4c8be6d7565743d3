"""Ingest staging: one row per item of a source, so chunks are resumable and the error report
is a query. Rows are written once when the job is planned, and updated when their chunk runs."""

from __future__ import annotations

from django.db import models


class IngestItem(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "pending"
        DONE = "done", "ingested"
        ERROR = "error", "error"

    job = models.ForeignKey("curation.Job", on_delete=models.CASCADE, related_name="ingest_items")
    seq = models.PositiveIntegerField(help_text="position in the source, from 0")
    uri = models.TextField(help_text="exactly as the source names it: relative path or URL")
    path = models.TextField(blank=True, help_text="local file to read (empty for URLs)")
    url = models.TextField(blank=True, help_text="URL to fetch (empty for local files)")
    synset = models.ForeignKey(
        "curation.Synset", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    query = models.CharField(max_length=255, blank=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    reason = models.CharField(max_length=32, blank=True)
    message = models.TextField(blank=True)
    image = models.ForeignKey(
        "curation.Image", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    image_created = models.BooleanField(default=False)
    candidate_created = models.BooleanField(default=False)

    class Meta:
        ordering = ["job", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["job", "seq"], name="ingest_item_unique"),
            models.CheckConstraint(
                condition=~models.Q(status="error") | ~models.Q(reason=""),
                name="ingest_item_error_has_reason",
            ),
        ]
        indexes = [
            models.Index(fields=["job", "status", "reason"], name="ingest_item_job_status"),
        ]

    def __str__(self) -> str:
        return f"IngestItem {self.job_id}#{self.seq} {self.status} {self.uri[:60]}"

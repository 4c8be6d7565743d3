"""Reads over ingest jobs: summaries, errors by reason, the error report, per-synset counts."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q, QuerySet

from curation.ingest.reasons import REASON_LABELS
from curation.models import IngestItem, Job, Synset

INGEST_KIND = "ingest"


def ingest_summary(job: Job) -> dict[str, Any]:
    """seen, new images, new candidates, already known, errors (total and by reason)."""
    items = IngestItem.objects.filter(job=job)
    totals = items.aggregate(
        seen=Count("id"),
        new_images=Count("id", filter=Q(image_created=True)),
        new_candidates=Count("id", filter=Q(candidate_created=True)),
        done=Count("id", filter=Q(status=IngestItem.Status.DONE)),
        errors=Count("id", filter=Q(status=IngestItem.Status.ERROR)),
        pending=Count("id", filter=Q(status=IngestItem.Status.PENDING)),
    )
    by_reason = dict(
        items.filter(status=IngestItem.Status.ERROR)
        .values_list("reason")
        .annotate(n=Count("id"))
        .order_by("-n", "reason")
    )
    inactive = list(
        Synset.objects.filter(
            active=False,
            pk__in=items.filter(status=IngestItem.Status.DONE).values("synset_id"),
        ).values_list("wnid", flat=True)[:50]
    )
    return {
        "seen": totals["seen"],
        "new_images": totals["new_images"],
        "new_candidates": totals["new_candidates"],
        "already_known": totals["done"] - totals["new_candidates"],
        "errors": totals["errors"],
        "pending": totals["pending"],
        "errors_by_reason": by_reason,
        "ignored": int(job.result.get("ignored", 0)),
        "inactive_synsets": inactive,
    }


def ingest_live_summary(job: Job) -> dict[str, Any]:
    """The stored summary of a finished job, or a fresh one while it runs."""
    stored = job.result.get("summary")
    return stored if stored and job.is_finished else ingest_summary(job)


def ingest_errors(job: Job, *, reason: str | None = None) -> QuerySet[IngestItem]:
    qs = IngestItem.objects.filter(job=job, status=IngestItem.Status.ERROR).order_by("seq")
    if reason:
        qs = qs.filter(reason=reason)
    return qs


def reason_rows(by_reason: dict[str, int]) -> list[dict[str, Any]]:
    """Rows for a bar chart of errors by reason, widest first."""
    top = max(by_reason.values(), default=0) or 1
    return [
        {
            "reason": reason,
            "label": REASON_LABELS.get(reason, reason),
            "count": count,
            "width": round(100 * count / top, 1),
        }
        for reason, count in sorted(by_reason.items(), key=lambda kv: (-kv[1], kv[0]))
    ]


def ingest_synset_counts(job: Job, limit: int = 50) -> list[dict[str, Any]]:
    """Items per synset for a job: ingested, new candidates, errors."""
    rows = (
        IngestItem.objects.filter(job=job, synset__isnull=False)
        .values("synset__wnid", "synset__name")
        .annotate(
            items=Count("id"),
            new_candidates=Count("id", filter=Q(candidate_created=True)),
            errors=Count("id", filter=Q(status=IngestItem.Status.ERROR)),
        )
        .order_by("-items", "synset__wnid")[:limit]
    )
    return [
        {
            "wnid": r["synset__wnid"],
            "name": r["synset__name"],
            "items": r["items"],
            "new_candidates": r["new_candidates"],
            "errors": r["errors"],
        }
        for r in rows
    ]


def ingest_jobs() -> QuerySet[Job]:
    return Job.objects.filter(kind=INGEST_KIND).select_related("created_by")


CSV_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(text: str) -> str:
    """Spreadsheet-safe cell: a leading formula character is escaped with a quote."""
    return "'" + text if text.startswith(CSV_FORMULA_START) else text


def error_report_rows(job: Job) -> Any:
    """(item, reason, message) rows of the error report, streamed."""
    yield ("item", "reason", "message")
    for uri, reason, message in (
        ingest_errors(job).values_list("uri", "reason", "message").iterator(chunk_size=5000)
    ):
        yield (csv_cell(uri), reason, csv_cell(message))

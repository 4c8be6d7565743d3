"""Job pages: list and a live progress page (polls the jobs API)."""

from __future__ import annotations

import json
from typing import Any

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from curation.models import Job
from curation.permissions import curator_required
from curation.services.jobs import job_cancel


@curator_required
def job_list(request: HttpRequest) -> HttpResponse:
    qs = Job.objects.all()
    kind = request.GET.get("kind")
    if kind:
        qs = qs.filter(kind=kind)
    page = Paginator(qs, 50).get_page(request.GET.get("page"))
    return render(request, "curation/job_list.html", {"page": page})


@curator_required
def job_detail(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_object_or_404(Job, pk=pk)
    chunks = job.chunks.exclude(error="").order_by("index")[:20]
    return render(
        request,
        "curation/job_detail.html",
        {"job": job, "failed_chunks": chunks, "result_rows": result_rows(job.result)},
    )


def result_rows(result: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """A job's result as (key, shown value, is structured) rows: numbers with separators,
    nested values as indented JSON."""
    rows = []
    for key, value in (result or {}).items():
        if isinstance(value, dict | list):
            rows.append((str(key), json.dumps(value, indent=1, default=str), True))
        elif isinstance(value, bool) or value is None:
            rows.append((str(key), {True: "yes", False: "no", None: "—"}[value], False))
        elif isinstance(value, int):
            rows.append((str(key), f"{value:,}", False))
        elif isinstance(value, float):
            rows.append((str(key), f"{value:,.4g}", False))
        else:
            rows.append((str(key), str(value), False))
    return rows


@curator_required
@require_POST
def job_cancel_view(request: HttpRequest, pk: int) -> HttpResponse:
    job_cancel(job=get_object_or_404(Job, pk=pk))
    return redirect(f"/curate/jobs/{pk}/")

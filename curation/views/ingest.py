"""Ingest pages: the upload page (drag and drop, streamed to staging), an ingest job's summary
and errors, and its error report as CSV."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_POST

from curation.api.ingest import stream_error_report
from curation.ingest.reasons import REASON_LABELS
from curation.models import Job, Synset
from curation.permissions import curator_required
from curation.selectors.ingest import (
    INGEST_KIND,
    ingest_errors,
    ingest_jobs,
    ingest_live_summary,
    ingest_synset_counts,
    reason_rows,
)
from curation.services.ingest import IngestSourceError, SynsetLookupError, ingest_start
from curation.services.ingest.uploads import (
    StagingUploadHandler,
    UploadError,
    staging_arrange,
    staging_dir,
    staging_new_token,
    staging_size,
    staging_source,
    staging_sweep,
    staging_write_urls,
)

ERRORS_PER_PAGE = 100


def _wants_json(request: HttpRequest) -> bool:
    return request.headers.get("X-Requested-With") == "fetch" or "application/json" in (
        request.headers.get("Accept", "")
    )


@curator_required
def ingest_page(request: HttpRequest) -> HttpResponse:
    jobs = list(ingest_jobs()[:20])
    rows = [(job, job.result.get("summary") or {}) for job in jobs]
    active = Synset.objects.filter(active=True).order_by("name").values_list("wnid", "name")[:2000]
    return render(
        request,
        "curation/ingest.html",
        {
            "rows": rows,
            "active_synsets": list(active),
            "synset": request.GET.get("synset", "")[:128],
        },
    )


def _start(request: HttpRequest, source: Any, *, cleanup: bool) -> Job:
    return ingest_start(
        source=source,
        synset=request.POST.get("synset", "").strip() or None,
        source_name=request.POST.get("source_name", "").strip()[:100],
        created_by=request.user,
        trusted=False,
        cleanup=cleanup,
    )


def _started(request: HttpRequest, job: Job) -> HttpResponse:
    url = f"/curate/ingest/{job.pk}/"
    if _wants_json(request):
        return JsonResponse({"job": job.pk, "url": url, "status": job.status}, status=202)
    return redirect(url)


def _refused(request: HttpRequest, message: str, status: int = 400) -> HttpResponse:
    if _wants_json(request):
        return JsonResponse({"error": message}, status=status)
    messages.error(request, message)
    return redirect("/curate/ingest/")


@csrf_exempt
@curator_required
@require_POST
def ingest_upload(request: HttpRequest) -> HttpResponse:
    """Receive one batch of files into a staging area (`?staging=<token>` to add to one).

    With `?start=1` (or a `start` field) the staging area is ingested at once."""
    token = request.GET.get("staging") or staging_new_token()
    try:
        staging_dir(token=token, user=request.user)
    except UploadError as exc:
        return _refused(request, str(exc))
    handler = StagingUploadHandler(request, token)
    request.upload_handlers = [handler]  # before anything reads the body
    return _ingest_upload_checked(request, token, handler)


@csrf_protect
def _ingest_upload_checked(
    request: HttpRequest, token: str, handler: StagingUploadHandler
) -> HttpResponse:
    files = request.FILES.getlist("files")
    if handler.error:
        handler.discard()
        return _refused(request, handler.error, status=413)
    directory = staging_dir(token=token, user=request.user)
    try:
        moved = staging_arrange(
            directory=directory, files=files, relpaths=request.POST.getlist("paths")
        )
    except UploadError as exc:
        return _refused(request, str(exc))
    if request.GET.get("start") or request.POST.get("start"):
        return _start_staged(request, token)
    return JsonResponse(
        {
            "staging": token,
            "files": moved,
            "bytes": staging_size(directory) if directory.exists() else 0,
        }
    )


def _start_staged(request: HttpRequest, token: str) -> HttpResponse:
    staging_sweep()
    try:
        directory = staging_dir(token=token, user=request.user)
        job = _start(request, staging_source(directory), cleanup=True)
    except SynsetLookupError as exc:
        return _refused(request, f"{exc} Nothing was ingested; the upload is kept.")
    except (IngestSourceError, UploadError) as exc:
        return _refused(request, str(exc))
    return _started(request, job)


@curator_required
@require_POST
def ingest_start_view(request: HttpRequest) -> HttpResponse:
    """Start an ingest from a staging area (`staging`) or from pasted URLs (`urls`)."""
    token = request.POST.get("staging", "").strip()
    urls = [line.strip() for line in request.POST.get("urls", "").splitlines() if line.strip()]
    if token:
        return _start_staged(request, token)
    if urls:
        try:
            directory = staging_dir(token=staging_new_token(), user=request.user)
            source = staging_write_urls(directory=directory, urls=urls)
            job = _start(request, source, cleanup=True)
        except SynsetLookupError as exc:
            return _refused(request, f"{exc} Nothing was ingested.")
        except (IngestSourceError, UploadError) as exc:
            return _refused(request, str(exc))
        return _started(request, job)
    return _refused(request, "Choose files to upload, or paste URLs.")


def _ingest_job_or_404(pk: int) -> Job:
    job = get_object_or_404(Job, pk=pk)
    if job.kind != INGEST_KIND:
        raise Http404("not an ingest job")
    return job


@curator_required
def ingest_job(request: HttpRequest, pk: int) -> HttpResponse:
    job = _ingest_job_or_404(pk)
    summary = ingest_live_summary(job)
    reason = request.GET.get("reason") or None
    errors = Paginator(ingest_errors(job, reason=reason), ERRORS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "curation/ingest_job.html",
        {
            "job": job,
            "summary": summary,
            "reasons": reason_rows(summary.get("errors_by_reason", {})),
            "reason": reason,
            "reason_label": REASON_LABELS.get(reason or "", reason),
            "errors": errors,
            "synsets": ingest_synset_counts(job),
            "failed_chunks": job.chunks.exclude(error="").order_by("index")[:20],
        },
    )


@curator_required
def ingest_errors_csv(request: HttpRequest, pk: int) -> HttpResponse:
    job = _ingest_job_or_404(pk)
    return stream_error_report(job, f"ingest-{job.pk}-errors.csv")

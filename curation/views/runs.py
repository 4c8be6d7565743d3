"""Training-run pages: list, live run page (polling; server-side SVG charts), cancel, register,
and "train baseline" from an export's page."""

from __future__ import annotations

import mimetypes

from django.contrib import messages
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from curation.models import DatasetVersion, TrainingRun
from curation.permissions import curator_required
from curation.selectors.training import example_file, run_curves, run_result_charts, worst_pairs
from curation.services.training import (
    TrainingRunError,
    training_run_cancel,
    training_run_register,
    training_run_start,
    training_run_sync,
)

ACTIVE = (TrainingRun.Status.QUEUED, TrainingRun.Status.RUNNING)


@curator_required
@require_GET
def run_list(request: HttpRequest) -> HttpResponse:
    runs = list(
        TrainingRun.objects.select_related("dataset_version", "job", "model_artifact")[:200]
    )
    runs = [training_run_sync(run=r) if r.status in ACTIVE else r for r in runs]
    return render(request, "curation/run_list.html", {"runs": runs})


def _context(run: TrainingRun) -> dict:
    last = run.history[-1] if run.history else None
    return {
        "run": run,
        "job": run.job,
        "curves": run_curves(run),
        "last": last,
        "active": run.status in ACTIVE,
    }


@curator_required
@require_GET
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(
        TrainingRun.objects.select_related("dataset_version", "job", "model_artifact"), pk=pk
    )
    run = training_run_sync(run=run)
    ctx = _context(run)
    ctx.update(
        {
            "results": run_result_charts(run),
            "pairs": worst_pairs(run),
            "per_class": (run.metrics or {}).get("per_class") or [],
            "suggested_name": f"{run.dataset_version.name}-{run.arch}-run{run.pk}"[:100],
        }
    )
    return render(request, "curation/run_detail.html", ctx)


@curator_required
@require_GET
def run_live(request: HttpRequest, pk: int) -> HttpResponse:
    """The part of the run page that changes while it trains (polled by static/js/runs.js)."""
    run = training_run_sync(run=get_object_or_404(TrainingRun.objects.select_related("job"), pk=pk))
    response = render(request, "curation/_run_live.html", _context(run))
    response["X-Run-Status"] = run.status
    return response


@curator_required
@require_POST
def run_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(TrainingRun, pk=pk)
    training_run_cancel(run=run, actor=request.user)
    messages.info(request, f"Run {pk}: cancel requested.")
    return redirect("curate:run-detail", pk=pk)


@curator_required
@require_POST
def run_register(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(TrainingRun, pk=pk)
    name = (request.POST.get("name") or "").strip()
    try:
        artifact = training_run_register(
            run=run, name=name, actor=request.user, activate=bool(request.POST.get("activate"))
        )
    except TrainingRunError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Registered as model {artifact.name}.")
    return redirect("curate:run-detail", pk=pk)


@curator_required
@require_GET
def run_example(request: HttpRequest, pk: int, sha256: str) -> HttpResponse:
    run = get_object_or_404(TrainingRun.objects.select_related("dataset_version"), pk=pk)
    path = example_file(run, sha256)
    if path is None:
        raise Http404("no such example")
    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return FileResponse(path.open("rb"), content_type=content_type)


@curator_required
@require_POST
def export_train(request: HttpRequest, name: str) -> HttpResponse:
    """ "Train baseline" on an export's page: start a run, go to its page."""
    version = get_object_or_404(DatasetVersion, name=name)
    arch = request.POST.get("arch") or "resnet18"
    try:
        epochs = int(request.POST.get("epochs") or 10)
    except ValueError:
        epochs = -1
    try:
        run = training_run_start(
            dataset_version=version, arch=arch, epochs=epochs, config={},
            created_by=request.user,
        )  # fmt: skip
    except TrainingRunError as exc:
        messages.error(request, f"Cannot train on {name}: {exc}")
        return redirect(request.META.get("HTTP_REFERER") or "curate:run-list")
    return redirect("curate:run-detail", pk=run.pk)

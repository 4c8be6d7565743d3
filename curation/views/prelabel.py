"""Curator pages for pre-labelling: the model registry, Pre-label buttons, auto-reject."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from curation.models import ModelArtifact
from curation.permissions import curator_required
from curation.selectors.predictions import models_overview
from curation.services.auto_reject import synset_auto_reject_set
from curation.services.models import ModelNotFound, model_activate, model_register_default
from curation.services.prelabel import PrelabelError, prelabel_start
from curation.views.synsets import synset_or_404


def _back(request: HttpRequest, default: str) -> str:
    back = request.POST.get("next") or default
    return back if back.startswith("/curate/") else default


@curator_required
def model_list(request: HttpRequest) -> HttpResponse:
    model_register_default()
    return render(request, "curation/model_list.html", {"rows": models_overview()})


@curator_required
@require_POST
def model_activate_view(request: HttpRequest, pk: int) -> HttpResponse:
    model = model_activate(model=get_object_or_404(ModelArtifact, pk=pk), actor=request.user)
    messages.success(request, f"{model.name} is now the pre-label model.")
    return redirect("/curate/models/")


@curator_required
@require_POST
def prelabel_start_view(request: HttpRequest) -> HttpResponse:
    try:
        job = prelabel_start(
            model=request.POST.get("model") or None,
            synset=request.POST.get("synset") or None,
            created_by=request.user,
        )
    except (ModelNotFound, PrelabelError) as exc:
        messages.error(request, str(exc))
        return redirect(_back(request, "/curate/"))
    messages.success(request, f"Pre-labelling started: job #{job.pk}.")
    return redirect(f"/curate/jobs/{job.pk}/")


@curator_required
@require_POST
def synset_auto_reject_view(request: HttpRequest, wnid: str) -> HttpResponse:
    synset = synset_or_404(wnid)
    raw = (request.POST.get("auto_reject_below") or "").strip()
    try:
        threshold = None if raw == "" else float(raw)
        rejected = synset_auto_reject_set(synset=synset, threshold=threshold, actor=request.user)
    except ValueError as exc:
        messages.error(request, f"Auto-reject: {exc}")
    else:
        if threshold is None:
            messages.success(request, "Auto-reject is off for this synset.")
        else:
            messages.success(
                request,
                f"Auto-reject below {threshold:.3f}: {rejected} open candidates rejected now; "
                "later scores are checked as they arrive.",
            )
    return redirect(f"/curate/synsets/{synset.wnid}/")

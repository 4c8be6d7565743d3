"""Duplicate review page: groups largest first, side by side, with the curator's actions."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from curation.models import DuplicateGroup
from curation.permissions import curator_required
from curation.selectors.duplicates import (
    KINDS,
    STATUSES,
    FilterError,
    duplicate_groups,
    duplicate_summary,
    member_synsets,
)
from curation.services.dedup import (
    DuplicateReviewError,
    dedup_start,
    duplicate_group_confirm,
    duplicate_group_set_representative,
    duplicate_group_split,
)

KIND_LABELS = {"exact": "exact", "near_exact": "near-exact", "near": "near"}


@curator_required
def duplicate_list(request: HttpRequest) -> HttpResponse:
    kind = request.GET.get("kind", "")
    crosses = request.GET.get("crosses", "")
    status = request.GET.get("status", "")
    image = request.GET.get("image", "")
    try:
        qs = duplicate_groups(
            kind=kind or None, crosses_synsets=crosses or None, status=status or None, image=image
        )
    except FilterError as exc:
        return HttpResponseBadRequest(str(exc))
    page = Paginator(qs, 20).get_page(request.GET.get("page"))
    groups = list(page)
    synsets = member_synsets(groups)
    for g in groups:
        for m in g.members.all():
            m.synset_list = synsets.get(m.image_id, [])
    rows = [
        {
            "group": g,
            "members": sorted(
                g.members.all(), key=lambda m: (m.image_id != g.representative_id, -m.similarity)
            ),
        }
        for g in groups
    ]
    return render(
        request,
        "curation/duplicates.html",
        {
            "page": page,
            "rows": rows,
            "kind": kind,
            "crosses": crosses,
            "status": status,
            "image": image,
            "kinds": [(k, KIND_LABELS[k]) for k in KINDS],
            "statuses": STATUSES,
            "summary": duplicate_summary(),
            "here": request.get_full_path(),
        },
    )


def _back(request: HttpRequest) -> HttpResponse:
    nxt = request.POST.get("next", "")
    if nxt and url_has_allowed_host_and_scheme(nxt, allowed_hosts={request.get_host()}):
        return redirect(nxt)
    return redirect("/curate/duplicates/")


@curator_required
@require_POST
def duplicate_start_view(request: HttpRequest) -> HttpResponse:
    job = dedup_start(created_by=request.user)
    messages.success(request, f"Duplicate search started (job {job.pk}).")
    return redirect(f"/curate/jobs/{job.pk}/")


@curator_required
@require_POST
def duplicate_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    group = get_object_or_404(DuplicateGroup, pk=pk)
    image = request.POST.get("image", "")
    if action != "confirm" and not image.isdigit():
        return HttpResponseBadRequest("choose an image (a member's id)")
    try:
        if action == "confirm":
            duplicate_group_confirm(group=group, actor=request.user)
            messages.success(request, f"Group {pk} confirmed.")
        elif action == "split":
            duplicate_group_split(group=group, image_id=int(image), actor=request.user)
            messages.success(request, f"Image {image} is not a duplicate: it left group {pk}.")
        elif action == "representative":
            duplicate_group_set_representative(group=group, image_id=int(image), actor=request.user)
            messages.success(request, f"Image {image} now represents group {pk}.")
        else:
            return HttpResponseBadRequest("unknown action")
    except DuplicateReviewError as exc:
        return HttpResponseBadRequest(str(exc))
    return _back(request)

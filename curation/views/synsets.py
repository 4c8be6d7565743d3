"""Curator pages for the synset catalogue."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from curation.models import Synset
from curation.permissions import curator_required
from curation.presets import PRESETS, PresetError
from curation.selectors.synsets import (
    candidate_counts,
    catalogue_stats,
    hypernym_paths,
    synset_children,
    synset_descendants_page,
    synset_get,
    synset_parents,
    synset_search,
)
from curation.services.jobs import job_create, job_dispatch_on_commit
from curation.services.synsets import SynsetLookupError, synsets_activate

PAGE_SIZE = 50


def _parse_target(raw: str | None) -> int | None:
    if raw in (None, ""):
        return None
    try:
        value = int(raw)
    except ValueError as exc:
        raise ValueError("target must be a whole number of images") from exc
    if not 0 <= value <= 10_000_000:
        raise ValueError("target must be between 0 and 10,000,000")
    return value


@curator_required
def synset_list(request: HttpRequest) -> HttpResponse:
    q = request.GET.get("q", "")[:200]
    active_raw = request.GET.get("active", "")
    active = {"true": True, "false": False}.get(active_raw)
    under = request.GET.get("under", "").strip() or None
    under_synset = synset_get(under) if under else None
    if under and under_synset is None:
        messages.error(request, f"Unknown synset {under!r} in 'under'.")
    qs = synset_search(q=q, active=active, under=under_synset.wnid if under_synset else None)
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "curation/synset_list.html",
        {
            "page": page,
            "q": q,
            "active": active_raw,
            "under": under_synset,
            "stats": catalogue_stats(),
            "presets": PRESETS,
        },
    )


@curator_required
def synset_detail(request: HttpRequest, wnid: str) -> HttpResponse:
    synset = synset_get(wnid)
    if synset is None:
        raise Http404(f"no synset {wnid}")
    children = synset_children(synset)
    descendants = synset_descendants_page(synset, request.GET.get("dpage"))
    return render(
        request,
        "curation/synset_detail.html",
        {
            "synset": synset,
            "parents": synset_parents(synset),
            "children": children[:500],
            "children_more": max(0, synset.child_count - 500),
            "paths": hypernym_paths(synset),
            "counts": candidate_counts(synset),
            "subtree_counts": candidate_counts(synset, subtree=True)
            if synset.child_count
            else None,
            "descendants": descendants,
        },
    )


@curator_required
@require_POST
def synset_activate(request: HttpRequest) -> HttpResponse:
    """Activate/deactivate from forms: one synset (+subtree) or a preset."""
    back = request.POST.get("next") or "/curate/synsets/"
    if not back.startswith("/curate/"):
        back = "/curate/synsets/"
    identifiers = [i for i in request.POST.get("synsets", "").replace(",", " ").split() if i]
    preset = request.POST.get("preset") or None
    active = request.POST.get("action", "activate") != "deactivate"
    try:
        summary = synsets_activate(
            identifiers=identifiers,
            subtree=request.POST.get("subtree") == "on",
            preset=preset,
            target=_parse_target(request.POST.get("target")),
            active=active,
            actor=request.user,
        )
    except SynsetLookupError as exc:
        messages.error(request, str(exc))
    except (ValueError, PresetError) as exc:
        messages.error(request, str(exc))
    else:
        verb = "activated" if active else "deactivated"
        messages.success(
            request,
            f"{summary.changed:,} synsets {verb} ({summary.already:,} already were); "
            f"{summary.matched:,} matched"
            + (f"; target {summary.target} images" if summary.target is not None else ""),
        )
    return redirect(back)


@curator_required
@require_POST
def wordnet_import(request: HttpRequest) -> HttpResponse:
    with transaction.atomic():
        job = job_create(kind="import_wordnet", created_by=request.user)
        job_dispatch_on_commit(job=job)
    return redirect(f"/curate/jobs/{job.pk}/")


def synset_or_404(wnid: str) -> Synset:
    synset = synset_get(wnid)
    if synset is None:
        raise Http404(f"no synset {wnid}")
    return synset

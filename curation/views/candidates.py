"""A synset's candidates as a fast thumbnail grid: filters, sorts, keyboard navigation."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from curation.models import Candidate
from curation.permissions import curator_required
from curation.selectors.images import SIZE_FILTERS, SORTS, candidate_search, candidate_sources
from curation.selectors.synsets import candidate_counts
from curation.views.synsets import synset_or_404

PER_PAGE = 120


@curator_required
def candidate_grid(request: HttpRequest, wnid: str) -> HttpResponse:
    synset = synset_or_404(wnid)
    state = request.GET.get("state", "")
    state = state if state in Candidate.State.values else ""
    size = request.GET.get("size", "")
    size = size if size in SIZE_FILTERS else ""
    sort = request.GET.get("sort", "newest")
    sort = sort if sort in SORTS else "newest"
    sources = candidate_sources(synset)
    source = request.GET.get("source")
    source = source if source in sources else None
    qs = candidate_search(synset=synset, state=state, source=source, size=size, sort=sort)
    page = Paginator(qs, PER_PAGE).get_page(request.GET.get("page"))
    keep = request.GET.copy()
    keep.pop("page", None)
    return render(
        request,
        "curation/candidate_grid.html",
        {
            "synset": synset,
            "page": page,
            "counts": candidate_counts(synset),
            "states": Candidate.State.choices,
            "state": state,
            "sizes": [(k, label) for k, (label, _) in SIZE_FILTERS.items()],
            "size": size,
            "sorts": [(k, label) for k, (label, _) in SORTS.items()],
            "sort": sort,
            "sources": sources,
            "source": source,
            "query_string": keep.urlencode(),
        },
    )

"""Query plans: the searches to run for a synset (HTML, or CSV with ?format=csv), and one CSV
for every active synset."""

from __future__ import annotations

import csv

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render

from curation.models import Synset
from curation.permissions import curator_required
from curation.selectors.queries import query_plan, query_plans
from curation.views.synsets import synset_or_404

CSV_HEADER = ("wnid", "synset", "query", "kind", "parent_wnid", "parent_name")


class _Echo:
    def write(self, value: str) -> str:
        return value


def _csv_response(rows, filename: str) -> StreamingHttpResponse:  # type: ignore[no-untyped-def]
    writer = csv.writer(_Echo())
    response = StreamingHttpResponse(
        (writer.writerow(row) for row in rows), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@curator_required
def synset_queries(request: HttpRequest, wnid: str) -> HttpResponse:
    synset = synset_or_404(wnid)
    plan = query_plan(synset)
    if request.GET.get("format") == "csv":
        rows = [CSV_HEADER] + [
            (synset.wnid, synset.name, q.query, q.kind, q.parent_wnid, q.parent_name) for q in plan
        ]
        return _csv_response(rows, f"queries-{synset.wnid}.csv")
    return render(request, "curation/synset_queries.html", {"synset": synset, "plan": plan})


@curator_required
def active_queries_csv(request: HttpRequest) -> HttpResponse:
    """Every active synset's query plan in one CSV (streamed)."""
    synsets = Synset.objects.filter(active=True).order_by("wnid").iterator(chunk_size=500)

    def rows():  # type: ignore[no-untyped-def]
        yield CSV_HEADER
        for synset, q in query_plans(synsets):
            yield (synset.wnid, synset.name, q.query, q.kind, q.parent_wnid, q.parent_name)

    return _csv_response(rows(), "queries-active-synsets.csv")

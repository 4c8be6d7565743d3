"""The curator's home: where the pipeline stands."""

from __future__ import annotations

from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from curation.models import Candidate, Image, Job, ModelArtifact
from curation.permissions import curator_required
from curation.roles import is_annotator, is_curator
from curation.selectors.synsets import catalogue_stats


def home(request: HttpRequest) -> HttpResponse:
    if is_curator(request.user):
        return redirect("/curate/")
    if is_annotator(request.user):
        return redirect("/annotate/")
    return redirect("/accounts/login/")


@curator_required
def dashboard(request: HttpRequest) -> HttpResponse:
    states = dict(Candidate.objects.values_list("state").annotate(n=Count("id")))
    return render(
        request,
        "curation/dashboard.html",
        {
            "stats": catalogue_stats(),
            "images": Image.objects.count(),
            "states": [(s, states.get(s, 0)) for s in Candidate.State.values],
            "candidates": sum(states.values()),
            "jobs": Job.objects.all()[:10],
            "active_model": ModelArtifact.objects.filter(active=True).first(),
        },
    )

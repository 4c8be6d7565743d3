from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from curation.permissions import annotator_required


@annotator_required
def annotate_home(request: HttpRequest) -> HttpResponse:
    return render(request, "annotate/home.html", {})

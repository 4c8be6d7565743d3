"""The image page: the picture, its facts, every candidacy, where it came from."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from curation.permissions import curator_required
from curation.selectors.duplicates import image_duplicate_view
from curation.selectors.images import image_candidacies, image_get, image_origins
from curation.selectors.predictions import image_predictions_view

BROWSER_FORMATS = {"JPEG", "MPO", "PNG", "GIF", "WEBP", "BMP"}


@curator_required
def image_detail(request: HttpRequest, pk: int) -> HttpResponse:
    image = image_get(pk)
    if image is None:
        raise Http404(f"no image {pk}")
    return render(
        request,
        "curation/image_detail.html",
        {
            "image": image,
            "candidacies": image_candidacies(image),
            "origins": image_origins(image),
            "origin_count": image.origins.count(),
            "browser_can_show": image.format in BROWSER_FORMATS,
            "predictions": image_predictions_view(image),  # pre-labelling (issue 4)
            "duplicates": image_duplicate_view(image.pk),
        },
    )

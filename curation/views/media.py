"""Image bytes for signed-in users: thumbnails and originals, cached for a year (immutable)."""

from __future__ import annotations

import mimetypes

from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.views.decorators.http import require_GET

from curation.models import Image
from curation.storage import thumb_content_type

IMMUTABLE = "private, max-age=31536000, immutable"


# A redirect to remote storage may carry a signed, expiring URL: cache it briefly, not a year.
REDIRECT_CACHE = "private, max-age=300"


def _local(key: str) -> bool:
    """Whether the storage keeps files on this machine (every backend has path(); remote ones,
    such as S3, raise NotImplementedError from it)."""
    try:
        default_storage.path(key)
    except NotImplementedError:
        return False
    return True


def _serve(key: str, content_type: str) -> HttpResponse:
    if not key or not default_storage.exists(key):
        raise Http404("no such image file")
    if _local(key):
        response: HttpResponse = FileResponse(
            default_storage.open(key, "rb"), content_type=content_type
        )
        response["Cache-Control"] = IMMUTABLE
    else:  # remote storage: the client fetches the bytes from it directly
        response = HttpResponseRedirect(default_storage.url(key))
        response["Cache-Control"] = REDIRECT_CACHE
    response["X-Content-Type-Options"] = "nosniff"
    return response


@require_GET
@login_required
def image_thumb(request: HttpRequest, sha256: str) -> HttpResponse:
    key = Image.objects.filter(sha256=sha256).values_list("thumb_key", flat=True).first()
    return _serve(key or "", thumb_content_type(key or ""))


@require_GET
@login_required
def image_original(request: HttpRequest, sha256: str) -> HttpResponse:
    row = Image.objects.filter(sha256=sha256).values_list("storage_key", "format").first()
    if row is None:
        raise Http404("no such image")
    key, fmt = row
    content_type = mimetypes.guess_type(key)[0] or f"image/{fmt.lower()}"
    response = _serve(key, content_type)
    response["Content-Disposition"] = "inline"
    return response

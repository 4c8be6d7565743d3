"""Where image bytes live: content-addressed keys in Django's default storage (local or S3).

Originals are stored byte-for-byte under their sha256; thumbnails beside them. Every other module
goes through these functions so the layout can change in one place.
"""

from __future__ import annotations

from django.urls import reverse

THUMB_FORMAT = "webp"
THUMB_CONTENT_TYPE = "image/webp"


def _fanout(sha256: str) -> str:
    return f"{sha256[:2]}/{sha256[2:4]}/{sha256}"


def original_key(sha256: str, ext: str) -> str:
    """`originals/ab/cd/<sha256>.<ext>`; ext is the lower-case format extension (jpg, png...)."""
    return f"originals/{_fanout(sha256)}.{ext.lower().lstrip('.')}"


def thumb_key(sha256: str) -> str:
    return f"thumbs/{_fanout(sha256)}.{THUMB_FORMAT}"


def thumb_url(sha256: str) -> str:
    """URL of an image's thumbnail (long-cached; the content never changes for a sha256)."""
    return reverse("image-thumb", kwargs={"sha256": sha256})


def original_url(sha256: str) -> str:
    return reverse("image-original", kwargs={"sha256": sha256})

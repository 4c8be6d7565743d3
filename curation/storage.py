"""Where image bytes live: content-addressed keys in Django's default storage (local or S3).

Originals are stored byte-for-byte under their sha256; thumbnails beside them. Every other module
goes through these functions so the layout can change in one place.
"""

from __future__ import annotations

import re
from functools import lru_cache

from django.urls import get_script_prefix, reverse

THUMB_FORMAT = "jpg"  # what curation.ingest.decode.encode_thumbnail writes
THUMB_CONTENT_TYPES = {"jpg": "image/jpeg", "webp": "image/webp"}  # webp: images stored before


def _fanout(sha256: str) -> str:
    return f"{sha256[:2]}/{sha256[2:4]}/{sha256}"


def original_key(sha256: str, ext: str) -> str:
    """`originals/ab/cd/<sha256>.<ext>`; ext is the lower-case format extension (jpg, png...)."""
    return f"originals/{_fanout(sha256)}.{ext.lower().lstrip('.')}"


def thumb_key(sha256: str) -> str:
    return f"thumbs/{_fanout(sha256)}.{THUMB_FORMAT}"


def thumb_content_type(key: str) -> str:
    """The Content-Type of a stored thumbnail, by its key (older images keep WebP thumbnails)."""
    return THUMB_CONTENT_TYPES.get(key.rsplit(".", 1)[-1].lower(), "application/octet-stream")


_PLACEHOLDER = "0" * 64
_SHA256 = re.compile(r"[0-9a-f]{64}")


@lru_cache(maxsize=16)
def _url_template(name: str, script_prefix: str) -> tuple[str, str]:
    # reverse() once per URL name (and script prefix), then string formatting: a task payload
    # builds ~100 of these URLs, and reverse() costs ~50 us each.
    head, _, tail = reverse(name, kwargs={"sha256": _PLACEHOLDER}).partition(_PLACEHOLDER)
    return head, tail


def _image_url(name: str, sha256: str) -> str:
    if not _SHA256.fullmatch(sha256):  # never format what reverse() would refuse
        return reverse(name, kwargs={"sha256": sha256})
    head, tail = _url_template(name, get_script_prefix())
    return f"{head}{sha256}{tail}"


def thumb_url(sha256: str) -> str:
    """URL of an image's thumbnail (long-cached; the content never changes for a sha256)."""
    return _image_url("image-thumb", sha256)


def original_url(sha256: str) -> str:
    return _image_url("image-original", sha256)

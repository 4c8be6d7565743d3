"""Image URLs are built from a template reverse() made once: same URLs, same refusals."""

from __future__ import annotations

import hashlib

import pytest
from django.urls import NoReverseMatch, reverse, set_script_prefix

from curation.storage import original_url, thumb_url

pytestmark = [pytest.mark.sqlite]


@pytest.mark.parametrize("prefix", ["/", "/synsetlab/"])
def test_image_urls_match_reverse_under_any_script_prefix(prefix: str) -> None:
    set_script_prefix(prefix)
    try:
        for i in range(20):
            sha = hashlib.sha256(str(i).encode()).hexdigest()
            assert thumb_url(sha) == reverse("image-thumb", kwargs={"sha256": sha})
            assert original_url(sha) == reverse("image-original", kwargs={"sha256": sha})
            assert thumb_url(sha).startswith(prefix)
    finally:
        set_script_prefix("/")


@pytest.mark.parametrize("bad", ["", "abc", "A" * 64, "g" * 64, "0" * 63 + "/", "0" * 65])
def test_image_urls_refuse_what_is_not_a_sha256(bad: str) -> None:
    with pytest.raises(NoReverseMatch):
        thumb_url(bad)
    with pytest.raises(NoReverseMatch):
        original_url(bad)

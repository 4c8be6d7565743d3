"""A curator reviews duplicate groups in real headless Chromium, by keyboard: filters, confirms a
group, splits off a member and sees its candidate back in annotation."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from django.conf import settings
from django.db.models import Q

from curation.models import Candidate, DuplicateGroup, NotDuplicatePair
from curation.services.dedup import dedup_start
from curation.services.ingest import ingest_start
from tests.conftest import make_user
from tests.e2e.conftest import login, screenshot
from tests.worker.test_dedup import build_set, clean_data_root

pytestmark = pytest.mark.e2e


def test_curator_reviews_duplicates(web_server, page, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    clean_data_root()
    build_set(tmp_path / "src", n_originals=6, planted=2)
    ingest_start(source=tmp_path / "src", source_name="e2e", inline=True)
    assert dedup_start(inline=True).status == "succeeded"
    make_user("cora", "curator")
    login(page, web_server.url, "cora", "pw-cora")

    page.click("nav >> text=Duplicates")
    page.wait_for_url("**/curate/duplicates/")
    assert page.locator("section.dup-group").count() == 2
    assert page.locator("section.dup-group .badge.crosses").count() == 2
    screenshot(page, "curator-duplicates")

    # Keyboard: filters, then Tab to the first group's "Confirm group" and Enter.
    page.select_option("#f-kind", "near_exact")
    with page.expect_navigation():
        page.locator("form.grid-filters button").press("Enter")
    assert "kind=near_exact" in page.url
    first = page.locator("section.dup-group").first
    group_id = int(first.get_attribute("id").split("-")[1])
    first.locator("button", has_text="Confirm group").focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert f"Group {group_id} confirmed." in page.content()
    assert "kind=near_exact" in page.url  # back where the curator was
    assert DuplicateGroup.objects.get(pk=group_id).status == "confirmed"

    # "Not a duplicate" on a member: it leaves the group, its candidate goes back to annotation.
    group = DuplicateGroup.objects.get(pk=group_id)
    victim = group.members.exclude(image_id=group.representative_id).first().image_id
    assert Candidate.objects.get(image_id=victim).state == "excluded"
    page.locator(f"button[aria-label='image {victim} is not a duplicate']").focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "is not a duplicate" in page.content()
    pairs = NotDuplicatePair.objects.filter(Q(image_a=victim) | Q(image_b=victim))
    assert pairs.count() == group.size - 1
    assert Candidate.objects.get(image_id=victim).state == "pending"
    screenshot(page, "curator-duplicates-after-split")
    shutil.rmtree(Path(settings.DATA_ROOT) / "dedup", ignore_errors=True)

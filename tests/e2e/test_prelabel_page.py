"""A curator reads the machine's opinion on an image page, and sorts a grid by machine score,
in real headless Chromium; the predictions come from the real model on real photos."""

from __future__ import annotations

from pathlib import Path

import pytest

from curation.models import Job
from curation.services.prelabel import prelabel_start
from tests.conftest import make_user
from tests.e2e.conftest import login, screenshot
from tests.worker.prelabel_helpers import DOMESTIC_CAT, image_for, ingest_folder, write_photos

pytestmark = pytest.mark.e2e


def test_image_page_shows_top5_and_machine_scores(
    web_server, page, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("PRELABEL_NUM_WORKERS", "0")  # decode in this process: no forks here
    photos = write_photos(tmp_path / "photos")
    ingest_folder(tmp_path / "photos")
    job = prelabel_start(inline=True)
    assert job.status == Job.Status.SUCCEEDED, job.error
    cat = image_for(photos["chelsea"])

    make_user("cora", "curator")
    login(page, web_server.url, "cora", "pw-cora")
    page.goto(f"{web_server.url}/curate/images/{cat.pk}/")
    block = page.locator("#predictions")
    assert block.locator("h2").inner_text() == "Machine opinion"
    rows = block.locator("table.top5 tr")
    assert rows.count() == 5
    first = rows.nth(0).inner_text().lower()
    assert "cat" in first, first
    assert block.locator("svg.bar").count() >= 6  # five classes + the candidate synset's score
    score = block.locator("table.synset-scores tr").first.inner_text()
    assert "domestic cat" in score.lower() and DOMESTIC_CAT in score
    shot = screenshot(page, "prelabel-image-page")
    assert shot.stat().st_size > 10_000

    # The candidate grid sorts by machine score from its sort menu: the cat before the astronaut.
    page.goto(f"{web_server.url}/curate/synsets/{DOMESTIC_CAT}/candidates/")
    page.select_option("#f-sort", "score_desc")
    with page.expect_navigation():
        page.click("form.grid-filters button[type=submit]")
    assert "sort=score_desc" in page.url
    hrefs = page.locator("a[href^='/curate/images/']").evaluate_all(
        "els => els.map(e => e.getAttribute('href'))"
    )
    order = [h for h in hrefs if h.rstrip("/").split("/")[-1].isdigit()]
    assert order.index(f"/curate/images/{cat.pk}/") < order.index(
        f"/curate/images/{image_for(photos['astronaut']).pk}/"
    )
    screenshot(page, "prelabel-grid-by-score")


def test_models_page_and_synset_auto_reject_form(web_server, page) -> None:  # type: ignore[no-untyped-def]
    from curation.models import AuditEvent, Synset
    from curation.services.models import model_register_default

    model_register_default()
    make_user("cora", "curator")
    login(page, web_server.url, "cora", "pw-cora")
    page.goto(web_server.url + "/curate/models/")
    row = page.locator("tr[data-model='efficientnet-lite0-imagenet1k']")
    assert "active" in row.inner_text() and "1,000" in row.inner_text()
    screenshot(page, "prelabel-models")
    page.goto(f"{web_server.url}/curate/synsets/{DOMESTIC_CAT}/")
    page.fill("#auto_reject_below", "0.02")
    with page.expect_navigation():
        page.click("section.auto-reject button[type=submit]")
    assert "Auto-reject below 0.020" in page.content()
    assert Synset.objects.get(wnid=DOMESTIC_CAT).auto_reject_below == 0.02
    assert AuditEvent.objects.filter(action="synset.auto_reject").count() == 1
    screenshot(page, "prelabel-synset-page")

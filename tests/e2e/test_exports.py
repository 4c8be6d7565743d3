"""A curator creates an export through the form, reads the live preview, submits by keyboard and
sees the version page (progress, chart, leakage, downloads): real Chromium, gunicorn, Celery."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from curation.models import DatasetVersion
from curation.services.exports.writer import exports_root
from tests.conftest import make_user
from tests.e2e.conftest import login, screenshot
from tests.exports.conftest import BIRD, CAT, DOG, build_fixture

pytestmark = pytest.mark.e2e


def test_create_export_with_preview_and_see_the_version_page(
    web_server, celery_worker, page, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    shutil.rmtree(exports_root() / "e2e-v1", ignore_errors=True)
    build_fixture(tmp_path / "src")
    make_user("cora", "curator")
    login(page, web_server.url, "cora", "pw-cora")
    page.goto(web_server.url + "/curate/exports/")
    page.get_by_role("link", name="New export").press("Enter")
    page.wait_for_url("**/curate/exports/new")
    page.fill("#id_name", "e2e-v1")
    page.fill("#id_synsets", f"{DOG} {CAT} {BIRD}")
    page.fill("#id_val_per_class", "3")
    page.fill("#id_test_per_class", "2")
    page.check("input[name=formats][value=webdataset]")
    page.locator("#preview-state").filter(has_text="3 classes").wait_for(timeout=30_000)
    assert page.locator('[data-total="val"]').inner_text() == "9"
    assert page.locator('[data-total="test"]').inner_text() == "6"
    assert page.locator("#preview-chart svg.split-chart g").count() == 3
    screenshot(page, "export-new-preview")
    page.fill("#id_val_per_class", "-2")
    page.locator("#preview-errors li").filter(has_text="val_per_class").wait_for(timeout=30_000)
    page.fill("#id_val_per_class", "3")
    page.locator("#preview-state").filter(has_text="3 classes").wait_for(timeout=30_000)
    page.focus("#id_name")
    page.keyboard.press("Enter")  # submit by keyboard
    page.wait_for_url("**/curate/exports/e2e-v1/")
    page.locator("[data-version-status]").filter(has_text="ready").wait_for(timeout=120_000)
    text = page.locator("main").inner_text()
    assert "0 duplicate pairs across splits" in text
    assert "manifest.jsonl" in text and "Checksums" in text
    assert page.locator("svg.split-chart rect.val").count() == 3
    screenshot(page, "export-version-page")
    version = DatasetVersion.objects.get(name="e2e-v1")
    assert version.status == "ready" and version.created_by.username == "cora"
    with page.expect_download() as info:
        page.click("text=manifest.csv")
    assert info.value.suggested_filename == "e2e-v1-manifest.csv"
    shutil.rmtree(exports_root() / "e2e-v1", ignore_errors=True)

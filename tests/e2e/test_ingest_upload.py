"""A curator drops files on the upload page, watches the job's progress bar, reads the report,
then walks the candidate grid by keyboard, in real headless Chromium against gunicorn + Celery."""

from __future__ import annotations

import base64

import pytest

from curation.models import Candidate, Image, Job
from tests.conftest import make_user
from tests.e2e.conftest import login, screenshot
from tests.ingest.conftest import DOG, HTML, jpeg, png

pytestmark = pytest.mark.e2e

DROP = """([files, zone]) => {
  const transfer = new DataTransfer();
  for (const f of files) {
    const bytes = Uint8Array.from(atob(f.data), c => c.charCodeAt(0));
    transfer.items.add(new File([bytes], f.name, { type: f.type }));
  }
  const target = document.querySelector(zone);
  for (const type of ["dragenter", "dragover", "drop"]) {
    const init = { dataTransfer: transfer, bubbles: true, cancelable: true };
    target.dispatchEvent(new DragEvent(type, init));
  }
}"""


def test_drop_upload_progress_report_and_grid(web_server, celery_worker, page) -> None:  # type: ignore[no-untyped-def]
    make_user("cora", "curator")
    login(page, web_server.url, "cora", "pw-cora")
    page.goto(web_server.url + "/curate/ingest/")
    files = [
        {
            "name": f"photo-{i}.jpg",
            "type": "image/jpeg",
            "data": base64.b64encode(jpeg(900 + i, (400 + 40 * i, 300))).decode(),
        }
        for i in range(6)
    ]
    files.append(
        {"name": "drawing.png", "type": "image/png", "data": base64.b64encode(png(950)).decode()}
    )
    files.append(
        {"name": "not-really.jpg", "type": "image/jpeg", "data": base64.b64encode(HTML).decode()}
    )
    page.evaluate(DROP, [files, "#dropzone"])
    assert "8 files" in page.locator("#picked").inner_text()
    page.fill("#id_synset", DOG)
    page.fill("#id_source_name", "browser-drop")
    page.click("#ingest-submit")
    job_bar = page.locator("#ingest-job .job-progress")
    job_bar.wait_for(timeout=30_000)
    page.locator('#ingest-job .job-progress[data-status="succeeded"]').wait_for(timeout=90_000)
    assert "8 / 8" in job_bar.inner_text() and "1 errors" in job_bar.inner_text()
    screenshot(page, "ingest-upload-finished")

    job = Job.objects.get(kind="ingest")
    assert job.result["summary"]["new_images"] == 7
    assert Candidate.objects.filter(source="browser-drop", synset__wnid=DOG).count() == 7

    page.click("#ingest-job .job-progress a")
    page.wait_for_url(f"**/curate/ingest/{job.pk}/")
    text = page.locator("main").inner_text()
    assert "new images" in text and "not_an_image" in text and "not-really.jpg" in text
    screenshot(page, "ingest-report")

    page.goto(web_server.url + f"/curate/synsets/{DOG}/candidates/?sort=size")
    tiles = page.locator(".thumb-grid li > a")
    assert tiles.count() == 7
    page.wait_for_function(
        "() => [...document.querySelectorAll('.thumb-grid img')]"
        ".every(i => i.complete && i.naturalWidth > 0)"
    )
    page.keyboard.press("ArrowRight")  # the first key selects the first tile
    page.keyboard.press("l")
    focused = page.evaluate("document.activeElement.getAttribute('href')")
    assert focused == tiles.nth(1).get_attribute("href")
    screenshot(page, "candidate-grid")
    page.keyboard.press("Enter")
    page.wait_for_url("**/curate/images/*/")
    image = Image.objects.get(pk=int(page.url.rstrip("/").rsplit("/", 1)[1]))
    assert image.sha256 in page.content()
    screenshot(page, "image-page")

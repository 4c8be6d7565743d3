"""A curator watches a training run live in real Chromium (curves fill in per epoch), then reads
the results (per-class bars, confusion heatmap, misclassified examples) and registers the model."""

from __future__ import annotations

import pytest

from curation.models import ModelArtifact, TrainingRun
from curation.services.training import training_run_start
from tests.conftest import make_user
from tests.e2e.conftest import login, screenshot
from tests.training.app_helpers import FAST_CONFIG, make_version

pytestmark = pytest.mark.e2e


def test_run_page_live_curves_results_and_register(web_server, celery_worker, page) -> None:  # type: ignore[no-untyped-def]
    make_user("cora", "curator")
    version = make_version(classes=5)
    run = training_run_start(dataset_version=version, arch="resnet18", epochs=3, config=FAST_CONFIG)
    login(page, web_server.url, "cora", "pw-cora")
    page.goto(f"{web_server.url}/curate/runs/{run.pk}/")
    assert page.locator("#run-live").count() == 1
    # The live fragment is re-fetched while the run trains: the curves gain points per epoch.
    page.wait_for_selector("svg.chart polyline[data-series='train loss']", timeout=300_000)
    screenshot(page, "training-run-live")
    # Finished: the page reloads itself with the results.
    page.wait_for_selector("figure.chart-heatmap svg", timeout=300_000)
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.SUCCEEDED, run.log_tail
    assert run.started_at and run.finished_at
    assert page.locator("figure.chart-loss circle").count() == 6  # 2 series x 3 epochs
    assert page.locator("figure.chart-bars rect").count() >= 15
    assert "epoch 3 / 3" in page.inner_text("#run-live")
    thumbs = page.locator(".run-thumbs img")
    if thumbs.count():  # lazy-loaded: bring the first into view and let it load
        thumbs.first.scroll_into_view_if_needed()
        page.wait_for_function(
            "() => { const i = document.querySelector('.run-thumbs img');"
            " return i.complete && i.naturalWidth > 0; }",
            timeout=30_000,
        )
        page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "training-run-results")

    page.fill("input[name=name]", "sample-e2e")
    page.click("text=Register as pre-label model")
    page.wait_for_load_state("networkidle")
    assert "Registered as model sample-e2e" in page.content()
    assert ModelArtifact.objects.get(name="sample-e2e").provenance["training_run"] == run.pk

    page.goto(f"{web_server.url}/curate/runs/")
    assert page.locator("table.runs tbody tr").count() == 1
    assert "sample-e2e" in page.inner_text("table.runs")

"""An annotator labels grids in real headless Chromium: keyboard only, then on a phone."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from annotate.models import Annotator, Assignment, Vote
from annotate.services.queue import queue_sync
from annotate.services.sample import sample_candidates
from tests.conftest import WebServer, make_user
from tests.e2e.conftest import login, screenshot

pytestmark = pytest.mark.e2e

BIRD, INSECT = "n01503061", "n02159955"


@pytest.fixture
def annotate_server(test_database, live_db, monkeypatch) -> Iterator[WebServer]:  # type: ignore[no-untyped-def]
    """Sample candidates committed, and a gunicorn whose settings make small, gold-free grids."""
    for key, value in {
        "ANNOTATE_TASK_SIZE": "12",
        "ANNOTATE_GOLD_FRACTION": "0",
        "ANNOTATE_ONBOARDING_GOLD": "0",
        "ANNOTATE_CALIBRATION_SIZE": "0",
    }.items():
        monkeypatch.setenv(key, value)
    sample_candidates(wnids=[BIRD, INSECT], positives=10, negatives=6, seed=2)
    queue_sync(full=True)
    server = WebServer().start()
    try:
        yield server
    finally:
        server.stop()


def marked_tokens(page) -> list[str]:  # type: ignore[no-untyped-def]
    return page.eval_on_selector_all(
        "#grid input[type=checkbox]", "els => els.filter(e => e.checked).map(e => e.value)"
    )


def test_annotator_labels_a_grid_by_keyboard_and_gets_the_next_task(annotate_server, page) -> None:  # type: ignore[no-untyped-def]
    make_user("anna", "annotator")
    login(page, annotate_server.url, "anna", "pw-anna")
    assert page.url.endswith("/annotate/")
    page.wait_for_selector("#grid .tile img")
    first_task = page.get_attribute("#task", "data-task-id")
    tokens = page.eval_on_selector_all("#grid input", "els => els.map(e => e.value)")
    assert len(tokens) == 12
    lemma = page.text_content("#lemma")
    assert lemma in ("bird", "insect")
    assert page.locator("#path li").count() >= 3  # the hypernym path

    # The first image has focus; mark it, move right twice and mark, undo that, go down a row.
    page.keyboard.press("Space")
    page.keyboard.press("l")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Space")
    assert marked_tokens(page) == [tokens[0], tokens[2]]
    page.keyboard.press("u")
    assert marked_tokens(page) == [tokens[0]]
    columns = page.evaluate(
        "() => { const t = [...document.querySelectorAll('#grid .tile')];"
        " return t.filter(x => x.offsetTop === t[0].offsetTop).length; }"
    )
    page.keyboard.press("j")
    page.keyboard.press("Space")
    expected = sorted([tokens[0], tokens[2 + columns]])
    assert sorted(marked_tokens(page)) == expected
    # a marks all, u undoes it; n clears all, u undoes that too.
    page.keyboard.press("a")
    assert len(marked_tokens(page)) == 12
    page.keyboard.press("u")
    page.keyboard.press("n")
    assert marked_tokens(page) == []
    page.keyboard.press("u")
    assert sorted(marked_tokens(page)) == expected
    # z zooms the focused image (the original, full size); z again closes.
    page.keyboard.press("z")
    assert page.is_visible("#zoom[open]")
    assert "/original" in (page.get_attribute("#zoom-image", "src") or "")
    page.keyboard.press("z")
    assert not page.is_visible("#zoom[open]")
    assert page.text_content("#count") == "2 of 12 marked"
    screenshot(page, "annotate-grid-keyboard")

    page.keyboard.press("Enter")
    page.wait_for_function(
        "first => document.querySelector('#task').dataset.taskId !== first", arg=first_task
    )
    assert page.get_attribute("#task", "data-task-id") != first_task
    assert page.text_content('[data-progress="tasks_today"]') == "1"
    screenshot(page, "annotate-next-task")

    annotator = Annotator.objects.get(user__username="anna")
    task = Assignment.objects.get(token=first_task)
    assert task.status == Assignment.Status.SUBMITTED
    votes = Vote.objects.filter(annotator=annotator, assignment=task)
    assert votes.count() == 12
    yes = set(votes.filter(answer=True).values_list("candidate_id", flat=True))
    assert yes == set(task.items.filter(token__in=expected).values_list("candidate_id", flat=True))
    assert all(v.source == "ui" for v in votes)
    # The prefetched task was already there: it is the open one now, and nothing leaked twice.
    shown = set(task.items.values_list("candidate_id", flat=True))
    nxt = Assignment.objects.get(token=page.get_attribute("#task", "data-task-id"))
    assert not shown & set(nxt.items.values_list("candidate_id", flat=True))


def test_annotator_on_a_phone_taps_and_submits(annotate_server, browser) -> None:  # type: ignore[no-untyped-def]
    make_user("pat", "annotator")
    context = browser.new_context(
        viewport={"width": 390, "height": 844},
        is_mobile=True,
        has_touch=True,
        device_scale_factor=2,
    )
    page = context.new_page()
    try:
        login(page, annotate_server.url, "pat", "pw-pat")
        page.wait_for_selector("#grid .tile img")
        tiles = page.locator("#grid .tile")
        tiles.nth(1).tap()
        tiles.nth(4).tap()
        assert page.text_content("#count") == "2 of 12 marked"
        width = page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= 390  # nothing wider than the phone
        screenshot(page, "annotate-phone")
        first = page.get_attribute("#task", "data-task-id")
        page.locator("#submit").tap()
        page.wait_for_function(
            "first => document.querySelector('#task').dataset.taskId !== first", arg=first
        )
        assert Vote.objects.filter(annotator__user__username="pat", answer=True).count() == 2
    finally:
        context.close()

"""A curator browses the catalogue in real headless Chromium, by keyboard."""

from __future__ import annotations

import pytest

from curation.models import Synset
from tests.conftest import make_user
from tests.e2e.conftest import login, screenshot

pytestmark = pytest.mark.e2e


def test_curator_searches_opens_and_activates_by_keyboard(web_server, page) -> None:  # type: ignore[no-untyped-def]
    make_user("cora", "curator")
    login(page, web_server.url, "cora", "pw-cora")
    assert page.url.endswith("/curate/")

    page.goto(web_server.url + "/curate/synsets/")
    # Chromium applies autofocus at a later rendering step than the load event: wait for it,
    # or the "/" below lands in the search box (a flaky run searched for "/husky").
    page.wait_for_function("document.activeElement && document.activeElement.id === 'q'")
    page.keyboard.press("Escape")  # leave the autofocused search box
    page.keyboard.press("/")
    page.keyboard.type("husky")
    page.keyboard.press("Enter")
    page.wait_for_load_state("networkidle")
    assert "eskimo_dog.n.01" in page.content()
    page.keyboard.press("j")
    page.keyboard.press("Enter")
    page.wait_for_url("**/curate/synsets/n02109961/")
    assert "working dog.n.01".replace(" ", "_") in page.content()

    page.goto(web_server.url + "/curate/synsets/n02084071/")
    paths = page.locator("ol.paths li")
    assert paths.count() == 2
    page.fill("#target", "300")
    page.click("button[name=action][value=activate]")
    page.wait_for_load_state("networkidle")
    assert "190 synsets activated" in page.content()
    screenshot(page, "curator-synset-detail")
    assert Synset.objects.filter(active=True, target_images=300).count() == 190


def test_annotator_sees_403_on_curate(web_server, page) -> None:  # type: ignore[no-untyped-def]
    make_user("anna", "annotator")
    login(page, web_server.url, "anna", "pw-anna")
    response = page.goto(web_server.url + "/curate/synsets/")
    assert response is not None and response.status == 403

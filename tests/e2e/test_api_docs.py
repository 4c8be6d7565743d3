"""The API docs page (Swagger UI) in real headless Chromium: it renders every operation from our
own static files, with no request leaving the host (an air-gapped install got a blank page when
its scripts came from a CDN)."""

from __future__ import annotations

from urllib.parse import urlparse

import pytest

from tests.conftest import make_user
from tests.e2e.conftest import login, screenshot

pytestmark = pytest.mark.e2e


def test_api_docs_render_offline(web_server, page) -> None:  # type: ignore[no-untyped-def]
    host = urlparse(web_server.url).hostname
    elsewhere: list[str] = []
    page.on(
        "request", lambda r: elsewhere.append(r.url) if urlparse(r.url).hostname != host else None
    )
    make_user("cora", "curator")
    login(page, web_server.url, "cora", "pw-cora")
    page.goto(f"{web_server.url}/api/docs/")
    page.wait_for_selector(".swagger-ui .opblock", timeout=20_000)
    operations = page.locator(".swagger-ui .opblock").count()
    assert operations > 50, operations
    assert (
        page.locator(
            ".swagger-ui .opblock-summary-path", has_text="/api/v1/annotate/next-task"
        ).count()
        == 1
    )
    assert not elsewhere, elsewhere
    screenshot(page, "api-docs")

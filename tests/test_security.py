"""Login throttling, request-size caps, structured logs with request ids."""

from __future__ import annotations

import json
import logging

import pytest
from django.test import Client, override_settings

from config.logging import RequestIdFilter, request_id_var


@pytest.mark.django_db
@override_settings(AXES_ENABLED=True, AXES_FAILURE_LIMIT=3)
def test_login_is_locked_after_repeated_failures(curator) -> None:  # type: ignore[no-untyped-def]
    from axes.utils import reset

    reset()
    client = Client()
    for _ in range(3):
        r = client.post("/accounts/login/", {"username": "cora", "password": "wrong"})
        assert r.status_code in (200, 429)
    r = client.post("/accounts/login/", {"username": "cora", "password": "pw-cora"})
    assert r.status_code == 429  # locked out even with the right password
    assert "_auth_user_id" not in client.session
    reset()
    r = client.post("/accounts/login/", {"username": "cora", "password": "pw-cora"})
    assert r.status_code == 302


@pytest.mark.django_db
def test_oversized_request_body_is_refused(curator_api) -> None:  # type: ignore[no-untyped-def]
    big = json.dumps({"synsets": ["n02084071"] * 1_000_000})  # ~13 MB > 10 MiB cap
    r = curator_api.post("/api/v1/synsets/activate/", big, content_type="application/json")
    assert r.status_code in (400, 413)


@pytest.mark.django_db
def test_login_form_has_csrf_protection(curator) -> None:  # type: ignore[no-untyped-def]
    client = Client(enforce_csrf_checks=True)
    r = client.post("/accounts/login/", {"username": "cora", "password": "pw-cora"})
    assert r.status_code == 403


def test_json_logs_carry_request_and_job_ids(capsys) -> None:  # type: ignore[no-untyped-def]
    from pythonjsonlogger.json import JsonFormatter

    handler = logging.StreamHandler()
    handler.setFormatter(
        JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(job_id)s")
    )
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger("synsetlab.test.json")
    logger.addHandler(handler)
    logger.propagate = False
    token = request_id_var.set("req-42")
    try:
        logger.warning("hello")
    finally:
        request_id_var.reset(token)
        logger.removeHandler(handler)
    line = capsys.readouterr().err.strip().splitlines()[-1]
    record = json.loads(line)
    assert record["message"] == "hello" and record["request_id"] == "req-42"
    assert record["job_id"] == "-"

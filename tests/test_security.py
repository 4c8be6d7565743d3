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


def test_production_settings_pass_check_deploy() -> None:
    """`manage.py check --deploy` is clean under config.settings.production, and its cookies and
    headers are the secure ones."""
    import secrets
    import subprocess
    import sys

    from tests.conftest import ROOT, child_env

    env = child_env(
        DJANGO_SETTINGS_MODULE="config.settings.production",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS="synsetlab.example.org",
    )
    check = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert check.returncode == 0, check.stdout + check.stderr
    assert "no issues" in check.stdout
    probe = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY, "
        "s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS >= 31536000, s.X_FRAME_OPTIONS, "
        "s.DATABASES['default']['CONN_HEALTH_CHECKS'], s.DEBUG, s.LOGGING['handlers']"
        "['console']['formatter'])"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert out.stdout.split() == [
        "True", "True", "True", "True", "True", "DENY", "True", "False", "json"
    ], out.stderr  # fmt: skip


@pytest.mark.django_db
def test_responses_carry_security_headers(curator) -> None:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(curator)
    r = client.get("/curate/")
    assert r["X-Content-Type-Options"] == "nosniff"
    assert r["X-Frame-Options"] == "DENY"
    assert r["Referrer-Policy"] == "same-origin"
    assert r["X-Request-ID"]


@pytest.mark.django_db
def test_uploads_and_form_bodies_are_capped(curator, settings) -> None:  # type: ignore[no-untyped-def]
    """Form fields past DATA_UPLOAD_MAX_NUMBER_FIELDS, bodies past DATA_UPLOAD_MAX_MEMORY_SIZE and
    upload batches past INGEST_UPLOAD_MAX_BYTES are refused before they fill memory or disk."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE <= 10 * 1024 * 1024
    assert settings.FILE_UPLOAD_MAX_MEMORY_SIZE <= 5 * 1024 * 1024
    client = Client()
    client.force_login(curator)
    fields = {f"f{i}": "x" for i in range(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 5)}
    r = client.post("/curate/synsets/activate/", fields)
    assert r.status_code == 400  # TooManyFieldsSent
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    r = client.post("/curate/synsets/activate/", {"synsets": "n02084071 " * 500})
    assert r.status_code == 400  # RequestDataTooBig
    settings.INGEST_UPLOAD_MAX_BYTES = 10_000
    big = SimpleUploadedFile("big.jpg", b"\xff" * 50_000, content_type="image/jpeg")
    r = client.post("/api/v1/imports/", {"files": [big]}, format="multipart")
    assert r.status_code == 413

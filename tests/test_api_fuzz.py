"""Schemathesis against the live OpenAPI schema of a real gunicorn, as a curator with a token:
no 5xx on any generated request, every response conforms to the schema (body and content type).

The schema itself is generated with no warnings (`spectacular --validate --fail-on-warn`).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from rest_framework.authtoken.models import Token

from annotate.services.external import study_create
from annotate.services.gold import gold_mark
from annotate.services.queue import queue_sync
from annotate.services.sample import sample_candidates
from curation.models import Candidate
from tests.conftest import ROOT, child_env, make_user, purge_queues

CHECKS = "not_a_server_error,response_schema_conformance,content_type_conformance"


def test_schema_generates_without_warnings(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "manage.py", "spectacular", "--validate", "--fail-on-warn",
         "--file", str(tmp_path / "schema.yml")],
        cwd=ROOT, env=child_env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert "/api/v1/annotate/next-task/" in (tmp_path / "schema.yml").read_text()


@pytest.mark.slow
def test_schemathesis_finds_no_server_errors_and_no_schema_violations(  # type: ignore[no-untyped-def]
    web_server, tmp_path: Path
) -> None:
    purge_queues()
    items = sample_candidates(wnids=["n01503061"], positives=4, negatives=2, seed=5)
    queue_sync(full=True)
    gold_mark(candidate=Candidate.objects.get(pk=items[0].candidate_id), truth=True)
    study_create(name="fuzz study", platform="prolific", tasks_required=1)
    make_user("anna", "annotator")
    token = Token.objects.create(user=make_user("cora", "curator")).key
    st = Path(sys.executable).parent / "schemathesis"
    report = tmp_path / "schemathesis.txt"
    try:
        run = subprocess.run(
            [str(st), "run", f"{web_server.url}/api/schema/",
             "-H", f"Authorization: Token {token}",
             "--checks", CHECKS, "--phases", "examples,coverage,fuzzing",
             "-n", "10", "--seed", "7", "--no-shrink", "--request-timeout", "60",
             "--continue-on-failure", "--max-failures", "50"],
            cwd=ROOT, env=child_env(), capture_output=True, text=True, timeout=900,
        )  # fmt: skip
    finally:
        purge_queues()
    report.write_text(run.stdout + run.stderr)
    tail = (run.stdout + run.stderr)[-6000:]
    assert run.returncode == 0, tail
    assert ("passed" in run.stdout and "43/43" in run.stdout.replace(" ", "")) or "Tested" in tail

"""Crowd workers through signed links: admission, tampering, expiry, replay, completion code."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.core import signing
from django.test import Client
from django.utils import timezone

from annotate.models import Annotator, StudyParticipant
from annotate.services.external import LinkError, link_open, link_path, link_token, study_create
from tests.conftest import make_user

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


@pytest.fixture
def study(db):  # type: ignore[no-untyped-def]
    return study_create(
        name="pilot",
        platform="prolific",
        tasks_required=1,
        return_url="https://app.prolific.com/submissions/complete?cc={code}",
    )


def test_signed_link_admits_the_worker_and_gives_the_code_when_done(sample, study) -> None:
    client = Client()
    url = link_path(link_token(study=study, worker_id="5f1e2d3c4b5a", external_ref="SESSION9"))
    response = client.get(url + "?PROLIFIC_PID=5f1e2d3c4b5a&STUDY_ID=x")
    assert response.status_code == 302 and response.url == "/annotate/"
    annotator = Annotator.objects.get(platform="prolific", external_id="5f1e2d3c4b5a")
    assert StudyParticipant.objects.get(annotator=annotator).external_ref == "SESSION9"
    page = client.get("/annotate/")
    assert page.status_code == 200 and 'class="tile"' in page.content.decode()
    task = client.get("/api/v1/annotate/next-task").json()["task"]
    body = {
        "client_token": uuid.uuid4().hex,
        "answers": [{"item": i["item"], "shows": True} for i in task["items"]],
    }
    reply = client.post(
        f"/api/v1/annotate/tasks/{task['id']}/submit", body, content_type="application/json"
    ).json()
    assert reply["completion"] == {
        "code": study.completion_code,
        "return_url": f"https://app.prolific.com/submissions/complete?cc={study.completion_code}",
    }
    assert StudyParticipant.objects.get(annotator=annotator).completed_at is not None
    assert study.completion_code in client.get("/annotate/").content.decode()
    # The worker is an annotator and nothing more.
    assert client.get("/curate/").status_code == 403


def test_tampered_expired_or_replayed_links_are_refused(sample, study) -> None:
    token = link_token(study=study, worker_id="W1")
    payload = signing.loads(token, salt="synsetlab.annotate.join")
    forged = signing.dumps({**payload, "w": "W2"}, salt="another salt")
    for bad in (token[:-3] + "abc", forged, "garbage"):
        with pytest.raises(LinkError, match="not valid"):
            link_open(token=bad)
        response = Client().get(link_path(bad))
        assert response.status_code == 403 and "not valid" in response.content.decode()
    with pytest.raises(LinkError, match="another worker"):
        link_open(token=token, claimed_worker="W2")
    assert Client().get(link_path(token) + "?workerId=W2").status_code == 403
    old = link_token(study=study, worker_id="W3", now=timezone.now() - timedelta(hours=100))
    with pytest.raises(LinkError, match="expired"):
        link_open(token=old)
    study.active = False
    study.save()
    with pytest.raises(LinkError, match="closed"):
        link_open(token=token)
    assert not Annotator.objects.filter(external_id__in=["W2", "W3"]).exists()


def test_a_session_is_bound_to_one_worker_id(sample, study) -> None:
    client = Client()
    client.force_login(make_user("someone", "annotator"))
    client.get(link_path(link_token(study=study, worker_id="W7")))
    assert int(client.session["_auth_user_id"]) == Annotator.objects.get(external_id="W7").user_id
    client.get(link_path(link_token(study=study, worker_id="W8")))
    assert int(client.session["_auth_user_id"]) == Annotator.objects.get(external_id="W8").user_id


def test_amt_preview_and_bad_worker_ids(sample, study) -> None:
    token = link_token(study=study, worker_id="A1")
    preview = Client().get(link_path(token) + "?assignmentId=ASSIGNMENT_ID_NOT_AVAILABLE")
    assert preview.status_code == 200 and "Accept the task" in preview.content.decode()
    for bad in ("", " ", "=1+2", "a b", "x" * 200, "<b>"):
        with pytest.raises(ValueError, match="invalid worker id"):
            link_token(study=study, worker_id=bad)


def test_blocked_worker_cannot_rejoin(sample, study) -> None:
    from annotate.services.annotators import annotator_external, annotator_set_status

    annotator = annotator_external(platform="prolific", external_id="W9")
    annotator_set_status(annotator=annotator, status="blocked")
    with pytest.raises(LinkError, match="cannot take part"):
        link_open(token=link_token(study=study, worker_id="W9"))

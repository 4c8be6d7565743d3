"""The annotate and quality APIs: flows, hostile input, gold never leaking, and roles checked
per endpoint (annotators reach their annotate endpoints and nothing else)."""

from __future__ import annotations

import json
import re
import uuid
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from annotate.models import Annotator, Assignment, GoldItem, Vote
from annotate.services.gold import gold_mark
from curation.models import Candidate, Job
from tests.annotate.conftest import BIRD, INSECT
from tests.conftest import make_user

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

ANNOTATOR_PATHS = re.compile(r"^/api/v1/annotate/")
NUMERIC_KEYS = {"width", "height", "heartbeat_seconds", "tasks_today", "images_today", "recorded"}


def leaves(value, key=""):  # type: ignore[no-untyped-def]
    if isinstance(value, dict):
        for k, v in value.items():
            yield from leaves(v, k)
    elif isinstance(value, list):
        for v in value:
            yield from leaves(v, key)
    else:
        yield key, value


def submit_body(task: dict, shows: bool = True, token: str | None = None) -> dict:
    return {
        "client_token": token or uuid.uuid4().hex,
        "answers": [{"item": i["item"], "shows": shows, "ms": 900} for i in task["items"]],
        "duration_ms": 20_000,
    }


def test_annotators_reach_only_their_endpoints_checked_per_endpoint(sample) -> None:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    client = APIClient()
    client.force_authenticate(make_user("anna", "annotator"))
    checked = 0
    for path, operations in schema["paths"].items():
        url = re.sub(r"\{(wnid)\}", BIRD, path)
        url = re.sub(r"\{[^}]+\}", "1", url)
        for method in operations:
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            response = getattr(client, method)(url, {}, format="json")
            if ANNOTATOR_PATHS.match(path):
                assert response.status_code != 403, (method, path)
            else:
                assert response.status_code == 403, (method, path, response.status_code)
            checked += 1
    assert checked >= 25
    # And without any role, not even the annotate endpoints.
    nobody = APIClient()
    nobody.force_authenticate(make_user("nora", None))
    assert nobody.get("/api/v1/annotate/next-task").status_code == 403
    assert APIClient().get("/api/v1/annotate/next-task").status_code in (401, 403)


def test_next_task_submit_heartbeat_over_the_api(sample, annotator_api: APIClient) -> None:
    reply = annotator_api.get("/api/v1/annotate/next-task").json()
    task = reply["task"]
    assert reply["progress"] == {"tasks_today": 0, "images_today": 0, "standing": "good standing"}
    assert set(task) == {"id", "status", "expires_at", "heartbeat_seconds", "synset", "items"}
    assert task["synset"]["wnid"] in (BIRD, "n02159955")
    assert task["synset"]["path"][0] == "entity"
    for item in task["items"]:
        assert set(item) == {"item", "thumb", "original", "width", "height"}
        assert re.fullmatch(r"/i/[0-9a-f]{64}/thumb", item["thumb"])
    url = f"/api/v1/annotate/tasks/{task['id']}"
    beat = annotator_api.post(f"{url}/heartbeat")
    assert beat.status_code == 200 and beat.json()["status"] == "open"
    body = submit_body(task)
    first = annotator_api.post(f"{url}/submit", body, format="json")
    assert first.status_code == 200, first.content
    assert first.json()["recorded"] == len(task["items"])
    assert first.json()["progress"]["tasks_today"] == 1
    again = annotator_api.post(f"{url}/submit", body, format="json")
    assert again.status_code == 200 and again.json()["replayed"] is True
    assert Vote.objects.count() == len(task["items"])
    assert all(v.source == "api" or v.source == "ui" for v in Vote.objects.all())
    conflict = annotator_api.post(f"{url}/submit", submit_body(task), format="json")
    assert conflict.status_code == 409
    assert Vote.objects.count() == len(task["items"])


def test_hostile_submits_are_refused_and_store_nothing(sample, annotator_api: APIClient) -> None:
    task = annotator_api.get("/api/v1/annotate/next-task").json()["task"]
    url = f"/api/v1/annotate/tasks/{task['id']}/submit"
    cases = [
        ([1, 2], "expected a JSON object"),
        ({"client_token": "x", "answers": []}, "client_token"),
        ({"client_token": uuid.uuid4().hex, "answers": "all"}, "answers must be a list"),
        (
            {"client_token": uuid.uuid4().hex, "answers": [{"item": "nope", "shows": True}]},
            "unknown item token",
        ),
        (
            {
                "client_token": uuid.uuid4().hex,
                "answers": [{"item": task["items"][0]["item"], "shows": "yes"}],
            },
            "shows must be",
        ),
        ({**submit_body(task), "duration_ms": -5}, "duration_ms"),
    ]
    for body, message in cases:
        response = annotator_api.post(url, body, format="json")
        assert response.status_code == 400, (body, response.content)
        assert message in response.json()["detail"]
    assert Vote.objects.count() == 0
    # Someone else's task is not found; a made-up one neither.
    other = APIClient()
    other.force_authenticate(make_user("bob", "annotator"))
    assert other.post(url, submit_body(task), format="json").status_code == 404
    assert other.post(f"/api/v1/annotate/tasks/{task['id']}/heartbeat").status_code == 404
    assert (
        annotator_api.post("/api/v1/annotate/tasks/zzz/submit", {}, format="json").status_code
        == 400
    )
    assert Vote.objects.count() == 0


def test_expired_task_heartbeat_is_gone_but_answers_still_count(sample, annotator_api) -> None:  # type: ignore[no-untyped-def]
    task = annotator_api.get("/api/v1/annotate/next-task").json()["task"]
    Assignment.objects.filter(token=task["id"]).update(
        expires_at=timezone.now() - timedelta(seconds=5)
    )
    annotator_api.get("/api/v1/annotate/next-task")  # expires leases on the way
    response = annotator_api.post(f"/api/v1/annotate/tasks/{task['id']}/heartbeat")
    assert response.status_code == 410
    submitted = annotator_api.post(
        f"/api/v1/annotate/tasks/{task['id']}/submit", submit_body(task), format="json"
    )
    assert submitted.status_code == 200 and submitted.json()["recorded"] == len(task["items"])


def test_gold_never_appears_in_anything_an_annotator_sees(sample, settings) -> None:
    settings.ANNOTATE_GOLD_FRACTION = 0.5
    settings.ANNOTATE_TASK_SIZE = 30
    gold_ids = []
    for item in sample.of(BIRD)[:8]:
        gold_mark(candidate=Candidate.objects.get(pk=item.candidate_id), truth=item.truth)
        gold_ids.append(item.candidate_id)
    user = make_user("gina", "annotator")
    api = APIClient()
    api.force_authenticate(user)
    seen_gold = 0
    from django.test import Client

    browser = Client()
    browser.force_login(user)
    html = browser.get("/annotate/").content.decode()
    for _ in range(6):
        reply = api.get("/api/v1/annotate/next-task").json()
        task = reply["task"]
        if task is None:
            break
        text = json.dumps(reply)
        assert "gold" not in text.lower()
        tokens = {i["item"] for i in task["items"]}
        gold_tokens = set(
            Assignment.objects.get(token=task["id"])
            .items.filter(is_gold=True)
            .values_list("token", flat=True)
        )
        seen_gold += len(gold_tokens)
        assert gold_tokens <= tokens
        ids = {str(pk) for pk in Candidate.objects.values_list("pk", flat=True)}
        for key, value in leaves(reply):
            # Numbers only where they are sizes or counts; no string is a candidate id.
            if isinstance(value, int):
                assert key in NUMERIC_KEYS, key
            if isinstance(value, str):
                assert value not in ids and not any(f"/{i}/" in value for i in ids), value
        reply = api.post(
            f"/api/v1/annotate/tasks/{task['id']}/submit", submit_body(task, shows=False),
            format="json",
        ).json()  # fmt: skip
        assert "gold" not in json.dumps(reply).lower()
        assert set(reply) == {"task", "recorded", "completion", "progress"}
    assert seen_gold > 0  # gold was mixed in, and nothing above could tell which
    assert "gold" not in html.lower()
    assert "is_gold" not in html


@pytest.mark.parametrize("auto_block", [True, False])
def test_wrong_gold_answers_take_an_annotator_out_of_good_standing_on_submit(
    sample, settings, auto_block
) -> None:  # type: ignore[no-untyped-def]
    """Each submit re-tallies the annotator's gold answers; once they are surely under the floor
    the annotator is blocked (ANNOTATE_AUTO_BLOCK) or flagged for review, and says so."""
    from annotate.models import AssignmentItem

    settings.ANNOTATE_GOLD_FRACTION = 0.5
    settings.ANNOTATE_GOLD_MIN_ANSWERS = 4
    settings.ANNOTATE_AUTO_BLOCK = auto_block
    truth = sample.truth()
    for item in sample.of(BIRD)[:8]:
        gold_mark(candidate=Candidate.objects.get(pk=item.candidate_id), truth=item.truth)
    user = make_user("gil", "annotator")
    api = APIClient()
    api.force_authenticate(user)
    gold_seen = 0
    while (task := api.get("/api/v1/annotate/next-task").json()["task"]) is not None:
        cells = {
            c.token: c
            for c in AssignmentItem.objects.filter(token__in=[i["item"] for i in task["items"]])
        }
        # Gold answered wrongly, everything else rightly.
        answers = [
            {"item": t, "shows": truth[c.candidate_id] != c.is_gold} for t, c in cells.items()
        ]
        gold_seen += sum(c.is_gold for c in cells.values())
        reply = api.post(
            f"/api/v1/annotate/tasks/{task['id']}/submit",
            {"client_token": uuid.uuid4().hex, "answers": answers},
            format="json",
        )
        assert reply.status_code == 200, reply.json()
        annotator = Annotator.objects.get(user=user)
        assert (annotator.gold_answers, annotator.gold_correct) == (gold_seen, 0)
        if annotator.status != Annotator.Status.ACTIVE:
            break
    assert gold_seen >= 4
    expected = Annotator.Status.BLOCKED if auto_block else Annotator.Status.FLAGGED
    assert annotator.status == expected
    assert "gold accuracy 0%" in annotator.status_reason
    standing = api.get("/api/v1/annotate/me").json()["standing"]
    assert standing == ("paused" if auto_block else "under review")


def test_blocked_annotator_gets_403_with_a_reason(sample, annotator, annotator_api) -> None:  # type: ignore[no-untyped-def]
    from annotate.services.annotators import annotator_for_user, annotator_set_status

    annotator_set_status(annotator=annotator_for_user(annotator), status="blocked")
    response = annotator_api.get("/api/v1/annotate/next-task")
    assert response.status_code == 403 and "paused" in response.json()["detail"]


# --- curator endpoints ----------------------------------------------------------------------------


def test_curator_gold_adjudication_block_policy_and_consensus_job(
    sample, curator_api: APIClient, annotator_api: APIClient
) -> None:
    candidate = Candidate.objects.filter(synset__wnid=BIRD).first()
    created = curator_api.post("/api/v1/quality/gold/", {"candidate": candidate.pk, "truth": True})
    assert created.status_code == 201 and created.json()["decided_by"] == "gold"
    listed = curator_api.get("/api/v1/quality/gold/").json()
    assert listed["count"] == 1 and listed["results"][0]["id"] == candidate.pk
    assert (
        curator_api.post(
            "/api/v1/quality/gold/", {"candidate": 999_999_999, "truth": True}
        ).status_code
        == 404
    )
    assert curator_api.delete(f"/api/v1/quality/gold/{candidate.pk}/").status_code == 204
    assert not GoldItem.objects.exists()

    other = Candidate.objects.filter(synset__wnid=BIRD).last()
    r = curator_api.post("/api/v1/quality/adjudicate/", {"candidate": other.pk, "accept": False})
    assert r.status_code == 200 and r.json()["state"] == "rejected"
    Candidate.objects.filter(pk=candidate.pk).update(state="excluded")
    r = curator_api.post("/api/v1/quality/adjudicate/", {"candidate": candidate.pk, "accept": True})
    assert r.status_code == 400 and "excluded" in r.json()["detail"]

    task = annotator_api.get("/api/v1/annotate/next-task").json()["task"]
    annotator_api.post(
        f"/api/v1/annotate/tasks/{task['id']}/submit", submit_body(task), format="json"
    )
    anna = Annotator.objects.get(user__username="anna")
    rows = curator_api.get("/api/v1/quality/annotators/").json()
    assert rows["count"] >= 1 and rows["results"][0]["votes_count"] == len(task["items"])
    blocked = curator_api.post(f"/api/v1/quality/annotators/{anna.pk}/block/", {"reason": "test"})
    assert blocked.status_code == 200 and blocked.json()["status"] == "blocked"
    assert blocked.json()["recomputed"] == len(task["items"])
    assert (
        curator_api.post(f"/api/v1/quality/annotators/{anna.pk}/unblock/").json()["status"]
        == "active"
    )

    detail = curator_api.get(f"/api/v1/quality/synsets/{BIRD}/").json()
    assert detail["wnid"] == BIRD and detail["counts"]["rejected"] >= 1
    assert curator_api.get("/api/v1/quality/synsets/").status_code == 200
    assert curator_api.get("/api/v1/quality/synsets/n99999999/").status_code == 404
    patched = curator_api.patch(
        f"/api/v1/quality/synsets/{BIRD}/",
        {"method": "majority", "majority_votes": 5},
        format="json",
    )
    assert patched.status_code == 200 and patched.json()["method"] == "majority"
    bad = curator_api.patch(
        f"/api/v1/quality/synsets/{BIRD}/", {"threshold_override": 2}, format="json"
    )
    assert bad.status_code == 400

    job = curator_api.post("/api/v1/quality/consensus/", {"synsets": [BIRD]}, format="json")
    assert job.status_code == 202 and Job.objects.get(pk=job.json()["id"]).kind == "consensus"
    assert (
        curator_api.post(
            "/api/v1/quality/consensus/", {"synsets": ["nope.n.99"]}, format="json"
        ).status_code
        == 400
    )


def test_votes_import_api(sample, curator_api: APIClient) -> None:
    item = sample.of(BIRD)[0]
    csv_text = (
        "image,worker,label\n"
        f"{item.sha256},W1,yes\n"
        f"{item.sha256},W2,no\n"
        f"{'0' * 64},W3,yes\n"
        f"{item.sha256},=cmd|' /C calc'!A0,yes\n"
    )
    upload = SimpleUploadedFile("votes.csv", csv_text.encode(), content_type="text/csv")
    r = curator_api.post(
        "/api/v1/votes/import", {"file": upload, "synset": BIRD}, format="multipart"
    )
    assert r.status_code == 200, r.content
    report = r.json()
    assert report["imported"] == 2 and report["problem_count"] == 2
    reasons = " ".join(p["reason"] for p in report["problems"])
    assert "unknown image" in reasons and "invalid worker id" in reasons
    upload = SimpleUploadedFile("votes.csv", b"picture,who,verdict\n", content_type="text/csv")
    r = curator_api.post(
        "/api/v1/votes/import", {"file": upload, "synset": BIRD}, format="multipart"
    )
    assert r.status_code == 400 and "missing column(s): image, worker, label" in r.json()["detail"]
    assert curator_api.post("/api/v1/votes/import", {}, format="multipart").status_code == 400


def test_study_links_api(sample, curator_api: APIClient) -> None:
    study = curator_api.post(
        "/api/v1/quality/studies/", {"name": "pilot", "platform": "mturk", "tasks_required": 3}
    ).json()
    assert study["completion_code"]
    links = curator_api.post(
        f"/api/v1/quality/studies/{study['id']}/links/",
        {"workers": ["A1B2C3", "bad worker"]},
        format="json",
    ).json()
    assert len(links["links"]) == 1 and "/annotate/join/" in links["links"][0]["url"]
    assert links["problems"][0]["worker"] == "bad worker"


def test_gold_and_escalated_lists_are_paginated_and_filtered(
    sample, curator_api: APIClient
) -> None:
    from annotate.services.gold import gold_mark

    birds = list(Candidate.objects.filter(synset__wnid=BIRD).order_by("pk"))
    insects = list(Candidate.objects.filter(synset__wnid=INSECT).order_by("pk"))
    for i, candidate in enumerate(birds[:5] + insects[:2]):
        gold_mark(candidate=candidate, truth=i % 2 == 0)
    Candidate.objects.filter(pk__in=[c.pk for c in birds[5:9]]).update(state="escalated")

    page = curator_api.get("/api/v1/quality/gold/", {"page_size": 3}).json()
    assert page["count"] == 7 and len(page["results"]) == 3 and page["next"]
    rest = curator_api.get(page["next"]).json()
    assert len(rest["results"]) == 3
    seen = {r["id"] for r in page["results"] + rest["results"]}
    assert len(seen) == 6  # no row twice across pages
    bird_gold = curator_api.get("/api/v1/quality/gold/", {"synset": BIRD}).json()
    assert bird_gold["count"] == 5 and {r["wnid"] for r in bird_gold["results"]} == {BIRD}
    yes = curator_api.get("/api/v1/quality/gold/", {"truth": "yes"}).json()
    assert yes["count"] == 4 and all(r["truth"] for r in yes["results"])

    escalated = curator_api.get("/api/v1/quality/escalated/", {"page_size": 2}).json()
    assert escalated["count"] == 4 and len(escalated["results"]) == 2
    assert {r["state"] for r in escalated["results"]} == {"escalated"}
    assert curator_api.get("/api/v1/quality/escalated/", {"synset": INSECT}).json()["count"] == 0
    # A filter naming no synset is an error, not "everything".
    missing = curator_api.get("/api/v1/quality/escalated/", {"synset": "n99999999"})
    assert missing.status_code == 404 and "no synset" in missing.json()["detail"]
    assert curator_api.get("/api/v1/quality/gold/", {"synset": "nope.n.09"}).status_code == 404
    assert curator_api.get("/api/v1/quality/gold/", {"page_size": 5000}).json()["count"] == 7

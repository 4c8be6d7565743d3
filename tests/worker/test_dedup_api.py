"""Duplicates API and review page: listing with filters and pagination, the review actions,
the image API's duplicate_group, hostile input, and curator-only permissions."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.test import Client
from rest_framework.test import APIClient

from curation.models import (
    AuditEvent,
    Candidate,
    DuplicateGroup,
    DuplicateMember,
    Image,
    NotDuplicatePair,
)
from curation.services.dedup import dedup_start
from curation.services.ingest import ingest_start
from tests.worker.test_dedup import build_set, image_of


@pytest.fixture
def groups(db, settings, tmp_path: Path):  # type: ignore[no-untyped-def]
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "media"), "base_url": "/media/"},
        },
    }
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.DATA_ROOT = tmp_path / "data"
    _, copies = build_set(tmp_path / "src", n_originals=5, planted=2)
    ingest_start(source=tmp_path / "src", source_name="api", inline=True)
    assert dedup_start(inline=True).status == "succeeded"
    return copies


def test_list_filters_and_pagination(groups, curator_api: APIClient) -> None:  # type: ignore[no-untyped-def]
    r = curator_api.get("/api/v1/duplicates/")
    assert r.status_code == 200
    body = r.json()
    assert body["count"] == 2
    g = body["results"][0]
    assert g["kind"] == "near_exact" and g["crosses_synsets"] is True and g["size"] == 5
    assert len(g["member_ids"]) == 5 and g["representative"] in g["member_ids"]
    assert {m["kind"] for m in g["members"]} >= {"exact", "near_exact"}
    assert all(0 < m["similarity"] <= 1 for m in g["members"])
    assert curator_api.get("/api/v1/duplicates/?kind=near").json()["count"] == 0
    assert curator_api.get("/api/v1/duplicates/?kind=near_exact").json()["count"] == 2
    assert curator_api.get("/api/v1/duplicates/?crosses_synsets=false").json()["count"] == 0
    assert curator_api.get("/api/v1/duplicates/?status=confirmed").json()["count"] == 0
    page = curator_api.get("/api/v1/duplicates/?page_size=1").json()
    assert page["count"] == 2 and len(page["results"]) == 1 and page["next"]
    for bad in ("kind=fuzzy", "crosses_synsets=maybe", "status=%00", "kind=" + "x" * 5000):
        r = curator_api.get(f"/api/v1/duplicates/?{bad}")
        assert r.status_code == 400, bad
    assert curator_api.get("/api/v1/duplicates/999999/").status_code == 404


def test_review_actions(groups, curator_api: APIClient) -> None:  # type: ignore[no-untyped-def]
    group = DuplicateGroup.objects.order_by("pk").first()
    members = list(group.members.values_list("image_id", flat=True))
    r = curator_api.post(f"/api/v1/duplicates/{group.pk}/confirm/")
    assert r.status_code == 200 and r.json()["group"]["status"] == "confirmed"
    assert AuditEvent.objects.filter(action="duplicates.confirm").count() == 1

    other = next(m for m in members if m != group.representative_id)
    r = curator_api.post(f"/api/v1/duplicates/{group.pk}/representative/", {"image": other})
    assert r.status_code == 200 and r.json()["group"]["representative"] == other
    assert Candidate.objects.get(image_id=other).state == "pending"

    victim = next(m for m in members if m != other)
    r = curator_api.post(f"/api/v1/duplicates/{group.pk}/split/", {"image": victim}, format="json")
    assert r.status_code == 200
    assert victim not in r.json()["group"]["member_ids"]
    assert NotDuplicatePair.objects.count() == len(members) - 1
    assert Candidate.objects.get(image_id=victim).state == "pending"
    detail = curator_api.get(f"/api/v1/images/{victim}/").json()
    assert detail["duplicate_group"] is None
    detail = curator_api.get(f"/api/v1/images/{other}/").json()
    assert detail["duplicate_group"]["id"] == group.pk
    assert detail["duplicate_group"]["is_representative"] is True
    assert AuditEvent.objects.filter(action__startswith="duplicates.").count() == 3


@pytest.mark.parametrize(
    "payload", [{}, {"image": "abc"}, {"image": -1}, {"image": 2**70}, {"image": 999_999}]
)
def test_hostile_image_choice(groups, curator_api: APIClient, payload) -> None:  # type: ignore[no-untyped-def]
    group = DuplicateGroup.objects.first()
    for action in ("split", "representative"):
        r = curator_api.post(f"/api/v1/duplicates/{group.pk}/{action}/", payload, format="json")
        assert r.status_code == 400, (action, payload, r.content)
    assert NotDuplicatePair.objects.count() == 0


def test_annotators_and_anonymous_are_refused(groups, annotator_api: APIClient) -> None:  # type: ignore[no-untyped-def]
    group = DuplicateGroup.objects.first()
    assert annotator_api.get("/api/v1/duplicates/").status_code == 403
    for action in ("confirm", "split", "representative"):
        r = annotator_api.post(f"/api/v1/duplicates/{group.pk}/{action}/", {"image": 1})
        assert r.status_code == 403
    assert APIClient().get("/api/v1/duplicates/").status_code in (401, 403)
    group.refresh_from_db()
    assert group.status == "proposed"


def test_review_page(groups, curator, annotator) -> None:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(curator)
    r = client.get("/curate/duplicates/")
    assert r.status_code == 200
    html = r.content.decode()
    assert html.count('class="card dup-group"') == 2 and "crosses synsets" in html
    assert client.get("/curate/duplicates/?kind=bogus").status_code == 400
    group = DuplicateGroup.objects.first()
    r = client.post(f"/curate/duplicates/{group.pk}/confirm/", {"next": "https://evil.example/"})
    assert r.status_code == 302 and r["Location"] == "/curate/duplicates/"
    group.refresh_from_db()
    assert group.status == "confirmed"
    assert client.post(f"/curate/duplicates/{group.pk}/split/", {"image": "x"}).status_code == 400
    image = next(iter(groups))
    r = client.post(f"/curate/duplicates/{group.pk}/split/", {"image": image_of(image) + 10**6})
    assert r.status_code == 400
    dashboard = client.get("/curate/").content.decode()
    assert dashboard.count('action="/curate/duplicates/start/"') == 1  # the Find duplicates button

    client.force_login(annotator)
    assert client.get("/curate/duplicates/").status_code == 403
    assert client.post(f"/curate/duplicates/{group.pk}/confirm/").status_code == 403
    assert client.post("/curate/duplicates/start/").status_code == 403


def test_an_images_group_from_its_page_the_list_and_the_api(groups, curator, curator_api) -> None:  # type: ignore[no-untyped-def]
    original, made = next(iter(groups.items()))
    oid, copy = image_of(original), image_of(made["resize"])
    group = DuplicateGroup.objects.get(members__image_id=oid)
    other = DuplicateGroup.objects.exclude(pk=group.pk).get()

    body = curator_api.get(f"/api/v1/duplicates/?image={copy}").json()
    assert [g["id"] for g in body["results"]] == [group.pk]
    for bad in ("abc", "-1", "1.5", "9" * 40, "%00"):
        assert curator_api.get(f"/api/v1/duplicates/?image={bad}").status_code == 400, bad
    assert curator_api.get("/api/v1/duplicates/?image=999999").json()["count"] == 0

    client = Client()
    client.force_login(curator)
    html = client.get(f"/curate/duplicates/?image={copy}").content.decode()
    assert html.count('class="card dup-group"') == 1 and f'id="group-{group.pk}"' in html
    assert f'id="group-{other.pk}"' not in html
    assert f'<input type="hidden" name="image" value="{copy}">' in html  # kept by the filters
    assert client.get("/curate/duplicates/?image=abc").status_code == 400

    page = client.get(f"/curate/images/{copy}/").content.decode()
    assert f"group {group.pk} · 5 images" in page
    assert f'href="/curate/duplicates/?image={copy}#group-{group.pk}"' in page
    assert f'href="/curate/images/{group.representative_id}/"' in page
    members = set(group.members.values_list("image_id", flat=True)) - {copy}
    for m in members:  # every other member, linked from the page
        assert f'<a href="/curate/images/{m}/"><img' in page
    assert page.count('<li class="dup-member') == len(members)
    alone = next(
        i
        for i in Image.objects.values_list("pk", flat=True)
        if not DuplicateMember.objects.filter(image_id=i).exists()
    )
    assert "In no duplicate group." in client.get(f"/curate/images/{alone}/").content.decode()

"""/api/v1/synsets: pagination with count, filters, detail, activation, and role checks."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from curation.models import Job

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


def test_list_is_paginated_with_total_count(curator_api: APIClient) -> None:
    r = curator_api.get("/api/v1/synsets/")
    assert r.status_code == 200
    assert r.json()["count"] == 82_115
    assert len(r.json()["results"]) == 50
    r = curator_api.get("/api/v1/synsets/?page_size=1000")
    assert len(r.json()["results"]) == 1000
    r = curator_api.get("/api/v1/synsets/?page_size=5000")
    assert len(r.json()["results"]) == 1000


def test_q_finds_husky_by_lemma(curator_api: APIClient) -> None:
    results = curator_api.get("/api/v1/synsets/?q=husky").json()["results"]
    assert results[0]["wnid"] == "n02109961"
    assert results[0]["name"] == "eskimo_dog.n.01"


def test_q_by_wnid_and_name(curator_api: APIClient) -> None:
    assert (
        curator_api.get("/api/v1/synsets/?q=n02084071").json()["results"][0]["name"] == "dog.n.01"
    )
    assert (
        curator_api.get("/api/v1/synsets/?q=dog.n.01").json()["results"][0]["wnid"] == "n02084071"
    )


def test_under_filters_descendants(curator_api: APIClient) -> None:
    assert curator_api.get("/api/v1/synsets/?under=n00001740").json()["count"] == 82_114
    assert curator_api.get("/api/v1/synsets/?under=n02084071").json()["count"] == 189
    r = curator_api.get("/api/v1/synsets/?under=n99999999")
    assert r.status_code == 400


def test_active_filter(curator_api: APIClient) -> None:
    curator_api.post(
        "/api/v1/synsets/activate/", {"synsets": ["n02084071"], "subtree": True}, format="json"
    )
    assert curator_api.get("/api/v1/synsets/?active=true").json()["count"] == 190
    assert curator_api.get("/api/v1/synsets/?active=false").json()["count"] == 82_115 - 190
    assert curator_api.get("/api/v1/synsets/?active=maybe").status_code == 400


def test_detail_has_paths_children_and_counts(curator_api: APIClient) -> None:
    r = curator_api.get("/api/v1/synsets/n02084071/")
    assert r.status_code == 200
    body = r.json()
    assert body["name"] == "dog.n.01"
    assert body["lemmas"] == ["dog", "domestic_dog", "Canis_familiaris"]
    assert body["gloss"].startswith("a member of the genus Canis")
    assert {p["name"] for p in body["parents"]} == {"canine.n.02", "domestic_animal.n.01"}
    assert any(c["name"] == "puppy.n.01" for c in body["children"])
    assert body["descendant_count"] == 189
    assert len(body["hypernym_paths"]) == 2
    assert body["counts"]["total"] == 0 and body["counts"]["accepted"] == 0
    assert curator_api.get("/api/v1/synsets/n99999999/").status_code == 404


def test_activate_endpoints(curator_api: APIClient) -> None:
    r = curator_api.post("/api/v1/synsets/n02084071/activate/", {"target": 100}, format="json")
    assert r.status_code == 200 and r.json()["changed"] == 1
    r = curator_api.post("/api/v1/synsets/activate/", {"preset": "ilsvrc1k"}, format="json")
    assert r.json()["matched"] == 1000
    r = curator_api.post("/api/v1/synsets/activate/", {"synsets": ["nope.n.01"]}, format="json")
    assert r.status_code == 400 and "nope.n.01" in r.json()["unknown"]
    r = curator_api.post("/api/v1/synsets/activate/", {"synsets": "n02084071"}, format="json")
    assert r.status_code == 400
    r = curator_api.post(
        "/api/v1/synsets/activate/", {"target": -5, "preset": "ilsvrc1k"}, format="json"
    )
    assert r.status_code == 400


def test_import_wordnet_endpoint_creates_a_job(
    curator_api: APIClient, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        r = curator_api.post("/api/v1/synsets/import-wordnet/", {}, format="json")
    assert r.status_code == 202
    assert Job.objects.get(pk=r.json()["id"]).kind == "import_wordnet"
    assert len(callbacks) == 1  # dispatched to the worker once the transaction commits


def test_annotator_gets_403(annotator_api: APIClient) -> None:
    assert annotator_api.get("/api/v1/synsets/").status_code == 403
    assert annotator_api.get("/api/v1/synsets/n02084071/").status_code == 403
    r = annotator_api.post("/api/v1/synsets/activate/", {"preset": "ilsvrc1k"}, format="json")
    assert r.status_code == 403
    assert (
        annotator_api.post("/api/v1/synsets/import-wordnet/", {}, format="json").status_code == 403
    )
    assert annotator_api.get("/api/v1/jobs/").status_code == 403


def test_anonymous_is_refused() -> None:
    client = APIClient()
    assert client.get("/api/v1/synsets/").status_code == 401


def test_token_auth_works(curator) -> None:  # type: ignore[no-untyped-def]
    from rest_framework.authtoken.models import Token

    token = Token.objects.create(user=curator)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert client.get("/api/v1/synsets/?q=husky").status_code == 200


def test_openapi_schema_is_served(curator_api: APIClient) -> None:
    r = curator_api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert r.status_code == 200
    paths = r.json()["paths"]
    assert "/api/v1/synsets/" in paths and "/api/v1/jobs/{id}/" in paths

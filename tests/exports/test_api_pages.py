"""Exports API and pages: hostile payloads get specific 400s and create nothing; annotators get
403 everywhere; downloads (files and the streamed tar); the version page."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest
from django.test import Client

from curation.models import DatasetVersion, Job
from curation.services.exports import export_create
from tests.conftest import make_user
from tests.exports.conftest import BIRD, CAT, DOG, Planted

pytestmark = pytest.mark.django_db

GOOD = {"synsets": [DOG, CAT, BIRD], "val_per_class": 2, "formats": ["imagefolder"]}

HOSTILE = [
    ({"name": "x1", "config": {**GOOD, "synsets": ["n99999999"]}}, "synsets", "unknown synsets"),
    ({"name": "x2", "config": {**GOOD, "synsets": ["dog; DROP TABLE"]}}, "synsets", "not wnids"),
    ({"name": "x3", "config": {**GOOD, "val_per_class": -1}}, "val_per_class", "between 0"),
    (
        {"name": "x4", "config": {**GOOD, "val_per_class": None, "val_fraction": 1.5}},
        "val_fraction",
        "below 1",
    ),
    (
        {
            "name": "x5",
            "config": {**GOOD, "val_per_class": None, "val_fraction": 0.6, "test_fraction": 0.5},
        },
        "test_fraction",
        "below 1",
    ),
    ({"name": "../etc", "config": GOOD}, "name", "lower-case"),
    ({"name": ".tmp-x", "config": GOOD}, "name", "lower-case"),
    ({"name": "a/b", "config": GOOD}, "name", "lower-case"),
    ({"name": "x6", "config": {**GOOD, "max_per_class": 10**12}}, "max_per_class", "between 1"),
    (
        {"name": "x7", "config": {**GOOD, "min_per_class": 5, "max_per_class": 2}},
        "max_per_class",
        "at least min_per_class",
    ),
    ({"name": "x8", "config": {**GOOD, "formats": ["zip"]}}, "formats", "unknown formats"),
    ({"name": "x9", "config": {**GOOD, "shard_max_bytes": 10}}, "shard_max_bytes", "between"),
    ({"name": "x10", "config": {"val_per_class": 2}}, "synsets", "choose synsets"),
    ({"name": "x11", "config": {**GOOD, "val_per_class": "ten"}}, "val_per_class", "whole"),
    ({"name": "x12", "config": {**GOOD, "bogus": 1}}, "config", "unknown keys"),
    ({"name": "x13", "config": "not an object"}, "config", "must be an object"),
    ({"name": "x14", "config": GOOD, "seed": -3}, "seed", "between 0"),
    ({"name": "preview", "config": GOOD}, "name", "reserved"),
    ({"name": "x15", "config": {**GOOD, "rollup": [DOG]}}, "rollup", "need a subtree"),
    ({"name": "x16", "config": {"subtree": DOG, "rollup": [CAT]}}, "rollup", "not under"),
]


@pytest.mark.parametrize(("payload", "field", "text"), HOSTILE)
def test_hostile_payloads_get_specific_400s_and_create_nothing(
    curator_api, payload, field, text
) -> None:  # type: ignore[no-untyped-def]
    for url in ("/api/v1/exports/", "/api/v1/exports/preview/"):
        if url.endswith("preview/") and field == "name":
            continue
        response = curator_api.post(url, payload, format="json")
        assert response.status_code == 400, response.content
        assert text in response.json()["errors"][field], response.json()
    assert DatasetVersion.objects.count() == 0 and Job.objects.count() == 0


def test_name_taken_is_a_400(curator_api, planted: Planted) -> None:  # type: ignore[no-untyped-def]
    export_create(name="taken", config=GOOD, seed=0, inline=True)
    response = curator_api.post(
        "/api/v1/exports/", {"name": "taken", "config": GOOD}, format="json"
    )
    assert response.status_code == 400
    assert "taken" in response.json()["errors"]["name"]
    assert DatasetVersion.objects.count() == 1


def test_api_create_preview_detail_and_downloads(curator_api, planted: Planted) -> None:  # type: ignore[no-untyped-def]
    preview = curator_api.post(
        "/api/v1/exports/preview/", {"config": GOOD, "seed": 1}, format="json"
    )
    assert preview.status_code == 200
    assert [c["wnid"] for c in preview.json()["classes"]] == sorted([DOG, CAT, BIRD])
    created = curator_api.post(
        "/api/v1/exports/", {"name": "api-v1", "config": GOOD}, format="json"
    )
    assert created.status_code == 202
    body = created.json()
    assert body["status"] == "queued" and body["job"]["kind"] == "export"
    assert body["job"]["queue"] == "cpu"
    export_create(name="api-v2", config=GOOD, seed=1, inline=True)
    detail = curator_api.get("/api/v1/exports/api-v2/").json()
    assert detail["status"] == "ready" and detail["leakage"]["pairs_across_splits"] == 0
    listed = curator_api.get("/api/v1/exports/").json()
    assert {v["name"] for v in listed} == {"api-v1", "api-v2"}
    jsonl = curator_api.get("/api/v1/exports/api-v2/download/manifest.jsonl")
    assert jsonl.status_code == 200
    assert (
        b"".join(jsonl.streaming_content) == (Path(detail["path"]) / "manifest.jsonl").read_bytes()
    )
    for name in ("manifest.csv", "synsets.txt", "dataset.json"):
        assert curator_api.get(f"/api/v1/exports/api-v2/download/{name}").status_code == 200
    for bad in ("../../etc/passwd", "..%2F..%2Fsettings.py", "imagefolder", "nope.txt"):
        assert curator_api.get(f"/api/v1/exports/api-v2/download/{bad}").status_code == 404
    assert curator_api.get("/api/v1/exports/api-v1/download/manifest.csv").status_code == 404
    tar = curator_api.get("/api/v1/exports/api-v2/download/tar")
    assert tar.status_code == 200 and tar.streaming
    with tarfile.open(fileobj=io.BytesIO(b"".join(tar.streaming_content))) as t:
        names = t.getnames()
        assert "api-v2/dataset.json" in names
        assert len([n for n in names if "/imagefolder/" in n]) == detail["num_images"]
        member = next(n for n in names if n.endswith(".jpg"))
        assert t.extractfile(member).read() == (Path(detail["path"]).parent / member).read_bytes()


def test_annotators_get_403_everywhere(annotator_api, annotator, planted: Planted) -> None:  # type: ignore[no-untyped-def]
    export_create(name="secret", config=GOOD, seed=0, inline=True)
    for url in (
        "/api/v1/exports/",
        "/api/v1/exports/secret/",
        "/api/v1/exports/secret/download/manifest.jsonl",
    ):
        assert annotator_api.get(url).status_code == 403, url
    assert (
        annotator_api.post(
            "/api/v1/exports/", {"name": "n", "config": GOOD}, format="json"
        ).status_code
        == 403
    )
    assert (
        annotator_api.post("/api/v1/exports/preview/", {"config": GOOD}, format="json").status_code
        == 403
    )
    client = Client()
    client.force_login(annotator)
    for url in (
        "/curate/exports/",
        "/curate/exports/new",
        "/curate/exports/secret/",
        "/curate/exports/secret/download/tar",
    ):
        assert client.get(url).status_code == 403, url
    assert client.post("/curate/exports/preview/", {"synsets": DOG}).status_code == 403
    assert client.post("/curate/exports/new", {"name": "n", "synsets": DOG}).status_code == 403
    assert DatasetVersion.objects.count() == 1


def test_pages_form_preview_and_version_page(curator, planted: Planted) -> None:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(curator)
    assert client.get("/curate/exports/").status_code == 200
    assert b"Preview" in client.get("/curate/exports/new").content
    form = {
        "name": "page-v1",
        "seed": "2",
        "source": "synsets",
        "synsets": f"{DOG} {CAT}",
        "split_scheme": "per_class",
        "val_per_class": "2",
        "min_per_class": "1",
        "formats": ["imagefolder", "webdataset"],
        "shard_max_mb": "1",
        "duplicates": "representative",
        "multiclass": "exclude",
        "imagefolder_mode": "hardlink",
    }
    preview = client.post("/curate/exports/preview/", form)
    assert preview.status_code == 200 and preview.json()["totals"]["val"] == 4
    bad = client.post("/curate/exports/preview/", {**form, "val_per_class": "-4"})
    assert bad.status_code == 400 and "val_per_class" in bad.json()["errors"]
    refused = client.post("/curate/exports/new", {**form, "name": "../x"})
    assert refused.status_code == 400 and b"lower-case letters" in refused.content
    created = client.post("/curate/exports/new", form)
    assert created.status_code == 302 and created["Location"] == "/curate/exports/page-v1/"
    version = DatasetVersion.objects.get(name="page-v1")
    assert version.config["shard_max_bytes"] == 1 << 20 and version.created_by == curator
    make_user("other", "curator")
    export_create(name="page-v2", config=GOOD, seed=0, inline=True)
    page = client.get("/curate/exports/page-v2/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "0 duplicate pairs across splits" in html and "split-chart" in html
    assert "/curate/exports/page-v2/download/tar" in html and "manifest.jsonl" in html
    assert client.get("/curate/exports/page-v2/download/synsets.txt").status_code == 200
    assert client.get("/curate/exports/nope/").status_code == 404


def test_openapi_schema_documents_the_export_endpoints(curator_api) -> None:  # type: ignore[no-untyped-def]
    response = curator_api.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    schema = response.content.decode()
    for path in ("/api/v1/exports", "/api/v1/exports/preview", "/api/v1/exports/{name}/",
                 "/api/v1/exports/{name}/download/{file}"):  # fmt: skip
        assert path in schema, path

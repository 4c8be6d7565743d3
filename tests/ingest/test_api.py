"""Imports, images, candidates and query-plan APIs."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from curation.models import Candidate, Image, Job, Synset
from curation.services.ingest import ingest_start
from tests.ingest.conftest import CAT, DOG, jpeg, png, write

pytestmark = pytest.mark.django_db


def upload(name: str, data: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="application/octet-stream")


def run_job(job_id: int) -> Job:
    """Run a job the API queued (no worker in these tests) and return it."""
    from curation.services.jobs import job_run_inline

    return job_run_inline(job=Job.objects.get(pk=job_id))


@pytest.fixture
def no_dispatch(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Keep jobs queued instead of sending them to Celery; the test runs them inline."""
    sent: list[int] = []
    import curation.services.ingest as service

    monkeypatch.setattr(service, "job_dispatch_on_commit", lambda *, job: sent.append(job.pk))
    return sent


def test_upload_files_with_relative_paths_good_and_bad(
    curator_api: APIClient, media_root: Path, no_dispatch: list[int]
) -> None:
    response = curator_api.post(
        "/api/v1/imports",
        {
            "files": [
                upload("a.jpg", jpeg(1)),
                upload("b.png", png(2)),
                upload("broken.jpg", b"not an image"),
                upload("empty.jpg", b""),
            ],
            "paths": [
                f"drop/{DOG}/a.jpg",
                f"drop/{CAT}/b.png",
                f"drop/{DOG}/broken.jpg",
                f"drop/{DOG}/empty.jpg",
            ],
            "source_name": "api-upload",
        },
        format="multipart",
    )
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["kind"] == "ingest" and body["status"] == "queued" and no_dispatch == [body["id"]]
    assert body["page_url"] == f"/curate/ingest/{body['id']}/"
    job = run_job(body["id"])
    assert job.status == Job.Status.SUCCEEDED, job.error
    detail = curator_api.get(f"/api/v1/imports/{job.pk}/").json()
    summary = detail["summary"]
    assert (summary["seen"], summary["new_images"], summary["errors"]) == (4, 2, 2)
    assert summary["errors_by_reason"] == {"empty_file": 1, "not_an_image": 1}
    errors = curator_api.get(f"/api/v1/imports/{job.pk}/errors/").json()
    assert errors["count"] == 2
    assert {e["item"] for e in errors["results"]} == {
        f"drop/{DOG}/broken.jpg",
        f"drop/{DOG}/empty.jpg",
    }
    report = curator_api.get(f"/api/v1/imports/{job.pk}/report.csv")
    assert report.status_code == 200 and report["Content-Type"].startswith("text/csv")
    text = b"".join(report.streaming_content).decode()
    assert text.splitlines()[0] == "item,reason,message" and "empty_file" in text
    assert Candidate.objects.filter(source="api-upload").count() == 2
    # The staged upload (its whole staging area) is removed once the job succeeded.
    assert not Path(job.params["source"]).parent.exists()


def test_upload_one_archive(
    curator_api: APIClient, media_root: Path, no_dispatch: list[int]
) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr(f"{DOG}/x.jpg", jpeg(3))
        z.writestr("../evil.jpg", jpeg(4))
    response = curator_api.post(
        "/api/v1/imports", {"files": [upload("set.zip", buffer.getvalue())]}, format="multipart"
    )
    assert response.status_code == 202, response.content
    assert response.json()["params"]["kind"] == "zip"
    job = run_job(response.json()["id"])
    assert job.result["summary"]["new_images"] == 1
    assert job.result["summary"]["errors_by_reason"] == {"unsafe_path": 1}


def test_urls_and_server_paths(
    curator_api: APIClient, media_root: Path, no_dispatch: list[int], tmp_path: Path, settings
) -> None:  # type: ignore[no-untyped-def]
    response = curator_api.post(
        "/api/v1/imports",
        {"urls": ["file:///etc/passwd", "http://127.0.0.1/x.jpg"], "synset": DOG},
        format="json",
    )
    assert response.status_code == 202
    job = run_job(response.json()["id"])
    assert job.result["summary"]["errors_by_reason"] == {"url_blocked": 1, "url_scheme": 1}

    incoming = tmp_path / "incoming"
    write(incoming / DOG / "s.jpg", jpeg(5))
    settings.INGEST_SERVER_ROOTS = [str(incoming)]
    response = curator_api.post("/api/v1/imports", {"source": str(incoming)}, format="json")
    assert response.status_code == 202, response.content
    assert run_job(response.json()["id"]).result["summary"]["new_images"] == 1
    response = curator_api.post("/api/v1/imports", {"source": "/etc"}, format="json")
    assert response.status_code == 400 and "INGEST_SERVER_ROOTS" in response.json()["detail"]


@pytest.mark.parametrize(
    ("payload", "status", "words"),
    [
        ({}, 400, "exactly one of"),
        ({"urls": ["http://a.org/x.jpg"], "source": "/tmp"}, 400, "exactly one of"),
        ({"urls": ["http://a.org/x.jpg"], "synset": "dgo.n.01"}, 400, "did you mean"),
    ],
)
def test_bad_requests_are_refused_clearly(
    curator_api: APIClient, no_dispatch: list[int], payload: dict, status: int, words: str
) -> None:
    jobs = Job.objects.count()
    response = curator_api.post("/api/v1/imports", payload, format="json")
    assert response.status_code == status
    assert words in str(response.json())
    assert Job.objects.count() == jobs


def test_upload_size_cap(curator_api: APIClient, media_root: Path, settings) -> None:  # type: ignore[no-untyped-def]
    settings.INGEST_UPLOAD_MAX_BYTES = 10_000
    response = curator_api.post(
        "/api/v1/imports", {"files": [upload("big.jpg", b"x" * 50_000)]}, format="multipart"
    )
    assert response.status_code == 413
    assert "INGEST_UPLOAD_MAX_BYTES" in response.json()["detail"]
    uploads = media_root.parent / "data" / "ingest" / "uploads"
    assert not any(p.is_file() for p in uploads.rglob("*")) if uploads.exists() else True


def test_annotators_cannot_use_ingest_apis(annotator_api: APIClient) -> None:
    for url in ["/api/v1/imports", "/api/v1/images/", "/api/v1/candidates/",
                f"/api/v1/synsets/{DOG}/queries"]:  # fmt: skip
        assert annotator_api.get(url).status_code == 403
    response = annotator_api.post(
        "/api/v1/imports", {"files": [upload("a.jpg", jpeg(1))]}, format="multipart"
    )
    assert response.status_code == 403
    assert Job.objects.count() == 0


@pytest.fixture
def ingested(tmp_path: Path, media_root: Path) -> Job:
    root = tmp_path / "src"
    for i in range(5):
        write(root / DOG / f"d{i}.jpg", jpeg(10 + i, (300 + 100 * i, 240)))
    write(root / CAT / "shared.jpg", jpeg(10, (300, 240)))
    write(root / CAT / "small.png", png(20))
    return ingest_start(source=root, source_name="unit", inline=True)


def test_image_detail_has_everything(curator_api: APIClient, ingested: Job) -> None:
    image = Image.objects.get(sha256=hashlib.sha256(jpeg(10, (300, 240))).hexdigest())
    body = curator_api.get(f"/api/v1/images/{image.pk}/").json()
    assert body["sha256"] == image.sha256 and body["width"] == 300 and body["format"] == "JPEG"
    assert body["phash"] == image.phash_hex and body["phash_int"] == image.phash
    assert body["thumb_url"] == f"/i/{image.sha256}/thumb"
    assert sorted(c["synset"] for c in body["candidacies"]) == sorted([DOG, CAT])
    assert {o["uri"] for o in body["origins"]} == {f"{DOG}/d0.jpg", f"{CAT}/shared.jpg"}
    listing = curator_api.get("/api/v1/images/", {"sha256": image.sha256}).json()
    assert listing["count"] == 1 and listing["results"][0]["id"] == image.pk
    assert curator_api.get("/api/v1/images/", {"synset": CAT}).json()["count"] == 2
    assert curator_api.get("/api/v1/images/", {"synset": "n00000000"}).status_code == 400


def test_candidates_filters_sorts_and_pagination(curator_api: APIClient, ingested: Job) -> None:
    body = curator_api.get("/api/v1/candidates/", {"synset": DOG}).json()
    assert body["count"] == 5
    row = body["results"][0]
    assert {"image", "synset", "source", "state", "machine_score", "votes_yes"} <= set(row)
    assert row["synset"] == DOG and row["source"] == "unit" and row["state"] == "pending"
    Candidate.objects.filter(synset__wnid=DOG).update(state="accepted")
    assert curator_api.get("/api/v1/candidates/", {"state": "accepted"}).json()["count"] == 5
    assert curator_api.get("/api/v1/candidates/", {"source": "nope"}).json()["count"] == 0
    widths = [
        r["width"]
        for r in curator_api.get("/api/v1/candidates/", {"synset": DOG, "sort": "size"}).json()[
            "results"
        ]
    ]
    assert widths == sorted(widths, reverse=True)
    first = curator_api.get("/api/v1/candidates/", {"page_size": 2}).json()
    assert first["count"] == 7 and len(first["results"]) == 2 and first["next"]
    assert len(curator_api.get("/api/v1/candidates/", {"page_size": 5000}).json()["results"]) == 7
    for bad in ({"state": "maybe"}, {"synset": "n00000000"}, {"sort": "random"}, {"size": "huge"}):
        response = curator_api.get("/api/v1/candidates/", bad)
        assert response.status_code == 400, bad


def test_query_plan_api(curator_api: APIClient) -> None:
    body = curator_api.get(f"/api/v1/synsets/{DOG}/queries").json()
    queries = [q["query"] for q in body["queries"]]
    assert queries[:3] == ["dog", "domestic dog", "Canis familiaris"]
    assert "dog canine" in queries and "dog domestic animal" in queries
    assert any(q["kind"] == "lemma + parent" and q["parent_wnid"] for q in body["queries"])
    husky = Synset.objects.get(name="eskimo_dog.n.01")  # lemmas: Eskimo dog, husky
    plan = curator_api.get(f"/api/v1/synsets/{husky.wnid}/queries").json()["queries"]
    queries = [q["query"] for q in plan]
    assert queries[:3] == ["Eskimo dog", "husky", "husky dog"]  # "sled dog" in the gloss
    assert "husky working dog" in queries and "Eskimo dog dog" not in queries
    sheepdog = Synset.objects.get(name="shepherd_dog.n.01")
    plan = curator_api.get(f"/api/v1/synsets/{sheepdog.wnid}/queries").json()["queries"]
    assert "sheepdog dog" in [q["query"] for q in plan]
    assert curator_api.get("/api/v1/synsets/n00000000/queries").status_code == 404


def test_openapi_schema_documents_the_new_endpoints(curator_api: APIClient) -> None:
    schema = curator_api.get("/api/schema/", HTTP_ACCEPT="application/json").content.decode()
    for path in ["/api/v1/imports", "/api/v1/images/{id}", "/api/v1/candidates", "/queries"]:
        assert path in schema

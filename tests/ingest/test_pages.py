"""Curator pages: upload (streamed, CSRF-checked), ingest report, candidate grid, image page,
query plans; annotators see none of them."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image as PILImage

from curation.models import Candidate, Image, Job
from curation.services.ingest import ingest_start
from tests.conftest import make_user
from tests.ingest.conftest import CAT, DOG, jpeg, png, write

pytestmark = pytest.mark.django_db


@pytest.fixture
def client_csrf(curator) -> Client:  # type: ignore[no-untyped-def]
    client = Client(enforce_csrf_checks=True)
    client.force_login(curator)
    return client


def csrf_token(client: Client) -> str:
    page = client.get("/curate/ingest/").content.decode()
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)


@pytest.fixture
def queued(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    import curation.services.ingest as service

    sent: list[int] = []
    monkeypatch.setattr(service, "job_dispatch_on_commit", lambda *, job: sent.append(job.pk))
    return sent


def test_upload_page_in_batches_then_start(
    client_csrf: Client, media_root: Path, queued: list[int]
) -> None:
    from curation.services.jobs import job_run_inline

    page = client_csrf.get("/curate/ingest/")
    assert page.status_code == 200 and b"Drop images, folders or an archive" in page.content
    token = csrf_token(client_csrf)
    first = client_csrf.post(
        "/curate/ingest/upload/",
        {
            "files": [SimpleUploadedFile("a.jpg", jpeg(1)), SimpleUploadedFile("bad.jpg", b"no")],
            "paths": [f"set/{DOG}/a.jpg", f"set/{DOG}/bad.jpg"],
        },
        HTTP_X_CSRFTOKEN=token,
        HTTP_X_REQUESTED_WITH="fetch",
    )
    assert first.status_code == 200, first.content
    staging = first.json()["staging"]
    assert first.json()["files"] == 2
    second = client_csrf.post(
        f"/curate/ingest/upload/?staging={staging}",
        {"files": [SimpleUploadedFile("b.png", png(2))], "paths": [f"set/{CAT}/b.png"]},
        HTTP_X_CSRFTOKEN=token,
        HTTP_X_REQUESTED_WITH="fetch",
    )
    assert second.json()["staging"] == staging and second.json()["files"] == 1
    started = client_csrf.post(
        "/curate/ingest/start/",
        {"staging": staging, "source_name": "drop"},
        HTTP_X_CSRFTOKEN=token,
        HTTP_X_REQUESTED_WITH="fetch",
    )
    assert started.status_code == 202, started.content
    job = job_run_inline(job=Job.objects.get(pk=started.json()["job"]))
    assert queued == [job.pk] and started.json()["url"] == f"/curate/ingest/{job.pk}/"
    s = job.result["summary"]
    assert (s["new_images"], s["errors"]) == (2, 1)
    assert set(Candidate.objects.values_list("source", flat=True)) == {"drop"}
    report = client_csrf.get(f"/curate/ingest/{job.pk}/")
    assert report.status_code == 200
    html = report.content.decode()
    assert "new candidates" in html and "not_an_image" in html and "errors.csv" in html
    assert "<svg" in html  # the errors-by-reason chart
    rows = list(
        csv.reader(
            io.StringIO(
                b"".join(
                    client_csrf.get(f"/curate/ingest/{job.pk}/errors.csv").streaming_content
                ).decode()
            )
        )
    )
    assert rows == [
        ["item", "reason", "message"],
        [f"set/{DOG}/bad.jpg", "not_an_image", "text content, not an image"],
    ]


def test_upload_without_csrf_token_is_refused(client_csrf: Client, media_root: Path) -> None:
    response = client_csrf.post(
        "/curate/ingest/upload/?start=1", {"files": [SimpleUploadedFile("a.jpg", jpeg(1))]}
    )
    assert response.status_code == 403
    assert Job.objects.count() == 0


def test_plain_form_upload_starts_at_once_and_redirects(
    client_csrf: Client, media_root: Path, queued: list[int]
) -> None:
    token = csrf_token(client_csrf)
    response = client_csrf.post(
        "/curate/ingest/upload/?start=1",
        {
            "files": [SimpleUploadedFile("x.jpg", jpeg(3))],
            "synset": "dog.n.01",
            "csrfmiddlewaretoken": token,
        },
    )
    job = Job.objects.get(kind="ingest")  # dedup follows it (curation.services.pipeline)
    assert response.status_code == 302 and response["Location"] == f"/curate/ingest/{job.pk}/"
    assert job.params["kind"] == "image" and job.params["synset"] == DOG


def test_unknown_synset_on_upload_is_a_clear_error(
    client_csrf: Client, media_root: Path, queued: list[int]
) -> None:
    token = csrf_token(client_csrf)
    response = client_csrf.post(
        "/curate/ingest/upload/?start=1",
        {"files": [SimpleUploadedFile("x.jpg", jpeg(3))], "synset": "dgo.n.01"},
        HTTP_X_CSRFTOKEN=token,
        HTTP_X_REQUESTED_WITH="fetch",
    )
    assert response.status_code == 400
    assert "did you mean: dog.n.01" in response.json()["error"]
    assert Job.objects.count() == 0


def test_upload_cap_on_the_page(client_csrf: Client, media_root: Path, settings) -> None:  # type: ignore[no-untyped-def]
    settings.INGEST_UPLOAD_MAX_BYTES = 5_000
    token = csrf_token(client_csrf)
    response = client_csrf.post(
        "/curate/ingest/upload/",
        {"files": [SimpleUploadedFile("big.jpg", b"x" * 20_000)]},
        HTTP_X_CSRFTOKEN=token,
        HTTP_X_REQUESTED_WITH="fetch",
    )
    assert response.status_code == 413 and "INGEST_UPLOAD_MAX_BYTES" in response.json()["error"]


def test_pasted_urls(client_csrf: Client, media_root: Path, queued: list[int]) -> None:
    token = csrf_token(client_csrf)
    response = client_csrf.post(
        "/curate/ingest/start/",
        {
            "urls": "http://127.0.0.1/a.jpg\nftp://x/y.jpg\n",
            "synset": DOG,
            "csrfmiddlewaretoken": token,
        },
    )
    job = Job.objects.get(kind="ingest")  # dedup follows it (curation.services.pipeline)
    assert response.status_code == 302 and job.params["kind"] == "url_list"


@pytest.fixture
def ingested(tmp_path: Path, media_root: Path) -> Job:
    root = tmp_path / "src"
    for i in range(4):
        write(root / DOG / f"d{i}.jpg", jpeg(10 + i, (200 + 150 * i, 150 + 150 * i)))
    write(root / CAT / "c.png", png(20))
    return ingest_start(source=root, source_name="pages", inline=True)


def test_candidate_grid_filters_and_sorts(client_csrf: Client, ingested: Job) -> None:
    page = client_csrf.get(f"/curate/synsets/{DOG}/candidates/")
    html = page.content.decode()
    assert page.status_code == 200
    assert html.count('loading="lazy"') == 4 and "data-grid" in html
    Candidate.objects.filter(image__width=200).update(state="rejected", machine_score=0.1)
    Candidate.objects.filter(image__width=650).update(machine_score=0.9)
    assert (
        client_csrf.get(f"/curate/synsets/{DOG}/candidates/?state=rejected")
        .content.decode()
        .count('loading="lazy"')
        == 1
    )
    small = client_csrf.get(f"/curate/synsets/{DOG}/candidates/?size=small").content.decode()
    assert small.count('loading="lazy"') == 1  # only 200x150 is under 224 px
    large = client_csrf.get(f"/curate/synsets/{DOG}/candidates/?size=large").content.decode()
    assert large.count('loading="lazy"') == 1  # 650x600
    by_score = client_csrf.get(
        f"/curate/synsets/{DOG}/candidates/?sort=score_desc"
    ).content.decode()
    ids = re.findall(r'href="/curate/images/(\d+)/"', by_score)
    assert Image.objects.get(pk=ids[0]).width == 650 and Image.objects.get(pk=ids[1]).width == 200
    assert (
        client_csrf.get(f"/curate/synsets/{DOG}/candidates/?source=nope&sort=bogus").status_code
        == 200
    )
    assert client_csrf.get("/curate/synsets/n00000000/candidates/").status_code == 404


def test_image_page(client_csrf: Client, ingested: Job) -> None:
    image = Image.objects.filter(format="PNG").get()
    html = client_csrf.get(f"/curate/images/{image.pk}/").content.decode()
    for text in [image.sha256, image.phash_hex, "cat.n.01", "pages", f"{CAT}/c.png", "PNG"]:
        assert text in html
    assert f"/i/{image.sha256}/original" in html
    assert client_csrf.get("/curate/images/999999/").status_code == 404
    thumb = client_csrf.get(f"/i/{image.sha256}/thumb")
    assert thumb.status_code == 200 and "immutable" in thumb["Cache-Control"]
    assert thumb["Content-Type"] == "image/jpeg"
    assert b"".join(thumb.streaming_content)[:3] == b"\xff\xd8\xff"
    # Images ingested before thumbnails were JPEGs keep their WebP ones, served as WebP.
    webp = io.BytesIO()
    PILImage.new("RGB", (8, 8)).save(webp, "WEBP")
    old_key = image.thumb_key.rsplit(".", 1)[0] + ".webp"
    default_storage.save(old_key, ContentFile(webp.getvalue()))
    Image.objects.filter(pk=image.pk).update(thumb_key=old_key)
    old = client_csrf.get(f"/i/{image.sha256}/thumb")
    assert old["Content-Type"] == "image/webp" and "immutable" in old["Cache-Control"]
    original = client_csrf.get(f"/i/{image.sha256}/original")
    assert b"".join(original.streaming_content) == png(20)


def test_synset_page_links_and_query_plan(client_csrf: Client) -> None:
    html = client_csrf.get(f"/curate/synsets/{DOG}/").content.decode()
    assert f"/curate/synsets/{DOG}/candidates/" in html and f"/curate/synsets/{DOG}/queries" in html
    plan = client_csrf.get(f"/curate/synsets/{DOG}/queries").content.decode()
    assert "dog domestic animal" in plan
    response = client_csrf.get(f"/curate/synsets/{DOG}/queries?format=csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == ["wnid", "synset", "query", "kind", "parent_wnid", "parent_name"]
    assert rows[1][:4] == [DOG, "dog.n.01", "dog", "lemma"]


def test_active_synsets_queries_csv(client_csrf: Client) -> None:
    from curation.models import Synset

    Synset.objects.filter(wnid__in=[DOG, CAT]).update(active=True)
    response = client_csrf.get("/curate/queries.csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert {row[0] for row in rows[1:]} == {DOG, CAT}


def test_session_api_upload_goes_through_the_csrf_check(
    media_root: Path, queued: list[int]
) -> None:
    from rest_framework.test import APIClient

    user = make_user("sessioncurator", "curator")
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    refused = client.post(
        "/api/v1/imports", {"files": [SimpleUploadedFile("a.jpg", jpeg(1))]}, format="multipart"
    )
    assert refused.status_code == 403
    page = Client()
    page.force_login(user)
    token = csrf_token(page)
    client.cookies.update(page.cookies)
    ok = client.post(
        "/api/v1/imports",
        {"files": [SimpleUploadedFile("a.jpg", jpeg(1))], "synset": DOG},
        format="multipart",
        HTTP_X_CSRFTOKEN=token,
    )
    assert ok.status_code == 202, ok.content


def test_annotators_are_kept_out(annotator, media_root: Path) -> None:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(annotator)
    for url in ["/curate/ingest/", f"/curate/synsets/{DOG}/candidates/", "/curate/images/1/",
                f"/curate/synsets/{DOG}/queries", "/curate/queries.csv"]:  # fmt: skip
        assert client.get(url).status_code == 403, url
    response = client.post(
        "/curate/ingest/upload/?start=1", {"files": [SimpleUploadedFile("a.jpg", jpeg(1))]}
    )
    assert response.status_code == 403
    assert Job.objects.count() == 0
    uploads = media_root.parent / "data" / "ingest" / "uploads"
    assert not uploads.exists() or not any(uploads.rglob("*.jpg"))

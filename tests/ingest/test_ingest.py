"""Ingest end to end (inline): hostile batches, content addressing, idempotency, the command."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

import pytest
from django.core.files.storage import InMemoryStorage, Storage, default_storage
from django.core.management import call_command
from django.core.management.base import CommandError
from PIL import Image as PILImage

from curation.models import Candidate, Image, ImageOrigin, IngestItem, Job, Synset
from curation.services.ingest import IngestSourceError, SynsetLookupError, ingest_start
from curation.storage import original_key, thumb_key
from tests.ingest.conftest import (
    BIRD,
    CAT,
    DOG,
    HTML,
    SVG,
    animated_gif,
    cmyk_jpeg,
    encode,
    exif_rotated_jpeg,
    heic_like,
    jpeg,
    multipage_tiff,
    png,
    png16,
    png_bad_crc,
    write,
)

pytestmark = pytest.mark.django_db


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def items(job: Job) -> dict[str, IngestItem]:
    return {i.uri: i for i in IngestItem.objects.filter(job=job)}


@pytest.fixture
def hostile_folder(tmp_path: Path, bomb_png: bytes) -> tuple[Path, dict[str, bytes], dict]:
    """One folder per synset with good files, odd-but-valid files and hostile files mixed."""
    root = tmp_path / "batch"
    good = {
        f"{DOG}/plain.jpg": jpeg(1),
        f"{DOG}/with space é ☃.jpg": jpeg(2),
        f"{DOG}/new\nline.jpg": jpeg(3),
        f"{DOG}/animated.gif": animated_gif(4),
        f"{DOG}/cmyk.jpg": cmyk_jpeg(5),
        f"{DOG}/deep-16bit.png": png16(6),
        f"{DOG}/rotated.jpg": exif_rotated_jpeg(7),
        f"{DOG}/pages.tif": multipage_tiff(8),
        f"{CAT}/cat.png": png(9),
        "dog.n.01/by-name.jpg": jpeg(10),
    }
    hostile = {
        f"{DOG}/empty.jpg": (b"", "empty_file", "empty"),
        f"{DOG}/notes.jpg": (b"not a picture, just text\n", "not_an_image", "text"),
        f"{DOG}/truncated.jpg": (jpeg(11)[:2500], "truncated", "truncated"),
        f"{DOG}/bad-crc.png": (png_bad_crc(12), "corrupt", "CRC"),
        f"{DOG}/bomb.png": (bomb_png, "decompression_bomb", "bomb"),
        f"{DOG}/one-pixel.png": (encode(PILImage.new("RGB", (1, 1)), "PNG"), "too_small", "1x1"),
        f"{DOG}/drawing.svg": (SVG, "vector_image", "SVG"),
        f"{DOG}/page.jpg": (HTML, "not_an_image", "HTML"),
        f"{DOG}/phone.heic": (heic_like(), "unsupported_format", "HEIC"),
        "dgo.n.01/a.jpg": (jpeg(13), "unknown_synset", "did you mean dog.n.01"),
        "dgo.n.01/b.jpg": (jpeg(14), "unknown_synset", "did you mean dog.n.01"),
    }
    for rel, data in good.items():
        write(root / rel, data)
    for rel, (data, _, _) in hostile.items():
        write(root / rel, data)
    return root, good, hostile


def test_hostile_batch_each_bad_item_has_its_reason_and_the_good_are_ingested(
    hostile_folder: tuple[Path, dict[str, bytes], dict], media_root: Path
) -> None:
    root, good, hostile = hostile_folder
    job = ingest_start(source=root, source_name="batch", inline=True)
    assert job.status == Job.Status.SUCCEEDED, job.error
    by_uri = items(job)
    assert set(by_uri) == set(good) | set(hostile)
    for rel, (data, reason, words) in hostile.items():
        item = by_uri[rel]
        assert (item.status, item.reason) == ("error", reason), (rel, item.message)
        assert words.lower() in item.message.lower(), (rel, item.message)
        assert not Image.objects.filter(sha256=sha(data)).exists() or reason == "unknown_synset"
    # Nothing from the unknown folder was ingested, although its files are fine images.
    assert not Image.objects.filter(sha256__in=[sha(jpeg(13)), sha(jpeg(14))]).exists()
    for rel, data in good.items():
        item = by_uri[rel]
        assert item.status == "done", (rel, item.reason, item.message)
        image = Image.objects.get(sha256=sha(data))
        assert item.image_id == image.pk and item.image_created
        # Originals byte for byte, under the content address; a JPEG thumbnail beside them.
        ext = {"JPEG": "jpg", "PNG": "png", "GIF": "gif", "TIFF": "tif"}[image.format]
        assert image.storage_key == original_key(image.sha256, ext)
        with default_storage.open(image.storage_key) as f:
            assert f.read() == data
        with default_storage.open(thumb_key(image.sha256)) as f:
            assert PILImage.open(f).format == "JPEG"
        assert image.phash is not None and image.bytes == len(data)
        assert ImageOrigin.objects.filter(image=image, uri=rel, source="batch", job=job).exists()
    dog = Synset.objects.get(wnid=DOG)
    assert Candidate.objects.filter(synset=dog, job=job).count() == 9  # by wnid and by name
    assert Candidate.objects.filter(synset__wnid=CAT).count() == 1
    assert set(Candidate.objects.values_list("source", flat=True)) == {"batch"}

    rotated = Image.objects.get(sha256=sha(good[f"{DOG}/rotated.jpg"]))
    assert (rotated.width, rotated.height, rotated.exif_orientation) == (200, 320, 6)
    assert Image.objects.get(sha256=sha(good[f"{DOG}/animated.gif"])).frames == 3
    assert Image.objects.get(sha256=sha(good[f"{DOG}/pages.tif"])).frames == 3
    assert Image.objects.get(sha256=sha(good[f"{DOG}/cmyk.jpg"])).mode == "CMYK"

    summary = job.result["summary"]
    assert summary["seen"] == len(good) + len(hostile)
    assert summary["new_images"] == len(good)
    assert summary["new_candidates"] == len(good)
    assert summary["already_known"] == 0
    assert summary["errors"] == len(hostile)
    assert summary["errors_by_reason"]["unknown_synset"] == 2
    assert summary["errors_by_reason"]["not_an_image"] == 2
    assert (job.done, job.total, job.errors) == (len(by_uri), len(by_uri), len(hostile))


@pytest.mark.sqlite
def test_running_the_same_source_again_adds_nothing(tmp_path: Path, media_root: Path) -> None:
    root = tmp_path / "src"
    for i in range(6):
        write(root / DOG / f"{i}.jpg", jpeg(i))
    write(root / DOG / "bad.jpg", b"oops")
    first = ingest_start(source=root, inline=True)
    counts = (Image.objects.count(), Candidate.objects.count(), ImageOrigin.objects.count())
    files = sorted(p.relative_to(media_root) for p in media_root.rglob("*") if p.is_file())
    second = ingest_start(source=root, inline=True)
    assert (Image.objects.count(), Candidate.objects.count(), ImageOrigin.objects.count()) == counts
    assert sorted(p.relative_to(media_root) for p in media_root.rglob("*") if p.is_file()) == files
    s1, s2 = first.result["summary"], second.result["summary"]
    assert (s1["new_images"], s1["new_candidates"], s1["already_known"]) == (6, 6, 0)
    assert (s2["new_images"], s2["new_candidates"], s2["already_known"]) == (0, 0, 6)
    assert s2["errors"] == 1


class NoPathStorage(Storage):
    """Like S3: files by name, no local path (Storage.path raises NotImplementedError)."""

    def __init__(self) -> None:
        self.inner = InMemoryStorage()

    def _open(self, name: str, mode: str = "rb") -> Any:
        return self.inner.open(name, mode)

    def _save(self, name: str, content: Any) -> str:
        return self.inner.save(name, content)

    def exists(self, name: str) -> bool:
        return self.inner.exists(name)

    def delete(self, name: str) -> None:
        self.inner.delete(name)

    def url(self, name: str | None) -> str:
        return f"https://bucket.example/{name}?X-Amz-Signature=abc"


def test_remote_storage_without_paths_stores_through_the_storage_api(
    tmp_path: Path,
    settings,
    media_root: Path,  # type: ignore[no-untyped-def]
) -> None:
    """S3-like storages have no path(): files go through Storage.open, byte for byte."""
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "tests.ingest.test_ingest.NoPathStorage"},
    }
    root = tmp_path / "src"
    data = jpeg(3)
    write(root / DOG / "a.jpg", data)
    job = ingest_start(source=root, inline=True)
    assert job.result["summary"]["new_images"] == 1, job.result
    image = Image.objects.get(sha256=sha(data))
    with default_storage.open(image.storage_key) as f:
        assert f.read() == data
    with default_storage.open(image.thumb_key) as f:
        assert PILImage.open(f).format == "JPEG"
    assert not any(media_root.rglob("*.jpg"))  # nothing written beside the storage

    # Served by redirect to the storage's (signed, expiring) URL: cached minutes, not a year.
    from django.test import Client

    from tests.conftest import make_user

    client = Client()
    client.force_login(make_user("viewer", "curator"))
    response = client.get(f"/i/{image.sha256}/thumb")
    assert response.status_code == 302
    assert response["Location"] == f"https://bucket.example/{image.thumb_key}?X-Amz-Signature=abc"
    assert response["Cache-Control"] == "private, max-age=300"


@pytest.mark.sqlite
def test_same_image_for_two_synsets_is_one_image_and_two_candidates(
    tmp_path: Path, media_root: Path
) -> None:
    root = tmp_path / "src"
    data = jpeg(21)
    write(root / DOG / "x.jpg", data)
    write(root / CAT / "copy-of-x.jpg", data)
    write(root / CAT / "again.jpg", data)  # the same bytes twice in one synset: one candidate
    job = ingest_start(source=root, inline=True)
    image = Image.objects.get(sha256=sha(data))
    assert Image.objects.count() == 1
    assert sorted(image.candidates.values_list("synset__wnid", flat=True)) == sorted([DOG, CAT])
    assert set(image.origins.values_list("uri", flat=True)) == {
        f"{DOG}/x.jpg",
        f"{CAT}/copy-of-x.jpg",
        f"{CAT}/again.jpg",
    }
    s = job.result["summary"]
    assert (s["new_images"], s["new_candidates"], s["already_known"]) == (1, 2, 1)
    assert len(list((media_root / "originals").rglob("*.jpg"))) == 1  # stored once
    assert len(list((media_root / "thumbs").rglob("*.jpg"))) == 1


def test_flat_folder_with_synset_and_unknown_synset(tmp_path: Path, media_root: Path) -> None:
    root = tmp_path / "flat"
    write(root / "a.jpg", jpeg(31))
    write(root / "nested" / "b.jpg", jpeg(32))
    job = ingest_start(source=root, synset="bird.n.01", source_name="flickr", inline=True)
    assert Candidate.objects.filter(synset__wnid=BIRD, source="flickr").count() == 2
    assert set(IngestItem.objects.filter(job=job).values_list("uri", flat=True)) == {
        "a.jpg",
        "nested/b.jpg",
    }
    jobs = Job.objects.count()
    with pytest.raises(SynsetLookupError, match="did you mean"):
        ingest_start(source=root, synset="brid.n.01", inline=True)
    with pytest.raises(IngestSourceError, match="no such file"):
        ingest_start(source=tmp_path / "missing", inline=True)
    assert Job.objects.count() == jobs  # nothing was started


def test_flat_folder_without_synset_says_so(tmp_path: Path, media_root: Path) -> None:
    root = tmp_path / "flat"
    write(root / "a.jpg", jpeg(33))
    job = ingest_start(source=root, inline=True)
    (item,) = IngestItem.objects.filter(job=job)
    assert item.reason == "no_synset" and "--synset" in item.message


def test_single_image_and_manifest(tmp_path: Path, media_root: Path) -> None:
    one = write(tmp_path / "one.jpg", jpeg(41))
    job = ingest_start(source=one, synset=DOG, inline=True)
    assert job.result["summary"]["new_candidates"] == 1
    write(tmp_path / "m" / "imgs" / "a.jpg", jpeg(42))
    write(tmp_path / "m" / "imgs" / "b.png", png(43))
    manifest = write(
        tmp_path / "m" / "list.csv",
        b"path_or_url,wnid,query\nimgs/a.jpg,n02084071,husky dog\nimgs/b.png,cat.n.01,\n"
        b"imgs/missing.jpg,n02084071,\nimgs/a.jpg,n99999999,\n",
    )
    job = ingest_start(source=manifest, inline=True)
    by_uri = {(i.uri, i.synset_id): i for i in IngestItem.objects.filter(job=job)}
    assert Candidate.objects.get(image__sha256=sha(jpeg(42)), synset__wnid=DOG).query == "husky dog"
    assert Candidate.objects.filter(image__sha256=sha(png(43)), synset__wnid=CAT).exists()
    reasons = sorted(i.reason for i in by_uri.values() if i.status == "error")
    assert reasons == ["read_error", "unknown_synset"]


def test_inactive_synsets_are_reported(tmp_path: Path, media_root: Path) -> None:
    Synset.objects.filter(wnid=CAT).update(active=True)
    root = tmp_path / "src"
    write(root / DOG / "a.jpg", jpeg(51))
    write(root / CAT / "b.jpg", jpeg(52))
    job = ingest_start(source=root, inline=True)
    assert job.result["summary"]["inactive_synsets"] == [DOG]


def test_ingest_command_summary_and_error_report(
    tmp_path: Path, media_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "src"
    write(root / DOG / "good.jpg", jpeg(61))
    write(root / DOG / "empty.jpg", b"")
    write(root / "=cmd.jpg", jpeg(63))  # not in a synset folder; its name starts a formula
    write(root / "dgo" / "c.jpg", jpeg(62))
    report = tmp_path / "errors.csv"
    out = io.StringIO()
    call_command("ingest", str(root), "--inline", "--errors", str(report), stdout=out)
    text = out.getvalue()
    assert "new images 1" in text and "errors 3" in text
    assert "empty_file" in text and "unknown_synset" in text and "did you mean" in text
    rows = report.read_text().splitlines()
    assert rows[0] == "item,reason,message"
    assert any(row.startswith("'=cmd.jpg,no_synset,") for row in rows)  # no live formulas
    out = io.StringIO()
    call_command("ingest", str(root), "--inline", stdout=out)
    assert "new images 0" in out.getvalue() and "already known 1" in out.getvalue()
    with pytest.raises(CommandError, match="did you mean"):
        call_command("ingest", str(root), "--inline", "--synset", "dgo.n.01")
    with pytest.raises(CommandError, match="cannot tell what"):
        call_command("ingest", str(write(tmp_path / "x.bin", bytes(range(256)))), "--inline")


def test_a_bug_in_one_item_never_fails_the_batch(
    tmp_path: Path, media_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from curation.services.ingest import chunk

    real = chunk.decode_image

    def flaky(data: bytes, *args: object, **kw: object):  # type: ignore[no-untyped-def]
        if data == jpeg(72):
            raise RuntimeError("boom")
        return real(data, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(chunk, "decode_image", flaky)
    root = tmp_path / "src"
    write(root / DOG / "a.jpg", jpeg(71))
    write(root / DOG / "b.jpg", jpeg(72))
    job = ingest_start(source=root, inline=True)
    assert job.status == Job.Status.SUCCEEDED
    assert items(job)[f"{DOG}/b.jpg"].reason == "corrupt"
    assert items(job)[f"{DOG}/a.jpg"].status == "done"


@pytest.mark.sqlite
def test_chunks_split_and_rerun_chunk_is_idempotent(
    tmp_path: Path, media_root: Path, settings
) -> None:  # type: ignore[no-untyped-def]
    from curation.models import JobChunk
    from curation.services.ingest.chunk import ingest_chunk_run
    from curation.services.jobs import job_run_chunk

    settings.INGEST_CHUNK_SIZE = 4
    root = tmp_path / "src"
    for i in range(10):
        write(root / DOG / f"{i}.jpg", jpeg(100 + i))
    job = ingest_start(source=root, inline=True)
    assert job.result["chunks"] == 3
    assert job.chunks.filter(status=JobChunk.Status.DONE).count() == 3
    before = (Image.objects.count(), Candidate.objects.count(), ImageOrigin.objects.count())
    # Running a chunk's items again (as after a worker death) changes nothing.
    ingest_chunk_run(job=job, first=0, last=9, progress=lambda *a, **k: None)
    chunk = job.chunks.first()
    JobChunk.objects.filter(pk=chunk.pk).update(status=JobChunk.Status.RUNNING)
    job_run_chunk(chunk.pk)
    after = (Image.objects.count(), Candidate.objects.count(), ImageOrigin.objects.count())
    assert before == after == (10, 10, 10)
    summary = IngestItem.objects.filter(job=job, image_created=True).count()
    assert summary == 10


def test_follower_jobs_from_after_ingest_are_chained(
    tmp_path: Path, media_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import curation.services.pipeline as pipeline

    made: list[Job] = []

    def after_ingest(*, job: Job) -> list[Job]:
        unsaved = Job(kind="test_sleep", params={"n": 1}, queue="cpu")  # parent set by ingest
        made.append(unsaved)
        return [unsaved]

    monkeypatch.setattr(pipeline, "after_ingest", after_ingest)
    write(tmp_path / "one.jpg", jpeg(81))
    job = ingest_start(source=tmp_path / "one.jpg", synset=DOG, inline=True)
    (follower,) = made
    follower.refresh_from_db()
    assert follower.parent_id == job.pk and follower.status == Job.Status.QUEUED
    assert list(job.followers.all()) == [follower]

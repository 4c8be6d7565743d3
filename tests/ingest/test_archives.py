"""Archives: hostile entries are refused one by one with a reason; the rest is ingested; nothing is
ever written outside the job's extraction folder."""

from __future__ import annotations

import io
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest

from curation.models import Candidate, Image, IngestItem, Job
from curation.services.ingest import ingest_start, ingest_work_dir
from tests.ingest.conftest import CAT, DOG, jpeg, png

pytestmark = pytest.mark.django_db


def reasons(job: Job) -> dict[str, tuple[str, str]]:
    return {i.uri: (i.reason, i.message) for i in IngestItem.objects.filter(job=job)}


def zip_with(path: Path, entries: list[tuple[zipfile.ZipInfo | str, bytes]]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for info, data in entries:
            z.writestr(info, data)
    return path


def symlink_info(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


def test_zip_hostile_entries(tmp_path: Path, media_root: Path) -> None:
    outside = tmp_path / "etc" / "x"
    archive = zip_with(
        tmp_path / "upload.zip",
        [
            (f"{DOG}/good.jpg", jpeg(1)),
            (f"{CAT}/good.png", png(2)),
            ("../../etc/x", jpeg(3)),
            (f"{DOG}/../../../escape.jpg", jpeg(4)),
            ("/abs/path.jpg", jpeg(5)),
            ("C:\\windows\\evil.jpg", jpeg(6)),
            (symlink_info(f"{DOG}/link.jpg"), b"/etc/passwd"),
            (f"{DOG}/bomb.jpg", b"\x00" * (20 * 1024 * 1024)),  # 20 MB -> ~20 KB: ratio ~1000
            (f"{DOG}/empty.jpg", b""),
            (f"__MACOSX/{DOG}/._good.jpg", b"junk"),
            (f"{DOG}/ünïcødé name.jpg", jpeg(7)),
        ],
    )
    job = ingest_start(source=archive, inline=True)
    assert job.status == Job.Status.SUCCEEDED, job.error
    got = reasons(job)
    assert got[f"{DOG}/good.jpg"] == ("", "") and got[f"{CAT}/good.png"] == ("", "")
    assert got[f"{DOG}/ünïcødé name.jpg"] == ("", "")
    assert got["../../etc/x"][0] == "unsafe_path" and "traversal" in got["../../etc/x"][1]
    assert got[f"{DOG}/../../../escape.jpg"][0] == "unsafe_path"
    assert got["/abs/path.jpg"][0] == "unsafe_path" and "absolute" in got["/abs/path.jpg"][1]
    assert got["C:\\windows\\evil.jpg"][0] == "unsafe_path"
    assert got[f"{DOG}/link.jpg"][0] == "link_entry"
    assert got[f"{DOG}/bomb.jpg"][0] == "archive_bomb" and "zip bomb" in got[f"{DOG}/bomb.jpg"][1]
    assert got[f"{DOG}/empty.jpg"][0] == "empty_file"
    assert not any("__MACOSX" in uri for uri in got)
    assert job.result["summary"]["ignored"] == 1
    assert Image.objects.count() == 3 and Candidate.objects.count() == 3
    assert not outside.exists() and not (tmp_path.parent / "escape.jpg").exists()
    assert not Path("/abs/path.jpg").exists()
    assert not (ingest_work_dir(job) / "extracted").exists()  # cleaned up after success


def test_zip_total_size_cap(tmp_path: Path, media_root: Path, settings) -> None:  # type: ignore[no-untyped-def]
    files = [(f"{DOG}/{i}.jpg", jpeg(10 + i)) for i in range(6)]
    settings.INGEST_ARCHIVE_MAX_TOTAL_BYTES = sum(len(d) for _, d in files[:3]) + 10
    job = ingest_start(source=zip_with(tmp_path / "a.zip", files), inline=True)
    got = reasons(job)
    refused = [uri for uri, (reason, _) in got.items() if reason == "archive_bomb"]
    assert 1 <= len(refused) <= 3
    assert "INGEST_ARCHIVE_MAX_TOTAL_BYTES" in got[refused[0]][1]
    assert Image.objects.count() == 6 - len(refused)


def add(tar: tarfile.TarFile, name: str, data: bytes = b"", **fields: object) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    for key, value in fields.items():
        setattr(info, key, value)
    tar.addfile(info, io.BytesIO(data) if data else None)


@pytest.mark.parametrize("mode", ["w", "w:gz", "w:bz2", "w:xz"])
def test_tar_hostile_entries(tmp_path: Path, media_root: Path, mode: str) -> None:
    path = tmp_path / f"upload.tar{mode[2:] and '.' + mode[2:]}"
    with tarfile.open(path, mode) as tar:
        add(tar, f"./{DOG}/good.jpg", jpeg(21))
        add(tar, f"{DOG}/sym.jpg", type=tarfile.SYMTYPE, linkname="/etc/passwd")
        add(tar, f"{DOG}/hard.jpg", type=tarfile.LNKTYPE, linkname=f"./{DOG}/good.jpg")
        add(tar, f"{DOG}/dev.jpg", type=tarfile.CHRTYPE, devmajor=1, devminor=3)
        add(tar, f"{DOG}/fifo.jpg", type=tarfile.FIFOTYPE)
        add(tar, "../../outside.jpg", jpeg(22))
        add(tar, "/tmp/abs.jpg", jpeg(23))
        add(tar, f"{DOG}/new\nline name.jpg", jpeg(24))
        add(tar, f"{CAT}/good.png", png(25))
    job = ingest_start(source=path, inline=True)
    assert job.status == Job.Status.SUCCEEDED, job.error
    got = reasons(job)
    assert got[f"./{DOG}/good.jpg"] == ("", "")  # the uri is the entry name exactly
    assert got[f"{DOG}/new\nline name.jpg"] == ("", "")
    assert got[f"{CAT}/good.png"] == ("", "")
    assert got[f"{DOG}/sym.jpg"][0] == "link_entry" and "/etc/passwd" in got[f"{DOG}/sym.jpg"][1]
    assert got[f"{DOG}/hard.jpg"][0] == "link_entry"
    assert got[f"{DOG}/dev.jpg"][0] == "special_entry"
    assert got[f"{DOG}/fifo.jpg"][0] == "special_entry"
    assert got["../../outside.jpg"][0] == "unsafe_path"
    assert got["/tmp/abs.jpg"][0] == "unsafe_path"
    assert Image.objects.count() == 3
    assert not (tmp_path.parent.parent / "outside.jpg").exists()


def test_tar_gz_bomb_stops_reading_with_one_clear_error(
    tmp_path: Path, media_root: Path, settings
) -> None:  # type: ignore[no-untyped-def]
    settings.INGEST_ARCHIVE_MAX_RATIO = 20
    path = tmp_path / "bomb.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        add(tar, f"{DOG}/first.jpg", jpeg(31))
        add(tar, f"{DOG}/zeros.jpg", b"\x00" * (80 * 1024 * 1024))  # 80 MB of zeros: ~80 KB
        add(tar, f"{DOG}/after.jpg", jpeg(32))
    job = ingest_start(source=path, inline=True)
    assert job.status == Job.Status.SUCCEEDED
    got = reasons(job)
    assert got[f"{DOG}/first.jpg"] == ("", "")
    assert got["bomb.tar.gz"][0] == "archive_bomb"
    assert "the rest is not read" in got["bomb.tar.gz"][1]
    assert f"{DOG}/after.jpg" not in got


def test_truncated_archive_keeps_what_was_read(tmp_path: Path, media_root: Path) -> None:
    path = tmp_path / "cut.tar"
    with tarfile.open(path, "w") as tar:
        for i in range(4):
            add(tar, f"{DOG}/{i}.jpg", jpeg(40 + i))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2 + 100])
    job = ingest_start(source=path, inline=True)
    got = reasons(job)
    assert job.status == Job.Status.SUCCEEDED
    assert got["cut.tar"][0] == "archive_error"
    assert 1 <= sum(1 for reason, _ in got.values() if reason == "") <= 3


def test_scratch_of_failed_jobs_is_swept(tmp_path: Path, media_root: Path) -> None:
    from curation.services.ingest import ingest_work_sweep
    from curation.services.jobs import job_create

    failed = job_create(kind="ingest", params={})
    Job.objects.filter(pk=failed.pk).update(status=Job.Status.FAILED)
    running = job_create(kind="ingest", params={})
    Job.objects.filter(pk=running.pk).update(status=Job.Status.RUNNING)
    for job in (failed, running):
        (ingest_work_dir(job) / "extracted").mkdir(parents=True)
    (ingest_work_dir(failed).parent / "999999").mkdir()  # a job that no longer exists
    assert ingest_work_sweep() == 2
    assert not ingest_work_dir(failed).exists() and ingest_work_dir(running).exists()

"""Uploads for ingest: streamed to a staging folder under DATA_ROOT, never held in memory.

A staging area (`DATA_ROOT/ingest/uploads/<user id>-<token>/`) can receive files over several
requests (a big drop is sent in batches), then becomes one ingest source: a single archive, URL
list or manifest is ingested as itself; anything else as a folder (browsers send each file's
relative path, so dropping a folder of wnid-named subfolders keeps its structure).
"""

from __future__ import annotations

import secrets
import shutil
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler, StopFutureHandlers, StopUpload

from curation.roles import is_curator

TOKEN_LENGTH = 32
STAGING_TTL_S = 2 * 24 * 3600
MAX_DEPTH = 8


class UploadError(Exception):
    """The upload as a whole was refused (size cap, bad staging token...)."""


def uploads_root() -> Path:
    return Path(settings.DATA_ROOT) / "ingest" / "uploads"


def staging_new_token() -> str:
    return secrets.token_hex(TOKEN_LENGTH // 2)


def staging_dir(*, token: str, user: Any) -> Path:
    """The staging folder for `token`, owned by `user` (a token is useless to anyone else)."""
    if len(token) != TOKEN_LENGTH or any(c not in "0123456789abcdef" for c in token):
        raise UploadError("invalid staging token")
    return uploads_root() / f"{user.pk}-{token}"


def staging_size(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.rglob("*") if p.is_file())


def staging_sweep(*, max_age_s: float = STAGING_TTL_S) -> int:
    """Remove staging folders untouched for `max_age_s` (abandoned uploads). Returns the count."""
    root = uploads_root()
    if not root.exists():
        return 0
    cutoff = time.time() - max_age_s
    removed = 0
    for entry in root.iterdir():
        try:
            if entry.is_dir() and entry.stat().st_mtime < cutoff:
                shutil.rmtree(entry, ignore_errors=True)
                removed += 1
        except OSError:
            continue
    return removed


class StagedFile(UploadedFile):
    """An uploaded file already on disk in the staging area (no open handle kept)."""

    def __init__(self, path: Path, name: str, size: int, content_type: str) -> None:
        super().__init__(file=None, name=name, content_type=content_type, size=size)
        self.staged_path = path

    def close(self) -> None:  # nothing open
        return None

    def temporary_file_path(self) -> str:
        return str(self.staged_path)


class StagingUploadHandler(FileUploadHandler):
    """Stream each uploaded file straight into the staging area, enforcing the byte cap."""

    chunk_size = 1024 * 1024

    def __init__(self, request: Any, token: str, max_bytes: int | None = None) -> None:
        super().__init__(request)
        self.token = token
        self.directory: Path | None = None  # known once the user is (at the first file)
        self.max_bytes = settings.INGEST_UPLOAD_MAX_BYTES if max_bytes is None else max_bytes
        self.already = 0
        self.received = 0
        self.count = 0
        self.batch = secrets.token_hex(4)
        self.error: str | None = None
        self.handle: Any = None
        self.path: Path | None = None

    def new_file(self, field_name: str, file_name: str, content_type: str, *args: Any, **kw: Any):  # type: ignore[no-untyped-def,override]
        super().new_file(field_name, file_name, content_type, *args, **kw)
        user = getattr(self.request, "user", None)
        if not is_curator(user):
            self.error = "Curator role required."
            raise StopUpload(connection_reset=False)
        if self.directory is None:
            self.directory = staging_dir(token=self.token, user=user)
            self.already = staging_size(self.directory) if self.directory.exists() else 0
        raw = self.directory / "raw"
        raw.mkdir(parents=True, exist_ok=True)
        self.count += 1
        self.path = raw / f"{self.batch}-{self.count:06d}"
        self.handle = open(self.path, "wb")  # noqa: SIM115 (closed in file_complete)
        raise StopFutureHandlers()

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        self.received += len(raw_data)
        if self.already + self.received > self.max_bytes:
            self.error = (
                f"upload is over the {self.max_bytes:,}-byte limit (INGEST_UPLOAD_MAX_BYTES); "
                "send fewer files, or ingest from the server with `manage.py ingest`"
            )
            self._abandon()
            raise StopUpload(connection_reset=False)
        self.handle.write(raw_data)
        return None

    def _abandon(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None
        if self.path is not None:
            self.path.unlink(missing_ok=True)

    def file_complete(self, file_size: int) -> StagedFile | None:
        if self.handle is None or self.path is None:
            return None
        self.handle.close()
        self.handle = None
        return StagedFile(self.path, self.file_name or "upload", file_size, self.content_type)

    def upload_interrupted(self) -> None:
        self._abandon()

    def discard(self) -> None:
        """Remove every file this request staged (the upload was refused)."""
        self._abandon()
        if self.directory is not None:
            for path in (self.directory / "raw").glob(f"{self.batch}-*"):
                path.unlink(missing_ok=True)


def clean_relpath(relpath: str, fallback: str) -> str:
    """A relative path we are willing to create: no '..', no absolute part, bounded depth."""
    parts = []
    for part in relpath.replace("\\", "/").split("/"):
        part = "".join(c for c in part if c.isprintable())
        if part in ("", ".", ".."):
            continue
        parts.append(_fit(part))
    if not parts:
        parts = [_fit("".join(c for c in fallback if c.isprintable()) or "upload")]
    return "/".join(parts[-MAX_DEPTH:])


def _fit(part: str, limit: int = 200) -> str:
    """A path component within the file system's 255-byte limit (UTF-8)."""
    while len(part.encode("utf-8")) > limit:
        part = part[:-1]
    return part


def staging_arrange(*, directory: Path, files: list[StagedFile], relpaths: list[str]) -> int:
    """Move this request's files from raw/ into tree/ under their (cleaned) relative paths."""
    tree = directory / "tree"
    moved = 0
    for index, staged in enumerate(files):
        given = relpaths[index] if index < len(relpaths) and relpaths[index] else staged.name
        target = tree / clean_relpath(given, staged.name or f"file-{index}")
        target.parent.mkdir(parents=True, exist_ok=True)
        target = _free_name(target)
        staged.staged_path.replace(target)
        moved += 1
    raw = directory / "raw"
    if raw.exists() and not any(raw.iterdir()):
        raw.rmdir()
    return moved


def _free_name(target: Path) -> Path:
    if not target.exists():
        return target
    for n in range(2, 10_000):
        candidate = target.with_name(f"{target.stem} ({n}){target.suffix}")
        if not candidate.exists():
            return candidate
    raise UploadError(f"too many files named {target.name}")


def staging_source(directory: Path) -> Path:
    """What to ingest from a staging area: its only file if there is just one, else the tree."""
    tree = directory / "tree"
    if not tree.exists():
        raise UploadError("nothing was uploaded")
    entries = list(tree.iterdir())
    if len(entries) == 1 and entries[0].is_file():
        return entries[0]
    return tree


def staging_write_urls(*, directory: Path, urls: list[str]) -> Path:
    """A URL list given inline (API) becomes a file in the staging area."""
    tree = directory / "tree"
    tree.mkdir(parents=True, exist_ok=True)
    target = tree / "urls.txt"
    with open(target, "w", encoding="utf-8") as f:
        for line in urls:
            f.write(line.replace("\r", " ").replace("\n", " ") + "\n")
    return target

"""Archives (.zip, .tar, .tar.gz/.bz2/.xz), read entry by entry and extracted safely.

Every entry is checked before a byte is written: path traversal, absolute paths, links, device
files and bombs (compression ratio, declared and actual sizes, total size) are refused per entry
with a reason, and the rest of the archive is extracted. Entries are written under names we choose
(`<dest>/<n // 1000>/<n>`), never under names from the archive, so nothing in an archive can point
a write anywhere else; the archive's own name for each entry is kept as the item's uri.
"""

from __future__ import annotations

import os
import re
import stat
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from curation.ingest.entries import (
    NO_SYNSET_MESSAGE,
    Entry,
    folder_synset_key,
    is_junk,
    safe_uri,
)
from curation.ingest.limits import Limits
from curation.ingest.reasons import Reason, printable

BLOCK = 1024 * 1024
DRIVE_RE = re.compile(r"^[A-Za-z]:")


class ArchiveBroken(Exception):
    """The archive cannot be read any further (entries read so far stand)."""

    def __init__(self, message: str, reason: Reason = Reason.ARCHIVE_ERROR) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def name_problem(name: str) -> tuple[Reason, str] | None:
    """Why an entry name is unsafe to honour, or None."""
    normal = name.replace("\\", "/")
    if normal.startswith("/") or DRIVE_RE.match(normal):
        return Reason.UNSAFE_PATH, f"absolute path {printable(name)!r} refused"
    if ".." in normal.split("/"):
        return Reason.UNSAFE_PATH, f"path traversal ('..') in {printable(name)!r} refused"
    return None


def entry_parts(name: str) -> list[str]:
    return [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]


class _Extractor:
    """Shared bookkeeping: where entries go, totals, and the caps."""

    def __init__(self, archive: Path, dest: Path, limits: Limits) -> None:
        self.archive_bytes = max(1, archive.stat().st_size)
        self.dest = dest
        self.limits = limits
        self.count = 0
        self.total = 0

    def target(self) -> Path:
        folder = self.dest / f"{self.count // 1000:06d}"
        folder.mkdir(parents=True, exist_ok=True)
        return folder / str(self.count)

    def total_cap_problem(self) -> tuple[Reason, str] | None:
        if self.total >= self.limits.archive_max_total_bytes:
            return (
                Reason.ARCHIVE_BOMB,
                f"archive expands past the {self.limits.archive_max_total_bytes:,}-byte total cap "
                "(INGEST_ARCHIVE_MAX_TOTAL_BYTES); entry not extracted",
            )
        if self.total > max(64 * BLOCK, self.archive_bytes * self.limits.archive_max_ratio):
            return (
                Reason.ARCHIVE_BOMB,
                f"archive expands more than {self.limits.archive_max_ratio}x its size "
                "(INGEST_ARCHIVE_MAX_RATIO); entry not extracted",
            )
        return None

    def copy(
        self, source: IO[bytes], declared: int, compressed: int | None
    ) -> tuple[str, tuple[Reason, str] | None]:
        """Stream one entry to its target, enforcing the caps while bytes arrive."""
        path = self.target()
        written = 0
        limit = self.limits.max_bytes
        problem: tuple[Reason, str] | None = None
        with open(path, "wb") as out:
            while True:
                block = source.read(BLOCK)
                if not block:
                    break
                written += len(block)
                if written > limit:
                    problem = (
                        Reason.FILE_TOO_LARGE,
                        f"entry expands past the {limit:,}-byte file limit (INGEST_MAX_BYTES)",
                    )
                    break
                if written > declared + BLOCK:
                    problem = (
                        Reason.ARCHIVE_BOMB,
                        f"entry expands past its declared size of {declared:,} bytes",
                    )
                    break
                if (
                    compressed is not None
                    and written > BLOCK
                    and (written > compressed * self.limits.archive_max_ratio)
                ):
                    problem = (
                        Reason.ARCHIVE_BOMB,
                        f"entry expands more than {self.limits.archive_max_ratio}x "
                        "(INGEST_ARCHIVE_MAX_RATIO): a zip bomb",
                    )
                    break
                out.write(block)
        self.total += written
        if problem:
            path.unlink(missing_ok=True)
            return "", problem
        return str(path), None


def _entry(name: str, per_synset: bool) -> Entry:
    uri, bad = safe_uri(name)
    key = folder_synset_key(entry_parts(name)) if per_synset else None
    entry = Entry(uri=uri, synset_key=key, error=bad)
    if per_synset and key is None and entry.error is None:
        entry.error = (Reason.NO_SYNSET, NO_SYNSET_MESSAGE)
    return entry


def iter_zip(
    path: Path,
    dest: Path,
    limits: Limits,
    *,
    per_synset: bool,
    on_ignored: Callable[[], None] = lambda: None,
) -> Iterator[Entry]:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ArchiveBroken(f"not a readable zip archive: {exc}") from exc
    ex = _Extractor(path, dest, limits)
    with archive:
        infos = archive.infolist()
        if len(infos) > limits.archive_max_entries:
            raise ArchiveBroken(
                f"{len(infos):,} entries is over the {limits.archive_max_entries:,}-entry limit "
                "(INGEST_ARCHIVE_MAX_ENTRIES)"
            )
        for info in infos:
            parts = entry_parts(info.filename)
            if info.is_dir() or not parts or any(is_junk(p) for p in parts):
                if not info.is_dir() and parts:
                    on_ignored()
                continue
            entry = _entry(info.filename, per_synset)
            mode = info.external_attr >> 16
            problem = name_problem(info.filename)
            if problem is None and stat.S_ISLNK(mode):
                problem = (Reason.LINK_ENTRY, "symbolic link entry refused")
            if problem is None and mode and not stat.S_ISREG(mode) and stat.S_IFMT(mode):
                problem = (Reason.SPECIAL_ENTRY, "device, FIFO or other special entry refused")
            if problem is None and info.flag_bits & 0x1:
                problem = (Reason.ARCHIVE_ERROR, "encrypted entry cannot be read")
            if problem is None and info.file_size > limits.max_bytes:
                problem = (
                    Reason.FILE_TOO_LARGE,
                    f"{info.file_size:,} bytes is over the {limits.max_bytes:,}-byte limit "
                    "(INGEST_MAX_BYTES)",
                )
            if (
                problem is None
                and info.file_size > BLOCK
                and (info.file_size > max(1, info.compress_size) * limits.archive_max_ratio)
            ):
                problem = (
                    Reason.ARCHIVE_BOMB,
                    f"compression ratio {info.file_size // max(1, info.compress_size):,}:1 is "
                    f"over {limits.archive_max_ratio}:1 (INGEST_ARCHIVE_MAX_RATIO): a zip bomb",
                )
            if problem is None:
                problem = ex.total_cap_problem()
            if problem is None and entry.error is None:
                try:
                    with archive.open(info) as member:
                        entry.path, problem = ex.copy(member, info.file_size, info.compress_size)
                except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as exc:
                    problem = (Reason.ARCHIVE_ERROR, f"entry cannot be extracted: {exc}")
                except NotImplementedError as exc:  # compression method we cannot read
                    problem = (Reason.ARCHIVE_ERROR, f"entry cannot be extracted: {exc}")
            if problem is not None:
                entry.error, entry.path = problem, ""
            ex.count += 1
            yield entry


def iter_tar(
    path: Path,
    dest: Path,
    limits: Limits,
    *,
    per_synset: bool,
    on_ignored: Callable[[], None] = lambda: None,
) -> Iterator[Entry]:
    """Stream a tar (any compression) once, in order; memory stays flat."""
    try:
        archive = tarfile.open(path, mode="r|*")  # noqa: SIM115 (closed below)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ArchiveBroken(f"not a readable tar archive: {exc}") from exc
    ex = _Extractor(path, dest, limits)
    stream_cap = max(64 * BLOCK, ex.archive_bytes * limits.archive_max_ratio)
    with archive:
        while True:
            try:
                info = archive.next()
            except Exception as exc:  # tarfile raises many kinds on damaged streams
                raise ArchiveBroken(
                    f"archive is damaged after {ex.count:,} entries: {exc}"
                ) from exc
            if info is None:
                break
            archive.members = []  # stream mode keeps every header otherwise
            if ex.count >= limits.archive_max_entries:
                raise ArchiveBroken(
                    f"more than {limits.archive_max_entries:,} entries "
                    "(INGEST_ARCHIVE_MAX_ENTRIES); the rest is not read"
                )
            # Skipping an entry still decompresses it, so the stream position is capped too.
            if info.offset_data + info.size > stream_cap:
                raise ArchiveBroken(
                    f"archive expands more than {limits.archive_max_ratio}x its size at "
                    f"{printable(info.name)!r} (INGEST_ARCHIVE_MAX_RATIO): an archive bomb; "
                    "the rest is not read",
                    Reason.ARCHIVE_BOMB,
                )
            parts = entry_parts(info.name)
            if info.isdir() or not parts or any(is_junk(p) for p in parts):
                if info.isfile() and parts:
                    on_ignored()
                continue
            entry = _entry(info.name, per_synset)
            problem = name_problem(info.name)
            if problem is None and info.issym():
                problem = (
                    Reason.LINK_ENTRY,
                    f"symbolic link (to {printable(info.linkname)!r}) refused",
                )
            if problem is None and info.islnk():
                problem = (
                    Reason.LINK_ENTRY,
                    f"hard link (to {printable(info.linkname)!r}) refused",
                )
            if problem is None and (info.ischr() or info.isblk() or info.isfifo()):
                problem = (Reason.SPECIAL_ENTRY, "device or FIFO entry refused")
            if problem is None and not info.isfile():
                problem = (Reason.SPECIAL_ENTRY, f"entry of type {info.type!r} refused")
            if problem is None and info.size > limits.max_bytes:
                problem = (
                    Reason.FILE_TOO_LARGE,
                    f"{info.size:,} bytes is over the {limits.max_bytes:,}-byte limit "
                    "(INGEST_MAX_BYTES)",
                )
            cap = ex.total_cap_problem()
            if cap is not None:
                raise ArchiveBroken(
                    cap[1].replace("; entry not extracted", "; the rest is not read"), cap[0]
                )
            if problem is None and entry.error is None:
                member = archive.extractfile(info)
                if member is None:
                    problem = (Reason.ARCHIVE_ERROR, "entry has no data")
                else:
                    try:
                        entry.path, problem = ex.copy(member, info.size, None)
                    except (tarfile.TarError, OSError, EOFError) as exc:
                        raise ArchiveBroken(
                            f"archive is damaged inside {printable(info.name)!r}: {exc}"
                        ) from exc
            if problem is not None:
                entry.error, entry.path = problem, ""
            ex.count += 1
            yield entry


def archive_kind(path: Path) -> str | None:
    """'zip', 'tar' or None, by content (not by name)."""
    try:
        with open(path, "rb") as f:
            head = f.read(512)
    except OSError:
        return None
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "zip"
    if len(head) >= 262 and head[257:262] == b"ustar":
        return "tar"
    if head.startswith((b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00")):
        try:
            return "tar" if tarfile.is_tarfile(path) else None
        except (OSError, tarfile.TarError, EOFError):
            return None
    return None


def remove_tree(path: Path) -> None:
    """Remove an extraction folder (ours: plain files in plain folders)."""
    if not path.exists():
        return
    for root, dirs, files in os.walk(path, topdown=False):
        for name in files:
            os.unlink(os.path.join(root, name))
        for name in dirs:
            os.rmdir(os.path.join(root, name))
    os.rmdir(path)

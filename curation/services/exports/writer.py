"""Write an export's files into a temporary directory, streaming: ImageFolder (hardlinks or
copies), WebDataset tar shards, manifest.jsonl/csv, synsets.txt. Then dataset.json is written by
the caller, everything is verified and the directory is renamed into place atomically."""

from __future__ import annotations

import csv
import errno
import hashlib
import io
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.core.files.storage import default_storage

from curation.models import Image
from curation.services.exports.selection import SPLITS, Selection

CHUNK = 2_000
MANIFEST_COLUMNS = ["path", "wnid", "class_index", "split", "sha256", "width", "height"]


def exports_root() -> Path:
    return Path(settings.DATA_ROOT) / "exports"


def ext_of(storage_key: str) -> str:
    suffix = storage_key.rsplit(".", 1)[-1].lower() if "." in storage_key else "bin"
    return {"jpeg": "jpg"}.get(suffix, suffix)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def _storage_root() -> str | None:
    try:
        return default_storage.path("")
    except NotImplementedError:  # remote storage (S3): stream the bytes
        return None


def _local_path(key: str, root: str | None = None) -> str | None:
    """The stored file's local path (None for remote storage such as S3)."""
    root = root if root is not None else _storage_root()
    if root is None:
        return None
    if key.startswith("/") or ".." in key.split("/"):
        return default_storage.path(key)  # safe_join: never outside the storage root
    return os.path.join(root, key)


@dataclass
class WriteStats:
    images: int = 0
    bytes: int = 0
    hardlinks: int = 0
    copies: int = 0
    shards: list[str] = field(default_factory=list)


class _Shards:
    """Size-capped WebDataset shards per split: webdataset's TarWriter encodes and writes each
    sample (`.jpg|.png`, `.cls`, `.json`) over a fast ustar stream (tarfast.py)."""

    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root, self.max_bytes = root, max_bytes
        self.writer: Any = None
        self.file: IO[bytes] | None = None
        self.split = ""
        self.index = 0
        self.stream: Any = None

    def _open(self, split: str) -> None:
        import webdataset as wds

        from curation.services.exports.tarfast import FastTarStream

        self.close()
        if split != self.split:
            self.split, self.index = split, 0
        self.file = (self.root / f"{split}-{self.index:06d}.tar").open("wb", buffering=1 << 20)
        self.index += 1
        self.writer = wds.TarWriter(self.file, encoder=False, mtime=0)  # samples come encoded
        unused = self.writer.tarstream  # tarfile's stream: nothing written yet, never flushed
        unused.closed = unused.fileobj.closed = True
        self.writer.tarstream = self.stream = FastTarStream(self.file, mtime=0)

    def write(self, split: str, sample: dict[str, Any], nbytes: int) -> None:
        # A sample is its bytes + three headers and paddings (+ the small .cls and .json).
        need = nbytes + 6 * 512 + 1024
        if (
            self.writer is None
            or split != self.split
            or (self.stream.offset and self.stream.offset + need > self.max_bytes - 10240)
        ):
            self._open(split)
        self.writer.write(sample)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
        if self.file is not None:
            self.file.close()
            self.file = None


def write_files(
    *,
    tmp: Path,
    sel: Selection,
    cfg: dict[str, Any],
    progress: Callable[[int], None],
) -> WriteStats:
    """Stream every selected image into the formats asked for, plus the manifests."""
    stats = WriteStats()
    formats = cfg["formats"]
    folder = "imagefolder" in formats
    shards = (
        _Shards(tmp / "webdataset", cfg["shard_max_bytes"]) if "webdataset" in formats else None
    )
    if shards:
        shards.root.mkdir(parents=True)
    hardlink = cfg["imagefolder_mode"] == "hardlink"
    made_dirs: set[str] = set()
    delay = float(getattr(settings, "EXPORT_WRITE_DELAY_S", 0.0))
    storage_root = _storage_root()
    with (
        (tmp / "manifest.jsonl").open("w", encoding="utf-8", newline="\n") as jl,
        (tmp / "manifest.csv").open("w", encoding="utf-8", newline="") as cf,
    ):
        writer = csv.writer(cf, lineterminator="\n")
        writer.writerow(MANIFEST_COLUMNS)
        for start in range(0, sel.total, CHUNK):
            ids = sel.image_ids[start : start + CHUNK]
            meta = {
                row[0]: row
                for row in Image.objects.filter(pk__in=ids.tolist()).values_list(
                    "pk", "sha256", "storage_key", "width", "height"
                )
            }
            for offset, image_id in enumerate(ids.tolist()):
                _, sha, key, width, height = meta[image_id]
                cls = int(sel.classes[start + offset])
                split = SPLITS[int(sel.splits[start + offset])]
                wnid = sel.wnids[cls]
                ext = ext_of(key)
                rel = f"imagefolder/{split}/{wnid}/{sha}.{ext}"
                if folder:
                    d = f"imagefolder/{split}/{wnid}"
                    if d not in made_dirs:
                        (tmp / d).mkdir(parents=True, exist_ok=True)
                        made_dirs.add(d)
                    linked = _place(key, tmp / rel, hardlink, storage_root)
                    stats.hardlinks += linked
                    stats.copies += not linked
                if shards is not None:
                    data = _read(key, storage_root)
                    stats.bytes += len(data)
                    shards.write(
                        split,
                        {
                            "__key__": sha,
                            ext: data,
                            "cls": b"%d" % cls,
                            "json": json.dumps(
                                {
                                    "wnid": wnid,
                                    "class_index": cls,
                                    "sha256": sha,
                                    "width": width,
                                    "height": height,
                                }
                            ).encode(),
                        },
                        len(data),
                    )
                path = (
                    rel
                    if folder
                    else (f"webdataset/{split}#{sha}.{ext}" if shards else f"storage:{key}")
                )
                record = {
                    "path": path,
                    "wnid": wnid,
                    "class_index": cls,
                    "split": split,
                    "sha256": sha,
                    "width": width,
                    "height": height,
                }
                jl.write(json.dumps(record, separators=(",", ":")) + "\n")
                writer.writerow([record[c] for c in MANIFEST_COLUMNS])
                stats.images += 1
                if delay:
                    time.sleep(delay)
                    progress(1)
            if not delay:
                progress(len(ids))
    if shards is not None:
        shards.close()
        stats.shards = sorted(p.name for p in shards.root.glob("*.tar"))
    with (tmp / "synsets.txt").open("w", encoding="utf-8", newline="\n") as f:
        for wnid, lemma in zip(sel.wnids, sel.lemmas, strict=True):
            f.write(f"{wnid} {lemma}\n")
    return stats


def _place(key: str, dst: Path, hardlink: bool, root: str | None) -> bool:
    """Hardlink the stored original (same filesystem), else copy it; True when linked."""
    src = _local_path(key, root)
    if src is None:
        with default_storage.open(key, "rb") as fin, dst.open("wb") as fout:
            shutil.copyfileobj(fin, fout, 1 << 20)
        return False
    if hardlink:
        try:
            os.link(src, dst)
            return True
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK):
                raise
    shutil.copyfile(src, dst)
    return False


def _read(key: str, root: str | None) -> bytes:
    src = _local_path(key, root)
    if src is None:
        with default_storage.open(key, "rb") as f:
            return f.read()
    with open(src, "rb") as f:
        return f.read()


def iter_manifest(directory: Path) -> Iterator[dict[str, Any]]:
    with (directory / "manifest.jsonl").open(encoding="utf-8") as f:
        for line in f:
            yield json.loads(line)


def write_json(path: Path, data: dict[str, Any]) -> None:
    with path.open("w", encoding="utf-8", newline="\n") as f:
        json.dump(data, f, indent=1, sort_keys=True, ensure_ascii=False)
        f.write("\n")


def read_tar_members(path: Path) -> Iterator[tuple[str, IO[bytes]]]:
    import tarfile

    with tarfile.open(path) as tar:
        for member in tar:
            if member.isfile():
                fobj = tar.extractfile(member)
                yield member.name, fobj if fobj is not None else io.BytesIO()

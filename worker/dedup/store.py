"""The dedup indexes on disk, under DATA_ROOT/dedup/<name>/ (name "phash" or "near-<model>"):

    meta.json      {"name", "model", "dim", "count", "version"}
    index.faiss    the FAISS index (binary for pHash), rows in the order of ids.npy
    ids.npy        int64 image ids of the index rows
    pending.npy    int64 image ids added by the last plan and not yet searched (cleared by the
                   job's finalize; a job killed in between searches them again: edges are upserts)
    pending_x.npy  their codes / vectors (the chunks' queries, memory-mapped)
    extra_<k>.npy  arrays the index needs beside it (the near index: the whitening's mean and
                   projection, fitted on the collection; see worker.dedup.handler)

A new version is written to a fresh temporary folder and swapped in with renames, so a killed
writer leaves the previous version whole. A folder that is missing, unreadable or inconsistent
(row counts differ, another model) is rebuilt from scratch by the next job.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import faiss
import numpy as np

logger = logging.getLogger(__name__)
VERSION = 2  # 2: near indexes hold whitened vectors


@dataclass
class StoredIndex:
    name: str
    index: Any
    ids: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)
    binary: bool = False
    extra: dict[str, np.ndarray] = field(default_factory=dict)


def dedup_root() -> Path:
    from django.conf import settings

    return Path(settings.DATA_ROOT) / "dedup"


def index_dir(name: str, root: Path | None = None) -> Path:
    return (root or dedup_root()) / name


def load(
    name: str, *, binary: bool, model: str = "", root: Path | None = None
) -> StoredIndex | None:
    """The stored index, or None when it must be rebuilt (missing, corrupt, other model)."""
    folder = index_dir(name, root)
    try:
        meta = json.loads((folder / "meta.json").read_text())
        ids = np.load(folder / "ids.npy")
        reader = faiss.read_index_binary if binary else faiss.read_index
        index = reader(str(folder / "index.faiss"))
        extra = {k: np.load(folder / f"extra_{k}.npy") for k in meta.get("extra", [])}
    except FileNotFoundError:
        return None
    except Exception as exc:  # truncated or garbled files
        logger.warning("dedup index %s unreadable (%s): rebuilding", folder, exc)
        return None
    if meta.get("version") != VERSION or meta.get("model", "") != model:
        logger.info(
            "dedup index %s is for %r, not %r: rebuilding", folder, meta.get("model"), model
        )
        return None
    if index.ntotal != len(ids) or meta.get("count") != len(ids):
        logger.warning("dedup index %s inconsistent (%s rows, %s ids): rebuilding", folder,
                       index.ntotal, len(ids))  # fmt: skip
        return None
    return StoredIndex(name, index, ids.astype(np.int64), meta, binary, extra)


def pending(name: str, root: Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(ids, queries memory-mapped) still to be searched."""
    folder = index_dir(name, root)
    try:
        ids = np.load(folder / "pending.npy")
        x = np.load(folder / "pending_x.npy", mmap_mode="r")
    except (FileNotFoundError, ValueError, OSError):
        return np.empty(0, np.int64), np.empty((0, 0), np.float32)
    return ids, x


def save(
    stored: StoredIndex,
    *,
    pending_ids: np.ndarray,
    pending_x: np.ndarray,
    root: Path | None = None,
) -> None:
    """Write a new version of the index (and its pending queries) atomically."""
    folder = index_dir(stored.name, root)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.parent / f".{stored.name}.{uuid.uuid4().hex}.tmp"
    tmp.mkdir()
    writer = faiss.write_index_binary if stored.binary else faiss.write_index
    writer(stored.index, str(tmp / "index.faiss"))
    np.save(tmp / "ids.npy", stored.ids.astype(np.int64))
    np.save(tmp / "pending.npy", np.asarray(pending_ids, dtype=np.int64))
    np.save(tmp / "pending_x.npy", pending_x)
    for key, arr in stored.extra.items():
        np.save(tmp / f"extra_{key}.npy", arr)
    meta = {**stored.meta, "name": stored.name, "count": len(stored.ids), "version": VERSION,
            "extra": sorted(stored.extra)}  # fmt: skip
    (tmp / "meta.json").write_text(json.dumps(meta))
    for path in tmp.iterdir():
        with open(path, "rb") as fh:
            os.fsync(fh.fileno())
    old = folder.parent / f".{stored.name}.{uuid.uuid4().hex}.old"
    if folder.exists():
        os.replace(folder, old)
    os.replace(tmp, folder)
    shutil.rmtree(old, ignore_errors=True)


def clear_pending(name: str, *, job_id: int | None = None, root: Path | None = None) -> None:
    """The pending queries were searched: forget them, unless another job planned since (its
    queries are still to be searched by its own chunks)."""
    folder = index_dir(name, root)
    if not folder.exists():
        return
    if job_id is not None:
        try:
            if json.loads((folder / "meta.json").read_text()).get("job") != job_id:
                return
        except (OSError, ValueError):
            return
    for fname, empty in (("pending.npy", np.empty(0, np.int64)), ("pending_x.npy", np.empty(0))):
        tmp = folder / f".{fname}.tmp"
        with open(tmp, "wb") as fh:
            np.save(fh, empty)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, folder / fname)


def remove_all(root: Path | None = None) -> None:
    shutil.rmtree(root or dedup_root(), ignore_errors=True)

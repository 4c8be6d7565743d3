"""Append-only float16 embedding shards keyed by image id (never in SQL).

Layout: `DATA_ROOT/embeddings/<model name>/<NNNNNNNN>.npy` (float16, n x d, L2-normalised rows)
beside `<NNNNNNNN>.ids.npy` (int64 image ids, same order). A shard is written to a temporary name
and renamed, ids file last, so a killed writer leaves no shard a reader would see. An image id may
appear in two shards after a crash and re-run; readers keep the latest shard's row.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np

_SHARD = re.compile(r"^(\d{8})\.ids\.npy$")


class EmbeddingStore:
    def __init__(self, root: Path | str, model_name: str) -> None:
        self.dir = Path(root) / "embeddings" / model_name

    @classmethod
    def for_model(cls, model_name: str) -> EmbeddingStore:
        from django.conf import settings

        return cls(settings.DATA_ROOT, model_name)

    def shard_numbers(self) -> list[int]:
        if not self.dir.is_dir():
            return []
        return sorted(int(m.group(1)) for p in self.dir.iterdir() if (m := _SHARD.match(p.name)))

    def append(self, ids: Iterable[int], vectors: np.ndarray) -> int:
        """Write one new shard; returns its number. Rows are stored as float16."""
        ids_arr = np.asarray(list(ids), dtype=np.int64)
        vecs = np.asarray(vectors, dtype=np.float16)
        if vecs.ndim != 2 or len(ids_arr) != vecs.shape[0]:
            raise ValueError(f"{len(ids_arr)} ids for vectors of shape {vecs.shape}")
        self.dir.mkdir(parents=True, exist_ok=True)
        numbers = self.shard_numbers()
        number = (numbers[-1] + 1) if numbers else 0
        # A concurrent writer may take the same number: claim it with O_EXCL on the vectors file.
        while True:
            vec_path = self.dir / f"{number:08d}.npy"
            try:
                fd = os.open(vec_path.with_suffix(".npy.tmp"), os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                number += 1
                continue
            if vec_path.exists():
                os.close(fd)
                os.unlink(vec_path.with_suffix(".npy.tmp"))
                number += 1
                continue
            break
        with os.fdopen(fd, "wb") as fh:
            np.save(fh, vecs)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(vec_path.with_suffix(".npy.tmp"), vec_path)
        ids_tmp = self.dir / f"{number:08d}.ids.npy.tmp"
        with open(ids_tmp, "wb") as fh:
            np.save(fh, ids_arr)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(ids_tmp, self.dir / f"{number:08d}.ids.npy")
        return number

    def read(
        self, ids: Iterable[int] | None = None, *, min_shard: int = 0
    ) -> tuple[np.ndarray, np.ndarray]:
        """(ids int64[n], float32[n, d]) of stored images (all or those asked), latest row wins."""
        want = None if ids is None else np.asarray(sorted(set(ids)), dtype=np.int64)
        id_parts: list[np.ndarray] = []
        vec_parts: list[np.ndarray] = []
        for number in self.shard_numbers():
            if number < min_shard:
                continue
            shard_ids = np.load(self.dir / f"{number:08d}.ids.npy")
            vecs = np.load(self.dir / f"{number:08d}.npy", mmap_mode="r")
            if want is not None:
                keep = np.isin(shard_ids, want)
                shard_ids, vecs = shard_ids[keep], vecs[keep]
            id_parts.append(shard_ids)
            vec_parts.append(np.asarray(vecs, dtype=np.float32))
        if not id_parts:
            return np.empty(0, dtype=np.int64), np.empty((0, 0), dtype=np.float32)
        all_ids = np.concatenate(id_parts)
        all_vecs = np.concatenate(vec_parts)
        # Latest wins: reverse, take the first occurrence of each id.
        rev_ids = all_ids[::-1]
        _, first = np.unique(rev_ids, return_index=True)
        rows = len(all_ids) - 1 - first
        return all_ids[rows], all_vecs[rows]

    def stored_ids(self) -> set[int]:
        out: set[int] = set()
        for number in self.shard_numbers():
            out.update(np.load(self.dir / f"{number:08d}.ids.npy").tolist())
        return out

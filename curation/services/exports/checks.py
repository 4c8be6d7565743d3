"""Checks over the written files: `verify_directory` (re-hash against dataset.json and the
manifest: missing, extra, changed) and `leakage_report` (duplicate pairs across splits, computed
from the written manifest, the duplicate groups in the database and pHash/sha256, independently of
the split logic)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings

from curation.models import DuplicateMember, Image
from curation.services.exports.selection import SPLITS
from curation.services.exports.writer import iter_manifest, sha256_file

LIST_LIMIT = 1000
LOOKUP_CHUNK = 5_000


def verify_directory(
    directory: Path, *, full: bool = True, progress: Callable[[int], None] | None = None
) -> dict[str, Any]:
    """Every difference between the files and what dataset.json and the manifest promise."""
    missing: list[str] = []
    extra: list[str] = []
    changed: list[str] = []
    checked = 0

    def note(bucket: list[str], item: str) -> None:
        if len(bucket) < LIST_LIMIT:
            bucket.append(item)

    meta_path = directory / "dataset.json"
    if not meta_path.is_file():
        return {"ok": False, "missing": ["dataset.json"], "extra": [], "changed": [], "checked": 0}
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    files: dict[str, str] = meta.get("files", {})
    for rel, digest in sorted(files.items()):
        path = directory / rel
        if not path.is_file():
            note(missing, rel)
        elif sha256_file(path) != digest:
            note(changed, rel)
        checked += 1
    counts = {"missing": 0, "extra": 0, "changed": 0}
    if (directory / "manifest.jsonl").is_file():
        group: tuple[str, str] | None = None
        expected: dict[str, str] = {}
        seen_dirs: set[str] = set()

        def close_group() -> None:
            if group is None:
                return
            d = directory / "imagefolder" / group[0] / group[1]
            present = set(os.listdir(d)) if d.is_dir() else set()
            for name in sorted(set(expected) - present):
                counts["missing"] += 1
                note(missing, f"imagefolder/{group[0]}/{group[1]}/{name}")
            for name in sorted(present - set(expected)):
                counts["extra"] += 1
                note(extra, f"imagefolder/{group[0]}/{group[1]}/{name}")
            if full:
                for name in sorted(set(expected) & present):
                    if sha256_file(d / name) != expected[name]:
                        counts["changed"] += 1
                        note(changed, f"imagefolder/{group[0]}/{group[1]}/{name}")
            if progress is not None:
                progress(len(expected))

        for row in iter_manifest(directory):
            path = row["path"]
            if not path.startswith("imagefolder/"):
                continue
            _, split, wnid, name = path.split("/", 3)
            if (split, wnid) != group:
                close_group()
                group, expected = (split, wnid), {}
                seen_dirs.add(f"{split}/{wnid}")
            expected[name] = row["sha256"]
            checked += 1
        close_group()
        folder = directory / "imagefolder"
        if folder.is_dir():
            for split in sorted(os.listdir(folder)):
                sub = folder / split
                names = sorted(os.listdir(sub)) if sub.is_dir() else []
                if not sub.is_dir():
                    note(extra, f"imagefolder/{split}")
                for wnid in names:
                    if f"{split}/{wnid}" not in seen_dirs:
                        for name in sorted(os.listdir(sub / wnid)):
                            counts["extra"] += 1
                            note(extra, f"imagefolder/{split}/{wnid}/{name}")
    known_top = {"dataset.json", "imagefolder"} | {p.split("/", 1)[0] for p in files}
    for name in sorted(os.listdir(directory)):
        if name not in known_top:
            note(extra, name)
    wds = directory / "webdataset"
    if wds.is_dir():
        for name in sorted(os.listdir(wds)):
            if f"webdataset/{name}" not in files:
                note(extra, f"webdataset/{name}")
    total_missing = len(missing) + counts["missing"] - min(counts["missing"], len(missing))
    return {
        "ok": not (missing or extra or changed),
        "missing": missing,
        "extra": extra,
        "changed": changed,
        "checked": checked,
        "differences": max(total_missing, len(missing))
        + max(counts["extra"], len(extra))
        + max(counts["changed"], len(changed)),
    }


def _popcount64(x: np.ndarray) -> np.ndarray:
    return np.bitwise_count(x.astype(np.uint64)).astype(np.int64)


def leakage_report(directory: Path) -> dict[str, Any]:
    """Duplicate pairs across splits among the exported images; must be 0."""
    shas: list[str] = []
    split_codes: list[int] = []
    for row in iter_manifest(directory):
        shas.append(row["sha256"])
        split_codes.append(SPLITS.index(row["split"]))
    splits = np.array(split_codes, dtype=np.int8)
    n = len(shas)
    examples: list[dict[str, Any]] = []

    # 1. Same bytes (sha256) in two splits.
    order = sorted(range(n), key=shas.__getitem__)
    sha_pairs = 0
    i = 0
    while i < n:
        j = i
        while j + 1 < n and shas[order[j + 1]] == shas[order[i]]:
            j += 1
        if j > i:
            members = [int(splits[order[k]]) for k in range(i, j + 1)]
            cross = sum(
                1 for a in range(len(members)) for b in range(a) if members[a] != members[b]
            )
            sha_pairs += cross
            if cross and len(examples) < 20:
                examples.append({"source": "sha256", "sha256": shas[order[i]]})
        i = j + 1
    del order

    # 2. Duplicate groups in the database (any kind) and 3. pHash within the radius.
    group_of: list[int] = []
    phash_of: list[int] = []
    split_of: list[int] = []
    sha_to_split = {}
    for start in range(0, n, LOOKUP_CHUNK):
        chunk = shas[start : start + LOOKUP_CHUNK]
        for sha, s in zip(chunk, split_codes[start : start + LOOKUP_CHUNK], strict=True):
            sha_to_split[sha] = s
        rows = Image.objects.filter(sha256__in=chunk).values_list(
            "sha256", "phash", "duplicate_membership__group_id"
        )
        for sha, phash, group in rows:
            s = sha_to_split[sha]
            if group is not None:
                group_of.append(group)
                split_of.append(s)
            if phash is not None:
                phash_of.append((phash & 0xFFFFFFFFFFFFFFFF) | (s << 64))
        sha_to_split.clear()
    group_pairs = 0
    if group_of:
        g = np.array(group_of, dtype=np.int64)
        s = np.array(split_of, dtype=np.int64)
        table = np.zeros((int(g.max()) + 1, 3), dtype=np.int64) if g.size < 5_000_000 else None
        if table is not None:
            np.add.at(table, (g, s), 1)
            cross = (
                table[:, 0] * table[:, 1] + table[:, 0] * table[:, 2] + table[:, 1] * table[:, 2]
            )
            group_pairs = int(cross.sum())
            for gid in np.flatnonzero(cross)[:20].tolist():
                ids = list(
                    DuplicateMember.objects.filter(group_id=gid).values_list(
                        "image__sha256", flat=True
                    )[:10]
                )
                examples.append({"source": "duplicate_group", "group": gid, "sha256": ids})
    radius = int(getattr(settings, "EXPORT_LEAKAGE_PHASH_RADIUS", 4))
    phash_pairs = _phash_pairs(phash_of, radius, examples)
    total = sha_pairs + group_pairs + phash_pairs
    return {
        "pairs_across_splits": total,
        "by_source": {"sha256": sha_pairs, "duplicate_groups": group_pairs, "phash": phash_pairs},
        "phash_radius": radius,
        "images_checked": n,
        "examples": examples[:20],
        "method": "from the written manifest, independently of the split logic",
    }


def _phash_pairs(packed: list[int], radius: int, examples: list[dict[str, Any]]) -> int:
    """Pairs in different splits whose pHash differ in at most `radius` bits (pigeonhole bands)."""
    if len(packed) < 2:
        return 0
    hashes = np.array([p & 0xFFFFFFFFFFFFFFFF for p in packed], dtype=np.uint64)
    splits = np.array([p >> 64 for p in packed], dtype=np.int8)
    bands = radius + 1
    width = 64 // bands
    found: set[tuple[int, int]] = set()
    for b in range(bands):
        lo = b * width
        bits = 64 - lo if b == bands - 1 else width
        key = (hashes >> np.uint64(lo)) & np.uint64((1 << bits) - 1)
        order = np.argsort(key, kind="stable")
        k = key[order]
        edges = np.flatnonzero(np.diff(k)) + 1
        for bucket in np.split(order, edges):
            if bucket.size < 2 or np.unique(splits[bucket]).size < 2:
                continue
            bucket = bucket[:2000]
            h = hashes[bucket]
            s = splits[bucket]
            dist = _popcount64(h[:, None] ^ h[None, :])
            hit = (dist <= radius) & (s[:, None] != s[None, :])
            for a, c in zip(*np.nonzero(np.triu(hit, 1)), strict=True):
                pair = (int(bucket[a]), int(bucket[c]))
                if pair not in found:
                    found.add(pair)
                    if len(examples) < 20:
                        examples.append({"source": "phash", "rows": list(pair)})
    return len(found)

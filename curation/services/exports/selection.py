"""Which images go into an export and in which split: group-aware, stratified per class,
deterministic (ordered by sha256, then a seeded shuffle; nothing depends on database order).

Memory: a few numpy columns per accepted candidate (~40 bytes), streamed from a server-side cursor.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.db import connection

from curation.services.exports.config import ClassPlan, export_classes

SPLITS = ("train", "val", "test")
FETCH = 20_000

_SQL = """
SELECT c.image_id, c.synset_id, i.sha256, COALESCE(m.group_id, -1),
       COALESCE(g.representative_id = c.image_id, FALSE)
FROM curation_candidate c
JOIN curation_image i ON i.id = c.image_id
LEFT JOIN curation_duplicatemember m ON m.image_id = c.image_id
LEFT JOIN curation_duplicategroup g ON g.id = m.group_id
WHERE c.state = 'accepted' AND i.status = 'ok' AND c.synset_id IN ({ids})
"""


@dataclass
class Selection:
    """The export's rows, sorted by (split, class, sha256), and what was left out and why."""

    wnids: list[str]
    lemmas: list[str]
    image_ids: np.ndarray  # int64
    classes: np.ndarray  # int32 index into wnids
    splits: np.ndarray  # int8 index into SPLITS
    counts: dict[str, dict[str, int]]
    report: dict[str, Any] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return int(self.image_ids.size)

    def split_names(self) -> list[str]:
        present = {SPLITS[s] for s in np.unique(self.splits).tolist()}
        return [s for s in SPLITS if s in present or s in ("train", "val")]


def _sha_key(sha: str) -> tuple[int, int]:
    return int(sha[:16], 16), int(sha[16:32], 16)


def _fetch(plan: ClassPlan) -> dict[str, np.ndarray]:
    img: list[int] = []
    cls: list[int] = []
    grp: list[int] = []
    rep: list[bool] = []
    s1: list[int] = []
    s2: list[int] = []
    if plan.feeds:
        ids = ",".join(str(int(i)) for i in plan.feeds)
        with connection.chunked_cursor() as cursor:
            cursor.execute(_SQL.format(ids=ids))
            while rows := cursor.fetchmany(FETCH):
                for image_id, synset_id, sha, group_id, is_rep in rows:
                    a, b = _sha_key(sha)
                    for c in plan.feeds[synset_id]:
                        img.append(image_id)
                        cls.append(c)
                        grp.append(group_id)
                        rep.append(is_rep)
                        s1.append(a)
                        s2.append(b)
    return {
        "img": np.array(img, dtype=np.int64),
        "cls": np.array(cls, dtype=np.int32),
        "grp": np.array(grp, dtype=np.int64),
        "rep": np.array(rep, dtype=bool),
        "s1": np.array(s1, dtype=np.uint64),
        "s2": np.array(s2, dtype=np.uint64),
    }


def _take(cols: dict[str, np.ndarray], mask: np.ndarray) -> dict[str, np.ndarray]:
    return {k: v[mask] for k, v in cols.items()}


def _first_of_runs(keys: np.ndarray) -> np.ndarray:
    """Mask of the first element of each run of equal values in a sorted array."""
    first = np.ones(keys.size, dtype=bool)
    first[1:] = keys[1:] != keys[:-1]
    return first


def select_export(cfg: dict[str, Any], seed: int) -> Selection:
    plan = export_classes(cfg)
    cols = _fetch(plan)
    report: dict[str, Any] = {"accepted_rows": int(cols["img"].size)}

    # One row per (image, class): roll-ups may reach a class twice.
    order = np.lexsort((cols["cls"], cols["img"]))
    cols = _take(cols, order)
    keep = np.ones(cols["img"].size, dtype=bool)
    keep[1:] = (cols["img"][1:] != cols["img"][:-1]) | (cols["cls"][1:] != cols["cls"][:-1])
    cols = _take(cols, keep)

    # An image accepted for two classes of the export: excluded, or kept once (lowest class).
    first = _first_of_runs(cols["img"])
    run_id = np.cumsum(first) - 1
    run_len = np.bincount(run_id)
    multi = run_len[run_id] > 1
    multi_images = int(np.count_nonzero(first & multi))
    pairs: dict[str, int] = {}
    if multi_images:
        for image_start in np.flatnonzero(first & multi)[:10_000]:
            n = run_len[run_id[image_start]]
            names = [plan.wnids[c] for c in cols["cls"][image_start : image_start + n]]
            key = "+".join(names)
            pairs[key] = pairs.get(key, 0) + 1
    cols = _take(cols, ~multi if cfg["multiclass"] == "exclude" else first)
    report["multiclass"] = {
        "policy": cfg["multiclass"],
        "images": multi_images,
        "class_sets": dict(sorted(pairs.items(), key=lambda kv: (-kv[1], kv[0]))[:50]),
    }

    # Duplicate groups: by default one image per group (its representative when exported).
    in_group = cols["grp"] >= 0
    groups_seen = int(np.unique(cols["grp"][in_group]).size)
    dropped = 0
    if cfg["duplicates"] == "representative" and groups_seen:
        order = np.lexsort((cols["s2"], cols["s1"], ~cols["rep"], cols["grp"]))
        cols = _take(cols, order)
        first = _first_of_runs(cols["grp"])
        keep = (cols["grp"] < 0) | first
        dropped = int(np.count_nonzero(~keep))
        cols = _take(cols, keep)
    report["duplicates"] = {
        "policy": cfg["duplicates"],
        "groups": groups_seen,
        "members_dropped": dropped,
    }

    # Units: a duplicate group (all its members share a split) or a lone image. The unit key is
    # the sha256 of the group's first member in sha order (deterministic), else the image's own.
    n = cols["img"].size
    unit_s1, unit_s2 = cols["s1"].copy(), cols["s2"].copy()
    if n and cfg["duplicates"] == "keep_all":
        order = np.lexsort((cols["s2"], cols["s1"], cols["grp"]))
        g = cols["grp"][order]
        first = _first_of_runs(g)
        starts = np.maximum.accumulate(np.where(first, np.arange(n), 0))
        in_grp = g >= 0
        unit_s1[order[in_grp]] = cols["s1"][order][starts][in_grp]
        unit_s2[order[in_grp]] = cols["s2"][order][starts][in_grp]
    # Distinct unit keys in sha order, then a seeded permutation gives each unit its priority.
    ukeys = np.stack([unit_s1, unit_s2], axis=1) if n else np.zeros((0, 2), dtype=np.uint64)
    uniq, inverse = (
        np.unique(ukeys, axis=0, return_inverse=True) if n else (ukeys, np.zeros(0, dtype=np.int64))
    )
    inverse = inverse.reshape(-1)
    priority_of_unit = np.random.default_rng(seed).permutation(uniq.shape[0])
    priority = priority_of_unit[inverse] if n else np.zeros(0, dtype=np.int64)

    # Per class: units in priority order; drop classes under min, cap at max, then val/test/train.
    order = np.lexsort((priority, cols["cls"]))
    cols = _take(cols, order)
    priority = priority[order]
    cls = cols["cls"]
    # Unit (class, priority) pairs: rows of one unit in one class are adjacent.
    unit_first = np.ones(n, dtype=bool)
    unit_first[1:] = (cls[1:] != cls[:-1]) | (priority[1:] != priority[:-1])
    unit_idx = np.cumsum(unit_first) - 1
    unit_cls = cls[unit_first]
    class_first = _first_of_runs(unit_cls) if unit_cls.size else unit_cls.astype(bool)
    class_start = (
        np.maximum.accumulate(np.where(class_first, np.arange(unit_cls.size), 0))
        if unit_cls.size
        else np.zeros(0, dtype=np.int64)
    )
    rank = np.arange(unit_cls.size) - class_start  # rank of the unit inside its class
    units_per_class = (
        np.bincount(unit_cls, minlength=len(plan.wnids))
        if unit_cls.size
        else (np.zeros(len(plan.wnids), dtype=np.int64))
    )
    cap = cfg["max_per_class"]
    usable = np.minimum(units_per_class, cap) if cap else units_per_class
    too_few = usable < max(cfg["min_per_class"], 1)
    n_val = np.zeros_like(usable)
    n_test = np.zeros_like(usable)
    if cfg["val_per_class"] is not None:
        n_val = np.minimum(usable, cfg["val_per_class"])
        n_test = np.minimum(usable - n_val, cfg["test_per_class"] or 0)
    else:
        n_val = np.floor(usable * cfg["val_fraction"] + 0.5).astype(np.int64)
        n_test = np.floor(usable * (cfg["test_fraction"] or 0) + 0.5).astype(np.int64)
        n_test = np.minimum(n_test, usable - n_val)
    u_split = np.zeros(unit_cls.size, dtype=np.int8)
    if unit_cls.size:
        u_split[rank < n_val[unit_cls]] = 1
        u_split[(rank >= n_val[unit_cls]) & (rank < (n_val + n_test)[unit_cls])] = 2
    u_keep = (
        (rank < usable[unit_cls]) & ~too_few[unit_cls] if unit_cls.size else u_split.astype(bool)
    )
    splits = u_split[unit_idx] if n else np.zeros(0, dtype=np.int8)
    keep = u_keep[unit_idx] if n else np.zeros(0, dtype=bool)
    # keep_all: a group that crosses classes takes the split of its lowest class everywhere.
    if n and cfg["duplicates"] == "keep_all":
        uk = priority
        order2 = np.lexsort((cls, uk))
        first2 = _first_of_runs(uk[order2])
        starts2 = np.maximum.accumulate(np.where(first2, np.arange(n), 0))
        splits[order2] = splits[order2][starts2]
    cols = _take(cols, keep)
    splits = splits[keep]

    # Final classes: those left; indices renumbered in wnid order.
    left = np.flatnonzero(~too_few & (usable > 0))
    remap = np.full(len(plan.wnids), -1, dtype=np.int32)
    remap[left] = np.arange(left.size, dtype=np.int32)
    wnids = [plan.wnids[i] for i in left]
    lemmas = [plan.lemmas[i] for i in left]
    classes = remap[cols["cls"]]
    order = np.lexsort((cols["s2"], cols["s1"], classes, splits))
    report["classes_under_min"] = [plan.wnids[i] for i in np.flatnonzero(too_few)][:200]
    report["classes_dropped"] = int(np.count_nonzero(too_few))
    report["capped_classes"] = int(np.count_nonzero(units_per_class > cap)) if cap else 0
    counts: dict[str, dict[str, int]] = {w: {s: 0 for s in SPLITS} for w in wnids}
    if classes.size:
        table = np.zeros((len(wnids), 3), dtype=np.int64)
        np.add.at(table, (classes, splits.astype(np.int64)), 1)
        for i, w in enumerate(wnids):
            counts[w] = {s: int(table[i, j]) for j, s in enumerate(SPLITS)}
    return Selection(
        wnids=wnids,
        lemmas=lemmas,
        image_ids=cols["img"][order],
        classes=classes[order],
        splits=splits[order],
        counts=counts,
        report=report,
    )


def split_totals(counts: dict[str, dict[str, int]]) -> dict[str, int]:
    totals = {s: 0 for s in SPLITS}
    for row in counts.values():
        for s in SPLITS:
            totals[s] += row.get(s, 0)
    return totals

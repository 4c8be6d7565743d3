"""Leakage on a planted set: duplicate pairs across splits for a naive random split vs ours."""

from __future__ import annotations

import os

from bench import WORK, table
from bench.export_harness import populate, real_files, recreate_db, shell

N = int(os.environ.get("BENCH_LEAKAGE_N", "50000"))

CODE = """
import json
import numpy as np
from curation.models import DuplicateMember
from curation.services.exports.config import export_config_normalize
from curation.services.exports.selection import select_export
members = {{}}
for g, i in DuplicateMember.objects.values_list("group_id", "image_id").iterator(chunk_size=50000):
    members.setdefault(g, []).append(i)
def cross_pairs(split_of):
    pairs = 0
    for ids in members.values():
        s = [split_of[i] for i in ids if i in split_of]
        pairs += sum(1 for a in range(len(s)) for b in range(a) if s[a] != s[b])
    return pairs
out = {{"groups": len(members), "grouped_images": sum(len(v) for v in members.values())}}
synsets = {synsets!r}
base = {{"synsets": synsets, "val_fraction": 0.1, "verify": "manifests", "formats": ["jsonl"]}}
# Naive: every accepted image, a seeded random 10% to val (what a quick script does).
sel_all = select_export(export_config_normalize({{**base, "duplicates": "keep_all"}}), 1)
rng = np.random.default_rng(1)
ids = np.sort(sel_all.image_ids)
val = rng.random(ids.size) < 0.1
out["naive"] = cross_pairs(dict(zip(ids.tolist(), val.astype(int).tolist())))
out["naive_images"] = int(ids.size)
for policy in ("representative", "keep_all"):
    sel = select_export(export_config_normalize({{**base, "duplicates": policy}}), 1)
    out[policy] = cross_pairs(dict(zip(sel.image_ids.tolist(), sel.splits.astype(int).tolist())))
    out[policy + "_images"] = sel.total
    out[policy + "_val"] = int((sel.splits == 1).sum())
print("RESULT " + json.dumps(out))
"""


def run() -> tuple[str, str]:
    WORK.mkdir(parents=True, exist_ok=True)
    recreate_db()
    real_files()
    classes = 50
    populate(N, classes, groups_every=20)
    r, _ = shell(CODE.format(synsets=[f"n9{c:07d}" for c in range(1, classes + 1)]))
    rows = [
        [
            "naive: seeded random 10% val per image",
            f"{r['naive_images']:,}",
            "",
            f"**{r['naive']}**",
        ],
        [
            "ours, duplicates = representative (default)",
            f"{r['representative_images']:,}",
            f"{r['representative_val']:,}",
            f"**{r['representative']}**",
        ],
        [
            "ours, duplicates = keep_all (group-aware)",
            f"{r['keep_all_images']:,}",
            f"{r['keep_all_val']:,}",
            f"**{r['keep_all']}**",
        ],
    ]
    body = (
        f"Planted set: {N:,} accepted images in {classes} classes with {r['groups']:,} planted "
        f"duplicate groups ({r['grouped_images']:,} images: pairs in one class). Pairs of "
        "duplicates whose members sit in different splits (train/val), counted from the duplicate "
        "groups in the database, independently of the split code. Ours must be 0.\n\n"
        + table(["split", "images", "val", "duplicate pairs across splits"], rows)
    )
    return "Exports: leakage, naive random split vs ours (bench_leakage)", body

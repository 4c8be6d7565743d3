"""Write a small export directory from the real sample_data images (training/EXPORT_FORMAT.md).

The exports helper builds the real writer; this one follows the same layout so the training module
and the app-side runs can be tested on their own: ImageFolder tree, WebDataset shards (via the
`webdataset` package), manifest.jsonl/csv, synsets.txt and dataset.json.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample_data" / "images"
LEMMAS = {
    "n01503061": "bird", "n02159955": "insect", "n01861778": "mammal",
    "n07705931": "edible_fruit", "n07609840": "dessert", "n07881800": "beverage",
    "n03354903": "flag", "n11669921": "flower", "n03544360": "house",
    "n03800933": "musical_instrument",
}  # fmt: skip


def make_export(
    dest: Path,
    *,
    name: str = "sample",
    classes: int = 4,
    per_class: int = 12,
    val_per_class: int = 4,
    formats: tuple[str, ...] = ("imagefolder", "webdataset"),
    shard_size: int = 16,
    max_side: int = 96,
) -> Path:
    """An export of `classes` sample synsets, `per_class` images each (val_per_class in val).

    Images are downscaled to `max_side` and stored as PNG (the sample set is JPEG; the shards carry
    .png samples) so CPU runs stay short.
    """
    import webdataset as wds

    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    wnids = sorted(p.name for p in SAMPLE.iterdir() if p.is_dir())[:classes]
    rows: list[dict] = []
    seen: set[str] = set()
    for index, wnid in enumerate(wnids):
        files = sorted(p for p in (SAMPLE / wnid).iterdir() if p.suffix.lower() in {".jpg", ".png"})
        for k, src in enumerate(files[:per_class]):
            with Image.open(src) as img:
                img = img.convert("RGB")
                img.thumbnail((max_side, max_side))
                buf = io.BytesIO()
                img.save(buf, format="PNG")
            data = buf.getvalue()
            sha = hashlib.sha256(data).hexdigest()
            if sha in seen:  # identical once downscaled: an export keeps one copy
                continue
            seen.add(sha)
            split = "val" if k < val_per_class else "train"
            rows.append({
                "path": f"imagefolder/{split}/{wnid}/{sha}.png", "wnid": wnid,
                "class_index": index, "split": split, "sha256": sha,
                "width": img.width, "height": img.height, "_data": data,
            })  # fmt: skip
    files: dict[str, str] = {}
    if "imagefolder" in formats:
        for r in rows:
            p = dest / r["path"]
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(r["_data"])
            files[r["path"]] = r["sha256"]
    if "webdataset" in formats:
        (dest / "webdataset").mkdir()
        for split in ("train", "val"):
            part = [r for r in rows if r["split"] == split]
            pattern = str(dest / "webdataset" / f"{split}-%06d.tar")
            with wds.ShardWriter(pattern, maxcount=shard_size, verbose=0) as sink:
                for r in part:
                    meta = {k: v for k, v in r.items() if not k.startswith("_")}
                    sink.write({
                        "__key__": r["sha256"], "png": r["_data"],
                        "cls": str(r["class_index"]).encode(), "json": json.dumps(meta).encode(),
                    })  # fmt: skip
        for tar in sorted((dest / "webdataset").glob("*.tar")):
            files[f"webdataset/{tar.name}"] = hashlib.sha256(tar.read_bytes()).hexdigest()
    manifest = [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows]
    (dest / "manifest.jsonl").write_text("".join(json.dumps(m) + "\n" for m in manifest))
    with (dest / "manifest.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(manifest[0]))
        w.writeheader()
        w.writerows(manifest)
    (dest / "synsets.txt").write_text("".join(f"{w} {LEMMAS.get(w, w)}\n" for w in wnids))
    counts = {
        w: {s: sum(1 for r in rows if r["wnid"] == w and r["split"] == s) for s in ("train", "val")}
        for w in wnids
    }
    dataset = {
        "name": name, "config": {"per_class": per_class, "val_per_class": val_per_class},
        "seed": 0, "classes": [{"index": i, "wnid": w, "lemma": LEMMAS.get(w, w)}
                               for i, w in enumerate(wnids)],
        "counts": counts, "splits": ["train", "val"], "formats": list(formats), "files": files,
        "provenance": {"created_by": "tests/training/export_fixture.py"},
    }  # fmt: skip
    (dest / "dataset.json").write_text(json.dumps(dataset, indent=1))
    return dest

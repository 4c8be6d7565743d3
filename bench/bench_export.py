"""Export of 100k and 1M accepted candidates: time and peak RSS per format (manifests only,
ImageFolder hardlinks, WebDataset shards), and WebDataset writing beside a plain sequential copy
of the same bytes in the same run. Targets: 1M manifest + ImageFolder hardlinks <= 5 min and
< 1 GB; WebDataset shards >= 80% of plain sequential copy speed."""

from __future__ import annotations

import os
import shutil

from bench import WORK, table
from bench.export_harness import REAL_FILES, populate, real_files, recreate_db, shell

SCALES = [int(s) for s in os.environ.get("BENCH_EXPORT_SCALES", "100000,1000000").split(",")]
# WebDataset at 1M would write ~40 GB of shards: past this machine's free disk, so 100k by default.
WDS_MAX = int(os.environ.get("BENCH_EXPORT_WDS_MAX", "100000"))

EXPORT = """
import json, resource, time
from curation.services.exports import export_create
t0 = time.perf_counter()
v = export_create(name={name!r}, config={config!r}, seed=1, inline=True)
t1 = time.perf_counter()
assert v.status == "ready", v.error
print("RESULT " + json.dumps({{"seconds": t1 - t0, "images": v.num_images,
      "leak": v.leakage["pairs_across_splits"],
      "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""

# The writing phase alone, WebDataset shards vs a plain sequential copy of the same bytes in the
# same order (read each source file, append it to one output file), in one process.
WDS_VS_COPY = """
import json, os, resource, shutil, time
from pathlib import Path
from django.conf import settings
from django.core.files.storage import default_storage
from curation.models import Image
from curation.services.exports.config import export_config_normalize
from curation.services.exports.selection import select_export
from curation.services.exports.writer import write_files
cfg = export_config_normalize({config!r})
sel = select_export(cfg, 1)
out = Path(settings.DATA_ROOT) / "wds-vs-copy"
shutil.rmtree(out, ignore_errors=True); out.mkdir(parents=True)
keys = []
for start in range(0, sel.total, 5000):
    ids = sel.image_ids[start:start + 5000].tolist()
    m = dict(Image.objects.filter(pk__in=ids).values_list("pk", "storage_key"))
    keys.extend(m[i] for i in ids)
def copy_plain():
    t = time.perf_counter(); n = 0
    with open(out / "plain.bin", "wb") as f:
        for k in keys:
            with open(default_storage.path(k), "rb") as src:
                n += f.write(src.read())
    return time.perf_counter() - t, n
def shards():
    (out / "w").mkdir(exist_ok=True)
    t = time.perf_counter()
    stats = write_files(tmp=out / "w", sel=sel, cfg=cfg, progress=lambda n: None)
    return time.perf_counter() - t, stats.bytes
best_copy = best_wds = None
for _ in range(2):  # alternate, keep each one's best: the machine is shared
    c = copy_plain(); os.remove(out / "plain.bin")
    shutil.rmtree(out / "w", ignore_errors=True)
    w = shards()
    best_copy = c if best_copy is None or c[0] < best_copy[0] else best_copy
    best_wds = w if best_wds is None or w[0] < best_wds[0] else best_wds
tar_bytes = sum(p.stat().st_size for p in (out / "w" / "webdataset").glob("*.tar"))
shutil.rmtree(out, ignore_errors=True)
print("RESULT " + json.dumps({{"copy_s": best_copy[0], "bytes": best_copy[1], "wds_s": best_wds[0],
      "tar_bytes": tar_bytes, "n": sel.total,
      "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def run() -> tuple[str, str]:
    load_before = os.getloadavg()[0]
    WORK.mkdir(parents=True, exist_ok=True)
    recreate_db()
    real_files()
    rows = []
    ratio_rows = []
    for n in SCALES:
        classes = max(10, n // 1000)
        build_s = populate(n, classes)
        synsets = [f"n9{c:07d}" for c in range(1, classes + 1)]
        base = {"synsets": synsets, "val_per_class": 50, "verify": "manifests"}
        runs = [
            ("manifests only (jsonl + csv)", {**base, "formats": ["jsonl"]}),
            ("manifests + ImageFolder hardlinks", {**base, "formats": ["imagefolder"]}),
        ]
        if os.environ.get("BENCH_EXPORT_ONLY_IMAGEFOLDER"):  # the 5-minute target's run alone
            runs = runs[1:]
        if n <= WDS_MAX:
            runs.append(
                ("manifests + WebDataset shards (256 MiB)", {**base, "formats": ["webdataset"]})
            )
        for i, (label, config) in enumerate(runs):
            name = f"bench-{n}-{i}"
            shutil.rmtree(WORK / "export-data" / "exports" / name, ignore_errors=True)
            result, _ = shell(EXPORT.format(name=name, config=config))
            assert result["leak"] == 0
            rows.append(
                [
                    f"{n:,}",
                    label,
                    f"{result['images']:,}",
                    f"{result['seconds']:.1f}",
                    f"{result['images'] / result['seconds']:,.0f}",
                    f"{result['rss']:.0f}",
                ]
            )
            shutil.rmtree(WORK / "export-data" / "exports" / name, ignore_errors=True)
            print(rows[-1], flush=True)
        if n <= WDS_MAX:
            r, _ = shell(WDS_VS_COPY.format(config={**base, "formats": ["webdataset"]}))
            mb = r["bytes"] / 1e6
            ratio_rows.append(
                [
                    f"{n:,}",
                    f"{mb:,.0f} MB in {r['tar_bytes'] / 1e6:,.0f} MB of tar",
                    f"{r['copy_s']:.1f} s ({mb / r['copy_s']:,.0f} MB/s)",
                    f"{r['wds_s']:.1f} s ({mb / r['wds_s']:,.0f} MB/s)",
                    f"**{r['copy_s'] / r['wds_s']:.0%}**",
                ]
            )
            print(ratio_rows[-1], flush=True)
        rows.append(
            [f"{n:,}", f"(building the {n:,} synthetic rows: {build_s:.0f} s)", "", "", "", ""]
        )
    load_after = os.getloadavg()[0]
    body = (
        "Synthetic accepted candidates (INSERT ... SELECT generate_series, server-side) in "
        f"1,000-image classes pointing at {REAL_FILES} real photo-like JPEGs (320x240, ~40 KB), "
        "1 duplicate pair per "
        "100 images; val 50 per class; every run ends with the verify step (manifests and shards "
        "re-hashed, image files checked for existence: `verify: manifests`, since synthetic rows "
        "share real files, so their sha256 cannot match) and the independent leakage check "
        "(0 in every run). WebDataset runs import `webdataset`, which imports torch (~700 MB RSS "
        "at import, before any work); WebDataset at 1M (~40 GB of shards) is past this machine's "
        "free disk, so it runs at 100k. End-to-end `export_create(inline=True)` in its own "
        "process; peak RSS of "
        f"that process. Load average {load_before:.1f} before, {load_after:.1f} after, on 2 cores "
        "shared and loaded by parallel work (compare on a quiet machine).\n\n"
        + table(["images", "formats", "exported", "seconds", "images/s", "peak RSS MB"], rows)
        + "\n\nWebDataset shard writing (the write phase: read each original, write shards) beside "
        "a "
        "plain sequential copy of the same bytes in the same order (read each file, append to one "
        "file), same process, best of 2 alternating rounds. Target: shards >= 80% of copy "
        "speed.\n\n"
        + table(
            ["images", "bytes", "plain copy", "WebDataset shards", "shards / copy speed"],
            ratio_rows,
        )
        + "\n\nTargets: 1M manifest + ImageFolder hardlinks <= 5 min and < 1 GB."
    )
    return "Exports: 100k and 1M images per format (bench_export)", body

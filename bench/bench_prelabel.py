"""Pre-labelling throughput: JPEG files in -> predictions + embeddings stored, images/s on this
machine, beside a naive baseline in the same run on the same stored files.

Ours: `prelabel_start(inline=True)`, i.e. the job's chunks as a worker runs them: a DataLoader
with worker processes (JPEG draft-mode decode, resize, crop), batches of 64 through
EfficientNet-Lite0 (CPU here; CUDA + bf16 + channels_last on a GPU), one embedding shard and one
bulk Prediction upsert per chunk, candidate scores through the WordNet closure.
Baseline: the textbook loop: PIL full decode, torchvision Resize/CenterCrop/ToTensor/Normalize,
batch 1, single process, one Prediction row per image, embeddings saved at the end.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from bench import ROOT, WORK, django_env, python, table

N_IMAGES = int(os.environ.get("BENCH_PRELABEL_IMAGES", "500"))
# The naive baseline is slow: it runs on the first N_BASELINE of the same stored files.
N_BASELINE = int(os.environ.get("BENCH_PRELABEL_BASELINE_IMAGES", "100"))
PG_ADMIN = "postgres://postgres@127.0.0.1:5432/postgres"
PG_DB = "synsetlab_bench_prelabel"
WNID = "n02084071"  # dog.n.01: ILSVRC has 118 classes below it
TARGET = 30.0


def _env(**extra: str) -> dict[str, str]:
    return django_env(database=PG_DB, files=WORK / "prelabel", redis_db=13, **extra)


def _manage(*args: str, **env: str) -> str:
    proc = subprocess.run(
        [python(), "manage.py", *args], cwd=ROOT, env=_env(**env), capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{args[:2]} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc.stdout


def _result(out: str) -> list[str]:
    for line in out.splitlines():
        if line.startswith("RESULT"):
            return line.split()[1:]
    raise RuntimeError(f"no RESULT line in:\n{out}")


def _setup(images: Path) -> None:
    import shutil

    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {PG_DB}")
    shutil.rmtree(WORK / "prelabel", ignore_errors=True)
    _manage("migrate", "--noinput", "-v", "0")
    _manage("import_wordnet")
    _manage("shell", "-c", INGEST.format(source=str(images), wnid=WNID))


INGEST = """
from curation.services.ingest import ingest_start
job = ingest_start(source={source!r}, synset="{wnid}", source_name="bench", inline=True)
assert job.status == "succeeded", job.error
"""

OURS = """
import resource, time
import torch
import worker.prelabel as wp
from curation.models import Prediction
from curation.services.prelabel import prelabel_start
from worker.ml.predictor import predictor_for
from curation.services.models import model_register_default
predictor_for(model_register_default())  # load the weights off the clock (a worker keeps them)
def cpu():
    return sum(r.ru_utime + r.ru_stime for r in (resource.getrusage(resource.RUSAGE_SELF),
                                               resource.getrusage(resource.RUSAGE_CHILDREN)))
c0, t0 = cpu(), time.perf_counter()
job = prelabel_start(inline=True)
t1, c1 = time.perf_counter(), cpu()
assert job.status == "succeeded", job.error
T = wp.TIMINGS
print("RESULT", job.done, round(t1 - t0, 3), round(T["decode_wait"], 3), round(T["model"], 3),
      round(T["write"], 3), Prediction.objects.count(), torch.get_num_threads(),
      round(c1 - c0, 2))
"""

BASELINE = """
import time
import numpy as np
import torch, torchvision.transforms as T
from PIL import Image as PILImage
from django.core.files.storage import default_storage
from curation.models import Image, ModelArtifact, Prediction
from curation.services.models import model_register_default
from training.models import build_model, forward_features
from worker.embeddings import EmbeddingStore
default = model_register_default()
base, _ = ModelArtifact.objects.get_or_create(name="baseline-naive", defaults=dict(
    architecture=default.architecture, classes=default.classes, weights=default.weights))
model = build_model("efficientnet_lite0", 1000, pretrained=True).eval()
tf = T.Compose([T.Resize(256, interpolation=T.InterpolationMode.BICUBIC), T.CenterCrop(224),
                T.ToTensor(), T.Normalize([127 / 255] * 3, [128 / 255] * 3)])
items = list(Image.objects.order_by("pk").values_list("pk", "storage_key")[:{n}])
dec = mod = wr = 0.0
ids, embs = [], []
c0, t0 = time.process_time(), time.perf_counter()
for pk, key in items:
    a = time.perf_counter()
    with default_storage.open(key, "rb") as fh:
        x = tf(PILImage.open(fh).convert("RGB"))[None]
    b = time.perf_counter()
    with torch.no_grad():
        logits, emb = forward_features(model, x)
        probs = logits.softmax(-1)[0]
        emb = torch.nn.functional.normalize(emb, dim=1)[0]
    v, i = probs.topk(5)
    c = time.perf_counter()
    Prediction.objects.update_or_create(image_id=pk, model=base, defaults=dict(
        top5=[[default.classes[j], float(p)] for p, j in zip(v.tolist(), i.tolist())],
        has_embedding=True))
    ids.append(pk); embs.append(emb.numpy())
    d = time.perf_counter()
    dec += b - a; mod += c - b; wr += d - c
a = time.perf_counter()
EmbeddingStore.for_model(base.name).append(ids, np.stack(embs))
wr += time.perf_counter() - a
t1, c1 = time.perf_counter(), time.process_time()
print("RESULT", len(items), round(t1 - t0, 3), round(dec, 3), round(mod, 3), round(wr, 3),
      Prediction.objects.filter(model=base).count(), torch.get_num_threads(), round(c1 - c0, 2))
"""


def _jpegs(n: int) -> Path:
    """n distinct 500x375 JPEGs made like the ingest benchmark's (kept under var/bench/)."""
    import hashlib

    from bench.bench_ingest import PNG_SOURCE, _make_jpeg

    out = WORK / f"prelabel-jpegs-{n}"
    if (out / ".complete").exists():
        return out
    out.mkdir(parents=True, exist_ok=True)
    seen: set[str] = set()
    for i, src in enumerate(sorted(PNG_SOURCE.rglob("*.png"))):
        if len(seen) >= n:
            break
        dst = out / f"{i:05d}.jpg"
        if not _make_jpeg((str(src), str(dst), False)):
            continue
        digest = hashlib.sha256(dst.read_bytes()).hexdigest()
        if digest in seen:
            dst.unlink()
            continue
        seen.add(digest)
    (out / ".complete").touch()
    return out


def run() -> tuple[str, str]:
    WORK.mkdir(parents=True, exist_ok=True)
    subset = _jpegs(N_IMAGES)
    files = sorted(subset.glob("*.jpg"))
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    _setup(subset)
    ours = _result(_manage("shell", "-c", OURS))
    base = _result(_manage("shell", "-c", BASELINE.replace("{n}", str(N_BASELINE))))
    n, wall, dwait, model_s, write_s, rows, threads, cpu = ours
    bn, bwall, bdec, bmodel, bwrite, brows, bthreads, bcpu = base
    assert int(rows) == int(n) == len(files), ours
    assert int(brows) == int(bn) == min(N_BASELINE, len(files)), base
    rate, brate = int(n) / float(wall), int(bn) / float(bwall)
    per_cpu, bper_cpu = int(n) / float(cpu), int(bn) / float(bcpu)
    from worker.ml.loading import default_num_workers
    from worker.ml.predictor import CPU_SLICE, cpu_bf16

    workers = os.environ.get("PRELABEL_NUM_WORKERS") or str(default_num_workers(cuda=False))
    precision = (
        "CPU inference autocasts to bf16 on this CPU (native bf16)"
        if cpu_bf16()
        else "CPU inference runs float32 (this CPU has no native bf16)"
    )
    rows_ = [
        [
            f"SynsetLab prelabel (DataLoader x{workers} workers, draft decode, batch 64 run in "
            f"slices of {CPU_SLICE}, {threads} torch threads)",
            n, f"{float(wall):.1f}", f"**{rate:.1f}**", f"{per_cpu:.1f}",
            f"**{2 * per_cpu:.0f}**", f"waited {float(dwait):.1f} (decode in parallel)",
            f"{float(model_s):.1f}", f"{float(write_s):.1f}",
        ],
        [
            f"naive baseline (PIL full decode + torchvision, batch 1, 1 process, "
            f"{bthreads} torch threads)",
            bn, f"{float(bwall):.1f}", f"{brate:.1f}", f"{bper_cpu:.1f}",
            f"{2 * bper_cpu:.0f}", f"{float(bdec):.1f}", f"{float(bmodel):.1f}",
            f"{float(bwrite):.1f}",
        ],
        ["GPU (H100)", "", "", "not measured: no GPU lent to this task", "", "", "", "", ""],
    ]  # fmt: skip
    body = (
        f"{len(files):,} JPEGs of 500x375 (Open Clip Art drawings flattened to RGB, the ingest "
        "benchmark's set), ingested, then pre-labelled from storage with EfficientNet-Lite0 on "
        "CPU: top-5, candidate scores through the WordNet closure, 1280-d float16 embeddings. "
        f"The baseline runs on the first {min(N_BASELINE, len(files))} of them. "
        "Both paths store predictions and embeddings. Seconds per stage: for ours, decode runs in "
        "the DataLoader workers concurrently with the model, so 'decode' is the time the model "
        "waited for a batch. "
        f"Load average before: {load_before:.1f} on {os.cpu_count()} cores (shared and loaded by "
        "parallel work: compare runs on a quiet machine). "
        f"Total bench time {time.perf_counter() - started:.0f} s.\n\n"
        + table(
            [
                "pipeline",
                "images",
                "wall s",
                "images/s (wall)",
                "images per CPU-s",
                "2 idle cores, projected",
                "decode s",
                "model s",
                "write s",
            ],
            rows_,
        )
        + f"\n\nSpeed-up over the baseline: **{rate / brate:.1f}x** wall, "
        f"**{per_cpu / bper_cpu:.1f}x** per CPU-second. Target >= {TARGET:.0f} images/s on "
        f"2 cores: {'met' if rate >= TARGET else 'not met'} on this loaded machine "
        f"({rate:.1f} wall); {'met' if 2 * per_cpu >= TARGET else 'not met'} as CPU work "
        f"({per_cpu:.1f} images per CPU-second, x2 cores = {2 * per_cpu:.0f}/s if the cores "
        "were ours; CPU-seconds include the DataLoader workers and the Django/PostgreSQL "
        f"client work, not the PostgreSQL server). {precision}; the baseline runs fp32 as the "
        "textbook loop does."
    )
    return "Pre-labelling throughput (bench_prelabel)", body

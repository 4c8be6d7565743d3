"""Ingest throughput per core on >= 5,000 ImageNet-sized JPEGs, beside imagededup's hash-only
PHash pass on the same files; peak memory of planning large URL lists and folders.

Everything runs single-process, so images per second is a per-core figure; CPU seconds of the
process are reported too, and beside them the CPU of the PostgreSQL backend serving the run (read
from /proc: the server runs on this machine).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from multiprocessing import Pool
from pathlib import Path

from bench import ROOT, WORK, django_env, python, table

PNG_SOURCE = Path("/usr/share/openclipart/png")
JPEG_DIR = WORK / "ingest-jpegs"
N_IMAGES = int(os.environ.get("BENCH_INGEST_IMAGES", "5000"))
SIZE = (500, 375)
PG_ADMIN = "postgres://postgres@127.0.0.1:5432/postgres"
PG_DB = "synsetlab_bench_ingest"
WNID = "n02084071"

# Throughput targets from the issue.
TARGET_PER_CORE = 150.0
TARGET_URL_LIST_MB = 300.0
ROUNDS = int(os.environ.get("BENCH_INGEST_ROUNDS", "3"))


# --- the image set ------------------------------------------------------------------------------


def _make_jpeg(job: tuple[str, str, bool]) -> bool:
    """Flatten one clip-art PNG onto white, fit it into 500x375 and save a JPEG (q 90)."""
    import warnings

    from PIL import Image, ImageOps

    src, dst, mirror = job
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            im = Image.open(src)
            if im.width * im.height > 16_000_000 or max(im.size) < 100:
                return False
            im.load()
        if im.mode != "RGBA":
            im = im.convert("RGBA")
        white = Image.new("RGB", im.size, (255, 255, 255))
        white.paste(im, mask=im.getchannel("A"))
        out = ImageOps.pad(white, SIZE, color=(255, 255, 255))
        if mirror:
            out = ImageOps.mirror(out)
        out.save(dst, "JPEG", quality=90)
        return True
    except Exception:
        return False


def ensure_jpegs(n: int = N_IMAGES) -> Path:
    """Generate the set once under var/bench/ (kept between runs)."""
    done = JPEG_DIR / ".complete"
    if done.exists() and len(list(JPEG_DIR.glob("*.jpg"))) >= n:
        return JPEG_DIR
    shutil.rmtree(JPEG_DIR, ignore_errors=True)
    JPEG_DIR.mkdir(parents=True)
    sources = sorted(str(p) for p in PNG_SOURCE.rglob("*.png"))
    if not sources:
        raise RuntimeError(f"no PNGs under {PNG_SOURCE} (Debian package openclipart-png)")
    # Open Clip Art files the same drawing under several folders: keep distinct bytes only,
    # and add mirrored versions (new pictures, new bytes) if the distinct ones run short.
    seen: set[str] = set()
    kept = 0
    with Pool(os.cpu_count() or 1) as pool:
        for round_ in range(2):
            jobs = [
                (src, str(JPEG_DIR / f"{round_}-{i:05d}.jpg"), round_ == 1)
                for i, src in enumerate(sources)
            ]
            for (_, dst, _), ok in zip(
                jobs, pool.imap(_make_jpeg, jobs, chunksize=16), strict=True
            ):
                if not ok:
                    continue
                digest = hashlib.sha256(Path(dst).read_bytes()).hexdigest()
                if digest in seen or kept >= n:
                    Path(dst).unlink()
                    continue
                seen.add(digest)
                kept += 1
            if kept >= n:
                break
    done.touch()
    return JPEG_DIR


# --- the database -------------------------------------------------------------------------------


def _env(**extra: str) -> dict[str, str]:
    return django_env(database=PG_DB, files=WORK / "ingest", redis_db=14, **extra)


def _recreate_db() -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {PG_DB}")
    subprocess.run(
        [python(), "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=_env(),
        check=True,
    )
    _shell(
        "from curation.models import Synset\n"
        f"Synset.objects.get_or_create(wnid='{WNID}', defaults=dict(name='dog.n.01', "
        "lemmas=['dog'], active=True))\n"
    )


def _shell(code: str, **env: str) -> tuple[str, float, float, float]:
    """Run code in `manage.py shell`; return (stdout, wall s, CPU s, peak RSS MB)."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(
        [python(), "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=_env(**env),
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"bench step failed:\n{proc.stdout}\n{proc.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return proc.stdout, wall, cpu, after.ru_maxrss / 1024


INGEST = """
import os, resource, shutil, time
from django.conf import settings
from curation.models import Candidate, Image, ImageOrigin, IngestItem, Job
from curation.services.ingest import ingest_start
import curation.services.ingest.handler, curation.services.ingest.chunk  # imports off the clock
if {fresh}:
    for model in (IngestItem, Candidate, ImageOrigin, Image, Job):
        model.objects.all().delete()
    shutil.rmtree(settings.MEDIA_ROOT, ignore_errors=True)
from django.db import connection
with connection.cursor() as cursor:
    cursor.execute("SELECT pg_backend_pid()")
    backend = cursor.fetchone()[0]

def pg_cpu():
    # The PostgreSQL backend serving this connection works for us too: its CPU from /proc
    # (the server runs on this machine); -1 where it cannot be read.
    try:
        with open(f"/proc/{{backend}}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return -1.0

p0 = pg_cpu()
r0 = resource.getrusage(resource.RUSAGE_SELF)
t0 = time.perf_counter()
job = ingest_start(source={source!r}, synset="{wnid}", source_name="bench", inline=True)
t1 = time.perf_counter()
r1 = resource.getrusage(resource.RUSAGE_SELF)
p1 = pg_cpu()
s = job.result["summary"]
cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
print("RESULT", job.status, s["seen"], s["new_images"], s["already_known"], s["errors"],
      round(t1 - t0, 3), round(cpu, 3), round(p1 - p0, 3) if min(p0, p1) >= 0 else -1)
"""

IMAGEDEDUP = """
import resource, sys, time
from imagededup.methods import PHash

def cpu():
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        r = resource.getrusage(who)
        total += r.ru_utime + r.ru_stime
    return total

encoder = PHash(verbose=False)
c0, t0 = cpu(), time.perf_counter()
hashes = encoder.encode_images(image_dir=sys.argv[1], num_enc_workers=0)
t1, c1 = time.perf_counter(), cpu()
print("RESULT", len(hashes), round(t1 - t0, 3), round(c1 - c0, 3))
"""

DECODE_ONLY = """
import resource, sys, time
from pathlib import Path
from curation.ingest.decode import decode_image
from curation.ingest.limits import Limits
limits = Limits()
files = sorted(Path(sys.argv[1]).glob("*.jpg"))
r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
for path in files:
    decode_image(path.read_bytes(), limits)
t1, r1 = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
print("RESULT", len(files), round(t1 - t0, 3), round(cpu, 3))
"""

PLAN = """
import resource, time
from curation.ingest.sources import detect_source
from curation.models import IngestItem, Synset
from curation.services.jobs import job_create, job_plan
info = detect_source({source!r})
job = job_create(kind="ingest", params={{"source": str(info.path), "kind": info.kind,
    "source_name": "bench", "synset": "{wnid}", "trusted": True,
    "synset_id": Synset.objects.get(wnid="{wnid}").pk}})
t0 = time.perf_counter()
job_plan(job=job)
t1 = time.perf_counter()
print("RESULT", IngestItem.objects.filter(job=job).count(), job.chunks.count(), round(t1 - t0, 2),
      round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1))
"""

IDLE = """
import resource
import curation.services.ingest.handler  # everything planning imports
print("RESULT", round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1))
"""


def _result(out: str) -> list[str]:
    for line in out.splitlines():
        if line.startswith("RESULT"):
            return line.split()[1:]
    raise RuntimeError(f"no RESULT line in:\n{out}")


def _url_list(lines: int) -> Path:
    path = WORK / f"urls-{lines}.txt"
    if not path.exists() or path.stat().st_size == 0:
        with open(path, "w") as f:
            for i in range(lines):
                f.write(f"{WNID}\thttps://images.example.org/{i // 1000}/{i:07d}.jpg\n")
    return path


def _flat_folder(files: int) -> Path:
    path = WORK / f"folder-{files}"
    marker = path / ".complete"
    if not marker.exists():
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        for i in range(files):
            (path / f"{i:07d}.jpg").touch()
        marker.touch()
    return path


def run() -> tuple[str, str]:
    load_before = os.getloadavg()[0]
    WORK.mkdir(parents=True, exist_ok=True)
    images = ensure_jpegs()
    n = len(list(images.glob("*.jpg")))
    _recreate_db()
    shutil.rmtree(WORK / "ingest" / "media", ignore_errors=True)

    # Alternate the two, ROUNDS times, and keep each one's best round: the machine may be busy.
    dd_runs, our_runs, decode_runs = [], [], []
    for _ in range(ROUNDS):
        proc = subprocess.run(
            [python(), "-c", DECODE_ONLY, str(images)], cwd=ROOT, capture_output=True, text=True
        )
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr)
        decode_runs.append(_result(proc.stdout))
        proc = subprocess.run(
            [python(), "-c", IMAGEDEDUP, str(images)], cwd=ROOT, capture_output=True, text=True
        )
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr)
        dd_runs.append(_result(proc.stdout))
        our_runs.append(
            _result(_shell(INGEST.format(source=str(images), wnid=WNID, fresh=True))[0])
        )
    hashed, dd_wall, dd_cpu = min(dd_runs, key=lambda r: float(r[1]))
    dd_cpu = min(float(r[2]) for r in dd_runs)
    first = min(our_runs, key=lambda r: float(r[5]))
    least_cpu = min(our_runs, key=lambda r: float(r[6]))
    first[6], pg_cpu = least_cpu[6], float(least_cpu[7])  # the backend's CPU of that round
    decoded = min(float(r[1]) for r in decode_runs), min(float(r[2]) for r in decode_runs)
    again = _result(_shell(INGEST.format(source=str(images), wnid=WNID, fresh=False))[0])
    assert first[0] == "succeeded" and int(first[2]) == n, first
    assert int(again[2]) == 0 and int(again[3]) == n, again

    rate = n / float(first[5])
    rate_cpu = n / float(first[6])
    dd_rate = int(hashed) / float(dd_wall)
    dd_rate_cpu = int(hashed) / float(dd_cpu)
    with_pg = n / (float(first[6]) + pg_cpu) if pg_cpu >= 0 else None
    rows = [
        [
            "SynsetLab ingest, full path (read, sha256, decode, pHash, JPEG thumbnail, "
            "store original + thumbnail, DB rows)",
            f"{n:,}",
            f"{float(first[5]):.1f}",
            f"**{rate:,.0f}**",
            f"{float(first[6]):.1f}",
            f"{rate_cpu:,.0f}",
        ],
        [
            "SynsetLab ingest of the same folder again (all known: read, sha256, lookups, 0 new)",
            f"{n:,}",
            f"{float(again[5]):.1f}",
            f"{n / float(again[5]):,.0f}",
            f"{float(again[6]):.1f}",
            f"{n / float(again[6]):,.0f}",
        ],
        [
            "SynsetLab decoding alone (decode, pHash, JPEG thumbnail in memory; no files, no DB)",
            f"{n:,}",
            f"{decoded[0]:.1f}",
            f"{n / decoded[0]:,.0f}",
            f"{decoded[1]:.1f}",
            f"{n / decoded[1]:,.0f}",
        ],
        [
            "imagededup `PHash().encode_images` (hash only, `num_enc_workers=0`: one worker)",
            f"{int(hashed):,}",
            f"{float(dd_wall):.1f}",
            f"{dd_rate:,.0f}",
            f"{float(dd_cpu):.1f}",
            f"{dd_rate_cpu:,.0f}",
        ],
    ]
    body = [
        f"{n:,} JPEGs of 500x375 (Open Clip Art drawings flattened onto white, q 90, "
        f"{sum(p.stat().st_size for p in images.glob('*.jpg')) / n / 1024:.0f} KB on average), "
        f"one process, PostgreSQL, local file storage; best of {ROUNDS} alternating rounds "
        "(wall and CPU each). Targets: >= 150 images/s per core for the full path, and at least "
        "imagededup's hash-only rate per core.",
        "",
        table(["path", "images", "wall s", "images/s", "CPU s", "images per CPU-second"], rows),
        "",
        f"Full path vs imagededup hash-only, per core: **{rate / dd_rate:.2f}x** by wall clock, "
        f"**{rate_cpu / dd_rate_cpu:.2f}x** by CPU time "
        f"({'meets' if rate >= TARGET_PER_CORE else 'misses'} the 150/s target; "
        f"{'at least as fast as' if rate >= dd_rate else 'slower than'} imagededup). "
        + (
            f"Counting the PostgreSQL backend's CPU as well ({pg_cpu:.1f} s, from /proc, in the "
            f"round of least process CPU): {with_pg:,.0f} images per CPU-second, "
            f"**{with_pg / dd_rate_cpu:.2f}x** imagededup. "
            if with_pg is not None
            else "The PostgreSQL backend's CPU could not be read (server not on this machine). "
        )
        + "What makes the difference: JPEGs are decoded once, in libjpeg's DCT-scaling draft "
        "mode straight to thumbnail size (imagededup decodes at full size, then resizes to "
        "32x32); the pHash is computed from that small decoded image (imagehash's steps written "
        "out, the same bits); thumbnails are baseline JPEGs from libjpeg-turbo, about 7x cheaper "
        "to encode than WebP at libwebp's fastest method; files are written with one open, write "
        "and close each (fan-out folders made once per process); rows are written per chunk of "
        "256 in one transaction (unnest arrays with ON CONFLICT ... RETURNING built from plain "
        "values, one UPDATE for the items, COPY for staging rows). Known images (by sha256) are "
        "neither decoded nor stored again.",
    ]

    idle = float(_result(_shell(IDLE)[0])[0])
    mem_rows = [["a Django process that imports the ingest code (baseline)", "", "", f"{idle:.0f}"]]
    for lines in (100_000, 1_000_000):
        items, chunks, seconds, peak = _result(
            _shell(PLAN.format(source=str(_url_list(lines)), wnid=WNID))[0]
        )
        mem_rows.append(
            [f"plan a {lines:,}-line URL list", f"{int(items):,} items, {int(chunks):,} chunks",
             f"{float(seconds):.1f}", f"**{float(peak):.0f}**"]
        )  # fmt: skip
        if lines == 100_000:
            url_peak = float(peak)
    for files in (10_000, 100_000):
        items, chunks, seconds, peak = _result(
            _shell(PLAN.format(source=str(_flat_folder(files)), wnid=WNID))[0]
        )
        planned = f"{int(items):,} items, {int(chunks):,} chunks"
        mem_rows.append(
            [f"plan a flat folder of {files:,} files", planned, f"{float(seconds):.1f}",
             f"{float(peak):.0f}"]
        )  # fmt: skip
    body += [
        "",
        "Peak memory (max RSS of the process) while planning: the source is streamed into "
        "IngestItem rows (COPY in batches of 5,000), so memory does not grow with its size. "
        f"Target: < {TARGET_URL_LIST_MB:.0f} MB for a 100k-line URL list "
        f"({'met' if url_peak < TARGET_URL_LIST_MB else 'missed'}).",
        "",
        table(["workload", "planned", "seconds", "peak RSS MB"], mem_rows),
    ]
    body += [
        "",
        f"Load average (1 min) when the run started: {load_before:.1f}, when it ended: "
        f"{os.getloadavg()[0]:.1f}, on {os.cpu_count()} cores; figures from a busy machine "
        "understate both sides, ours (which also writes two files per image) the more.",
    ]
    return "Ingest throughput and memory", "\n".join(body)

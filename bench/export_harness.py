"""Shared set-up for the export benchmarks: a fresh database with synthetic accepted candidates
(generated server-side with INSERT ... SELECT generate_series: no Python loop, no WordNet) pointing
at a small set of real JPEG files, and a runner for code in `manage.py shell` with peak RSS."""

from __future__ import annotations

import io
import json
import os
import resource
import shutil
import subprocess
import time
from pathlib import Path

from bench import ROOT, WORK, python

PG_ADMIN = "postgres://postgres@127.0.0.1:5432/postgres"
PG_DB = "synsetlab_bench_export"
REAL_FILES = 500


def env(**extra: str) -> dict[str, str]:
    e = dict(os.environ)
    e.update(
        DJANGO_SETTINGS_MODULE="config.settings.local",
        DJANGO_DEBUG="false",
        DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{PG_DB}",
        MEDIA_ROOT=str(WORK / "export-media"),
        DATA_ROOT=str(WORK / "export-data"),
        LOG_LEVEL="WARNING",
    )
    e.setdefault("REDIS_URL", "redis://127.0.0.1:6379/14")
    e.update(extra)
    return e


def shell(code: str) -> tuple[dict, float]:
    """Run code in `manage.py shell`; it prints `RESULT <json>`; return (result, peak RSS MB)."""
    proc = subprocess.run(
        [python(), "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=env(),
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"bench step failed:\n{proc.stdout}\n{proc.stderr}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:]), peak
    raise RuntimeError(f"no RESULT in:\n{proc.stdout}\n{proc.stderr}")


def recreate_db() -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {PG_DB}")
    subprocess.run(
        [python(), "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env(), check=True
    )


def real_files() -> None:
    """REAL_FILES distinct photo-like JPEGs (320x240, ~40 KB) under MEDIA_ROOT/originals/bench/."""
    import numpy as np
    from PIL import Image

    folder = WORK / "export-media" / "originals" / "bench"
    marker = folder / ".photo-v2"
    if marker.exists() and len(list(folder.glob("*.jpg"))) == REAL_FILES:
        return
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:240, 0:320]
    for k in range(REAL_FILES):
        base = np.stack(
            [
                (np.sin(x / (7 + k % 13)) + 1) * 100,
                (np.cos(y / (5 + k % 11)) + 1) * 100,
                ((x + y) % (31 + k % 17)) * 6.0,
            ],
            axis=-1,
        )
        arr = np.clip(base + rng.normal(0, 14, size=base.shape), 0, 255).astype(np.uint8)
        out = io.BytesIO()
        Image.fromarray(arr).save(out, "JPEG", quality=85)
        (folder / f"{k}.jpg").write_bytes(out.getvalue())
    marker.touch()


def populate(n: int, classes: int, *, groups_every: int = 100) -> float:
    """n accepted candidates in `classes` synthetic synsets; a duplicate pair every
    `groups_every` images. Returns seconds."""
    import psycopg

    started = time.perf_counter()
    with psycopg.connect(env()["DATABASE_URL"], autocommit=True) as conn:
        for table in (
            "curation_duplicatemember",
            "curation_duplicategroup",
            "curation_candidate",
            "curation_image",
            "curation_synset",
        ):
            conn.execute(f"TRUNCATE {table} RESTART IDENTITY CASCADE")
        conn.execute(
            """INSERT INTO curation_synset (wnid, name, lemmas, gloss, examples, lexname, depth,
               search_text, descendant_count, child_count, active, target_images)
               SELECT 'n9' || lpad(c::text, 7, '0'), 'bench_' || c || '.n.01',
                      jsonb_build_array('bench_' || c), '', '[]', '', 1, '', 0, 0, true, 0
               FROM generate_series(1, %s) c""",
            (classes,),
        )
        conn.execute(
            f"""INSERT INTO curation_image (sha256, storage_key, thumb_key, format, mode, width,
               height, bytes, phash, exif_orientation, frames, status, problems, created_at)
               SELECT encode(sha256(i::text::bytea), 'hex'),
                      'originals/bench/' || (i %% {REAL_FILES}) || '.jpg', '', 'JPEG', 'RGB',
                      320, 240, 40000, NULL, 1, 1, 'ok', '[]', now()
               FROM generate_series(1, %s) i""",
            (n,),
        )
        conn.execute(
            """INSERT INTO curation_candidate (source, query, state, votes_yes, votes_no,
               decided_by, created_at, updated_at, image_id, synset_id, confidence)
               SELECT 'bench', '', 'accepted', 3, 0, 'consensus', now(), now(), i,
                      1 + (i %% %s), 0.99
               FROM generate_series(1, %s) i""",
            (classes, n),
        )
        # Duplicate pairs (i, i + classes): same class, would land in different splits at random;
        # representatives in even blocks of `classes` ids, partners in odd ones (never shared).
        conn.execute(
            """INSERT INTO curation_duplicategroup (kind, status, representative_id, size,
               crosses_synsets, created_at, updated_at)
               SELECT 'near', 'proposed', i, 2, false, now(), now()
               FROM generate_series(1, %s - %s, %s) i
               WHERE ((i - 1) / %s) %% 2 = 0""",
            (n, classes, groups_every, classes),
        )
        conn.execute(
            """INSERT INTO curation_duplicatemember (group_id, image_id, kind, similarity)
               SELECT g.id, g.representative_id, 'near', 1.0 FROM curation_duplicategroup g
               UNION ALL
               SELECT g.id, g.representative_id + %s, 'near', 0.95
               FROM curation_duplicategroup g""",
            (classes,),
        )
        conn.execute("ANALYZE")
    return time.perf_counter() - started


def tree_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())

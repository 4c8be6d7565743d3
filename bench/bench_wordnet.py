"""import_wordnet into SQLite and PostgreSQL (fresh, then again: 0 changes), beside a baseline that
writes the same closure rows with Django's bulk_create; and synset page render times."""

from __future__ import annotations

import os
import subprocess
import time

from bench import ROOT, WORK, python, table

PG_ADMIN = "postgres://postgres@127.0.0.1:5432/postgres"
PG_BENCH_DB = "synsetlab_bench"


def _env(database_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(DJANGO_SETTINGS_MODULE="config.settings.local", DATABASE_URL=database_url)
    env.setdefault("REDIS_URL", "redis://127.0.0.1:6379/14")
    return env


def _manage(env: dict[str, str], *args: str) -> tuple[float, str]:
    start = time.perf_counter()
    out = subprocess.run(
        [python(), "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return time.perf_counter() - start, out.stdout


def _recreate_pg() -> str:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {PG_BENCH_DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {PG_BENCH_DB}")
    return f"postgres://postgres@127.0.0.1:5432/{PG_BENCH_DB}"


BASELINE = r"""
import time
from curation.models import SynsetClosure
rows = list(SynsetClosure.objects.values_list("ancestor_id", "descendant_id", "distance"))
SynsetClosure.objects.all().delete()
t = time.perf_counter()
SynsetClosure.objects.bulk_create(
    (SynsetClosure(ancestor_id=a, descendant_id=d, distance=x) for a, d, x in rows),
    batch_size=5000,
)
print(f"BASELINE {time.perf_counter() - t:.2f} {len(rows)}")
SynsetClosure.objects.all().delete()
"""

LAST_TIMINGS = r"""
from curation.models import Job
job = Job.objects.filter(kind="import_wordnet").order_by("-id").first()
summary = job.result["summary"]
print("TIMINGS", summary["timings"]["closure"], summary["closure_created"])
"""

PAGES = r"""
import statistics, time
from django.test import Client
from django.contrib.auth.models import User, Group
u, _ = User.objects.get_or_create(username="bench-curator")
u.groups.add(Group.objects.get_or_create(name="curator")[0])
c = Client(); c.force_login(u)
from curation.models import Synset

def median_ms(url):
    c.get(url)
    times = []
    for _ in range(15):
        t = time.perf_counter()
        r = c.get(url)
        times.append(time.perf_counter() - t)
        assert r.status_code == 200, url
    return statistics.median(times) * 1000, max(times) * 1000

for name in ["dog.n.01", "animal.n.01", "organism.n.01", "entity.n.01"]:
    s = Synset.objects.get(name=name)
    med, worst = median_ms(f"/curate/synsets/{s.wnid}/")
    print(f"PAGE {name} {s.descendant_count} {med:.1f} {worst:.1f}")
for q in ["husky", "dog", "n02084071"]:
    med, worst = median_ms("/api/v1/synsets/?q=" + q)
    print(f"SEARCH {q} {med:.1f} {worst:.1f}")
"""


def _lines(text: str, prefix: str) -> list[list[str]]:
    return [line.split() for line in text.splitlines() if line.startswith(prefix)]


def run() -> tuple[str, str]:
    WORK.mkdir(parents=True, exist_ok=True)
    rows = []
    sqlite_path = WORK / "wordnet-bench.sqlite3"
    sqlite_path.unlink(missing_ok=True)
    targets = [("SQLite", f"sqlite:///{sqlite_path}"), ("PostgreSQL", _recreate_pg())]
    pages: list[list[str]] = []
    for label, url in targets:
        env = _env(url)
        _manage(env, "migrate", "--noinput")
        first, _ = _manage(env, "import_wordnet")
        second, out = _manage(env, "import_wordnet")
        assert " 0 changes" in out, out
        rows.append([label, f"{first:.1f} s", f"{second:.1f} s"])
        if label == "PostgreSQL":
            pages = _lines(_manage(env, "shell", "-c", PAGES)[1], ("PAGE", "SEARCH"))
            _, base_s, base_n = _lines(_manage(env, "shell", "-c", BASELINE)[1], "BASELINE")[0]
            _manage(env, "import_wordnet")  # repairs the emptied closure table with COPY
            _, ours_s, ours_n = _lines(_manage(env, "shell", "-c", LAST_TIMINGS)[1], "TIMINGS")[0]
    assert ours_n == base_n, (ours_n, base_n)
    ratio = float(base_s) / float(ours_s)
    page_rows = []
    for parts in pages:
        if parts[0] == "PAGE":
            page_rows.append(
                [f"`/curate/synsets/` {parts[1]}", f"{int(parts[2]):,} descendants",
                 f"{parts[3]} ms", f"{parts[4]} ms"]
            )  # fmt: skip
        else:
            page_rows.append(
                [f"`/api/v1/synsets/?q={parts[1]}`", "search", f"{parts[2]} ms", f"{parts[3]} ms"]
            )
    body = [
        "`import_wordnet` wall time, process start to end (82,115 synsets, 84,427 edges, "
        "825,356 closure rows with self-pairs). Target: under 60 s into PostgreSQL.",
        "",
        table(["database", "first import", "second import (0 changes)"], rows),
        "",
        f"Closure write into PostgreSQL, same {int(base_n):,} rows into the same indexed table: "
        f"Django `bulk_create(batch_size=5000)` {float(base_s):.1f} s (baseline) vs our COPY "
        f"{float(ours_s):.1f} s: **{ratio:.1f}x**.",
        "",
        "Synset pages and search (Django test client against PostgreSQL, 15 requests each). "
        "Target: well under 200 ms.",
        "",
        table(["request", "size", "median", "max"], page_rows),
    ]
    return "Foundation: WordNet import and catalogue pages", "\n".join(body)

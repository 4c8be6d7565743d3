"""`make load` / `python -m bench.load`: concurrent simulated annotators (locust) against gunicorn
+ PostgreSQL + a Celery worker, then an exact count check: votes sent = votes stored.

Default scenario: 200 annotators (ramped at 10 a second), 20 synsets x 2,000 candidates (work
never runs out), tasks of 48 with hidden gold, a think time of 10-20 s per grid (a person takes
20-60 s), 60 s of load measured once every user is in (locust --reset-stats), while the worker
(two processes, nice 10 as on a host that also serves the web app) ingests real PNGs (all of Open
Clip Art's, ~8,000) and runs export after export until the end of the measured minute.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench import ROOT, WORK, python

SERVING_SYNSETS = [
    "n01503061", "n02159955", "n07705931", "n11669921", "n02512053", "n02084071", "n02121620",
    "n02958343", "n03001627", "n13104059", "n02686568", "n01861778", "n04524313", "n02691156",
    "n02834778", "n03790512", "n04530566", "n02924116", "n03417042", "n01639765",
]  # fmt: skip


def setup_serving(spec: dict[str, Any]) -> dict[str, Any]:
    """In the harness process: candidates, gold and annotators with API tokens."""
    import random

    from django.db import connection

    from annotate.services.gold import gold_mark
    from annotate.services.queue import queue_sync
    from annotate.services.simulate import crowd_pool, sim_users
    from bench.annotate_harness import fake_sha, reset_annotation_data
    from curation.models import Candidate, Image, Synset

    reset_annotation_data()
    rng = random.Random(5)
    per = spec["per_synset"]
    for wnid in SERVING_SYNSETS[: spec["synsets"]]:
        synset = Synset.objects.get(wnid=wnid)
        shas = [fake_sha("serving", wnid, i) for i in range(per)]
        Image.objects.bulk_create(
            [
                Image(sha256=sha, storage_key=f"bench/{sha}.jpg", format="JPEG", width=640,
                      height=480, bytes=50_000)
                for sha in shas
            ],
            batch_size=5000,
        )  # fmt: skip
        ids = dict(Image.objects.filter(sha256__in=shas).values_list("sha256", "pk"))
        Candidate.objects.bulk_create(
            [Candidate(image_id=ids[sha], synset=synset, source="bench") for sha in shas],
            batch_size=5000,
        )
        synset.active = True
        synset.save(update_fields=["active"])
        for candidate in Candidate.objects.filter(synset=synset).order_by("pk")[:10]:
            gold_mark(candidate=candidate, truth=rng.random() < 0.5)
    _seed_history(spec.get("history_votes", 100_000))
    queue_sync(full=True)
    with connection.cursor() as cursor:  # fresh bulk loads: give the planner real statistics
        cursor.execute("ANALYZE")
        if connection.vendor == "postgresql":
            # And flush them: else the set-up's WAL sets off checkpoints during the measured
            # run (seen here: next-task's database time p50 14 ms in one run, 81 ms in the next).
            cursor.execute("CHECKPOINT")
    workers = crowd_pool(spec["users"], spammers=0.0, seed=3, prefix="load")
    users = sim_users(workers)
    Path(spec["tokens_file"]).write_text("\n".join(token for _, token in users.values()))
    return {"candidates": Candidate.objects.count(), "users": len(users)}


def _seed_history(votes: int) -> None:
    """A project in operation, not a new one: earlier work in four synsets no longer active
    (candidates, annotators and their votes), so the vote table the planner sees at the start is
    not empty. On empty tables PostgreSQL plans the queue's anti-joins as scans of what it
    believes are empty tables, which they are not for long; a live project's statistics have
    long caught up (autovacuum), and those are the conditions the load measures."""
    from django.db import connection

    from annotate.models import Annotator
    from bench.annotate_harness import fake_sha
    from curation.models import Candidate, Image, Synset

    if votes <= 0:
        return
    per_synset, per_candidate = votes // 20, 5  # 4 synsets x per_synset candidates x 5 votes
    synsets = list(
        Synset.objects.filter(active=False, depth__gte=6)
        .exclude(wnid__in=SERVING_SYNSETS)
        .order_by("pk")[:4]
    )
    Annotator.objects.bulk_create(
        [
            Annotator(platform="history", external_id=f"h{i}", votes_count=votes // 100)
            for i in range(100)
        ],
        ignore_conflicts=True,
    )
    for synset in synsets:
        shas = [fake_sha("history", synset.wnid, i) for i in range(per_synset)]
        Image.objects.bulk_create(
            [
                Image(sha256=sha, storage_key=f"bench/{sha}.jpg", format="JPEG", width=640,
                      height=480, bytes=50_000)
                for sha in shas
            ],
            batch_size=5000,
        )  # fmt: skip
        ids = dict(Image.objects.filter(sha256__in=shas).values_list("sha256", "pk"))
        Candidate.objects.bulk_create(
            [
                Candidate(image_id=ids[sha], synset=synset, source="history", state="accepted")
                for sha in shas
            ],
            batch_size=5000,
        )
    with connection.cursor() as cursor:
        # Their submitted tasks (one per 48 votes): foreign-key checks and the open-task lookups
        # are planned against a table that has rows.
        cursor.execute(
            """
            INSERT INTO annotate_assignment (token, annotator_id, synset_id, status, size,
                                             created_at, expires_at, submitted_at, client_token,
                                             result)
            SELECT 'history-' || g, a.id, %s, 'submitted', 48, now() - interval '1 day',
                   now() - interval '1 day', now() - interval '1 day', 'history-' || g, '{}'
            FROM generate_series(1, %s) AS g
            JOIN LATERAL (
                SELECT id FROM annotate_annotator WHERE platform = 'history'
                ORDER BY id OFFSET (g %% 100) LIMIT 1
            ) a ON true
            ON CONFLICT DO NOTHING
            """,
            [synsets[0].pk, votes // 48],
        )
        cursor.execute(
            """
            INSERT INTO annotate_vote (annotator_id, candidate_id, synset_id, answer, source,
                                       created_at)
            SELECT a.id, c.id, c.synset_id, (c.id + k) %% 3 > 0, 'import',
                   now() - interval '1 day'
            FROM curation_candidate c
            CROSS JOIN generate_series(0, %s - 1) AS k
            JOIN LATERAL (
                SELECT id FROM annotate_annotator WHERE platform = 'history'
                ORDER BY id OFFSET ((c.id * 7 + k * 13) %% 100) LIMIT 1
            ) a ON true
            WHERE c.source = 'history'
            ON CONFLICT DO NOTHING
            """,
            [per_candidate],
        )


def check_serving(spec: dict[str, Any]) -> dict[str, Any]:
    """In the harness process: votes stored by the load users, and that none is doubled."""
    from django.db.models import Count

    from annotate.models import Assignment, Vote

    votes = Vote.objects.filter(annotator__user__username__startswith="load-")
    doubled = (
        votes.values("annotator_id", "candidate_id").annotate(n=Count("id")).filter(n__gt=1).count()
    )
    submitted = Assignment.objects.filter(
        annotator__user__username__startswith="load-", status="submitted"
    )
    return {
        "stored": votes.count(),
        "doubled": doubled,
        "tasks_submitted": submitted.count(),
        "items_in_submitted_tasks": sum(submitted.values_list("size", flat=True)),
    }


def drain_wait(spec: dict[str, Any]) -> dict[str, Any]:
    """In the harness process, right after the load: how many queue rows still waited for the
    consensus drain, and how long the worker took to re-decide them all."""
    from annotate.models import QueueItem

    started = time.monotonic()
    marked = QueueItem.objects.filter(dirty=True)
    at_end = marked.count()
    while marked.exists() and time.monotonic() - started < spec.get("timeout", 120):
        time.sleep(0.25)
    return {
        "marked_at_end": at_end,
        "caught_up_s": round(time.monotonic() - started, 1),
        "left": marked.count(),
    }


def start_background(spec: dict[str, Any]) -> dict[str, Any]:
    """In the harness process: an ingest (on the Celery worker) of a folder of real PNGs, and
    2,000 candidates marked accepted for the exports that run during the load."""
    import shutil

    from annotate.services.sample import OPENCLIPART
    from curation.models import Candidate
    from curation.services.ingest import ingest_start

    folder = Path(spec["folder"]) / "n02084071"
    shutil.rmtree(folder.parent, ignore_errors=True)
    folder.mkdir(parents=True)
    for i, path in enumerate(sorted(OPENCLIPART.rglob("*.png"))[: spec["images"]]):
        shutil.copy(path, folder / f"{i:05d}.png")
    wnids = list(SERVING_SYNSETS[: spec["synsets"]])
    # Something to export: the first 2,000 candidates count as accepted (the annotators work on
    # the others; the exports read while they vote).
    first = list(
        Candidate.objects.filter(synset__wnid__in=wnids)
        .order_by("pk")
        .values_list("pk", flat=True)[:2000]
    )
    Candidate.objects.filter(pk__in=first).update(state="accepted", decided_by="bench")
    return {"ingest": ingest_start(source=str(folder.parent)).pk}


def exports_during(spec: dict[str, Any]) -> dict[str, Any]:
    """In the harness process: export after export (on the Celery worker) until the deadline,
    so an export is running throughout the measured window; each one's outcome and time."""
    from curation.models import Candidate, Job
    from curation.services.exports import export_create

    # The earlier work's accepted images (_seed_history: 4 synsets x 5,000) and whatever the
    # annotators get accepted meanwhile (about 2,000 here): 22,000 images an export, where the
    # serving synsets alone gave 2,000 exported in 0.5 s, hardly a running export.
    history = Candidate.objects.filter(source="history").values_list("synset__wnid", flat=True)
    wnids = sorted(set(history)) + list(SERVING_SYNSETS[: spec["synsets"]])
    done: list[dict[str, Any]] = []
    while time.time() < spec["deadline"]:
        started = time.time()
        version = export_create(
            name=f"load-{int(started * 1000)}",
            config={  # manifests only: the serving data has rows, not files
                "synsets": wnids,
                "val_fraction": 0.1,
                "formats": ["jsonl"],
                "verify": "manifests",
            },
        )
        job_id = getattr(version, "job_id", None) or getattr(version, "pk", None)
        job = Job.objects.get(pk=job_id)
        while not job.is_finished and time.time() < spec["deadline"] + 120:
            time.sleep(0.5)
            job.refresh_from_db()
        version.refresh_from_db()
        done.append(
            {
                "status": job.status,
                "images": version.num_images,
                "seconds": round(time.time() - started, 1),
            }
        )
    return {"exports": done}


def background_status(spec: dict[str, Any]) -> dict[str, Any]:
    from django.utils import timezone

    from curation.models import Job

    out = {}
    for name, pk in spec.items():
        job = Job.objects.filter(pk=pk).first() if isinstance(pk, int) else None
        if job is None:
            out[name] = pk
            continue
        end = job.finished_at or timezone.now()
        out[name] = {
            "status": job.status,
            "done": job.done,
            "total": job.total,
            "errors": job.errors,
            "seconds": round((end - job.started_at).total_seconds(), 1) if job.started_at else None,
        }
    return out


def _percentiles(stats_csv: Path) -> dict[str, dict[str, float]]:
    out = {}
    with stats_csv.open() as f:
        for row in csv.DictReader(f):
            if row["Name"] in ("next-task", "submit", "baseline: /me", "Aggregated"):
                out[row["Name"]] = {
                    "requests": float(row["Request Count"]),
                    "failures": float(row["Failure Count"]),
                    "p50": float(row["50%"]),
                    "p95": float(row["95%"]),
                    "p99": float(row["99%"]),
                    "rps": float(row["Requests/s"]),
                }
    return out


def run_load(
    *,
    users: int = 200,
    duration: int = 60,
    think: str = "10-20",
    background: bool = True,
    ingest_images: int = 8000,
    synsets: int = 20,
    per_synset: int = 2000,
    web_workers: int = 3,
    web_threads: int = 2,
) -> dict[str, Any]:
    from bench.annotate_harness import (
        bench_env,
        ensure_database,
        free_port,
        harness,
        harness_result,
        harness_start,
        services,
    )

    ensure_database()
    out_dir = WORK / "annotate" / "load"
    out_dir.mkdir(parents=True, exist_ok=True)
    tokens = out_dir / "tokens.txt"
    counts = out_dir / "sent.json"
    counts.unlink(missing_ok=True)
    # Load users answer at random: with auto-blocking on they would all be blocked by gold.
    # Decisions on the worker (the production default), not inside the submit requests.
    env = bench_env(ANNOTATE_AUTO_BLOCK="false", ANNOTATE_CONSENSUS_ASYNC="true")
    setup = harness(
        "serving-setup",
        env,
        json.dumps(
            {"users": users, "synsets": synsets, "per_synset": per_synset,
             "tokens_file": str(tokens)}
        ),
    )  # fmt: skip
    # Users arrive at `rate` a second; statistics restart once all are in (locust
    # --reset-stats), so the percentiles cover `duration` seconds of the full load.
    rate = max(1, users // 20)
    ramp = -(-users // rate)
    # Two worker processes: the ingest and the exports run side by side, as on a CPU worker.
    with services(
        env, free_port(), workers=web_workers, threads=web_threads, worker_processes=2
    ) as svc:
        jobs = (
            harness(
                "load-background",
                env,
                json.dumps(
                    {"folder": str(out_dir / "incoming"), "images": ingest_images,
                     "synsets": synsets}
                ),
            )
            if background
            else {}
        )  # fmt: skip
        exports = (
            harness_start(
                "load-exports",
                env,
                json.dumps({"synsets": synsets, "deadline": time.time() + ramp + duration}),
            )
            if background
            else None
        )
        locust_env = {
            **env,
            "LOCUST_TOKENS": str(tokens),
            "LOCUST_COUNT_FILE": str(counts),
            "LOCUST_THINK": think,
            "LOCUST_TIMING_FILE": str(out_dir / "server_timing.json"),
        }
        started = time.perf_counter()
        proc = subprocess.run(
            [
                python(), "-m", "locust", "-f", str(ROOT / "bench" / "locustfile.py"),
                "--headless", "-u", str(users), "-r", str(rate), "--reset-stats",
                "-t", f"{ramp + duration}s", "--host", svc.url, "--csv", str(out_dir / "locust"),
                "--only-summary", "--stop-timeout", "30", "--loglevel", "WARNING",
                "--csv-full-history",  # per-second percentiles: when the slow requests happen
            ],
            cwd=ROOT, env=locust_env, capture_output=True, text=True,
            timeout=ramp + duration + 300,
        )  # fmt: skip
        seconds = time.perf_counter() - started
        drain = harness("drain-wait", env, "{}")
        background_after = harness("load-background-status", env, json.dumps(jobs)) if jobs else {}
        if exports is not None:
            background_after["exports"] = harness_result(exports, "load-exports")["exports"]
        if proc.returncode not in (0, 1):  # 1: some requests failed, reported below
            raise RuntimeError(f"locust failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    sent = json.loads(counts.read_text())
    check = harness("serving-check", env, "{}")
    return {
        "setup": setup,
        "sent": sent,
        "check": check,
        "latency": _percentiles(out_dir / "locust_stats.csv"),
        "server": json.loads((out_dir / "server_timing.json").read_text())
        if (out_dir / "server_timing.json").exists()
        else {},
        "seconds": seconds,
        "users": users,
        "duration": duration,
        "think": think,
        "ramp": ramp,
        "web": f"gunicorn -w {web_workers} --threads {web_threads}",
        "background": background_after,
        "drain": drain,
    }


def summary(result: dict[str, Any]) -> str:
    lat = result["latency"]
    lines = [
        f"{result['users']} annotators, {result['duration']} s, think time {result['think']} s, "
        f"{result['web']}, {result['setup']['candidates']:,} candidates",
    ]
    for name in ("next-task", "submit", "baseline: /me"):
        if name in lat:
            s = lat[name]
            lines.append(
                f"  {name:<14} {int(s['requests']):>6} requests  p50 {s['p50']:.0f} ms  "
                f"p95 {s['p95']:.0f} ms  p99 {s['p99']:.0f} ms  failures {int(s['failures'])}"
            )
    for name, s in (result.get("server") or {}).items():
        lines.append(
            f"  server side, {name:<14} app p50 {s['app_50']:.0f} / p95 {s['app_95']:.0f} ms, "
            f"cpu p50 {s['cpu_50']:.0f} / p95 {s['cpu_95']:.0f} ms, "
            f"db p50 {s['db_50']:.0f} / p95 {s['db_95']:.0f} ms"
        )
    if "Aggregated" in lat:
        agg = lat["Aggregated"]
        rate = agg["failures"] / agg["requests"] if agg["requests"] else 0.0
        lines.append(f"  error rate {rate:.4%} ({int(agg['failures'])} of {int(agg['requests'])})")
    for name, state in (result.get("background") or {}).items():
        if name == "exports":
            ok = sum(1 for e in state if e["status"] == "succeeded")
            lines.append(
                f"  during the run, exports: {ok} of {len(state)} succeeded, back to back "
                f"({', '.join(str(e['seconds']) for e in state)} s; "
                f"{', '.join(str(e['images']) for e in state)} images)"
            )
        else:
            lines.append(f"  during the run, {name}: {state}")
    drain = result.get("drain")
    if drain:
        lines.append(
            f"  consensus drain: {drain['marked_at_end']} queue rows awaiting re-decision when the "
            f"load stopped, all re-decided {drain['caught_up_s']} s later ({drain['left']} left)"
        )
    sent, check = result["sent"], result["check"]
    lines.append(
        f"  votes sent {sent['votes']:,}  stored {check['stored']:,}  doubled {check['doubled']}  "
        f"({sent['votes'] / result['duration']:.0f} votes/s; retries {sent['retries']}, "
        f"failed submits {sent['failed_submits']})"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--no-background", action="store_true", help="no ingest/export")
    parser.add_argument("--ingest-images", type=int, default=8000, help="PNGs (all: ~8,000)")
    parser.add_argument("--duration", type=int, default=60, help="seconds of load")
    parser.add_argument("--think", default="10-20", help="seconds per grid, low-high")
    parser.add_argument("--web-workers", type=int, default=3)
    parser.add_argument("--web-threads", type=int, default=2)
    args = parser.parse_args(argv)
    result = run_load(
        users=args.users,
        duration=args.duration,
        think=args.think,
        web_workers=args.web_workers,
        web_threads=args.web_threads,
        background=not args.no_background,
        ingest_images=args.ingest_images,
    )
    print(summary(result))
    ok = result["sent"]["votes"] == result["check"]["stored"] and not result["check"]["doubled"]
    print("exact count check:", "OK" if ok else "MISMATCH")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

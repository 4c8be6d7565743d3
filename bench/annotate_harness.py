"""Shared set-up for the annotation benchmarks and `make load`: a bench PostgreSQL database with
WordNet, gunicorn and a Celery worker on it, and synthetic candidates with known truth.

The parent (`bench_consensus`, `bench_serving`, `bench.load`) only starts processes; everything
that needs Django runs in `python -m bench.annotate_harness SCENARIO` so several benchmarks can
share one `python -m bench` process without fighting over Django settings.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bench import ROOT, WORK, python

PG_ADMIN = os.environ.get("BENCH_PG_ADMIN", "postgres://postgres@127.0.0.1:5432/postgres")
BENCH_DB = os.environ.get("BENCH_ANNOTATE_DB", "synsetlab_bench_annotate")
BENCH_REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")

# Five synsets of increasing difficulty: (wnid, share of true positives among the candidates,
# accuracy drop towards a coin flip for everyone, share of genuinely ambiguous images). Annotator
# accuracies stay as specified (0.65-0.95); rarer positives and more ambiguous images make a synset
# harder, as with search-engine candidates for fine-grained synsets.
SYNSETS = [
    ("n01503061", 0.60, 0.0, 0.00),  # bird: common, clear
    ("n02159955", 0.50, 0.0, 0.01),  # insect
    ("n07705931", 0.40, 0.0, 0.02),  # edible fruit
    ("n11669921", 0.30, 0.0, 0.03),  # flower
    ("n02512053", 0.20, 0.0, 0.05),  # fish: rare positives, most ambiguity
]
PER_SYNSET = 200
GOLD_PER_SYNSET = 20


def database_url() -> str:
    return f"postgres://postgres@127.0.0.1:5432/{BENCH_DB}"


def bench_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.test",
        DATABASE_URL=database_url(),
        REDIS_URL=BENCH_REDIS,
        SYNSETLAB_TEST_VAR=str(WORK / "annotate"),
        SYNSETLAB_VAR_DIR=str(WORK / "annotate"),
        DB_CONN_MAX_AGE="600",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def manage(*args: str, env: dict[str, str] | None = None, timeout: float = 900) -> str:
    out = subprocess.run(
        [python(), "manage.py", *args],
        cwd=ROOT,
        env=env or bench_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if out.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{out.stdout}\n{out.stderr}")
    return out.stdout


def ensure_database() -> None:
    """The bench database exists, is migrated and holds WordNet (imported once, ~40 s)."""
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [BENCH_DB]).fetchone()
        if not exists:
            conn.execute(f"CREATE DATABASE {BENCH_DB}")
    manage("migrate", "--noinput")
    count = manage(
        "shell", "-c", "from curation.models import Synset; print(Synset.objects.count())"
    )
    if count.strip().splitlines()[-1] != "82115":
        manage("import_wordnet")


def harness(scenario: str, env: dict[str, str], *args: str, timeout: float = 3000) -> Any:
    """Run a scenario in its own process; it prints one JSON line starting with RESULT."""
    return harness_result(harness_start(scenario, env, *args), scenario, timeout=timeout)


def harness_start(scenario: str, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    """Start a scenario in the background (see harness_result)."""
    return subprocess.Popen(
        [python(), "-m", "bench.annotate_harness", scenario, *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def harness_result(proc: subprocess.Popen[str], scenario: str, *, timeout: float = 3000) -> Any:
    """Wait for a started scenario and return what it printed after RESULT."""
    stdout, stderr = proc.communicate(timeout=timeout)
    sys.stderr.write(stderr[-4000:])
    if proc.returncode != 0:
        raise RuntimeError(f"harness {scenario} failed:\n{stdout[-4000:]}\n{stderr[-4000:]}")
    for line in stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"harness {scenario} printed no result:\n{stdout[-4000:]}")


class Services:
    """gunicorn + one Celery worker (cpu and default queues) on the bench database."""

    def __init__(
        self,
        env: dict[str, str],
        port: int,
        workers: int = 2,
        threads: int = 4,
        worker_processes: int = 1,
        web_nice: int = 0,
    ) -> None:
        self.env, self.port, self.workers, self.threads = env, port, workers, threads
        self.web_nice = web_nice
        self.worker_processes = worker_processes
        self.procs: list[subprocess.Popen[bytes]] = []
        self.url = f"http://127.0.0.1:{port}"
        self.logs = WORK / "annotate" / "logs"

    def start(self) -> Services:
        self.logs.mkdir(parents=True, exist_ok=True)
        web = ["nice", "-n", str(self.web_nice)] * bool(self.web_nice) + [
            python(), "-m", "gunicorn", "config.wsgi", "-b", f"127.0.0.1:{self.port}",
            "-w", str(self.workers), "--threads", str(self.threads), "--worker-class", "gthread",
            "--timeout", "120",
            "--access-logfile", "/dev/null",
        ]  # fmt: skip
        worker = [
            python(), "-m", "celery", "-A", "config", "worker", "-Q", "cpu,default",
            "-c", str(self.worker_processes), "--pool", "prefork", "-l", "WARNING",
            "-n", f"bench-{self.port}@%h",
            "--without-gossip", "--without-mingle", "--without-heartbeat",
        ]  # fmt: skip
        import redis

        redis.Redis.from_url(BENCH_REDIS).flushdb()
        # One host runs web and worker here, as `make demo` does: batch work at nice 10.
        worker_env = {**self.env, "WORKER_NICE": self.env.get("WORKER_NICE", "10")}
        for cmd, log, env in ((web, "web.log", self.env), (worker, "worker.log", worker_env)):
            self.procs.append(
                subprocess.Popen(
                    cmd,
                    cwd=ROOT,
                    env=env,
                    stdout=(self.logs / log).open("ab"),
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(self.url + "/accounts/login/", timeout=2)
                return self
            except Exception:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"gunicorn did not start; see {self.logs / 'web.log'}")

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        self.procs = []


@contextmanager
def services(env: dict[str, str], port: int, **kwargs: Any) -> Iterator[Services]:
    running = Services(env, port, **kwargs).start()
    try:
        yield running
    finally:
        running.stop()


# --- inside the harness process (Django is set up) ------------------------------------------------


def _setup_django() -> None:
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def reset_annotation_data() -> None:
    """In the harness process: no candidates, images, votes, tasks or jobs left from an earlier
    scenario, and no synset active (WordNet and the accounts stay)."""
    from django.db import connection

    from curation.models import Synset

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE annotate_vote, annotate_assignmentitem, annotate_assignment, "
            "annotate_decision, annotate_queueitem, annotate_synsetconsensus, "
            "annotate_qualitysnapshot, annotate_golditem, annotate_studyparticipant, "
            "curation_candidate, curation_image, curation_jobchunk, curation_job CASCADE"
        )
    Synset.objects.filter(active=True).update(active=False)


def fake_sha(*parts: Any) -> str:
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()


def build_candidates(seed: int = 0, machine_scores: bool = False) -> dict[str, Any]:
    """Reset the bench's annotation data and create the five synsets' candidates with known
    truth (image rows only: the simulated crowd never downloads pixels), plus gold items."""
    import random

    from django.db import connection

    from annotate.services.gold import gold_mark
    from annotate.services.queue import queue_sync
    from annotate.services.simulate import Truth
    from curation.models import Candidate, Image, Synset

    reset_annotation_data()
    rng = random.Random(seed)
    truth = Truth()
    gold: list[tuple[int, bool]] = []
    for wnid, prevalence, difficulty, ambiguous in SYNSETS:
        synset = Synset.objects.get(wnid=wnid)
        truth.difficulty[wnid] = difficulty
        images = []
        labels = []
        for i in range(PER_SYNSET + GOLD_PER_SYNSET):
            sha = fake_sha(seed, wnid, i)
            images.append(
                Image(
                    sha256=sha,
                    storage_key=f"bench/{sha}.jpg",
                    format="JPEG",
                    width=640,
                    height=480,
                    bytes=50_000,
                )
            )
            labels.append(rng.random() < prevalence)
        Image.objects.bulk_create(images)
        by_sha = dict(
            Image.objects.filter(sha256__in=[i.sha256 for i in images]).values_list("sha256", "pk")
        )
        candidates = []
        for index, (image, label) in enumerate(zip(images, labels, strict=True)):
            score = None
            if machine_scores:
                # A decent pre-labeller, not a calibrated one: class-conditional scores give an
                # AUC of 0.90 (d' = 1.81) on these labels; bench_consensus reports the measured AUC.
                z = rng.gauss(0.906 if label else -0.906, 1.0)
                score = 1.0 / (1.0 + pow(2.718281828, -z))
            candidates.append(
                Candidate(
                    image_id=by_sha[image.sha256],
                    synset=synset,
                    source="bench",
                    machine_score=score,
                )
            )
            truth.labels[(image.sha256, wnid)] = label
            if index >= PER_SYNSET:
                truth.item_difficulty[(image.sha256, wnid)] = 0.0  # curators pick clear gold
            elif rng.random() < ambiguous:
                truth.item_difficulty[(image.sha256, wnid)] = 1.0
        Candidate.objects.bulk_create(candidates)
        synset.active = True
        synset.save(update_fields=["active"])
        ids = list(
            Candidate.objects.filter(synset=synset).order_by("pk").values_list("pk", flat=True)
        )
        gold += [(cid, labels[i]) for i, cid in enumerate(ids) if i >= PER_SYNSET]
    for candidate_id, label in gold:
        gold_mark(candidate=Candidate.objects.get(pk=candidate_id), truth=label)
    queue_sync(full=True)
    with connection.cursor() as cursor:  # fresh bulk loads: give the planner real statistics
        cursor.execute("ANALYZE")
    return {
        "truth": {f"{sha}|{wnid}": v for (sha, wnid), v in truth.labels.items()},
        "difficulty": truth.difficulty,
        "item_difficulty": {f"{sha}|{wnid}": d for (sha, wnid), d in truth.item_difficulty.items()},
    }


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main(argv: list[str]) -> int:
    _setup_django()
    scenario = argv[0]
    if scenario == "consensus":
        from bench.bench_consensus import run_strategy

        result = run_strategy(json.loads(argv[1]))
    elif scenario == "serving-setup":
        from bench.load import setup_serving

        result = setup_serving(json.loads(argv[1]))
    elif scenario == "load-background":
        from bench.load import start_background

        result = start_background(json.loads(argv[1]))
    elif scenario == "load-background-status":
        from bench.load import background_status

        result = background_status(json.loads(argv[1]))
    elif scenario == "load-exports":
        from bench.load import exports_during

        result = exports_during(json.loads(argv[1]))
    elif scenario == "drain-wait":
        from bench.load import drain_wait

        result = drain_wait(json.loads(argv[1]))
    elif scenario == "grid-setup":
        from bench.bench_grid import setup_grid

        result = setup_grid(json.loads(argv[1]))
    elif scenario == "serving-check":
        from bench.load import check_serving

        result = check_serving(json.loads(argv[1]))
    else:
        raise SystemExit(f"unknown scenario {scenario}")
    print("RESULT " + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

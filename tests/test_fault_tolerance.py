"""Fault tolerance with real processes: Redis killed and restarted under annotation traffic,
PostgreSQL restarted under a serving gunicorn, and a full disk while thumbnails are written.

(A Celery worker SIGKILLed mid-ingest: tests/ingest/test_worker.py; mid-job in general:
tests/worker/test_celery_jobs.py.)

Each test starts its own servers (a private redis-server, a private PostgreSQL cluster, a tmpfs),
never the machine's shared ones.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from django.conf import settings as django_settings
from rest_framework.authtoken.models import Token

from annotate.models import QueueItem, Vote
from annotate.services.queue import queue_sync
from annotate.services.sample import SAMPLE_SETS, sample_candidates
from curation.models import Job
from tests.conftest import ROOT, WebServer, WorkerProcess, child_env, free_port, make_user, wait_for

pytestmark = [pytest.mark.slow]

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


class PrivateRedis:
    """A redis-server of this test's own on a spare port, without persistence (a restart loses
    every queued message, the worst case for the broker)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None
        self.dir = tempfile.mkdtemp(prefix="synsetlab-redis-")

    def start(self) -> PrivateRedis:
        import redis

        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.dir],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        wait_for(lambda: self._ping(redis), timeout=20, what="redis-server")
        return self

    def _ping(self, redis) -> bool:  # type: ignore[no-untyped-def]
        try:
            return bool(redis.Redis.from_url(self.url, socket_timeout=1).ping())
        except Exception:
            return False

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def run_django(code: str, **env: str) -> str:
    """Run Python in a child process configured like the web and worker processes."""
    out = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()\n" + code],
        cwd=ROOT, env=child_env(**env), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


# --- Redis restart under annotation traffic ---------------------------------------------------


@pytest.fixture
def private_redis(live_db, settings) -> Iterator[PrivateRedis]:  # type: ignore[no-untyped-def]
    server = PrivateRedis().start()
    settings.REDIS_URL = server.url  # child_env() hands it to gunicorn and the worker
    try:
        yield server
    finally:
        server.stop()


class Annotators:
    """Concurrent annotators over HTTP: next task, submit every item; a failed submit is retried
    with the same idempotency key until the server acknowledges it."""

    def __init__(self, base: str, tokens: list[str]) -> None:
        self.base, self.tokens = base, tokens
        self.acked: Counter[str] = Counter()  # token -> votes acknowledged (2xx)
        self.errors: Counter[str] = Counter()
        self.stop = threading.Event()
        self.lock = threading.Lock()

    def run(self, token: str) -> None:
        s = requests.Session()
        s.headers["Authorization"] = f"Token {token}"
        while not self.stop.is_set():
            try:
                r = s.get(f"{self.base}/api/v1/annotate/next-task", timeout=30)
            except requests.RequestException:
                self._error("next-task: connection")
                continue
            if r.status_code != 200:
                self._error(f"next-task: {r.status_code}")
                time.sleep(0.2)
                continue
            task = r.json()["task"]
            if task is None:
                return
            body = {
                "client_token": uuid.uuid4().hex,
                "answers": [{"item": i["item"], "shows": True} for i in task["items"]],
            }
            for _attempt in range(60):
                try:
                    r = s.post(
                        f"{self.base}/api/v1/annotate/tasks/{task['id']}/submit",
                        json=body,
                        timeout=30,
                    )
                except requests.RequestException:
                    self._error("submit: connection")
                    time.sleep(0.25)
                    continue
                if 200 <= r.status_code < 300:
                    with self.lock:
                        self.acked[token] += len(body["answers"])
                    break
                self._error(f"submit: {r.status_code}")
                time.sleep(0.25)

    def _error(self, what: str) -> None:
        with self.lock:
            self.errors[what] += 1


def test_redis_restart_during_annotation_loses_no_vote(private_redis, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("ANNOTATE_TASK_SIZE", "8")
    monkeypatch.setenv("ANNOTATE_GOLD_FRACTION", "0")
    monkeypatch.setenv("ANNOTATE_ONBOARDING_GOLD", "0")
    monkeypatch.setenv("ANNOTATE_CALIBRATION_SIZE", "0")
    # Decisions on the worker: with Redis down, submits cannot ask for a drain and decide inline.
    monkeypatch.setenv("ANNOTATE_CONSENSUS_ASYNC", "true")
    sample_candidates(wnids=list(SAMPLE_SETS)[:3], positives=16, negatives=8, seed=7)
    queue_sync(full=True)
    users = [make_user(f"crowd{i}", "annotator") for i in range(8)]
    tokens = {Token.objects.create(user=u).key: u for u in users}

    web = WebServer().start()
    # With beat, as deployed: its periodic drain re-decides rows whose drain request was lost.
    worker = WorkerProcess(queues="default,cpu", beat=True).start()
    # A job in flight on the worker when Redis dies: its messages are lost with Redis.
    job_id = int(
        run_django(
            "from curation.services.jobs import job_create, job_dispatch\n"
            "j = job_create(kind='test_sleep', params={'n': 60, 'chunk': 3, 'sleep': 0.2})\n"
            "job_dispatch(job=j); print(j.pk)"
        )
    )
    crowd = Annotators(web.url, list(tokens))
    threads = [threading.Thread(target=crowd.run, args=(t,), daemon=True) for t in tokens]
    try:
        # The job first, then the crowd: both must be under way when Redis dies (a CI run whose
        # worker was busy draining let the crowd finish before the job had begun).
        wait_for(lambda: Job.objects.get(pk=job_id).done >= 3, timeout=60, what="job progress")
        for t in threads:
            t.start()
        wait_for(lambda: sum(crowd.acked.values()) >= 40, timeout=60, what="votes to flow")
        acked_before = sum(crowd.acked.values())
        assert not Job.objects.get(pk=job_id).is_finished, "the job ended before Redis was killed"
        private_redis.kill()
        time.sleep(2.0)
        private_redis.start()
        for t in threads:
            t.join(timeout=120)
        assert not any(t.is_alive() for t in threads), "annotators still running"
        acked_after_restart = sum(crowd.acked.values()) - acked_before

        # The job lost its broker messages: the sweeper (run as the beat task would) re-queues.
        def recovered() -> bool:
            run_django(
                "from datetime import timedelta\n"
                "from curation.services.jobs import jobs_sweep_stale\n"
                "jobs_sweep_stale(stale_after=timedelta(seconds=3))"
            )
            return Job.objects.get(pk=job_id).is_finished

        wait_for(recovered, timeout=90, interval=2, what="the sweeper to recover the job")
        # Every counted vote was re-decided: inline while Redis was down, by drains otherwise. A
        # drain request queued before the kill is lost with Redis, and when no submit follows
        # the restart only beat's drain (every 15 s) asks again: a CI run here waited on it.
        try:
            wait_for(
                lambda: not QueueItem.objects.filter(dirty=True).exists(),
                timeout=60,
                what="the consensus drain to catch up",
            )
        except AssertionError as exc:
            dirty = QueueItem.objects.filter(dirty=True).count()
            raise AssertionError(
                f"{exc}: {dirty} rows marked\nworker:\n{worker.output()[-3000:]}\n"
                f"web:\n{web.log.read_text()[-3000:]}"
            ) from None
    finally:
        crowd.stop.set()
        web.stop()
        worker.stop()

    stored = Counter(
        Vote.objects.filter(annotator__user__in=users)
        .values_list("annotator__user__username", flat=True)
        .iterator()
    )
    expected = Counter({tokens[t].username: n for t, n in crowd.acked.items()})
    assert stored == expected, (stored, expected, crowd.errors)
    assert sum(expected.values()) > acked_before and acked_after_restart > 0
    job = Job.objects.get(pk=job_id)
    assert job.status == Job.Status.SUCCEEDED, (job.status, job.error, worker.output()[-2000:])
    assert (job.done, job.total) == (60, 60)


# --- PostgreSQL restart under a serving gunicorn ----------------------------------------------


def _pg_bin() -> Path | None:
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "initdb").exists() and (candidate / "pg_ctl").exists():
            return candidate
    return None


class PrivatePostgres:
    """A throwaway PostgreSQL cluster (initdb as the postgres user) on a spare port."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin = bin_dir
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="synsetlab-pg-"))
        self.data = self.dir / "data"
        os.chmod(self.dir, 0o777)

    def _as_postgres(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = list(args)
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=check)

    def init(self) -> PrivatePostgres:
        self._as_postgres(
            str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
            "--no-sync",
        )  # fmt: skip
        return self.start()

    def start(self) -> PrivatePostgres:
        opts = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._as_postgres(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", opts, "-l",
            str(self.dir / "log"), "-w", "start",
        )  # fmt: skip
        return self

    def stop(self, mode: str = "fast") -> None:
        self._as_postgres(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop", check=False
        )

    def url(self, name: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{name}"


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except Exception:
        return 0


def test_web_recovers_from_a_postgres_restart_without_a_process_restart(live_db) -> None:  # type: ignore[no-untyped-def]
    bin_dir = _pg_bin()
    if bin_dir is None or (os.geteuid() == 0 and not shutil.which("runuser")):
        pytest.skip("no PostgreSQL server binaries (initdb/pg_ctl) to run a private cluster")
    pg = PrivatePostgres(bin_dir)
    try:
        pg.init()
    except subprocess.CalledProcessError as exc:
        pytest.skip(f"cannot initdb a private cluster here: {exc.stderr[-300:]}")
    web: WebServer | None = None
    try:
        env = {"DATABASE_URL": pg.url("postgres"), "DB_CONN_MAX_AGE": "600"}
        migrate = subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput"],
            cwd=ROOT, env=child_env(**env), capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert migrate.returncode == 0, migrate.stderr[-2000:]
        web = WebServer(**env).start()
        health = f"{web.url}/healthz"
        for _ in range(10):  # every gunicorn thread holds a persistent connection now
            assert _get(health) == 200
        pg.stop(mode="immediate")  # a crash: the persistent connections are dead
        assert _get(health) == 503  # the database check fails cleanly, no hang, no 500
        pg.start()
        # Same processes: CONN_HEALTH_CHECKS drops the dead connections and reconnects.
        statuses = [_get(health) for _ in range(20)]
        assert statuses[-10:] == [200] * 10, statuses
        assert web.proc is not None and web.proc.poll() is None
    finally:
        if web is not None:
            web.stop()
        pg.stop()
        shutil.rmtree(pg.dir, ignore_errors=True)


# --- Disk full while writing thumbnails -------------------------------------------------------


@pytest.fixture
def tiny_media(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs as MEDIA_ROOT (needs root and mount)."""
    mount = tmp_path / "media"
    mount.mkdir()
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a tmpfs needs root")
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
        capture_output=True, text=True,
    )  # fmt: skip
    if r.returncode != 0:
        pytest.skip(f"mount -t tmpfs not permitted here: {r.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_disk_full_during_ingest_fails_items_cleanly(
    live_db, tiny_media, settings, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    from django.core.files.storage import default_storage

    from annotate.services.sample import OPENCLIPART
    from curation.models import Image, IngestItem
    from curation.services.ingest import ingest_start

    # ~60 distinct PNGs of a few hundred KiB in all: more than 1 MiB once thumbnails are added.
    source = tmp_path / "incoming" / "n01503061"
    source.mkdir(parents=True)
    pngs = sorted((OPENCLIPART / "animals").rglob("*.png"))
    big = [p for p in pngs if p.stat().st_size > 30_000][:60]
    assert len(big) >= 30
    for i, p in enumerate(big):
        shutil.copy(p, source / f"{i:03d}.png")

    settings.MEDIA_ROOT = str(tiny_media)
    settings.STORAGES = {  # Django's setting_changed handler swaps default_storage
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tiny_media), "base_url": "/media/"},
        },
    }
    assert default_storage.path("x").startswith(str(tiny_media))
    job = ingest_start(source=str(source.parent), inline=True)
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, (job.status, job.error)  # finished, not crashed
    failed = IngestItem.objects.filter(job=job, status=IngestItem.Status.ERROR)
    reasons = set(failed.values_list("reason", flat=True))
    assert failed.exists(), "the disk filled up, yet no item failed"
    assert reasons <= {"disk_full", "storage_error"}, reasons
    # What was stored is whole: every stored image's file and thumbnail are complete.
    for image in Image.objects.all():
        path = tiny_media / image.storage_key
        assert path.stat().st_size == image.bytes, image.storage_key
        assert (tiny_media / image.thumb_key).exists()
    stored_files = {
        p.relative_to(tiny_media).as_posix() for p in tiny_media.rglob("*") if p.is_file()
    }
    known = set(Image.objects.values_list("storage_key", flat=True)) | set(
        Image.objects.values_list("thumb_key", flat=True)
    )
    assert stored_files <= known, (
        f"half-written files left behind: {sorted(stored_files - known)[:5]}"
    )
    assert str(tiny_media) == django_settings.MEDIA_ROOT

"""Shared fixtures: the real PostgreSQL/Redis of the machine, WordNet loaded once per session,
users per role, committed-data tests, real Celery workers and a real web server."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import Group, User
from django.db import connection
from rest_framework.test import APIClient

ROOT = Path(__file__).resolve().parents[1]
WORDNET_SYNSETS = 82_115
# Tables that hold the WordNet catalogue and framework state, kept between committed-data tests.
KEEP_TABLES = {
    "curation_synset",
    "curation_synsetedge",
    "curation_synsetclosure",
    "auth_group",
    "auth_permission",
    "auth_group_permissions",
    "django_content_type",
    "django_migrations",
}


CONFIGURED_DB_NAME = settings.DATABASES["default"]["NAME"]


@pytest.fixture(scope="session")
def django_db_setup(request, django_db_setup, django_db_blocker):  # type: ignore[no-untyped-def]
    """Create the test database once and load all of WordNet into it (skipped when present).

    pytest-django sets up the test database only when some collected test is marked django_db or
    uses `db`; a session of committed-data (`live_db`) tests alone would otherwise run against the
    configured database and truncate it. So set it up here whenever that has not happened.
    """
    from django.test.utils import setup_databases

    from curation.models import Synset
    from curation.services.wordnet import wordnet_import

    with django_db_blocker.unblock():
        if connection.settings_dict["NAME"] == CONFIGURED_DB_NAME:
            opt = request.config.getoption
            keepdb = opt("reuse_db") and not opt("create_db")
            setup_databases(verbosity=0, interactive=False, keepdb=keepdb, aliases={"default"})
        assert connection.settings_dict["NAME"] != CONFIGURED_DB_NAME, "not on the test database"
        if Synset.objects.count() != WORDNET_SYNSETS:
            wordnet_import()
    yield
    with django_db_blocker.unblock():
        _close_other_sessions()


def _close_other_sessions(grace: float = 10.0) -> None:
    """Before pytest-django drops the test database: wait for other sessions on it to end (a
    backend outlives its killed client by a moment), then terminate what is left, with a warning
    that names it: DROP DATABASE fails while one is there ("is being accessed by other users")."""
    if connection.vendor != "postgresql":
        return
    others = (
        "SELECT pid, application_name, state, LEFT(query, 80) FROM pg_stat_activity"
        " WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )
    deadline = time.monotonic() + grace
    with connection.cursor() as cursor:
        while True:
            cursor.execute(others)
            left = cursor.fetchall()
            if not left:
                return
            if time.monotonic() > deadline:
                warnings.warn(f"sessions left on the test database, terminated: {left}",
                              stacklevel=1)  # fmt: skip
                for pid, *_ in left:
                    cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
                return
            time.sleep(0.1)


def _reset_committed_data() -> None:
    from curation.models import Synset

    with connection.cursor() as cursor:
        tables = [t for t in connection.introspection.table_names(cursor) if t not in KEEP_TABLES]
        if connection.vendor == "postgresql":
            quoted = ", ".join(connection.ops.quote_name(t) for t in tables)
            cursor.execute(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE")
        else:
            for table in tables:
                cursor.execute(f"DELETE FROM {connection.ops.quote_name(table)}")
    Synset.objects.filter(active=True).update(active=False, target_images=0, activated_at=None)
    Synset.objects.exclude(target_images=0).update(target_images=0)
    for name in ("curator", "annotator"):
        Group.objects.get_or_create(name=name)


@pytest.fixture
def live_db(django_db_setup, django_db_blocker) -> Iterator[None]:  # type: ignore[no-untyped-def]
    """Committed data visible to other processes (workers, web servers); reset afterwards.

    The WordNet catalogue survives the reset, so it is loaded once per session.
    """
    with django_db_blocker.unblock():
        _reset_committed_data()
        try:
            yield
        finally:
            connection.close()
            _reset_committed_data()
            # Closed again, not left for the next test. After an e2e test (Playwright's sync API
            # runs an event loop in this thread) the reset's connection was not the one the
            # session teardown sees: left idle, it blocked the test database's drop
            # (tests/e2e/test_prelabel_page.py alone showed it).
            connection.close()


def make_user(username: str, role: str | None, *, superuser: bool = False) -> User:
    user = User.objects.create_user(username=username, password="pw-" + username, email="")
    if superuser:
        user.is_superuser = user.is_staff = True
        user.save()
    if role:
        user.groups.add(Group.objects.get_or_create(name=role)[0])
        if role == "curator":
            user.is_staff = True
            user.save()
    return user


@pytest.fixture
def curator(db) -> User:  # type: ignore[no-untyped-def]
    return make_user("cora", "curator")


@pytest.fixture
def annotator(db) -> User:  # type: ignore[no-untyped-def]
    return make_user("anna", "annotator")


@pytest.fixture
def curator_api(curator: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(curator)
    return client


@pytest.fixture
def annotator_api(annotator: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(annotator)
    return client


def child_env(**extra: str) -> dict[str, str]:
    """Environment for subprocesses that must see this test session's database and Redis."""
    db = settings.DATABASES["default"]
    env = dict(os.environ)
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)  # set for Playwright in this process only
    env["DJANGO_SETTINGS_MODULE"] = "config.settings.test"
    if db["ENGINE"].endswith("postgresql"):
        env["DATABASE_URL"] = (
            f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
        )
    else:
        env["DATABASE_URL"] = f"sqlite:///{db['NAME']}"
    env["REDIS_URL"] = settings.REDIS_URL
    env.update(extra)
    return env


class WorkerProcess:
    """A real `celery worker` process on all queues; `beat`: with celery beat embedded (`-B`), as
    `make demo` runs it, so the periodic tasks (the consensus drain, the stale-job sweep) run."""

    def __init__(
        self, queues: str = "default,cpu,gpu", concurrency: int = 1, beat: bool = False, **env: str
    ) -> None:
        self.queues, self.concurrency, self.beat, self.env = queues, concurrency, beat, env
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = Path(settings.DATA_ROOT) / f"worker-{os.getpid()}-{time.monotonic_ns()}.log"

    def start(self) -> WorkerProcess:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", self.queues,
            "-c", str(self.concurrency), "--pool", "prefork", "-l", "INFO",
            "-n", f"test-{os.getpid()}-{time.monotonic_ns()}@%h", "--without-gossip",
            "--without-mingle", "--without-heartbeat",
        ]  # fmt: skip
        if self.beat:
            cmd += ["-B", "-s", str(self.log.with_suffix(".beat-schedule"))]
        self.proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=child_env(**self.env),
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def kill(self) -> None:
        """SIGKILL the whole worker (parent and pool children), as a crash would."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def purge_queues() -> None:
    import redis

    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    for key in ("default", "cpu", "gpu", "unacked", "unacked_index"):
        client.delete(key)
    for key in client.scan_iter("synsetlab:worker:*"):  # heartbeats of SIGKILLed test workers
        client.delete(key)
    from config.redis import redis_client

    # A consensus drain marked as queued whose message was just purged would hold back the next
    # drain request until the key expires.
    redis_client().delete("synsetlab:consensus-drain")


@pytest.fixture
def celery_worker(live_db) -> Iterator[WorkerProcess]:  # type: ignore[no-untyped-def]
    purge_queues()
    worker = WorkerProcess().start()
    try:
        yield worker
    finally:
        worker.stop()
        purge_queues()


def wait_for(predicate, timeout: float = 60.0, interval: float = 0.2, what: str = "condition"):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class WebServer:
    """A real gunicorn serving this session's database (`env`: extra environment)."""

    def __init__(self, **env: str) -> None:
        self.env = env
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = Path(settings.DATA_ROOT) / f"web-{self.port}.log"

    def start(self) -> WebServer:
        import urllib.request

        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "config.wsgi", "-b", f"127.0.0.1:{self.port}",
             "-w", "2", "--threads", "4", "--timeout", "60"],
            cwd=ROOT, env=child_env(**self.env), stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip

        def up() -> bool:
            try:
                urllib.request.urlopen(self.url + "/accounts/login/", timeout=2)
                return True
            except Exception:
                return False

        wait_for(up, timeout=60, what="gunicorn to answer")
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(20)


@pytest.fixture
def web_server(live_db) -> Iterator[WebServer]:  # type: ignore[no-untyped-def]
    server = WebServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def test_database(django_db_setup) -> None:  # type: ignore[no-untyped-def]
    """Kept for tests that ask for it: django_db_setup now always provides the test database."""

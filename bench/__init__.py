"""Benchmarks: each module's `run()` measures SynsetLab beside a baseline in the same run and
returns a markdown section that `python -m bench` appends to bench/RESULTS.md (date, machine)."""

from __future__ import annotations

import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "RESULTS.md"
WORK = ROOT / "var" / "bench"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9
    return (
        f"{os.cpu_count()} cores ({cpu}), {mem_gb:.0f} GB RAM, Python {platform.python_version()}"
    )


def append_results(title: str, body: str) -> None:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a") as f:
        f.write(f"\n## {title} — {stamp}\n\nMachine: {machine()}\n\n{body.strip()}\n")


@contextmanager
def timer() -> Iterator[dict[str, float]]:
    box: dict[str, float] = {}
    start = time.perf_counter()
    try:
        yield box
    finally:
        box["seconds"] = time.perf_counter() - start


def peak_rss_mb_of(
    cmd: list[str], env: dict[str, str] | None = None, cwd: Path = ROOT
) -> tuple[float, float, str]:
    """Run cmd; return (seconds, peak RSS MB of the child, output)."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd} failed:\n{proc.stdout}\n{proc.stderr}")
    return seconds, usage.ru_maxrss / 1024, proc.stdout + proc.stderr


def table(headers: list[str], rows: list[list[Any]]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def django_env(*, database: str, files: Path, redis_db: int, **extra: str) -> dict[str, str]:
    """Environment for a benchmark's Django subprocesses: local settings, their own PostgreSQL
    database, media and data folders under `files`, a Redis db of their own (REDIS_URL wins)."""
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.local",
        DJANGO_DEBUG="false",
        DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{database}",
        MEDIA_ROOT=str(files / "media"),
        DATA_ROOT=str(files / "data"),
        LOG_LEVEL="WARNING",
    )
    env.setdefault("REDIS_URL", f"redis://127.0.0.1:6379/{redis_db}")
    env.update(extra)
    return env


def python() -> str:
    return sys.executable


Bench = Callable[[], tuple[str, str]]

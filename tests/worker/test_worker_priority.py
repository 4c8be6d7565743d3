"""WORKER_NICE: a Celery worker on a host that also serves the web app yields the CPU to it."""

from __future__ import annotations

import os
import subprocess

from tests.conftest import WorkerProcess, purge_queues, wait_for


def _children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


def test_worker_nice_applies_to_the_worker_and_its_pool(live_db) -> None:  # type: ignore[no-untyped-def]
    purge_queues()
    base = os.getpriority(os.PRIO_PROCESS, 0)
    worker = WorkerProcess(concurrency=2, WORKER_NICE="7").start()
    plain = WorkerProcess(concurrency=1).start()
    try:
        assert worker.proc is not None and plain.proc is not None
        wait_for(lambda: "ready" in worker.output(), timeout=90, what="the worker to start")
        wait_for(lambda: "ready" in plain.output(), timeout=90, what="the other worker to start")
        pool = wait_for(lambda: _children(worker.proc.pid), what="the pool processes")
        assert os.getpriority(os.PRIO_PROCESS, worker.proc.pid) == min(19, base + 7)
        assert all(os.getpriority(os.PRIO_PROCESS, p) == min(19, base + 7) for p in pool)
        # Without the setting (the default, for dedicated worker machines) nothing changes.
        assert os.getpriority(os.PRIO_PROCESS, plain.proc.pid) == base
    finally:
        worker.stop()
        plain.stop()
        purge_queues()

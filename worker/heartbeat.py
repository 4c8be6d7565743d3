"""Worker liveness: each Celery worker writes a heartbeat to Redis every few seconds.

/healthz and /metrics read them; a worker that died stops beating and its key expires.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import time
from typing import Any

from celery import bootsteps

from config.redis import broker_client

logger = logging.getLogger(__name__)

KEY_PREFIX = "synsetlab:worker:"
INTERVAL_S = 10.0
TTL_S = 45


class Heartbeat(bootsteps.StartStopStep):
    requires = {"celery.worker.components:Timer"}

    def __init__(self, worker: Any, **kwargs: Any) -> None:
        self.tref = None

    def start(self, worker: Any) -> None:
        self.beat(worker)
        self.tref = worker.timer.call_repeatedly(INTERVAL_S, self.beat, (worker,), priority=10)

    def stop(self, worker: Any) -> None:
        if self.tref is not None:
            self.tref.cancel()
            self.tref = None
        with contextlib.suppress(Exception):  # the broker may be gone at shutdown
            broker_client().delete(KEY_PREFIX + worker.hostname)

    def beat(self, worker: Any) -> None:
        queues = sorted(worker.app.amqp.queues.consume_from or worker.app.amqp.queues)
        payload = {"hostname": worker.hostname, "queues": queues, "at": time.time(),
                   "host": socket.gethostname(), "concurrency": worker.concurrency}  # fmt: skip
        try:
            broker_client().set(KEY_PREFIX + worker.hostname, json.dumps(payload), ex=TTL_S)
        except Exception as exc:  # never let monitoring kill the worker
            logger.warning("worker heartbeat failed: %s", exc)


def workers_alive() -> list[dict[str, Any]]:
    """Workers that beat within the TTL, with their queues and last beat time."""
    client = broker_client()
    keys = list(client.scan_iter(KEY_PREFIX + "*", count=100))
    rows = []
    for raw in client.mget(keys) if keys else []:
        if raw:
            rows.append(json.loads(raw))
    return sorted(rows, key=lambda r: r["hostname"])

"""Locust: simulated annotators on the real API (run by `python -m bench.load`, i.e. `make load`).

FastHttpUser (geventhttpclient) rather than HttpUser (requests): the load generator shares the
machine with the server, and requests-based users cost several times more CPU per request, CPU the
server under test then lacks.

Each user signs in with its own API token (LOCUST_TOKENS: a file, one token per line), asks for a
task, "looks" at the grid for a think time, answers and submits, again and again. A submit that
fails at the network level is retried with the same client token (idempotent), so every vote sent
is stored exactly once; the count of votes sent is written to LOCUST_COUNT_FILE at the end.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import threading
import uuid
from pathlib import Path

from locust import FastHttpUser, between, events, task

TOKENS = [t.strip() for t in Path(os.environ["LOCUST_TOKENS"]).read_text().split() if t.strip()]
THINK = [float(x) for x in os.environ.get("LOCUST_THINK", "10-20").split("-")]
_next_token = itertools.count()
_lock = threading.Lock()
SENT = {"votes": 0, "tasks": 0, "retries": 0, "empty": 0, "failed_submits": 0}


class Annotator(FastHttpUser):
    wait_time = between(THINK[0], THINK[-1])
    connection_timeout = 30.0
    network_timeout = 60.0

    def on_start(self) -> None:
        with _lock:
            self.token = TOKENS[next(_next_token) % len(TOKENS)]
        self.auth = {"Authorization": f"Token {self.token}"}
        self.rng = random.Random(self.token)

    @task(1)
    def baseline(self) -> None:
        """The framework's floor: token auth, role check and one small query."""
        self.client.get("/api/v1/annotate/me", name="baseline: /me", headers=self.auth)

    @task(8)
    def label_a_grid(self) -> None:
        with self.client.get(
            "/api/v1/annotate/next-task", name="next-task", catch_response=True, headers=self.auth
        ) as response:
            if response.status_code != 200:
                response.failure(f"status {response.status_code}")
                return
            work = response.json()["task"]
        if work is None:
            with _lock:
                SENT["empty"] += 1
            return
        answers = [
            {
                "item": item["item"],
                "shows": self.rng.random() < 0.5,
                "ms": self.rng.randint(300, 2000),
            }
            for item in work["items"]
        ]
        body = {"client_token": uuid.uuid4().hex, "answers": answers, "duration_ms": 30_000}
        for _attempt in range(4):
            try:
                with self.client.post(
                    f"/api/v1/annotate/tasks/{work['id']}/submit",
                    json=body,
                    name="submit",
                    catch_response=True,
                    headers=self.auth,
                ) as response:
                    if response.status_code == 200:
                        with _lock:
                            SENT["votes"] += len(answers)
                            SENT["tasks"] += 1
                        return
                    response.failure(f"status {response.status_code}")
                    # 0: the connection failed (no answer); 5xx: the server failed. Both are
                    # retried with the same client token; a 4xx will not get better.
                    if 0 < response.status_code < 500:
                        break
            except Exception:  # a dropped connection: retry with the same client token
                pass
            with _lock:
                SENT["retries"] += 1
        with _lock:
            SENT["failed_submits"] += 1


@events.quitting.add_listener
def _write_counts(environment, **kwargs) -> None:  # type: ignore[no-untyped-def]
    path = os.environ.get("LOCUST_COUNT_FILE")
    if path:
        Path(path).write_text(json.dumps(SENT))


# --- what the server says about each request (its Server-Timing header) -------------------------

SERVER: dict[str, list[tuple[float, float, float]]] = {}


def _server_timing(header: str) -> tuple[float, float, float] | None:
    """(app, cpu, db) milliseconds from `app;dur=.., cpu;dur=.., db;dur=..;desc=..`."""
    found = {}
    for part in header.split(","):
        fields = part.strip().split(";")
        for field in fields[1:]:
            if field.startswith("dur="):
                found[fields[0]] = float(field[4:])
    if {"app", "cpu", "db"} <= found.keys():
        return found["app"], found["cpu"], found["db"]
    return None


@events.request.add_listener
def _collect_server_timing(name: str, response=None, **kwargs) -> None:  # type: ignore[no-untyped-def]
    headers = getattr(response, "headers", None)
    header = headers.get("Server-Timing") if headers else None
    timing = _server_timing(header) if header else None
    if timing is not None:
        with _lock:
            SERVER.setdefault(name, []).append(timing)


@events.spawning_complete.add_listener
def _reset_server_timing(user_count: int, **kwargs) -> None:  # type: ignore[no-untyped-def]
    with _lock:  # as locust --reset-stats does for its own statistics
        SERVER.clear()


@events.quitting.add_listener
def _write_server_timing(environment, **kwargs) -> None:  # type: ignore[no-untyped-def]
    path = os.environ.get("LOCUST_TIMING_FILE")
    if not path:
        return
    out = {}
    for name, rows in SERVER.items():
        columns = list(zip(*rows, strict=True))
        out[name] = {
            "n": len(rows),
            **{
                f"{what}_{q}": sorted(col)[min(len(col) - 1, int(len(col) * q / 100))]
                for what, col in zip(("app", "cpu", "db"), columns, strict=True)
                for q in (50, 95)
            },
        }
    Path(path).write_text(json.dumps(out))

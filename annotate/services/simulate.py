"""Simulated crowds with known truth, for demos, tests and benchmarks.

A simulated annotator answers each image correctly with its accuracy (scaled towards a coin flip
by the synset's difficulty); spammers click at random or say yes to everything. The same loop drives
either the real HTTP API (requests, one thread per annotator) or the services in-process.
"""

from __future__ import annotations

import csv
import random
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

SHA_RE = re.compile(r"/i/([0-9a-f]{64})/")


@dataclass(frozen=True)
class SimWorker:
    name: str
    accuracy: float
    kind: str = "honest"  # honest | random | yes (spammers)

    def answer(self, truth: bool | None, rng: random.Random, difficulty: float = 0.0) -> bool:
        if self.kind == "random" or truth is None:
            return rng.random() < 0.5
        if self.kind == "yes":
            return True
        accuracy = 0.5 + (self.accuracy - 0.5) * (1.0 - difficulty)
        return truth if rng.random() < accuracy else not truth


def crowd_pool(
    n: int,
    *,
    accuracy: tuple[float, float] = (0.65, 0.95),
    spammers: float = 0.1,
    seed: int = 0,
    prefix: str = "sim",
) -> list[SimWorker]:
    """n workers: accuracies uniform in the range; round(n * spammers) of them spammers (half
    random clickers, half yes-to-everything)."""
    rng = random.Random(seed)
    n_spam = round(n * spammers)
    workers = []
    for i in range(n):
        if i < n_spam:
            kind = "random" if i % 2 == 0 else "yes"
            workers.append(SimWorker(f"{prefix}-{i:03d}", 0.5, kind))
        else:
            workers.append(SimWorker(f"{prefix}-{i:03d}", rng.uniform(*accuracy)))
    rng.shuffle(workers)
    return workers


def parse_accuracy(value: str) -> tuple[float, float]:
    """'0.8' or '0.65-0.95' (or '0.65:0.95')."""
    parts = [p for p in re.split(r"[-:,]", value.strip()) if p]
    try:
        numbers = [float(p) for p in parts]
    except ValueError as exc:
        raise ValueError(
            f"accuracy must be a number or a range like 0.65-0.95, not {value!r}"
        ) from exc
    if len(numbers) == 1:
        numbers = numbers * 2
    if len(numbers) != 2 or not 0.0 <= numbers[0] <= numbers[1] <= 1.0:
        raise ValueError(f"accuracy must be within 0..1 and low-high, not {value!r}")
    return numbers[0], numbers[1]


@dataclass
class Truth:
    """Known answers by (image sha256, wnid); a synset's difficulty by wnid."""

    labels: dict[tuple[str, str], bool] = field(default_factory=dict)
    difficulty: dict[str, float] = field(default_factory=dict)  # by wnid
    item_difficulty: dict[tuple[str, str], float] = field(default_factory=dict)  # 1.0: ambiguous

    def get(self, sha256: str, wnid: str) -> bool | None:
        return self.labels.get((sha256, wnid))

    @classmethod
    def from_csv(cls, path: Path) -> Truth:
        truth = cls()
        with path.open(newline="") as f:
            for row in csv.DictReader(f):
                label = str(row.get("truth", "")).strip().lower()
                if label in ("yes", "1", "true"):
                    truth.labels[(row["image"].strip(), row["wnid"].strip())] = True
                elif label in ("no", "0", "false"):
                    truth.labels[(row["image"].strip(), row["wnid"].strip())] = False
        return truth

    def add_gold(self) -> Truth:
        """What the database knows: gold items' truth."""
        from annotate.models import GoldItem

        for sha, wnid, value in GoldItem.objects.values_list(
            "candidate__image__sha256", "candidate__synset__wnid", "truth"
        ):
            self.labels.setdefault((sha, wnid), value)
        return self


class Client(Protocol):
    def next_task(self, have: list[str]) -> dict[str, Any] | None: ...

    def submit(self, task_id: str, body: dict[str, Any]) -> dict[str, Any]: ...


@dataclass
class SimStats:
    tasks: int = 0
    votes_sent: int = 0
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, tasks: int = 0, votes: int = 0, error: str | None = None) -> None:
        with self.lock:
            self.tasks += tasks
            self.votes_sent += votes
            if error and len(self.errors) < 50:
                self.errors.append(error)


def work(
    worker: SimWorker,
    client: Client,
    truth: Truth,
    stats: SimStats,
    *,
    seed: int = 0,
    max_tasks: int | None = None,
    idle_tries: int = 3,
    idle_sleep: float = 0.2,
    stop: threading.Event | None = None,
) -> int:
    """One simulated annotator: next task, answer, submit, until there is no work left.
    Returns the number of tasks it submitted."""
    rng = random.Random(f"{seed}-{worker.name}")
    idle = 0
    done = 0
    while (max_tasks is None or done < max_tasks) and not (stop and stop.is_set()):
        try:
            task = client.next_task([])
        except Exception as exc:
            stats.add(error=f"{worker.name} next-task: {exc}")
            return done
        if task is None:
            idle += 1
            if idle >= idle_tries:
                return done
            time.sleep(idle_sleep * idle)
            continue
        idle = 0
        wnid = task["synset"]["wnid"]
        answers = []
        for item in task["items"]:
            match = SHA_RE.search(item["thumb"])
            sha = match.group(1) if match else item["item"]
            label = truth.get(sha, wnid)
            # Each worker's answer to an image is fixed by the seed, whatever order it comes in.
            item_rng = random.Random(f"{seed}-{worker.name}-{sha}-{wnid}")
            difficulty = truth.item_difficulty.get((sha, wnid), truth.difficulty.get(wnid, 0.0))
            shows = worker.answer(label, item_rng, difficulty)
            answers.append({"item": item["item"], "shows": shows, "ms": rng.randint(400, 2500)})
        body = {"client_token": uuid.uuid4().hex, "answers": answers}
        try:
            reply = client.submit(task["id"], body)
        except Exception as exc:
            stats.add(error=f"{worker.name} submit: {exc}")
            return done
        stats.add(tasks=1, votes=int(reply.get("recorded", 0)))
        done += 1
    return done


class HttpClient:
    """The real API over HTTP with a token, retrying a submit once on a network error (the
    idempotent client token makes the retry safe)."""

    def __init__(self, base_url: str, token: str, timeout: float = 30.0) -> None:
        import requests

        self.base = base_url.rstrip("/")
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Token {token}"
        self.timeout = timeout

    def next_task(self, have: list[str]) -> dict[str, Any] | None:
        response = self.session.get(
            f"{self.base}/api/v1/annotate/next-task",
            params={"have": ",".join(have)} if have else None,
            timeout=self.timeout,
        )
        if response.status_code == 403:
            return None  # blocked: this worker is done
        response.raise_for_status()
        return response.json()["task"]

    def submit(self, task_id: str, body: dict[str, Any]) -> dict[str, Any]:
        import requests

        url = f"{self.base}/api/v1/annotate/tasks/{task_id}/submit"
        try:
            response = self.session.post(url, json=body, timeout=self.timeout)
        except requests.ConnectionError:
            response = self.session.post(url, json=body, timeout=self.timeout)
        response.raise_for_status()
        return response.json()


class LocalClient:
    """The services in-process (demo data, tests): same payloads as the API."""

    def __init__(self, annotator: Any) -> None:
        self.annotator = annotator

    def next_task(self, have: list[str]) -> dict[str, Any] | None:
        from annotate.selectors.tasks import task_payload
        from annotate.services.annotators import AnnotatorBlocked
        from annotate.services.assignment import task_next

        try:
            task = task_next(annotator=self.annotator, have=have)
        except AnnotatorBlocked:
            return None
        return task_payload(task) if task else None

    def submit(self, task_id: str, body: dict[str, Any]) -> dict[str, Any]:
        from annotate.services.submit import parse_answers, task_submit

        self.annotator.refresh_from_db()
        return task_submit(
            annotator=self.annotator,
            token=task_id,
            client_token=body["client_token"],
            answers=parse_answers(body["answers"], limit=1000),
            source="api",
            decide_now=True,
        )


def sim_users(workers: Iterable[SimWorker]) -> dict[str, tuple[Any, str]]:
    """A user (annotator role) and an API token per simulated worker (created once)."""
    from django.contrib.auth.models import Group, User
    from rest_framework.authtoken.models import Token

    from annotate.services.annotators import annotator_for_user
    from curation.roles import ANNOTATOR

    group = Group.objects.get_or_create(name=ANNOTATOR)[0]
    out = {}
    for worker in workers:
        user, created = User.objects.get_or_create(username=worker.name)
        if created:
            user.set_unusable_password()
            user.save(update_fields=["password"])
        user.groups.add(group)
        token, _ = Token.objects.get_or_create(user=user)
        out[worker.name] = (annotator_for_user(user), token.key)
    return out


def run_http(
    workers: list[SimWorker],
    *,
    base_url: str,
    truth: Truth,
    tokens: dict[str, str],
    concurrency: int = 8,
    seed: int = 0,
    max_tasks: int | None = None,
    on_progress: Callable[[SimStats], None] | None = None,
) -> SimStats:
    """Drive the real API like a crowd working side by side: in each round every worker takes
    one task (`concurrency` requests in flight), until a round finds no work or each worker has
    done `max_tasks`."""
    stats = SimStats()
    clients = {w.name: HttpClient(base_url, tokens[w.name]) for w in workers}
    done: dict[str, int] = dict.fromkeys(clients, 0)
    active = list(workers)
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        while active:

            def turn(worker: SimWorker) -> bool:
                return work(worker, clients[worker.name], truth, stats, seed=seed, max_tasks=1,
                            idle_tries=1) > 0  # fmt: skip

            outcomes = list(pool.map(turn, active))
            for worker, worked in zip(active, outcomes, strict=True):
                if worked:
                    done[worker.name] += 1
            still = [
                w
                for w, worked in zip(active, outcomes, strict=True)
                if worked and (max_tasks is None or done[w.name] < max_tasks)
            ]
            if on_progress:
                on_progress(stats)
            active = still
    return stats


def run_local(
    workers: list[SimWorker],
    annotators: dict[str, Any],
    truth: Truth,
    *,
    seed: int = 0,
    tasks_per_turn: int = 1,
    max_rounds: int = 10_000,
) -> SimStats:
    """Round-robin the workers through the services in this process (deterministic order)."""
    stats = SimStats()
    active = list(workers)
    for _ in range(max_rounds):
        if not active:
            break
        active = [
            worker
            for worker in active
            if work(
                worker,
                LocalClient(annotators[worker.name]),
                truth,
                stats,
                seed=seed,
                max_tasks=tasks_per_turn,
                idle_tries=1,
            )
        ]
    return stats

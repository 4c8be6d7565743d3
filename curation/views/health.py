"""/healthz (web, database, Redis, queue depths, worker heartbeats) and /metrics (Prometheus)."""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from curation.roles import is_curator

QUEUES = ("cpu", "gpu", "default")


def queue_depths() -> dict[str, int]:
    """Messages waiting per Celery queue (kombu's Redis transport keeps one list per priority)."""
    from config.redis import broker_client

    client = broker_client()
    depths = {}
    for queue in QUEUES:
        keys = [queue] + [f"{queue}\x06\x16{p}" for p in (1, 2, 3, 4, 5, 6, 7, 8, 9)]
        pipe = client.pipeline()
        for key in keys:
            pipe.llen(key)
        depths[queue] = int(sum(pipe.execute()))
    return depths


def _check(fn: Any) -> dict[str, Any]:
    start = time.perf_counter()
    try:
        detail = fn()
    except Exception as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    out = {"ok": True, "ms": round((time.perf_counter() - start) * 1000, 1)}
    if detail is not None:
        out["detail"] = detail
    return out


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _redis() -> None:
    from config.redis import redis_client

    redis_client().ping()


def health_report() -> dict[str, Any]:
    from curation.models import Job
    from worker.heartbeat import workers_alive

    checks: dict[str, Any] = {"web": {"ok": True}}
    checks["database"] = _check(_database)
    checks["redis"] = _check(_redis)
    checks["queues"] = _check(queue_depths)
    workers = _check(workers_alive)
    if workers["ok"]:
        now = time.time()
        beats = workers.get("detail", [])
        workers["detail"] = [
            {"hostname": w["hostname"], "queues": w["queues"], "age_s": round(now - w["at"], 1)}
            for w in beats
        ]
        served = {q for w in beats for q in w["queues"]}
        workers["queues_without_worker"] = [q for q in QUEUES if q not in served]
        workers["ok"] = bool(beats)
    checks["workers"] = workers
    if checks["database"]["ok"]:
        checks["jobs"] = _check(
            lambda: {
                "running": Job.objects.filter(status=Job.Status.RUNNING).count(),
                "queued": Job.objects.filter(status=Job.Status.QUEUED).count(),
            }
        )
    essential = checks["database"]["ok"] and checks["redis"]["ok"]
    status = "ok" if essential and workers["ok"] else ("degraded" if essential else "down")
    return {"status": status, "checks": checks}


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """200 while the database and Redis answer (503 otherwise, or when degraded with ?strict=1).

    Anonymous callers (load balancers) get the status and which checks pass; curators and callers
    with the metrics token get the details.
    """
    report = health_report()
    failing = report["status"] == "down" or (
        report["status"] == "degraded" and request.GET.get("strict") in ("1", "true")
    )
    if not (is_curator(request.user) or _has_token(request)):
        report = {
            "status": report["status"],
            "checks": {name: {"ok": c.get("ok", False)} for name, c in report["checks"].items()},
        }
    return JsonResponse(report, status=503 if failing else 200)


def _has_token(request: HttpRequest) -> bool:
    token = getattr(settings, "METRICS_TOKEN", "")
    return bool(token) and request.headers.get("Authorization", "") == f"Bearer {token}"


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus exposition: curators, the METRICS_TOKEN bearer, or loopback while no token."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    from curation.metrics import registry

    loopback = request.META.get("REMOTE_ADDR") in ("127.0.0.1", "::1")
    allowed = is_curator(request.user) or _has_token(request)
    if not allowed and not (loopback and not getattr(settings, "METRICS_TOKEN", "")):
        return HttpResponse(
            "metrics need a curator session or the METRICS_TOKEN bearer\n", status=403
        )
    return HttpResponse(generate_latest(registry()), content_type=CONTENT_TYPE_LATEST)

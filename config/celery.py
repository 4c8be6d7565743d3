"""Celery app. Queues: `cpu` (ingest, dedup, consensus, export), `gpu` (prelabel, train),
`default` (the rest)."""

from __future__ import annotations

import os

from celery import Celery
from celery.signals import worker_init
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("synsetlab")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = (Queue("default"), Queue("cpu"), Queue("gpu"))
app.conf.task_routes = {
    "worker.tasks.job_*": {
        "queue": "cpu"
    },  # job tasks pass an explicit queue; this is the fallback
}
app.autodiscover_tasks(["worker"])


def _add_heartbeat_step() -> None:
    from worker.heartbeat import Heartbeat

    app.steps["worker"].add(Heartbeat)


_add_heartbeat_step()


@worker_init.connect
def _yield_cpu_to_web(**_: object) -> None:
    """On a host that also serves the web app, batch work (ingest, export, pre-labelling) should
    not make annotators wait: WORKER_NICE raises the worker's nice value once, in the main
    process, before the pool forks, so its children (and DataLoader workers) inherit it."""
    from django.conf import settings

    step = int(getattr(settings, "WORKER_NICE", 0))
    if step > 0:
        os.nice(step)

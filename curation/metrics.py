"""Prometheus metrics computed at scrape time from the database and Redis.

Counting from the database (not in-process counters) gives the same answer from every gunicorn
worker and survives restarts.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from functools import lru_cache

from django.apps import apps
from django.db.models import Count, F
from django.utils import timezone
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

JOB_DURATION_BUCKETS = (1, 5, 15, 60, 300, 900, 3600, 4 * 3600)


class SynsetLabCollector(Collector):
    def collect(self) -> Iterator[object]:
        from curation.models import Candidate, Image, Job
        from curation.views.health import queue_depths
        from worker.heartbeat import workers_alive

        now = timezone.now()
        minute_ago = now - timedelta(minutes=1)

        images = GaugeMetricFamily("synsetlab_images", "Unique images stored")
        images.add_metric([], Image.objects.count())
        yield images

        candidates = GaugeMetricFamily(
            "synsetlab_candidates", "Candidates by state", labels=["state"]
        )
        by_state = dict(Candidate.objects.values_list("state").annotate(n=Count("id")))
        for state in Candidate.State.values:
            candidates.add_metric([state], by_state.get(state, 0))
        yield candidates

        decisions = GaugeMetricFamily(
            "synsetlab_decisions_last_minute", "Candidates decided in the last minute"
        )
        decisions.add_metric([], Candidate.objects.filter(decided_at__gte=minute_ago).count())
        yield decisions

        if apps.is_installed("annotate"):
            try:
                vote_model = apps.get_model("annotate", "Vote")
            except LookupError:
                vote_model = None
            if vote_model is not None:
                votes = CounterMetricFamily("synsetlab_votes", "Votes stored")
                votes.add_metric([], vote_model.objects.count())
                yield votes
                per_minute = GaugeMetricFamily(
                    "synsetlab_votes_last_minute", "Votes in the last minute"
                )
                per_minute.add_metric(
                    [], vote_model.objects.filter(created_at__gte=minute_ago).count()
                )
                yield per_minute

        jobs = GaugeMetricFamily(
            "synsetlab_jobs", "Jobs by kind and status", labels=["kind", "status"]
        )
        for row in Job.objects.values("kind", "status").annotate(n=Count("id")):
            jobs.add_metric([row["kind"], row["status"]], row["n"])
        yield jobs

        durations = HistogramMetricFamily(
            "synsetlab_job_duration_seconds",
            "Duration of jobs that finished in the last 24 hours",
            labels=["kind"],
        )
        finished = (
            Job.objects.filter(finished_at__gte=now - timedelta(days=1), started_at__isnull=False)
            .annotate(d=F("finished_at") - F("started_at"))
            .values_list("kind", "d")
        )
        per_kind: dict[str, list[float]] = {}
        for kind, delta in finished.iterator():
            per_kind.setdefault(kind, []).append(delta.total_seconds())
        for kind, values in sorted(per_kind.items()):
            buckets = [(str(b), sum(1 for v in values if v <= b)) for b in JOB_DURATION_BUCKETS]
            buckets.append(("+Inf", len(values)))
            durations.add_metric([kind], buckets, sum(values))
        yield durations

        try:
            depths = queue_depths()
            workers = workers_alive()
        except Exception:
            return
        queue = GaugeMetricFamily("synsetlab_queue_depth", "Messages waiting", labels=["queue"])
        for name, depth in depths.items():
            queue.add_metric([name], depth)
        yield queue
        alive = GaugeMetricFamily(
            "synsetlab_workers_alive", "Workers with a fresh heartbeat", labels=["queue"]
        )
        for name in depths:
            alive.add_metric([name], sum(1 for w in workers if name in w["queues"]))
        yield alive


@lru_cache(maxsize=1)
def registry() -> CollectorRegistry:
    reg = CollectorRegistry(auto_describe=False)
    reg.register(SynsetLabCollector())
    return reg

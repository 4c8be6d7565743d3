"""/healthz, /metrics, worker heartbeats and the audit log."""

from __future__ import annotations

import pytest
from django.test import Client

from curation.models import AuditEvent, Job
from curation.services.jobs import job_create, job_run_inline
from curation.services.synsets import SynsetLookupError, synsets_activate
from tests.conftest import WorkerProcess, wait_for


@pytest.mark.django_db
def test_healthz_reports_database_and_redis_to_anyone() -> None:
    r = Client().get("/healthz")
    assert r.status_code == 200
    body = r.json()
    assert body["checks"]["database"] == {"ok": True}
    assert body["checks"]["redis"] == {"ok": True}
    assert "detail" not in body["checks"]["queues"]  # details only for curators


@pytest.mark.django_db
def test_healthz_is_503_when_redis_is_unreachable(settings) -> None:  # type: ignore[no-untyped-def]
    from config import redis as redis_mod

    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    redis_mod._client.cache_clear()
    try:
        r = Client().get("/healthz")
    finally:
        redis_mod._client.cache_clear()
    assert r.status_code == 503
    assert r.json()["status"] == "down"
    assert r.json()["checks"]["redis"]["ok"] is False


def test_worker_heartbeat_shows_in_healthz_and_metrics(live_db) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import make_user, purge_queues
    from worker.heartbeat import workers_alive

    purge_queues()
    client = Client()
    client.force_login(make_user("cora", "curator"))

    worker = WorkerProcess(queues="cpu").start()
    try:
        wait_for(
            lambda: any("cpu" in w["queues"] for w in workers_alive()), timeout=60, what="beat"
        )
        body = client.get("/healthz").json()
        assert body["checks"]["workers"]["ok"] is True
        assert "gpu" in body["checks"]["workers"]["queues_without_worker"]
        text = client.get("/metrics").content.decode()
        assert 'synsetlab_workers_alive{queue="cpu"}' in text
    finally:
        worker.stop()
    wait_for(lambda: not workers_alive(), timeout=30, what="the heartbeat key to go")


@pytest.mark.django_db
def test_metrics_counts_candidates_jobs_and_durations(curator) -> None:  # type: ignore[no-untyped-def]
    job_run_inline(job=job_create(kind="test_sleep", params={"n": 3, "chunk": 3}))
    client = Client()
    client.force_login(curator)
    text = client.get("/metrics").content.decode()
    assert 'synsetlab_jobs{kind="test_sleep",status="succeeded"} 1.0' in text
    assert 'synsetlab_job_duration_seconds_count{kind="test_sleep"} 1.0' in text
    assert 'synsetlab_candidates{state="accepted"} 0.0' in text
    assert "synsetlab_queue_depth" in text


@pytest.mark.django_db
def test_metrics_refuse_strangers_and_accept_the_token(settings, annotator) -> None:  # type: ignore[no-untyped-def]
    settings.METRICS_TOKEN = "s3cret-token"
    assert Client().get("/metrics").status_code == 403
    client = Client()
    client.force_login(annotator)
    assert client.get("/metrics").status_code == 403
    r = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token")
    assert r.status_code == 200 and b"synsetlab_images" in r.content
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403


@pytest.mark.django_db
def test_activation_is_audited_with_actor_and_request_id(curator) -> None:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(curator)
    r = client.post(
        "/curate/synsets/activate/",
        {"synsets": "n02084071", "subtree": "on", "target": "10"},
        HTTP_X_REQUEST_ID="req-abc-123",
    )
    assert r.status_code == 302 and r["X-Request-ID"] == "req-abc-123"
    event = AuditEvent.objects.get()
    assert (event.actor, event.action, event.request_id) == (
        curator,
        "synsets.activate",
        "req-abc-123",
    )
    assert "190 of 190 synsets activated" in event.summary
    page = client.get("/curate/audit/").content.decode()
    assert "synsets.activate" in page and "cora" in page


@pytest.mark.django_db
def test_failed_activation_leaves_no_audit_event() -> None:
    with pytest.raises(SynsetLookupError):
        synsets_activate(identifiers=["nope.n.99"])
    assert not AuditEvent.objects.exists()
    assert Job.objects.count() == 0


@pytest.mark.django_db
def test_gold_adjudication_and_blocks_are_audited(curator, settings) -> None:  # type: ignore[no-untyped-def]
    settings.ANNOTATE_HOUSEKEEPING_SECONDS = 0
    from annotate.models import Annotator
    from annotate.services.annotators import annotator_for_user, annotator_set_status
    from annotate.services.gold import candidate_adjudicate, gold_mark, gold_unmark
    from annotate.services.sample import sample_candidates
    from curation.models import Candidate
    from tests.conftest import make_user

    items = sample_candidates(wnids=["n01503061"], positives=2, negatives=1, seed=2)
    first, second = (Candidate.objects.get(pk=i.candidate_id) for i in items[:2])
    gold_mark(candidate=first, truth=True, user=curator)
    gold_unmark(candidate=first, user=curator)
    candidate_adjudicate(candidate=second, accept=False, user=curator, note="not a bird")
    worker = annotator_for_user(make_user("anna", "annotator"))
    annotator_set_status(annotator=worker, status=Annotator.Status.BLOCKED, by=curator)
    actions = list(AuditEvent.objects.order_by("pk").values_list("action", "actor__username"))
    assert actions == [
        ("gold.mark", "cora"),
        ("gold.unmark", "cora"),
        ("candidate.adjudicate", "cora"),
        ("annotator.blocked", "cora"),
    ]
    client = Client()
    client.force_login(curator)
    page = client.get("/curate/audit/").content.decode()
    assert "candidate.adjudicate" in page and "annotator.blocked" in page


@pytest.mark.django_db
def test_every_response_says_where_its_time_went(curator) -> None:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(curator)
    r = client.get("/curate/audit/")
    timing = {
        part.split(";")[0].strip(): part for part in r["Server-Timing"].split(",") if part.strip()
    }
    assert set(timing) == {"app", "cpu", "db"}
    queries = int(timing["db"].split('desc="')[1].split(" ")[0])
    # The page ran queries (session, user, events) and the header counted them.
    assert queries >= 2
    app = float(timing["app"].split("dur=")[1].split(";")[0])
    db = float(timing["db"].split("dur=")[1].split(";")[0])
    assert 0 < db <= app

"""The parts that live across processes: the consensus job on a real Celery worker, votes safe
when the broker is down, and simulate_crowd driving a real gunicorn over HTTP."""

from __future__ import annotations

import io
import uuid
from collections import Counter

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from annotate.models import Annotator, QualitySnapshot, SynsetConsensus, Vote
from annotate.services.assignment import task_next
from annotate.services.queue import queue_sync
from annotate.services.sample import sample_candidates, write_truth
from annotate.services.simulate import Truth, crowd_pool, run_local, sim_users
from annotate.services.submit import Answer, task_submit
from curation.models import Candidate, Job
from tests.annotate.conftest import BIRD, INSECT
from tests.conftest import free_port, make_user, wait_for

pytestmark = [pytest.mark.slow]


@pytest.fixture
def committed(test_database, live_db, settings):  # type: ignore[no-untyped-def]
    settings.ANNOTATE_TASK_SIZE = 12
    settings.ANNOTATE_CALIBRATION_SIZE = 0
    items = sample_candidates(wnids=[BIRD, INSECT], positives=10, negatives=6, seed=4)
    queue_sync(full=True)
    return items


def test_consensus_job_runs_on_a_celery_worker(committed, celery_worker) -> None:
    workers = crowd_pool(10, accuracy=(0.8, 0.95), spammers=0.1, seed=1)
    users = sim_users(workers)
    truth = Truth(labels={(i.sha256, i.wnid): i.truth for i in committed})
    run_local(workers, {w.name: users[w.name][0] for w in workers}, truth)
    curator = APIClient()
    curator.force_authenticate(make_user("cora", "curator"))
    reply = curator.post("/api/v1/quality/consensus/", {"force": True}, format="json")
    assert reply.status_code == 202
    job_id = reply.json()["id"]
    job = wait_for(
        lambda: Job.objects.filter(pk=job_id, status__in=Job.FINISHED).first(),
        timeout=120,
        what="the consensus job",
    )
    assert job.status == Job.Status.SUCCEEDED, (job.error, celery_worker.output()[-3000:])
    assert job.done == job.total == 2
    voters = Vote.objects.values("annotator").distinct().count()
    assert job.result["workers"]["annotators"] == voters >= 5
    assert SynsetConsensus.objects.filter(calibrated=True).count() == 2
    assert Annotator.objects.filter(fitted_at__isnull=False).count() == voters
    assert QualitySnapshot.objects.filter(synset__isnull=True).exists()
    r = job.result  # the finished job's message: the site's figures, not the last synset's
    assert job.message == (
        f"all synsets, gold aside: {r['accepted']:,} accepted, {r['rejected']:,} rejected,"
        f" {r['escalated']:,} escalated, {r['open']:,} open; {r['votes']:,} votes"
    )
    assert r["votes"] == Vote.objects.exclude(candidate__gold__isnull=False).count()
    # What to look at when this fails (it has, twice in ~10 runs, both beside other CPU work):
    # the candidates' states, the annotators' standing and the fitted policies.
    seen = (
        Counter(Candidate.objects.values_list("state", flat=True)),
        Counter(Annotator.objects.values_list("status", flat=True)),
        list(SynsetConsensus.objects.values("method", "threshold_accept", "threshold_reject")),
    )
    assert Candidate.objects.filter(state__in=Candidate.DECIDED).exists(), seen


def test_votes_are_committed_even_when_the_broker_is_down(committed, settings, monkeypatch) -> None:
    """A submit that completes calibration asks for a refit job; with the broker unreachable (a
    port nothing listens on) the job cannot be sent, yet the votes are stored and the reply is
    normal (the job waits for the sweeper)."""
    from config.celery import app

    settings.ANNOTATE_CALIBRATION_SIZE = 2
    settings.ANNOTATE_CALIBRATION_VOTES = 1
    settings.ANNOTATE_CONSENSUS_METHOD = "dynamic"
    queue_sync(full=True)
    # This process's Celery app publishes through cached connection pools: point it at the dead
    # port and drop the pools (monkeypatch puts the live ones back afterwards).
    monkeypatch.setattr(app.conf, "broker_url", f"redis://127.0.0.1:{free_port()}/0")
    monkeypatch.setattr(app, "_pool", None)
    monkeypatch.setattr(app.amqp, "_producer_pool", None)
    user = make_user("anna", "annotator")
    annotator = Annotator.objects.create(user=user, external_id=f"user:{user.pk}")
    task = task_next(annotator=annotator)
    assert task is not None
    answers = [Answer(item=t, shows=True) for t in task.items.values_list("token", flat=True)]
    reply = task_submit(
        annotator=annotator, token=task.token, client_token=uuid.uuid4().hex, answers=answers
    )
    assert reply["recorded"] == len(answers)
    assert Vote.objects.filter(assignment=task).count() == len(answers)
    refit = Job.objects.filter(kind="consensus").first()
    assert refit is not None and refit.status == Job.Status.QUEUED and not refit.celery_task_id


def test_simulate_crowd_drives_the_real_http_api(committed, web_server, tmp_path) -> None:
    truth = write_truth(committed, tmp_path / "truth.csv")
    out = io.StringIO()
    call_command(
        "simulate_crowd",
        "--annotators", "6",
        "--accuracy", "0.8-0.95",
        "--spammers", "0",
        "--base-url", web_server.url,
        "--truth", str(truth),
        "--concurrency", "3",
        "--max-tasks", "3",
        stdout=out,
    )  # fmt: skip
    text = out.getvalue()
    assert "6 simulated annotators" in text
    stored = Vote.objects.filter(annotator__user__username__startswith="sim-").count()
    assert stored > 0 and f"stored {stored:,}" in text
    assert Vote.objects.filter(source="api").count() == stored

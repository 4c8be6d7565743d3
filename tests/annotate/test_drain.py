"""ANNOTATE_CONSENSUS_ASYNC: submits mark their queue rows and a drain re-decides them, with the
same outcome as deciding inside the request; and with a real Celery worker behind gunicorn."""

from __future__ import annotations

import uuid

import pytest
import requests
from rest_framework.authtoken.models import Token

from annotate.models import AssignmentItem, QueueItem, SynsetConsensus
from annotate.services.annotators import annotator_for_user
from annotate.services.assignment import task_next
from annotate.services.consensus import consensus_drain, consensus_update
from annotate.services.queue import queue_sync
from annotate.services.sample import sample_candidates
from annotate.services.submit import Answer, task_submit
from curation.models import Candidate, Synset
from tests.annotate.conftest import BIRD, INSECT
from tests.conftest import (
    WebServer,
    WorkerProcess,
    free_port,
    make_user,
    purge_queues,
    wait_for,
)

DECIDED = (Candidate.State.ACCEPTED, Candidate.State.REJECTED)


def _majority(*wnids: str) -> None:
    for wnid in wnids:
        SynsetConsensus.objects.update_or_create(
            synset=Synset.objects.get(wnid=wnid),
            defaults={"method": "majority", "majority_votes": 3, "calibrated": True},
        )


def _label_until_done(annotators, truth) -> int:  # type: ignore[no-untyped-def]
    votes = 0
    for annotator in annotators:
        while (task := task_next(annotator=annotator)) is not None:
            answers = [Answer(item=i.token, shows=truth[i.candidate_id]) for i in task.items.all()]
            task_submit(
                annotator=annotator,
                token=task.token,
                client_token=uuid.uuid4().hex,
                answers=answers,
            )
            votes += len(answers)
    return votes


def test_submits_mark_rows_and_the_drain_decides_them_as_inline_would(
    sample, make_annotator, settings
) -> None:  # type: ignore[no-untyped-def]
    settings.ANNOTATE_CONSENSUS_ASYNC = True
    _majority(BIRD, INSECT)
    purge_queues()
    try:
        votes = _label_until_done([make_annotator(f"a{i}") for i in range(3)], sample.truth())
    finally:
        purge_queues()  # the drain requests nobody consumed
    assert votes > 0
    # Nothing decided inside the requests: the votes are stored and their rows marked.
    assert not Candidate.objects.filter(state__in=DECIDED).exists()
    marked = QueueItem.objects.filter(dirty=True).count()
    assert marked > 0
    assert consensus_drain() == marked
    assert not QueueItem.objects.filter(dirty=True).exists()
    # Two votes each (ANNOTATE_MIN_VOTES) did not settle a majority of 3: the drain asked for
    # more, and the next round of work and drain settles them.
    assert QueueItem.objects.filter(open=True, need__gt=0).exists()
    crowd = [make_annotator(f"a{i}") for i in range(3)]
    purge_queues()
    try:
        assert _label_until_done(crowd, sample.truth()) > 0
    finally:
        purge_queues()
    consensus_drain()
    truth = sample.truth()
    decided = list(Candidate.objects.filter(state__in=DECIDED))
    assert len(decided) == marked
    assert all((c.state == Candidate.State.ACCEPTED) == truth[c.pk] for c in decided)
    # The same decisions an inline re-decision reaches: running it again changes nothing.
    ids = list(QueueItem.objects.values_list("candidate_id", flat=True))
    assert consensus_update(candidate_ids=ids).get("changed", 0) == 0
    # Marks left by a crash are found by the next drain (beat runs one every 15 s).
    QueueItem.objects.filter(candidate_id__in=ids[:5]).update(dirty=True)
    assert consensus_drain() == 5


def test_the_drain_skips_rows_a_submit_holds_instead_of_waiting(
    test_database, live_db, annotate_settings
) -> None:  # type: ignore[no-untyped-def]
    """A submit holds its candidates' queue rows until it commits; a drain that waited for one
    of them would hold every row before it meanwhile, and every other submit on those would
    wait too. It re-decides the rows it can take and leaves the held one marked."""
    import threading

    from django.db import connection, transaction

    annotate_settings.ANNOTATE_CONSENSUS_ASYNC = True
    items = sample_candidates(wnids=[BIRD], positives=6, negatives=4, seed=2)
    queue_sync(full=True)
    truth = {i.candidate_id: i.truth for i in items}
    purge_queues()
    try:
        _label_until_done([make_user_annotator(f"d{i}") for i in range(2)], truth)
    finally:
        purge_queues()
    marked = sorted(QueueItem.objects.filter(dirty=True).values_list("candidate_id", flat=True))
    assert len(marked) >= 3
    held = marked[1]
    locked, release = threading.Event(), threading.Event()

    def submit_in_flight() -> None:
        try:
            with transaction.atomic():
                list(QueueItem.objects.select_for_update().filter(candidate_id=held))
                locked.set()
                release.wait(30)
        finally:
            connection.close()

    holder = threading.Thread(target=submit_in_flight)
    holder.start()
    try:
        assert locked.wait(10)
        with connection.cursor() as cursor:  # waiting at all would fail here, not hang
            cursor.execute("SET lock_timeout = '3s'")
        # It looks again for a while (never waiting on the lock), then leaves the row marked.
        assert consensus_drain(seconds=1.0) == len(marked) - 1
        purge_queues()  # the follow-up drain it asked for
        still = set(QueueItem.objects.filter(dirty=True).values_list("candidate_id", flat=True))
        assert still == {held}
    finally:
        release.set()
        holder.join(10)
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = 0")
    assert consensus_drain() == 1
    assert not QueueItem.objects.filter(dirty=True).exists()


def make_user_annotator(name: str):  # type: ignore[no-untyped-def]
    from annotate.services.annotators import annotator_for_user

    return annotator_for_user(make_user(name, "annotator"))


@pytest.mark.slow
def test_a_real_worker_decides_what_annotators_submit_over_http(celery_worker, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    for name, value in {
        "ANNOTATE_CONSENSUS_ASYNC": "true",
        "ANNOTATE_TASK_SIZE": "8",
        "ANNOTATE_GOLD_FRACTION": "0",
        "ANNOTATE_ONBOARDING_GOLD": "0",
        "ANNOTATE_CALIBRATION_SIZE": "0",
        "ANNOTATE_CONSENSUS_METHOD": "majority",
        "ANNOTATE_MAJORITY_VOTES": "3",
    }.items():
        monkeypatch.setenv(name, value)
    items = sample_candidates(wnids=[BIRD], positives=6, negatives=4, seed=3)
    truth = {i.candidate_id: i.truth for i in items}
    queue_sync(full=True)
    _majority(BIRD)
    tokens = [Token.objects.create(user=make_user(f"crowd{i}", "annotator")).key for i in range(3)]
    web = WebServer().start()

    def label_round() -> int:
        sent = 0
        for token in tokens:
            auth = {"Authorization": f"Token {token}"}
            while True:
                work = requests.get(
                    f"{web.url}/api/v1/annotate/next-task", headers=auth, timeout=30
                ).json()["task"]
                if work is None:
                    break
                # The payload never names candidates; the test reads its own database.
                cands = dict(
                    AssignmentItem.objects.filter(
                        token__in=[i["item"] for i in work["items"]]
                    ).values_list("token", "candidate_id")
                )
                answers = [
                    {"item": i["item"], "shows": truth[cands[i["item"]]]} for i in work["items"]
                ]
                reply = requests.post(
                    f"{web.url}/api/v1/annotate/tasks/{work['id']}/submit",
                    json={"client_token": uuid.uuid4().hex, "answers": answers},
                    headers=auth,
                    timeout=30,
                )
                assert reply.status_code == 200, reply.text
                sent += len(answers)
        return sent

    try:
        # Each round: every annotator labels what is offered; the worker's drain re-decides and
        # raises `need` where two votes did not settle it.
        for _round in range(4):
            if not label_round():
                break
            wait_for(
                lambda: not QueueItem.objects.filter(dirty=True).exists(),
                timeout=60,
                what=f"the worker's drain (round {_round})",
            )
        decided = Candidate.objects.filter(state__in=DECIDED)
        assert decided.count() == len(items)
        assert all((c.state == Candidate.State.ACCEPTED) == truth[c.pk] for c in decided)
    finally:
        web.stop()
    assert "consensus_drain_task" in celery_worker.output()


def test_a_re_decision_in_progress_does_not_hold_up_votes_on_its_candidates(
    test_database, live_db, annotate_settings
) -> None:  # type: ignore[no-untyped-def]
    """Re-deciding a candidate locks its row; inserting a vote checks the vote's foreign key to
    that row. With FOR UPDATE the check waited for the whole re-decision; FOR NO KEY UPDATE
    lets it through."""
    import threading

    from django.db import connection, transaction

    from annotate.models import Vote

    items = sample_candidates(wnids=[BIRD], positives=2, negatives=1, seed=2)
    queue_sync(full=True)
    target = items[0].candidate_id
    annotator = make_user_annotator("v1")
    locked, release, failed = threading.Event(), threading.Event(), []

    def re_decision_in_flight() -> None:
        try:
            with transaction.atomic():
                consensus_update(candidate_ids=[target])  # its locks last until this commits
                locked.set()
                release.wait(30)
        except Exception as exc:  # surfaced by the main thread
            failed.append(exc)
            locked.set()
        finally:
            connection.close()

    holder = threading.Thread(target=re_decision_in_flight)
    holder.start()
    try:
        assert locked.wait(20) and not failed, failed
        with connection.cursor() as cursor:  # waiting at all would fail here, not hang
            cursor.execute("SET lock_timeout = '3s'")
        candidate = Candidate.objects.get(pk=target)
        Vote.objects.create(
            annotator=annotator, candidate=candidate, synset_id=candidate.synset_id, answer=True
        )
    finally:
        release.set()
        holder.join(10)
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = 0")
    assert Vote.objects.filter(candidate_id=target).count() == 1


def test_a_drain_the_broker_refuses_is_decided_inline_and_frees_the_key(
    live_db, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """Redis answers but the broker does not: each submit decides its own rows and leaves no
    'drain queued' key behind (with one, later submits would count on a drain nobody queued)."""
    from annotate.services.consensus.drain import DRAIN_KEY
    from config.redis import redis_client

    for name, value in {
        "ANNOTATE_CONSENSUS_ASYNC": "true",
        "ANNOTATE_TASK_SIZE": "5",
        "ANNOTATE_GOLD_FRACTION": "0",
        "ANNOTATE_ONBOARDING_GOLD": "0",
        "ANNOTATE_CALIBRATION_SIZE": "0",
    }.items():
        monkeypatch.setenv(name, value)
    sample_candidates(wnids=[BIRD], positives=3, negatives=2, seed=5)
    queue_sync(full=True)
    tokens = [Token.objects.create(user=make_user(f"crowd{i}", "annotator")).key for i in range(2)]
    redis_client().delete(DRAIN_KEY)
    dead_broker = f"redis://127.0.0.1:{free_port()}/0"
    web = WebServer(CELERY_BROKER_URL=dead_broker).start()
    try:
        for token in tokens:
            auth = {"Authorization": f"Token {token}"}
            work = requests.get(
                f"{web.url}/api/v1/annotate/next-task", headers=auth, timeout=30
            ).json()["task"]
            assert work is not None
            reply = requests.post(
                f"{web.url}/api/v1/annotate/tasks/{work['id']}/submit",
                json={
                    "client_token": uuid.uuid4().hex,
                    "answers": [{"item": i["item"], "shows": True} for i in work["items"]],
                },
                headers=auth,
                timeout=60,
            )
            assert reply.status_code == 200, reply.text
            # Re-decided inside the request, and nothing claims a drain is on its way.
            assert not QueueItem.objects.filter(dirty=True).exists()
            assert not redis_client().exists(DRAIN_KEY)
        assert QueueItem.objects.filter(votes=2).count() == 5
    finally:
        web.stop()
        redis_client().delete(DRAIN_KEY)
    assert "could not queue a consensus drain" in web.log.read_text()


def test_beat_drains_rows_whose_drain_request_was_lost(live_db, settings) -> None:  # type: ignore[no-untyped-def]
    """A drain request can be lost (Redis restarted before a worker took it): the rows stay
    marked in the database, and the periodic drain of a worker running beat decides them."""
    from annotate.services.consensus.drain import DRAIN_KEY
    from config.redis import redis_client

    settings.ANNOTATE_CONSENSUS_ASYNC = True
    settings.ANNOTATE_GOLD_FRACTION = 0
    settings.ANNOTATE_ONBOARDING_GOLD = 0
    settings.ANNOTATE_CALIBRATION_SIZE = 0
    items = sample_candidates(wnids=[BIRD], positives=4, negatives=3, seed=11)
    queue_sync(full=True)
    purge_queues()
    annotator = annotator_for_user(make_user("crowd0", "annotator"))
    voted = _label_until_done([annotator], {i.candidate_id: i.truth for i in items})
    assert voted and QueueItem.objects.filter(dirty=True).count() == voted
    purge_queues()  # the requests are lost, as with a Redis restart
    redis_client().delete(DRAIN_KEY)
    worker = WorkerProcess(queues="default,cpu", beat=True).start()
    try:
        wait_for(
            lambda: not QueueItem.objects.filter(dirty=True).exists(),
            timeout=90,
            what="beat's periodic drain",
        )
    finally:
        worker.stop()
        purge_queues()
    assert "Sending due task drain-consensus" in worker.output()  # beat asked, not a submit

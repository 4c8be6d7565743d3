"""Next task, leases, gold mixing, expiry and submit, through the services (PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from annotate.models import Annotator, Assignment, AssignmentItem, QueueItem, Vote
from annotate.services.annotators import AnnotatorBlocked, annotator_set_status
from annotate.services.assignment import TaskExpired, TaskNotFound, task_heartbeat, task_next
from annotate.services.gold import gold_mark
from annotate.services.queue import leases_expire, queue_sync
from annotate.services.submit import (
    Answer,
    SubmitConflict,
    SubmitError,
    parse_answers,
    task_submit,
)
from curation.models import Candidate, Synset
from tests.annotate.conftest import BIRD, INSECT, new_token

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


def answer_all(task: Assignment, truth: dict[int, bool]) -> list[Answer]:
    return [Answer(item=i.token, shows=truth[i.candidate_id]) for i in task.items.all()]


def test_next_task_is_one_synset_and_submit_records_votes(sample, make_annotator) -> None:
    anna = make_annotator("anna")
    task = task_next(annotator=anna)
    assert task is not None
    items = list(task.items.select_related("candidate"))
    assert 1 <= len(items) <= 12
    assert {i.candidate.synset_id for i in items} == {task.synset_id}
    reply = task_submit(
        annotator=anna,
        token=task.token,
        client_token=new_token(),
        answers=answer_all(task, sample.truth()),
        duration_ms=12_000,
    )
    assert reply["recorded"] == len(items)
    votes = Vote.objects.filter(annotator=anna)
    assert votes.count() == len(items)
    assert {v.assignment_id for v in votes} == {task.pk}
    assert all(v.time_ms == 12_000 // len(items) for v in votes)
    assert not QueueItem.objects.filter(leased__gt=0).exists()
    assert not AssignmentItem.objects.filter(leased=True).exists()
    task.refresh_from_db()
    assert task.status == Assignment.Status.SUBMITTED


def test_leases_never_exceed_votes_still_needed(sample, make_annotator, settings) -> None:
    settings.ANNOTATE_MIN_VOTES = 1
    QueueItem.objects.update(need=1)
    first = task_next(annotator=make_annotator("a1"))
    second = task_next(annotator=make_annotator("a2"))
    assert first is not None and second is not None
    a = set(first.items.values_list("candidate_id", flat=True))
    b = set(second.items.values_list("candidate_id", flat=True))
    assert not a & b  # need 1: a candidate leased to a1 is not leased to a2
    for row in QueueItem.objects.all():
        assert row.leased <= row.need


def test_never_shows_an_annotator_a_candidate_twice(sample, make_annotator) -> None:
    anna = make_annotator("anna")
    QueueItem.objects.update(need=10)
    seen: list[int] = []
    truth = sample.truth()
    while (task := task_next(annotator=anna)) is not None:
        ids = list(task.items.values_list("candidate_id", flat=True))
        seen += ids
        task_submit(
            annotator=anna,
            token=task.token,
            client_token=new_token(),
            answers=answer_all(task, truth),
        )
    assert len(seen) == len(set(seen)) == len(sample.items)


def test_prefetch_holds_two_tasks_and_resumes_the_other(sample, make_annotator) -> None:
    anna = make_annotator("anna")
    QueueItem.objects.update(need=5)
    first = task_next(annotator=anna)
    assert first is not None
    again = task_next(annotator=anna)
    assert again is not None and again.pk == first.pk  # a reload resumes the open task
    second = task_next(annotator=anna, have=[first.token])
    assert second is not None and second.pk != first.pk
    assert not set(first.items.values_list("candidate_id", flat=True)) & set(
        second.items.values_list("candidate_id", flat=True)
    )
    assert task_next(annotator=anna, have=[first.token, second.token]) is None  # at most two


def test_expired_leases_go_back_to_the_queue(sample, make_annotator) -> None:
    anna = make_annotator("anna")
    QueueItem.objects.update(need=1)
    task = task_next(annotator=anna)
    assert task is not None
    held = set(task.items.values_list("candidate_id", flat=True))
    assert QueueItem.objects.filter(candidate_id__in=held, leased=1).count() == len(held)
    with pytest.raises(TaskNotFound):
        task_heartbeat(annotator=make_annotator("bob"), token=task.token)
    before = task.expires_at
    task_heartbeat(annotator=anna, token=task.token)
    task.refresh_from_db()
    assert task.expires_at >= before
    Assignment.objects.filter(pk=task.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert leases_expire() == 1
    task.refresh_from_db()
    assert task.status == Assignment.Status.EXPIRED
    assert QueueItem.objects.filter(candidate_id__in=held, leased=0).count() == len(held)
    with pytest.raises(TaskExpired):
        task_heartbeat(annotator=anna, token=task.token)
    # Answers sent after expiry still count (a vote is never thrown away), once.
    reply = task_submit(
        annotator=anna, token=task.token, client_token=new_token(),
        answers=answer_all(task, sample.truth()),
    )  # fmt: skip
    assert reply["recorded"] == len(held)
    assert QueueItem.objects.filter(leased__gt=0).count() == 0


def test_submit_is_idempotent_by_client_token(sample, make_annotator) -> None:
    anna = make_annotator("anna")
    task = task_next(annotator=anna)
    assert task is not None
    token = new_token()
    answers = answer_all(task, sample.truth())
    first = task_submit(annotator=anna, token=task.token, client_token=token, answers=answers)
    votes = Vote.objects.count()
    again = task_submit(annotator=anna, token=task.token, client_token=token, answers=answers)
    assert again["replayed"] is True and again["recorded"] == first["recorded"]
    assert Vote.objects.count() == votes
    with pytest.raises(SubmitConflict):
        task_submit(annotator=anna, token=task.token, client_token=new_token(), answers=answers)
    assert Vote.objects.count() == votes


def test_one_vote_per_annotator_and_candidate_is_a_constraint(sample, make_annotator) -> None:
    anna = make_annotator("anna")
    candidate = Candidate.objects.first()
    Vote.objects.create(annotator=anna, candidate=candidate, synset=candidate.synset, answer=True)
    with pytest.raises(IntegrityError), transaction.atomic():
        Vote.objects.create(
            annotator=anna, candidate=candidate, synset=candidate.synset, answer=False
        )


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("nope", "answers must be a list"),
        ([1], "answer 0 must be an object"),
        ([{"item": 5, "shows": True}], "item must be the item's token"),
        ([{"item": "x" * 33, "shows": True}], "item must be the item's token"),
        ([{"item": "abc", "shows": "yes"}], "shows must be true, false or null"),
        ([{"item": "abc", "shows": True, "ms": -1}], "ms must be a non-negative"),
        ([{"item": "abc", "shows": True, "ms": True}], "ms must be a non-negative"),
        ([{"item": "abc", "shows": True}, {"item": "abc", "shows": False}], "answered twice"),
        ([{"item": str(i), "shows": True} for i in range(1001)], "too many answers"),
    ],
)
def test_hostile_answers_are_refused_with_a_reason(raw, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SubmitError, match=message):
        parse_answers(raw, limit=1000)


def test_unknown_item_tokens_store_nothing(sample, make_annotator) -> None:
    anna = make_annotator("anna")
    task = task_next(annotator=anna)
    assert task is not None
    answers = [*answer_all(task, sample.truth()), Answer(item="forged-token", shows=True)]
    with pytest.raises(SubmitError, match="unknown item token"):
        task_submit(annotator=anna, token=task.token, client_token=new_token(), answers=answers)
    assert Vote.objects.count() == 0
    with pytest.raises(SubmitError, match="client_token"):
        task_submit(annotator=anna, token=task.token, client_token="short", answers=[])
    with pytest.raises(TaskNotFound):
        task_submit(
            annotator=make_annotator("bob"), token=task.token, client_token=new_token(), answers=[]
        )


def test_skipped_items_record_no_vote_and_release_the_lease(sample, make_annotator) -> None:
    anna = make_annotator("anna")
    task = task_next(annotator=anna)
    assert task is not None
    items = list(task.items.all())
    answers = [Answer(item=items[0].token, shows=True)] + [
        Answer(item=i.token, shows=None) for i in items[1:]
    ]
    reply = task_submit(annotator=anna, token=task.token, client_token=new_token(), answers=answers)
    assert reply["recorded"] == 1
    assert QueueItem.objects.filter(leased__gt=0).count() == 0


def test_gold_is_mixed_in_hidden_and_only_once_per_annotator(
    sample, make_annotator, settings
) -> None:
    settings.ANNOTATE_GOLD_FRACTION = 0.5
    settings.ANNOTATE_TASK_SIZE = 20
    bird = Synset.objects.get(wnid=BIRD)
    for item in sample.of(BIRD)[:6]:
        gold_mark(candidate=Candidate.objects.get(pk=item.candidate_id), truth=item.truth)
    anna = make_annotator("anna")
    gold_seen: list[int] = []
    truth = sample.truth()
    while (task := task_next(annotator=anna)) is not None:
        gold_seen += list(task.items.filter(is_gold=True).values_list("candidate_id", flat=True))
        assert not task.items.filter(is_gold=True).exclude(candidate__synset=task.synset).exists()
        task_submit(
            annotator=anna,
            token=task.token,
            client_token=new_token(),
            answers=answer_all(task, truth),
        )
    assert gold_seen and len(gold_seen) == len(set(gold_seen))
    assert set(gold_seen) <= {i.candidate_id for i in sample.of(BIRD)[:6]}
    assert Candidate.objects.filter(synset=bird, gold__isnull=False).count() == 6
    # Gold never holds a lease and never has a queue row that could be decided by votes.
    assert not QueueItem.objects.filter(candidate__gold__isnull=False, open=True).exists()
    anna.refresh_from_db()
    assert anna.gold_answers == len(gold_seen)
    assert anna.gold_correct == len(gold_seen)  # answered with the truth


def test_blocked_annotators_get_no_tasks_and_their_leases_return(sample, make_annotator) -> None:
    anna = make_annotator("anna")
    QueueItem.objects.update(need=1)
    task = task_next(annotator=anna)
    assert task is not None
    annotator_set_status(annotator=anna, status=Annotator.Status.BLOCKED, reason="test")
    assert QueueItem.objects.filter(leased__gt=0).count() == 0
    with pytest.raises(AnnotatorBlocked):
        task_next(annotator=anna)


def test_excluded_candidates_never_enter_tasks(sample, make_annotator) -> None:
    Candidate.objects.filter(synset__wnid=BIRD).update(state=Candidate.State.EXCLUDED)
    queue_sync(full=True)
    anna = make_annotator("anna")
    QueueItem.objects.update(need=10)
    truth = sample.truth()
    while (task := task_next(annotator=anna)) is not None:
        assert task.synset.wnid != BIRD
        task_submit(
            annotator=anna,
            token=task.token,
            client_token=new_token(),
            answers=answer_all(task, truth),
        )


def test_inactive_synsets_get_no_tasks(sample, make_annotator) -> None:
    Synset.objects.filter(active=True).update(active=False)
    assert task_next(annotator=make_annotator("anna")) is None


def test_trust_routing_sends_unproven_annotators_to_calibration_and_gold(
    sample, make_annotator, settings
) -> None:  # type: ignore[no-untyped-def]
    from annotate.services.assignment import routed_to_calibration

    settings.ANNOTATE_ROUTE_MIN_TRUST = 0.85
    settings.ANNOTATE_ROUTE_MIN_GOLD = 5
    settings.ANNOTATE_ONBOARDING_GOLD = 4
    bird = sample.of(BIRD)
    calibration = {i.candidate_id for i in bird[:3]}
    # One vote each still needed on the calibration items, so the first lease takes them all.
    QueueItem.objects.filter(candidate_id__in=calibration).update(calibration=True, need=1)
    for item in sample.of(INSECT)[:4]:
        gold_mark(candidate=Candidate.objects.get(pk=item.candidate_id), truth=item.truth)

    newbie = make_annotator("newbie")
    assert routed_to_calibration(newbie)
    first = task_next(annotator=newbie)
    regular = {i.candidate_id for i in first.items.all() if not i.is_gold}
    assert regular == calibration  # only calibration items, however many others wait

    # With calibration leased out, an unproven annotator gets a gold-only qualification task.
    other = make_annotator("other")
    qualification = task_next(annotator=other)
    assert qualification is not None
    assert {i.is_gold for i in qualification.items.all()} == {True}

    # A proven annotator gets regular work; a poor one does not.
    proven = make_annotator("proven")
    Annotator.objects.filter(pk=proven.pk).update(trust=0.93)
    proven.refresh_from_db()
    assert not routed_to_calibration(proven)
    task = task_next(annotator=proven)
    assert task is not None and {i.candidate_id for i in task.items.all()} - calibration
    # The best ANNOTATE_ROUTE_POOL recent annotators always get work, so a weak crowd finishes.
    settings.ANNOTATE_ROUTE_POOL, settings.ANNOTATE_VOTE_CAP = 3, 1
    now = timezone.now()
    Annotator.objects.filter(pk=proven.pk).update(last_seen_at=now)
    for name, trust in (("weak", 0.7), ("weaker", 0.6)):
        Annotator.objects.filter(pk=make_annotator(name).pk).update(trust=trust, last_seen_at=now)
    poor = make_annotator("poor")
    Annotator.objects.filter(pk=poor.pk).update(gold_answers=10, gold_correct=6)
    poor.refresh_from_db()
    assert routed_to_calibration(poor)  # (6+1)/(10+2) = 0.58, under the pool's third best
    assert task_next(annotator=poor) is None  # no calibration left, already judged by gold
    Annotator.objects.filter(pk=poor.pk).update(trust=0.65, last_seen_at=now)
    poor.refresh_from_db()
    assert not routed_to_calibration(poor)  # now third best of four
    assert routed_to_calibration(Annotator.objects.get(user__username="weaker"))

    settings.ANNOTATE_ROUTE_MIN_TRUST = 0.0
    assert not routed_to_calibration(poor)  # routing off: everyone gets everything

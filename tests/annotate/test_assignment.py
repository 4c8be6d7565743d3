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


def test_a_scoped_sync_closes_only_its_synsets_rows(sample) -> None:  # type: ignore[no-untyped-def]
    bird, insect = Synset.objects.get(wnid=BIRD), Synset.objects.get(wnid=INSECT)
    Candidate.objects.filter(synset__in=[bird, insect]).update(state=Candidate.State.EXCLUDED)
    queue_sync(full=True, synset_ids=[bird.pk])
    assert not QueueItem.objects.filter(synset=bird, open=True).exists()
    # The other synset's rows wait for a sync that covers it.
    assert QueueItem.objects.filter(synset=insect, open=True).exists()
    queue_sync(full=True)
    assert not QueueItem.objects.filter(synset=insect, open=True).exists()


def test_inactive_synsets_get_no_tasks(sample, make_annotator) -> None:
    Synset.objects.filter(active=True).update(active=False)
    assert task_next(annotator=make_annotator("anna")) is None


def test_trust_routing_qualifies_newcomers_on_gold_then_sends_the_unproven_to_calibration(
    sample, make_annotator, settings
) -> None:  # type: ignore[no-untyped-def]
    from annotate.services.assignment import routed_to_calibration

    settings.ANNOTATE_ROUTE_MIN_TRUST = 0.85
    settings.ANNOTATE_ROUTE_MIN_GOLD = 4
    settings.ANNOTATE_ROUTE_QUALIFICATION_GOLD = 4
    settings.ANNOTATE_ROUTE_POOL = 1
    bird = sample.of(BIRD)
    calibration = {i.candidate_id for i in bird[:3]}
    # One vote each still needed on the calibration items, so the first lease takes them all.
    QueueItem.objects.filter(candidate_id__in=calibration).update(calibration=True, need=1)
    gold = sample.of(INSECT)[:8]
    for item in gold:
        gold_mark(candidate=Candidate.objects.get(pk=item.candidate_id), truth=item.truth)

    # A newcomer is not judged yet: a gold-only qualification task first, before any real item.
    newbie = make_annotator("newbie")
    assert routed_to_calibration(newbie)
    qualification = task_next(annotator=newbie)
    assert qualification is not None
    assert {i.is_gold for i in qualification.items.all()} == {True}
    assert qualification.items.count() == 4
    truth = sample.truth()
    wrong = [
        Answer(item=i.token, shows=not truth[i.candidate_id]) for i in qualification.items.all()
    ]
    wrong[0] = Answer(item=wrong[0].item, shows=not wrong[0].shows)  # 1 of 4 right
    task_submit(
        annotator=newbie, token=qualification.token, client_token=new_token(), answers=wrong
    )
    newbie.refresh_from_db()
    assert newbie.gold_answers == 4 and newbie.trust is None

    # Judged by gold and found wanting (and not the best recent one, the pool of one being a
    # proven annotator): only the calibration items, however many others wait.
    proven = make_annotator("proven")
    Annotator.objects.filter(pk=proven.pk).update(trust=0.93, last_seen_at=timezone.now())
    proven.refresh_from_db()
    assert routed_to_calibration(newbie)
    first = task_next(annotator=newbie)
    assert first is not None
    regular = {i.candidate_id for i in first.items.all() if not i.is_gold}
    assert regular == calibration

    # The proven annotator gets regular work.
    assert not routed_to_calibration(proven)
    task = task_next(annotator=proven)
    assert task is not None and {i.candidate_id for i in task.items.all()} - calibration

    settings.ANNOTATE_ROUTE_MIN_TRUST = 0.0
    assert not routed_to_calibration(newbie)  # routing off: everyone gets everything


def test_routing_pool_ranks_by_gold_before_any_fit_and_never_strands_an_item(
    sample, make_annotator, settings
) -> None:  # type: ignore[no-untyped-def]
    from annotate.services.assignment import routed_to_calibration

    settings.ANNOTATE_ROUTE_MIN_TRUST = 0.95
    settings.ANNOTATE_ROUTE_MIN_GOLD = 10
    settings.ANNOTATE_ROUTE_POOL = 2
    now = timezone.now()
    people = {}
    # Nobody has a fitted trust yet: the pool is the best two by gold accuracy, not everyone.
    for name, correct in (("ace", 10), ("good", 9), ("fair", 8), ("poor", 6)):
        people[name] = make_annotator(name)
        Annotator.objects.filter(pk=people[name].pk).update(
            gold_answers=10, gold_correct=correct, last_seen_at=now
        )
        people[name].refresh_from_db()
    assert [routed_to_calibration(people[n]) for n in ("ace", "good", "fair", "poor")] == [
        False, False, True, True,
    ]  # fmt: skip
    # A fitted trust replaces the gold estimate in the ranking.
    Annotator.objects.filter(pk=people["fair"].pk).update(trust=0.94)
    people["fair"].refresh_from_db()
    assert not routed_to_calibration(people["fair"])
    assert routed_to_calibration(Annotator.objects.get(pk=people["good"].pk))

    # An item with as many votes as the pool has members is open to everyone: the pool may have
    # voted on all of it, and it must not wait forever for its next vote.
    poor = people["poor"]
    assert task_next(annotator=poor) is None  # no calibration items, no gold: nothing
    item = QueueItem.objects.filter(synset__wnid=BIRD).order_by("pk").first()
    QueueItem.objects.filter(pk=item.pk).update(votes=2, need=1)
    task = task_next(annotator=poor)
    assert task is not None
    assert {i.candidate_id for i in task.items.all() if not i.is_gold} == {item.candidate_id}

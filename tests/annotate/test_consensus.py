"""Consensus in the database: decisions from constructed votes, the audit trail, blocking,
manual decisions, policies, calibration and fitting, hierarchy."""

from __future__ import annotations

import pytest
from django.utils import timezone

from annotate.models import (
    Annotator,
    Decision,
    QualitySnapshot,
    QueueItem,
    SynsetConsensus,
    Vote,
)
from annotate.selectors.quality import positive_images_under, synset_positive_counts
from annotate.services.annotators import annotator_set_status, annotators_fit
from annotate.services.consensus import (
    calibration_complete,
    consensus_synset,
    consensus_update,
    synset_fit,
)
from annotate.services.gold import candidate_adjudicate, gold_mark
from annotate.services.queue import queue_sync
from annotate.services.sample import sample_candidates
from annotate.services.simulate import Truth, crowd_pool, run_local, sim_users
from annotate.stats.latent import SynsetModel
from curation.models import Candidate, Synset
from tests.annotate.conftest import BIRD, INSECT

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

MODEL = SynsetModel(prevalence=0.5, ambiguous=0.02, sensitivity=0.85, specificity=0.85)


def fitted(wnid: str, method: str = "dynamic", **extra) -> SynsetConsensus:  # type: ignore[no-untyped-def]
    synset = Synset.objects.get(wnid=wnid)
    row, _ = SynsetConsensus.objects.update_or_create(
        synset=synset,
        defaults={
            "method": method,
            "model": MODEL.as_dict(),
            "calibrated": True,
            "calibrated_at": timezone.now(),
            "threshold_accept": 0.99,
            "threshold_reject": 0.02,
            **extra,
        },
    )
    return row


def vote(candidate: Candidate, annotators: list[Annotator], answers: list[bool]) -> None:
    Vote.objects.bulk_create(
        Vote(annotator=a, candidate=candidate, synset_id=candidate.synset_id, answer=x)
        for a, x in zip(annotators, answers, strict=True)
    )


@pytest.fixture
def crowd_of(make_annotator):  # type: ignore[no-untyped-def]
    return lambda n: [make_annotator(f"w{i:02d}") for i in range(n)]


def test_constructed_votes_are_decided_with_an_audit_trail(sample, crowd_of) -> None:
    fitted(BIRD)
    workers = crowd_of(10)
    a, b, c, d = Candidate.objects.filter(synset__wnid=BIRD).order_by("pk")[:4]
    vote(a, workers[:6], [True] * 6)
    vote(b, workers[:6], [False] * 6)
    vote(c, workers, [True] * 5 + [False] * 5)
    vote(d, workers[:1], [True])
    changes = consensus_update(candidate_ids=[a.pk, b.pk, c.pk, d.pk])
    for x in (a, b, c, d):
        x.refresh_from_db()
    assert (a.state, b.state, c.state, d.state) == (
        "accepted",
        "rejected",
        "escalated",
        "in_review",
    )
    assert changes["accepted"] == changes["rejected"] == changes["escalated"] == 1
    assert a.confidence > 0.99 and b.confidence < 0.02 and (a.votes_yes, a.votes_no) == (6, 0)
    assert a.decided_by == "dynamic" and a.decided_at is not None
    decision = Decision.objects.get(candidate=a)
    assert decision.method == "dynamic" and decision.state == "accepted"
    assert decision.threshold_accept == 0.99 and decision.votes_yes == 6
    assert sorted(v[1] for v in decision.votes) == sorted(w.pk for w in workers[:6])
    assert all(v[2] == 1 and v[3] > 0 for v in decision.votes)
    queue = QueueItem.objects.get(candidate=d)
    assert queue.open and queue.need >= 1 and queue.votes == 1
    assert not QueueItem.objects.get(candidate=a).open
    # Re-running changes nothing and writes no new decisions.
    consensus_update(candidate_ids=[a.pk, b.pk, c.pk, d.pk])
    assert Decision.objects.count() == 3


def test_blocking_reopens_decisions_their_votes_made_and_unblocking_restores(
    sample, crowd_of
) -> None:
    fitted(BIRD)
    workers = crowd_of(6)
    candidate = Candidate.objects.filter(synset__wnid=BIRD).first()
    vote(candidate, workers[:5], [True] * 5)
    consensus_update(candidate_ids=[candidate.pk])
    candidate.refresh_from_db()
    assert candidate.state == "accepted"
    for spammer in workers[:4]:
        annotator_set_status(annotator=spammer, status=Annotator.Status.BLOCKED, reason="spam")
    candidate.refresh_from_db()
    assert candidate.state == "in_review"
    assert (candidate.votes_yes, candidate.votes_no) == (1, 0)  # only counted votes
    assert QueueItem.objects.get(candidate=candidate).open
    reopened = Decision.objects.filter(candidate=candidate).first()
    assert reopened.previous_state == "accepted" and "reopened" in reopened.note
    assert Vote.objects.filter(candidate=candidate).count() == 5  # votes are kept, not counted
    for spammer in workers[:4]:
        annotator_set_status(annotator=spammer, status=Annotator.Status.ACTIVE)
    candidate.refresh_from_db()
    assert candidate.state == "accepted"


def test_gold_and_curator_decisions_are_never_overridden(sample, crowd_of, curator) -> None:
    fitted(BIRD)
    workers = crowd_of(6)
    gold, adjudicated = Candidate.objects.filter(synset__wnid=BIRD).order_by("pk")[:2]
    gold_mark(candidate=gold, truth=False, user=curator)
    candidate_adjudicate(candidate=adjudicated, accept=False, user=curator, note="looks fake")
    vote(gold, workers, [True] * 6)
    vote(adjudicated, workers, [True] * 6)
    consensus_update(candidate_ids=[gold.pk, adjudicated.pk])
    gold.refresh_from_db()
    adjudicated.refresh_from_db()
    assert (gold.state, gold.decided_by) == ("rejected", "gold")
    assert (adjudicated.state, adjudicated.decided_by) == ("rejected", "curator")
    assert adjudicated.votes_yes == 6  # counts still follow the votes
    assert Decision.objects.get(candidate=adjudicated).user == curator


def test_fixed_majority_policy(sample, crowd_of) -> None:
    fitted(BIRD, method="majority", majority_votes=3)
    workers = crowd_of(3)
    a, b, c = Candidate.objects.filter(synset__wnid=BIRD).order_by("pk")[:3]
    vote(a, workers, [True, True, False])
    vote(b, workers, [False, False, True])
    vote(c, workers[:2], [True, True])
    consensus_update(candidate_ids=[a.pk, b.pk, c.pk])
    for x in (a, b, c):
        x.refresh_from_db()
    assert (a.state, b.state, c.state) == ("accepted", "rejected", "in_review")
    assert QueueItem.objects.get(candidate=c).need == 1
    assert a.decided_by == "majority"


def test_calibration_first_then_fit_then_decisions(sample, settings) -> None:
    settings.ANNOTATE_CALIBRATION_SIZE = 3
    settings.ANNOTATE_CALIBRATION_VOTES = 10
    settings.ANNOTATE_TASK_SIZE = 8
    queue_sync(full=True)
    bird = Synset.objects.get(wnid=BIRD)
    calibration = set(
        QueueItem.objects.filter(synset=bird, calibration=True).values_list("pk", flat=True)
    )
    assert len(calibration) == 3
    assert QueueItem.objects.get(pk=next(iter(calibration))).need == 10
    assert not calibration_complete(bird.pk)
    workers = crowd_pool(12, accuracy=(0.85, 0.95), spammers=0.0, seed=3)
    users = sim_users(workers)
    truth = Truth(labels={(i.sha256, i.wnid): i.truth for i in sample.items})
    run_local(workers, {w.name: users[w.name][0] for w in workers}, truth, seed=5)
    for item in QueueItem.objects.filter(pk__in=calibration):
        assert item.votes >= 10
    assert calibration_complete(bird.pk)
    # Before the fit nothing was decided: the uncalibrated synset only collected votes.
    assert not Candidate.objects.filter(synset=bird, state__in=Candidate.DECIDED).exists()
    fit = synset_fit(synset_id=bird.pk)
    assert fit.calibrated and fit.threshold_accept is not None
    consensus = SynsetConsensus.objects.get(synset=bird)
    assert consensus.table and len(consensus.table) == settings.ANNOTATE_VOTE_CAP + 1
    assert consensus.predicted_precision >= settings.ANNOTATE_TARGET_PRECISION
    consensus_synset(synset_id=bird.pk)
    assert Candidate.objects.filter(synset=bird, state__in=Candidate.DECIDED).exists()


def test_simulated_crowd_decides_the_sample_accurately(sample, settings) -> None:
    settings.ANNOTATE_CONSENSUS_METHOD = "dynamic_weighted"
    settings.ANNOTATE_CALIBRATION_SIZE = 3
    extra = sample_candidates(wnids=[BIRD, INSECT], positives=20, negatives=12, seed=9)
    queue_sync(full=True)
    items = {i.candidate_id: i for i in [*sample.items, *extra]}
    workers = crowd_pool(20, accuracy=(0.8, 0.95), spammers=0.1, seed=8)
    users = sim_users(workers)
    annotators = {w.name: users[w.name][0] for w in workers}
    truth = Truth(labels={(i.sha256, i.wnid): i.truth for i in items.values()})
    for _ in range(4):  # collect, refit, collect again (what the refit job does on its own)
        run_local(workers, annotators, truth, seed=11)
        annotators_fit()
        for synset in Synset.objects.filter(wnid__in=[BIRD, INSECT]):
            consensus_synset(synset_id=synset.pk, force=True)
    accepted = list(Candidate.objects.filter(state="accepted").values_list("pk", flat=True))
    rejected = list(Candidate.objects.filter(state="rejected").values_list("pk", flat=True))
    print(  # shown on failure
        "decided", len(accepted) + len(rejected), "of", len(items),
        "accepted ok", sum(items[c].truth for c in accepted), "/", len(accepted),
        "rejected ok", sum(not items[c].truth for c in rejected), "/", len(rejected),
    )  # fmt: skip
    assert len(accepted) + len(rejected) >= 0.75 * len(items)
    # A small sample (a few dozen per synset, random calibration picks): the fitted thresholds
    # are rough, so allow a few errors (chance would be ~60%); the benchmark measures precision
    # at scale.
    assert sum(items[c].truth for c in accepted) >= 0.9 * len(accepted)
    assert sum(not items[c].truth for c in rejected) >= 0.85 * len(rejected)


def test_accepted_for_a_child_counts_for_its_ancestors_but_a_no_does_not(sample, crowd_of) -> None:
    fitted(BIRD)
    workers = crowd_of(6)
    bird = Synset.objects.get(wnid=BIRD)
    vertebrate = Synset.objects.get(name="vertebrate.n.01")
    yes, no = Candidate.objects.filter(synset=bird).order_by("pk")[:2]
    vote(yes, workers, [True] * 6)
    vote(no, workers, [False] * 6)
    consensus_update(candidate_ids=[yes.pk, no.pk])
    assert set(positive_images_under(vertebrate)) == {yes.image_id}
    assert set(positive_images_under(bird)) == {yes.image_id}
    counts = synset_positive_counts(vertebrate)
    assert counts == {"direct": 0, "with_hyponyms": 1}
    # The "no" for bird says nothing about vertebrate: no candidate there was created or decided.
    assert not Candidate.objects.filter(synset=vertebrate).exists()


def test_consensus_command_runs_inline_and_reports(sample, crowd_of) -> None:
    import io

    from django.core.management import CommandError, call_command

    workers = crowd_of(4)
    for candidate in Candidate.objects.filter(synset__wnid=BIRD)[:3]:
        vote(candidate, workers, [True] * 4)
    out = io.StringIO()
    call_command("consensus", "--synset", "bird.n.01", "--force", stdout=out)
    text = out.getvalue()
    assert "consensus job" in text and "1 synsets" in text and "annotators refitted" in text
    assert SynsetConsensus.objects.get(synset__wnid=BIRD).calibrated
    site = QualitySnapshot.objects.filter(synset__isnull=True)
    assert site.count() == 1
    # A second run for the synset takes a new snapshot of it, but reuses the recent site-wide one
    # (it reads every vote); a full run always takes a new one.
    call_command("consensus", "--synset", "bird.n.01", "--force", stdout=out)
    assert site.count() == 1
    assert QualitySnapshot.objects.filter(synset__wnid=BIRD).count() == 2
    call_command("consensus", stdout=out)
    assert site.count() == 2
    with pytest.raises(CommandError, match="unknown synset"):
        call_command("consensus", "--synset", "n99999999")


def test_simulate_crowd_refuses_bad_arguments(db) -> None:  # type: ignore[no-untyped-def]
    from django.core.management import CommandError, call_command

    for args, message in (
        (["--accuracy", "0.9-0.2"], "accuracy must be"),
        (["--accuracy", "high"], "accuracy must be"),
        (["--spammers", "2"], "--spammers"),
        (["--annotators", "0"], "--annotators"),
        (["--truth", "/nonexistent.csv"], "no such truth file"),
    ):
        with pytest.raises(CommandError, match=message):
            call_command("simulate_crowd", *args)


def test_machine_score_prior_is_calibrated_from_the_votes_and_moves_confidence(
    sample, crowd_of, settings
) -> None:  # type: ignore[no-untyped-def]
    import random

    settings.ANNOTATE_CONSENSUS_METHOD = "dynamic_weighted"
    extra = sample_candidates(wnids=[BIRD], positives=40, negatives=40, seed=2)
    unique = {i.candidate_id: i for i in [*sample.items, *extra] if i.wnid == BIRD}
    items = list(unique.values())
    assert len(items) >= 50
    rng = random.Random(4)
    # A pre-labeller that ranks well but is not a probability (scores squeezed into 0.3-0.7).
    for item in items:
        z = rng.gauss(1.5 if item.truth else -1.5, 1.0)
        score = 0.5 + 0.2 * (2 / (1 + 2.718281828**-z) - 1)
        Candidate.objects.filter(pk=item.candidate_id).update(machine_score=score)
    workers = crowd_of(3)
    Annotator.objects.filter(pk__in=[w.pk for w in workers]).update(
        gold_answers=40, gold_correct=34
    )  # 0.85 by gold
    workers = list(Annotator.objects.filter(pk__in=[w.pk for w in workers]).order_by("pk"))
    for item in items:
        candidate = Candidate.objects.get(pk=item.candidate_id)
        answers = [item.truth if rng.random() < 0.85 else not item.truth for _ in range(2)]
        vote(candidate, workers[:2], answers)
    bird = Synset.objects.get(wnid=BIRD)

    settings.ANNOTATE_MACHINE_PRIOR_WEIGHT = 0.0
    consensus_synset(synset_id=bird.pk, force=True)
    assert SynsetConsensus.objects.get(synset=bird).model["score_slope"] == 0.0
    before = dict(Candidate.objects.filter(synset=bird).values_list("pk", "confidence"))

    settings.ANNOTATE_MACHINE_PRIOR_WEIGHT = 1.0
    consensus_synset(synset_id=bird.pk, force=True)
    model = SynsetModel.from_dict(SynsetConsensus.objects.get(synset=bird).model)
    assert model.score_slope > 1.0  # the squeezed score is stretched back out
    after = dict(Candidate.objects.filter(synset=bird).values_list("pk", "confidence"))
    scores = dict(Candidate.objects.filter(synset=bird).values_list("pk", "machine_score"))
    moved_up = [
        after[i.candidate_id] > before[i.candidate_id]
        for i in items
        if scores[i.candidate_id] > 0.6
    ]
    moved_down = [
        after[i.candidate_id] < before[i.candidate_id]
        for i in items
        if scores[i.candidate_id] < 0.4
    ]
    assert moved_up and all(moved_up)
    assert moved_down and all(moved_down)
    # Calibrated, it separates better than the votes alone: fewer items on the wrong side of 1/2.
    wrong = lambda conf: sum((conf[i.candidate_id] >= 0.5) != i.truth for i in items)  # noqa: E731
    assert wrong(after) <= wrong(before)


def test_refits_are_spaced_but_a_first_fit_is_never_held_back(sample, settings) -> None:  # type: ignore[no-untyped-def]
    from datetime import timedelta

    from annotate.services.consensus import consensus_request_refit
    from curation.models import Job

    settings.ANNOTATE_REFIT_MIN_SECONDS = 30
    bird = Synset.objects.get(wnid=BIRD)
    SynsetConsensus.objects.update_or_create(synset=bird, defaults={"calibrated": True})
    first = consensus_request_refit(synset_ids=[bird.pk])
    assert first is not None
    # A second request while the first is queued: nothing new.
    assert consensus_request_refit(synset_ids=[bird.pk]) is None
    Job.objects.filter(pk=first.pk).update(status=Job.Status.SUCCEEDED)
    # Finished, but less than 30 s ago: a fitted synset waits.
    assert consensus_request_refit(synset_ids=[bird.pk]) is None
    # A synset that was never fitted is not held back by the pause.
    insect = Synset.objects.get(wnid=INSECT)
    SynsetConsensus.objects.update_or_create(synset=insect, defaults={"calibrated": False})
    second = consensus_request_refit(synset_ids=[insect.pk])
    assert second is not None
    # ... and it reuses the annotators' fit of the job before it instead of redoing it.
    assert first.params["workers"] is True and second.params["workers"] is False
    Job.objects.filter(pk=second.pk).update(status=Job.Status.SUCCEEDED)
    # Once the pause has passed, growth refits go ahead again.
    Job.objects.update(created_at=timezone.now() - timedelta(seconds=31))
    third = consensus_request_refit(synset_ids=[bird.pk])
    assert third is not None and third.params["workers"] is True

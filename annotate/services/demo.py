"""The annotation part of `make demo`: labelled sample candidates, a few gold items, a simulated
crowd's votes and a consensus run, so the quality pages have something to show and the demo
annotator still finds open grids at /annotate/. Idempotent: a second run changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from django.conf import settings

from annotate.models import GoldItem, Vote
from annotate.services.sample import sample_candidates, write_truth

DEMO_ANNOTATION_SYNSETS = ["n01503061", "n02159955", "n07705931"]  # bird, insect, edible fruit
CROWD_PREFIX = "demo-crowd"
DEMO_CROWD_ROUNDS = 4


def demo_truth_path() -> Path:
    return Path(settings.DATA_ROOT) / "annotate" / "truth.csv"


def demo_annotation(say: Callable[[str], None]) -> None:
    from annotate.services.annotators import annotators_fit
    from annotate.services.consensus import consensus_job
    from annotate.services.gold import gold_mark
    from annotate.services.queue import queue_sync
    from annotate.services.simulate import Truth, crowd_pool, run_local, sim_users
    from curation.models import Candidate, Synset
    from curation.services.jobs import job_run_inline

    items = sample_candidates(wnids=DEMO_ANNOTATION_SYNSETS, positives=30, negatives=18, seed=2024)
    write_truth(items, demo_truth_path())
    say(f"annotation sample: {len(items)} labelled candidates from openclipart in 3 synsets")
    queue_sync(full=True)
    if not GoldItem.objects.exists():
        for wnid in DEMO_ANNOTATION_SYNSETS:
            for item in [i for i in items if i.wnid == wnid][:4]:
                gold_mark(candidate=Candidate.objects.get(pk=item.candidate_id), truth=item.truth)
        say(f"gold items: {GoldItem.objects.count()} (hidden in annotators' grids)")
    if Vote.objects.filter(annotator__user__username__startswith=CROWD_PREFIX).exists():
        say("simulated crowd already voted")
        return
    workers = crowd_pool(12, accuracy=(0.7, 0.95), spammers=0.1, seed=1, prefix=CROWD_PREFIX)
    users = sim_users(workers)
    truth = Truth(labels={(i.sha256, i.wnid): i.truth for i in items}).add_gold()
    # DEMO_CROWD_ROUNDS tasks each, a fit and a consensus run after every round: the synsets get
    # calibrated (10 votes on each calibration item), decisions follow and the quality charts
    # get points over time. The crowd works on the labelled synsets only: on the others the
    # simulation has no truth and answers at random, which escalates their candidates. Those
    # wait for the demo user.
    others = list(
        Synset.objects.filter(active=True)
        .exclude(wnid__in=DEMO_ANNOTATION_SYNSETS)
        .values_list("pk", flat=True)
    )
    annotators = {w.name: users[w.name][0] for w in workers}
    votes = tasks = 0
    Synset.objects.filter(pk__in=others).update(active=False)
    try:
        for round_ in range(DEMO_CROWD_ROUNDS):
            stats = run_local(workers, annotators, truth, max_rounds=1, seed=round_)
            votes, tasks = votes + stats.votes_sent, tasks + stats.tasks
            annotators_fit()
            job = job_run_inline(job=consensus_job(force=True, reason="demo"))
    finally:
        Synset.objects.filter(pk__in=others).update(active=True)
    states = Candidate.objects.filter(synset__wnid__in={i.wnid for i in items})
    say(
        f"simulated crowd: {votes} votes in {tasks} tasks; consensus "
        f"({job.status}): {states.filter(state='accepted').count()} accepted, "
        f"{states.filter(state='rejected').count()} rejected, "
        f"{states.filter(state='escalated').count()} escalated; "
        f"{Candidate.objects.filter(state__in=Candidate.OPEN, synset__active=True).count()}"
        " candidates still open for you at /annotate/"
    )

"""The annotation part of `make demo`: a simulated crowd calibrates and decides the labelled
synsets, leaves the other active synsets to the demo user, and a second run changes nothing."""

from __future__ import annotations

import pytest

from annotate.models import SynsetConsensus, Vote
from annotate.services.demo import DEMO_ANNOTATION_SYNSETS, demo_annotation
from annotate.services.sample import sample_candidates
from curation.models import Candidate, Synset

pytestmark = [pytest.mark.slow]
FLOWER = "n11669921"  # active in the demo, not labelled: no truth for the simulated crowd


def test_the_demo_crowd_calibrates_its_synsets_and_leaves_the_others_open(db) -> None:  # type: ignore[no-untyped-def]
    sample_candidates(wnids=[FLOWER], positives=12, negatives=0, seed=9)
    said: list[str] = []
    demo_annotation(said.append)

    assert Synset.objects.get(wnid=FLOWER).active  # back on after the crowd's rounds
    flower = Candidate.objects.filter(synset__wnid=FLOWER)
    assert flower.count() == 12 and not Vote.objects.filter(candidate__in=flower).exists()
    assert set(flower.values_list("state", flat=True)) <= set(Candidate.OPEN)  # the user's work
    calibrated = SynsetConsensus.objects.filter(
        synset__wnid__in=DEMO_ANNOTATION_SYNSETS, calibrated=True
    )
    assert calibrated.count() == len(DEMO_ANNOTATION_SYNSETS)
    labelled = Candidate.objects.filter(synset__wnid__in=DEMO_ANNOTATION_SYNSETS)
    assert labelled.filter(state="accepted").exists() and labelled.filter(state="rejected").exists()
    assert any(line.startswith("simulated crowd:") for line in said)

    votes = Vote.objects.count()
    demo_annotation(said.append)  # make demo again
    assert Vote.objects.count() == votes and said[-1] == "simulated crowd already voted"

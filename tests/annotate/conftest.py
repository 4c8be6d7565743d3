"""Annotation fixtures: real clip-art candidates with known truth, annotators, helpers.

The candidates come from annotate.services.sample (openclipart PNGs stored like ingest stores
them: original bytes + WebP thumbnail in default_storage), so they can be swapped for the real
ingest path later without touching the tests.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.contrib.auth.models import User

from annotate.models import Annotator
from annotate.services.annotators import annotator_for_user
from annotate.services.queue import queue_sync
from annotate.services.sample import SampleItem, sample_candidates
from tests.conftest import make_user

BIRD, INSECT, FRUIT = "n01503061", "n02159955", "n07705931"


@dataclass
class Sample:
    items: list[SampleItem]

    def truth(self) -> dict[int, bool]:
        return {i.candidate_id: i.truth for i in self.items}

    def of(self, wnid: str) -> list[SampleItem]:
        return [i for i in self.items if i.wnid == wnid]


@pytest.fixture
def annotate_settings(settings):  # type: ignore[no-untyped-def]
    """Small, fast defaults for tests (each test may override further)."""
    settings.ANNOTATE_TASK_SIZE = 12
    settings.ANNOTATE_GOLD_FRACTION = 0.0
    settings.ANNOTATE_ONBOARDING_GOLD = 0
    settings.ANNOTATE_CALIBRATION_SIZE = 0
    settings.ANNOTATE_CONSENSUS_METHOD = "dynamic"
    settings.ANNOTATE_HOUSEKEEPING_SECONDS = 0
    return settings


@pytest.fixture
def sample(db, annotate_settings) -> Sample:  # type: ignore[no-untyped-def]
    items = sample_candidates(wnids=[BIRD, INSECT], positives=10, negatives=6, seed=1)
    queue_sync(full=True)
    return Sample(items)


@pytest.fixture
def make_annotator(db) -> Callable[[str], Annotator]:  # type: ignore[no-untyped-def]
    def make(name: str) -> Annotator:
        user = User.objects.filter(username=name).first() or make_user(name, "annotator")
        return annotator_for_user(user)

    return make


def new_token() -> str:
    return uuid.uuid4().hex

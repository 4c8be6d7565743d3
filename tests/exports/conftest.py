"""An export fixture on real ingested images: three classes of accepted candidates, planted
duplicate groups that would straddle splits, and images accepted for two classes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from django.utils import timezone

from curation.models import (
    Candidate,
    DuplicateGroup,
    DuplicateKind,
    DuplicateMember,
    Image,
    Synset,
)
from curation.services.ingest import ingest_start
from tests.ingest.conftest import BIRD, CAT, DOG, jpeg, media_root, png, write  # noqa: F401

PER_CLASS = 14


@dataclass
class Planted:
    groups: list[list[str]]  # sha256s of each planted group
    cross_class: list[str]  # sha256s of images accepted for two classes
    classes: list[str]


def sha_of(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def build_fixture(folder: Path) -> Planted:
    """Ingest real images (a folder per wnid), accept them, plant groups and cross-class images."""
    seed = 1000
    by_class: dict[str, list[str]] = {}
    for wnid in (DOG, CAT, BIRD):
        by_class[wnid] = []
        for i in range(PER_CLASS):
            seed += 1
            data = png(seed, (64, 48)) if i % 5 == 0 else jpeg(seed, (96, 64))
            ext = "png" if i % 5 == 0 else "jpg"
            write(folder / wnid / f"{i:03d}.{ext}", data)
            by_class[wnid].append(sha_of(data))
    cross = []
    for k in range(2):  # the same bytes under dog and cat
        data = jpeg(9000 + k, (80, 60))
        write(folder / DOG / f"cross{k}.jpg", data)
        write(folder / CAT / f"cross{k}.jpg", data)
        cross.append(sha_of(data))
    Synset.objects.filter(wnid__in=[DOG, CAT, BIRD]).update(active=True)
    job = ingest_start(source=folder, inline=True)
    assert job.status == "succeeded", job.error
    Candidate.objects.filter(synset__wnid__in=[DOG, CAT, BIRD]).update(
        state=Candidate.State.ACCEPTED,
        decided_by="consensus",
        decided_at=timezone.now(),
        votes_yes=5,
        votes_no=0,
        confidence=0.99,
    )
    groups = [
        by_class[DOG][1:5],  # four dog pictures that are "the same picture"
        by_class[CAT][2:4],
        [by_class[DOG][7], by_class[BIRD][7]],  # a group across two classes
        by_class[BIRD][9:12],
    ]
    for i, members in enumerate(groups):
        images = list(Image.objects.filter(sha256__in=members).order_by("sha256"))
        group = DuplicateGroup.objects.create(
            kind=[DuplicateKind.EXACT, DuplicateKind.NEAR_EXACT, DuplicateKind.NEAR][i % 3],
            representative=images[-1],
            size=len(images),
            crosses_synsets=i == 2,
        )
        for image in images:
            DuplicateMember.objects.create(
                group=group, image=image, kind=group.kind, similarity=0.97
            )
    return Planted(groups=groups, cross_class=cross, classes=[BIRD, CAT, DOG])


@pytest.fixture
def planted(media_root: Path, tmp_path: Path) -> Planted:  # noqa: F811
    return build_fixture(tmp_path / "src")

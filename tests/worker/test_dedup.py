"""Dedup on real pictures (sample_data drawings and PIL-transformed copies) ingested through the
real ingest service: planted duplicates are found, re-runs add nothing, "not a duplicate" is
respected, a new batch merges into the stored index and groups, excluded candidates leave the
queue."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings
from django.core.management import call_command

from annotate.models import QueueItem
from annotate.services.queue import queue_sync
from curation.models import (
    Candidate,
    DuplicateEdge,
    DuplicateGroup,
    DuplicateMember,
    Image,
    ImageOrigin,
    Job,
    ModelArtifact,
    NotDuplicatePair,
)
from curation.services.dedup import (
    dedup_start,
    duplicate_group_set_representative,
    duplicate_group_split,
)
from curation.services.ingest import ingest_start
from tests.worker.dedup_data import BIRD, MAMMAL, ROOT, embed_images, originals, write_copies
from worker.dedup.handler import _owned

NEAR_EXACT = ["resize", "jpeg30", "bright", "png"]


def clean_data_root() -> None:
    for sub in ("dedup", "embeddings"):
        shutil.rmtree(Path(settings.DATA_ROOT) / sub, ignore_errors=True)


def image_of(path: Path) -> int:
    return ImageOrigin.objects.filter(uri__endswith=path.name).values_list("image_id", flat=True)[0]


def build_set(root: Path, n_originals: int = 10, planted: int = 3, names=NEAR_EXACT):  # type: ignore[no-untyped-def]
    """Originals in BIRD; copies of the first `planted` in MAMMAL (so groups cross synsets)."""
    origs = originals(BIRD, n_originals)
    for p in origs:
        (root / BIRD).mkdir(parents=True, exist_ok=True)
        shutil.copy(p, root / BIRD / p.name)
    copies = {p: write_copies(root / MAMMAL, p, names) for p in origs[:planted]}
    return origs, copies


def snapshot() -> tuple[int, ...]:
    return (
        DuplicateEdge.objects.count(),
        DuplicateGroup.objects.count(),
        DuplicateMember.objects.count(),
        Candidate.objects.filter(state="excluded").count(),
        max([0, *DuplicateGroup.objects.values_list("pk", flat=True)]),
    )


@pytest.fixture
def clean_dedup(live_db):  # type: ignore[no-untyped-def]
    clean_data_root()
    yield
    clean_data_root()


def test_planted_near_exact_duplicates_are_found_and_excluded(clean_dedup, tmp_path: Path) -> None:
    origs, copies = build_set(tmp_path / "src")
    ingest_start(source=tmp_path / "src", source_name="dedup-test", inline=True)
    queue_sync(full=True)
    job = dedup_start(inline=True)
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.result["model"] == ""  # no embeddings: exact and near-exact only

    for orig, made in copies.items():
        oid = image_of(orig)
        group = DuplicateMember.objects.get(image_id=oid).group
        members = set(group.members.values_list("image_id", flat=True))
        assert members == {oid, *(image_of(p) for p in made.values())}
        assert group.crosses_synsets
        png = DuplicateMember.objects.get(image_id=image_of(made["png"]))
        assert png.kind == "exact" and png.similarity == 1.0
        assert group.kind == "near_exact"
        # The representative is the largest picture; the half-size copy never represents.
        assert group.representative_id != image_of(made["resize"])
        for m in members - {group.representative_id}:
            for cand in Candidate.objects.filter(image_id=m):
                assert (cand.state, cand.decided_by) == ("excluded", "duplicate")
                assert not QueueItem.objects.get(candidate=cand).open
        rep = Candidate.objects.get(image_id=group.representative_id)
        assert rep.state == "pending"
    # The un-copied originals are in no group.
    for orig in origs[3:]:
        assert not DuplicateMember.objects.filter(image_id=image_of(orig)).exists()
    assert DuplicateGroup.objects.count() == 3

    before = snapshot()
    again = dedup_start(inline=True)
    assert again.status == Job.Status.SUCCEEDED
    assert snapshot() == before  # idempotent: no new rows


def test_each_candidate_pair_is_pixel_checked_once(clean_dedup, tmp_path: Path, settings) -> None:  # type: ignore[no-untyped-def]
    # Every image of a first run is a pending query, so each close pair is found from both
    # ends (in one chunk or two): the check must still run once per pair.
    settings.DEDUP_CHUNK_SIZE = 7  # several chunks: the two ends of a pair land in different ones
    build_set(tmp_path / "src")
    ingest_start(source=tmp_path / "src", source_name="dedup-test", inline=True)
    out = io.StringIO()
    call_command("dedup", "--inline", stdout=out)
    job = Job.objects.filter(kind="dedup").latest("pk")
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.chunks.count() >= 3

    hashes = dict(Image.objects.values_list("pk", "phash"))
    ids = sorted(hashes)
    close = {
        (a, b)
        for i, a in enumerate(ids)
        for b in ids[i + 1 :]
        if ((hashes[a] ^ hashes[b]) & (2**64 - 1)).bit_count() <= settings.DEDUP_PHASH_RADIUS
    }
    exact = set(DuplicateEdge.objects.filter(kind="exact").values_list("image_a", "image_b"))
    expected = len(close - exact)
    assert expected >= 9  # three planted groups of five, one exact pair each
    assert job.result["pixel_checks"] == expected
    assert job.result["candidates"] == len(close)
    assert f"candidate pairs {len(close)} · pixel-checked {expected} (" in out.getvalue()
    # The finished job's message is the whole job's, not its last chunk's.
    groups, members = DuplicateGroup.objects.count(), DuplicateMember.objects.count()
    assert job.message.startswith(f"{groups} groups ({groups} new) holding {members} images;")
    assert job.message.endswith(f"{len(close)} candidate pairs, {expected} pixel-checked")
    again = dedup_start(inline=True)
    assert (again.result["pixel_checks"], again.result["candidates"]) == (0, 0)


def test_a_pair_found_from_both_ends_is_kept_by_the_lower_ones_search_only() -> None:
    a = np.array([1, 2, 5, 7, 9])
    b = np.array([2, 1, 4, 5, 8])
    pending = np.array([9, 1, 2, 4, 5, 7])  # 8 is indexed but not pending
    asked: list[list[int]] = []

    def found_from(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        asked.append(sorted(pending[rows].tolist()))
        # 1 finds 2 and 4 finds 5; 5's capped list does not hold 7.
        return np.array([1, 4]), np.array([2, 5])

    keep = _owned(a, b, pending, found_from)
    # (2, 1): 1's search holds it. (5, 4): 4's does. (7, 5): 5's search does not find 7.
    # (9, 8): 8 is searched by nobody. (1, 2): its own lower end.
    assert keep.tolist() == [True, False, False, True, True]
    assert asked == [[1, 4, 5]]


def test_not_a_duplicate_is_respected_by_a_rerun(clean_dedup, tmp_path: Path) -> None:
    _, copies = build_set(tmp_path / "src", n_originals=4, planted=1)
    ingest_start(source=tmp_path / "src", source_name="dedup-test", inline=True)
    dedup_start(inline=True)
    ((orig, made),) = copies.items()
    group = DuplicateMember.objects.get(image_id=image_of(orig)).group
    bright = image_of(made["bright"])
    assert Candidate.objects.get(image_id=bright).state == "excluded"

    duplicate_group_split(group=group, image_id=bright, actor=None)
    assert NotDuplicatePair.objects.count() == group.size - 1
    assert not DuplicateMember.objects.filter(image_id=bright).exists()
    cand = Candidate.objects.get(image_id=bright)
    assert (cand.state, cand.decided_by) == ("pending", "")
    assert QueueItem.objects.filter(candidate=cand, open=True).exists()

    dedup_start(inline=True)  # a re-run does not propose it again
    assert not DuplicateMember.objects.filter(image_id=bright).exists()
    assert Candidate.objects.get(image_id=bright).state == "pending"
    group.refresh_from_db()
    assert group.size == 4

    # Picking another representative moves the exclusions.
    new_rep = image_of(made["jpeg30"])
    old_rep = group.representative_id
    duplicate_group_set_representative(group=group, image_id=new_rep, actor=None)
    assert Candidate.objects.get(image_id=new_rep).state == "pending"
    assert set(Candidate.objects.filter(image_id=old_rep).values_list("state", flat=True)) == {
        "excluded"
    }


def test_incremental_batch_merges_and_embeddings_find_crops(clean_dedup, tmp_path: Path) -> None:
    ModelArtifact.objects.create(name="lite0-test", architecture="efficientnet_lite0", active=True)
    _, copies = build_set(tmp_path / "a", n_originals=6, planted=2, names=["resize"])
    ingest_start(source=tmp_path / "a", source_name="batch-a", inline=True)
    first_ids = sorted(Image.objects.values_list("pk", flat=True))
    embed_images(first_ids, "lite0-test")
    job = dedup_start(inline=True)
    assert job.result["model"] == "lite0-test"
    assert DuplicateGroup.objects.count() == 2
    groups_before = dict(DuplicateMember.objects.values_list("image_id", "group_id"))

    # A second batch: crops and flips of the same two originals (pHash misses those).
    for orig in list(copies):
        write_copies(tmp_path / "b" / MAMMAL, orig, ["crop", "jpeg30"])
    ingest_start(source=tmp_path / "b", source_name="batch-b", inline=True)
    new_ids = sorted(set(Image.objects.values_list("pk", flat=True)) - set(first_ids))
    embed_images(new_ids, "lite0-test")
    job = dedup_start(inline=True)
    assert job.total == 2 * len(new_ids)  # only the new images were searched (pHash + near)
    for orig in copies:
        oid = image_of(orig)
        group = DuplicateMember.objects.get(image_id=oid).group
        assert group.pk == groups_before[oid]  # merged into the existing group
        crop = tmp_path / "b" / MAMMAL / f"{orig.stem}__crop.jpg"
        member = DuplicateMember.objects.get(image_id=image_of(crop))
        assert member.group_id == group.pk
        assert group.kind == "near" or member.kind == "near_exact"
    assert DuplicateGroup.objects.count() == 2


def _flag(path: Path, colours: list[tuple[int, int, int]], quality: int = 90) -> Path:
    from PIL import Image as PILImage

    im = PILImage.new("RGB", (300, 180))
    for band, colour in enumerate(colours):
        im.paste(colour, (0, 60 * band, 300, 60 * (band + 1)))
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path, "JPEG", quality=quality)
    return path


@pytest.mark.parametrize("pixel_check", [True, False])
def test_same_layout_in_other_colours_is_not_a_duplicate(  # type: ignore[no-untyped-def]
    clean_dedup, tmp_path: Path, settings, pixel_check: bool
) -> None:
    """pHash sees luminance only: three-band flags hash alike. The pixel check (its per-channel
    gain veto) keeps them apart, and with the check off the colour-layout check does, while a
    re-encoded copy of one flag is still found."""
    if not pixel_check:
        settings.DEDUP_VERIFY_MAX_DIFF = 0
    src = tmp_path / "src" / BIRD
    white, green, red = (255, 255, 255), (0, 150, 110), (214, 38, 18)
    bulgaria = _flag(src / "bulgaria.jpg", [white, green, red])
    copy = _flag(src / "bulgaria-q30.jpg", [white, green, red], quality=30)
    russia = _flag(src / "russia.jpg", [white, (0, 57, 166), red])
    estonia = _flag(src / "estonia.jpg", [(0, 114, 206), (0, 0, 0), white])
    ingest_start(source=tmp_path / "src", source_name="flags", inline=True)
    job = dedup_start(inline=True)
    assert job.status == Job.Status.SUCCEEDED, job.error
    groups = {
        frozenset(g.members.values_list("image_id", flat=True))
        for g in DuplicateGroup.objects.all()
    }
    assert groups == {frozenset({image_of(bulgaria), image_of(copy)})}
    assert not DuplicateMember.objects.filter(
        image_id__in=[image_of(russia), image_of(estonia)]
    ).exists()


def test_a_crop_close_in_phash_is_found_though_its_colour_cells_moved(
    clean_dedup, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """A 10% crop of a small drawing (sample_data's planted camel copy): pHash distance 6, and the
    pixel check matches it, but the crop shifts the 16x16 colour-layout cells (distance 1.1 > 0.6).
    The colour layout used to refute the pHash link, and the embedding search left the pair to
    the pHash search, so the copy was in no group."""
    sample = ROOT / "sample_data" / "images" / MAMMAL
    src = tmp_path / "src" / MAMMAL
    src.mkdir(parents=True)
    for name in ("camel_head_01.jpg", "zz_copy_crop10__camel_head_01.jpg"):
        shutil.copy(sample / name, src / name)
    ingest_start(source=tmp_path / "src", source_name="crop", inline=True)
    job = dedup_start(inline=True)
    assert job.status == Job.Status.SUCCEEDED, job.error
    group = DuplicateGroup.objects.get()
    assert group.members.count() == 2
    assert group.kind == "near_exact"

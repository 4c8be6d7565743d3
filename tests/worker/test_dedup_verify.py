"""The pixel check (worker.dedup.verify) and the whitened near index, on real pictures: copies
made by resizing, re-encoding, cropping, brightening and mirroring pass; another drawing, the
same drawing with an emblem pasted in (a template variant) and a flag of the same layout in
other colours do not. Through the dedup job: a look-alike that pHash and the embeddings both
propose is dropped by the check while the crop of the same drawing is grouped; the whitening is
fitted, stored with the index and kept by an incremental run."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageEnhance, ImageOps

from curation.models import DuplicateEdge, DuplicateMember, Job, ModelArtifact
from curation.models import Image as ImageRow
from curation.services.dedup import dedup_start
from curation.services.ingest import ingest_start
from tests.worker.dedup_data import (
    BIRD,
    FLOWER,
    MAMMAL,
    SAMPLE,
    TRANSFORMS,
    embed_images,
    originals,
)
from tests.worker.test_dedup import clean_data_root, image_of
from worker.dedup import search, store
from worker.dedup.verify import Picture, verify_pair

LIMIT = 25.0


@pytest.fixture
def clean(live_db):  # type: ignore[no-untyped-def]
    clean_data_root()
    yield
    clean_data_root()


def picture(im: Image.Image) -> Picture:
    # As the job sees them: the ingest thumbnail (256 px WebP).
    im = im.convert("RGB")
    im.thumbnail((256, 256), Image.LANCZOS)
    buf = io.BytesIO()
    im.save(buf, "WEBP", quality=80)
    buf.seek(0)
    return Picture.from_image(Image.open(buf))


def copy_of(path: Path, name: str) -> Image.Image:
    fn = TRANSFORMS[name][0]
    buf = io.BytesIO()
    with Image.open(path) as im:
        fn(im.convert("RGB")).save(buf, "JPEG", quality=30 if name == "jpeg30" else 90)
    buf.seek(0)
    return Image.open(buf)


def with_emblem(path: Path) -> Image.Image:
    """The same drawing with a dark square pasted over a quarter-width patch: what separates
    two icons of one template, or an 8 from a 9 of clubs."""
    im = Image.open(path).convert("RGB")
    w, h = im.size
    ImageDraw.Draw(im).rectangle(
        [w // 3, h // 3, w // 3 + w // 8, h // 3 + h // 8], fill=(20, 20, 90)
    )
    return im


@pytest.mark.parametrize("name", ["resize", "jpeg30", "bright", "crop", "flip"])
def test_copies_pass_the_pixel_check(name: str) -> None:
    for path in originals(BIRD, 3):
        verdict = verify_pair(
            picture(Image.open(path)), picture(copy_of(path, name)), max_diff=LIMIT
        )
        assert verdict.ok, (path.name, name, verdict)
        assert verdict.mirrored == (name == "flip")


def test_other_pictures_and_template_variants_fail_it() -> None:
    a, b, c = originals(BIRD, 3)
    pa = picture(Image.open(a))
    assert not verify_pair(pa, picture(Image.open(b)), max_diff=LIMIT).ok
    assert not verify_pair(pa, picture(Image.open(c)), max_diff=LIMIT).ok
    for path in (a, b, c):
        verdict = verify_pair(picture(Image.open(path)), picture(with_emblem(path)), max_diff=LIMIT)
        assert not verdict.ok and verdict.diff > LIMIT, (path.name, verdict)


def test_flags_of_one_layout_in_other_colours_fail_it() -> None:
    def flag(colours: list[tuple[int, int, int]]) -> Image.Image:
        im = Image.new("RGB", (300, 180))
        for band, colour in enumerate(colours):
            im.paste(colour, (0, 60 * band, 300, 60 * (band + 1)))
        return im

    white, red = (255, 255, 255), (214, 38, 18)
    bulgaria = picture(flag([white, (0, 150, 110), red]))
    russia = picture(flag([white, (0, 57, 166), red]))
    assert not verify_pair(bulgaria, russia, max_diff=LIMIT).ok
    dimmer = picture(flag([(204, 204, 204), (0, 120, 88), (171, 30, 14)]))  # brightness -20%
    assert verify_pair(bulgaria, dimmer, max_diff=LIMIT).ok


def test_dimmed_and_flattened_copies_pass() -> None:
    # Brightness and contrast both -20%: every channel's gain near 0.64, inside the allowed range.
    for path in originals(BIRD, 3):
        im = Image.open(path).convert("RGB")
        dim = ImageEnhance.Contrast(ImageEnhance.Brightness(im).enhance(0.8)).enhance(0.8)
        verdict = verify_pair(picture(im), picture(dim), max_diff=LIMIT)
        assert verdict.ok, (path.name, verdict)


@pytest.mark.parametrize(("brightness", "contrast"), [(1.2, 0.8), (1.2, 1.2), (0.8, 1.2)])
def test_a_clipped_edit_passes_whichever_picture_comes_first(
    brightness: float, contrast: float
) -> None:
    # Brightening clips pale areas to white, so the original cannot be predicted from the copy,
    # only the copy from the original. The check once modelled only its second picture: with
    # the copy first (ingested before its original: the lower id goes first), these brightened
    # flowers were refused (diff 27.6-29.4 > 25), and the darkened one got another diff.
    for name in ("flower_03", "pink-rose_tess_brady_01", "sakura_dave_pena_01"):
        im = Image.open(SAMPLE / FLOWER / f"{name}.jpg").convert("RGB")
        edited = ImageEnhance.Brightness(im).enhance(brightness)
        edited = ImageEnhance.Contrast(edited).enhance(contrast)
        original, copy = picture(im), picture(edited)
        first, second = (
            verify_pair(original, copy, max_diff=LIMIT),
            verify_pair(copy, original, max_diff=LIMIT),
        )
        assert first.ok and second.ok, (name, first, second)
        assert first.diff == second.diff and first.veto == second.veto


def test_a_thick_black_circle_is_not_a_thin_grey_ring() -> None:
    def circle(width: int, grey: int) -> Image.Image:
        im = Image.new("RGB", (300, 300), "white")
        ImageDraw.Draw(im).ellipse([30, 30, 270, 270], outline=(grey,) * 3, width=width)
        return im

    verdict = verify_pair(picture(circle(8, 0)), picture(circle(3, 150)), max_diff=LIMIT)
    # The residual alone is small (the gain "explains" black as grey): the gain veto refuses it.
    assert not verdict.ok and verdict.veto == "gain" and verdict.diff <= LIMIT, verdict


def flattened(rel: str, *, min_side: int = 0) -> Image.Image:
    """An Open Clip Art PNG as bench_dedup flattens it: on white, at most 480 px, and scaled up
    to `min_side` on the long side when smaller."""
    im = Image.open(Path("/usr/share/openclipart/png") / rel).convert("RGBA")
    white = Image.new("RGB", im.size, "white")
    white.paste(im, mask=im.getchannel("A"))
    white.thumbnail((480, 480))
    if max(white.size) < min_side:
        f = min_side / max(white.size)
        white = white.resize((round(white.width * f), round(white.height * f)), Image.LANCZOS)
    return white


def test_tiny_icons_on_wide_canvases_are_not_judged_alike() -> None:
    # Two different 6 px buttons on the same wide transparent canvas: every 7x7 window's
    # residual is small, but it is larger than the ink itself.
    a = flattened("computer/icons/button1_fudriot_omic.ch_01.png")
    b = flattened("computer/icons/button2_fudriot_omic.ch_01.png")
    verdict = verify_pair(picture(a), picture(b), max_diff=LIMIT)
    assert not verdict.ok and verdict.veto == "ink" and verdict.diff <= LIMIT, verdict
    assert verify_pair(picture(a), picture(a.resize((a.width // 2, a.height // 2))),
                       max_diff=LIMIT).ok  # fmt: skip


def test_small_symbols_are_looked_at_again_finer() -> None:
    # Two 20 px plant symbols, one dotted, on wide canvases: at 128 px the dots are a blur and
    # the pair passes; the finer crops of the two drawings refuse it.
    azalea = picture(flattened("signs_and_symbols/azalea_0_symbol_1m_bwh.png", min_side=256))
    deciduous_im = flattened("signs_and_symbols/deciduous_0_symbol_1m_bwh.png", min_side=256)
    deciduous = picture(deciduous_im)
    assert azalea.fine is not None and deciduous.fine is not None
    verdict = verify_pair(azalea, deciduous, max_diff=LIMIT)
    assert not verdict.ok and verdict.veto == "fine" and verdict.diff > 2 * LIMIT, verdict
    coarse_only = Picture(azalea.rgb, azalea.grey, azalea.small, azalea.background, azalea.ink)
    assert verify_pair(coarse_only, deciduous, max_diff=LIMIT).ok  # what the finer look adds
    # Its own copies still pass the finer look: mirrored, padded, halved.
    w, h = deciduous_im.size
    for copy in (
        ImageOps.mirror(deciduous_im),
        ImageOps.expand(deciduous_im, border=(w // 20, h // 20), fill="white"),
        deciduous_im.resize((w // 2, h // 2), Image.LANCZOS),
    ):
        verdict = verify_pair(deciduous, picture(copy), max_diff=LIMIT)
        assert verdict.ok, verdict


@pytest.mark.parametrize("angle", [5.0, -7.0])
def test_turned_copies_pass_and_turned_variants_do_not(angle: float) -> None:
    # A scanned or re-photographed copy is rarely square to its original: upright, these turned
    # copies left every 7x7 window far above the limit (50-235 grey levels on bench_dedup's
    # rotated drawings). The rotation found is the one applied; a turned template variant
    # still fails.
    def turned(im: Image.Image) -> Image.Image:
        return im.rotate(angle, resample=Image.BICUBIC, fillcolor=(255, 255, 255))

    # (the first bird is a 150 px drawing whose turned copies score 20-25: too near the limit
    # for a test; these three score 5-17.5)
    for path in originals(BIRD, 4)[1:]:
        im = Image.open(path).convert("RGB")
        original = picture(im)
        for copy in (turned(im), ImageOps.mirror(turned(im))):
            verdict = verify_pair(original, picture(copy), max_diff=LIMIT)
            assert verdict.ok, (path.name, verdict)
            # the turn that puts the copy back: PIL turns counter-clockwise by `angle`
            assert abs(np.rad2deg(verdict.rotation) + angle) < 1.0, verdict
            again = verify_pair(picture(copy), original, max_diff=LIMIT)
            assert again.ok and again.diff == verdict.diff, again
        variant = verify_pair(original, picture(turned(with_emblem(path))), max_diff=LIMIT)
        assert not variant.ok, (path.name, variant)
    for rel in ("food/pizza_pepperoni.png", "computer/hardware/printer_anton_yu_01.png"):
        drawing = flattened(rel)
        verdict = verify_pair(picture(drawing), picture(turned(drawing)), max_diff=LIMIT)
        assert verdict.ok and verdict.rotation != 0.0, (rel, verdict)


def test_strips_too_thin_to_place_are_judged_as_framed() -> None:
    # A 4000 x 32 strip is 1 px tall at 128 px: no gradient, no placement search. Its resized
    # copy is judged as framed, another strip is refused, and a strip against an ordinary
    # picture is refused as "thin" (this raised ValueError and failed the dedup chunk).
    def strip(seed: int) -> Image.Image:
        rng = np.random.default_rng(seed)
        im = Image.new("RGB", (4000, 32), "white")
        draw = ImageDraw.Draw(im)
        for x in rng.integers(0, 3900, 40):
            draw.rectangle([int(x), 4, int(x) + 60, 28], fill=(20, 20, 20))
        return im

    a = picture(strip(1))
    assert min(a.grey.shape) < 8
    copy = strip(1).resize((2000, 16), Image.LANCZOS)
    assert verify_pair(a, picture(copy), max_diff=LIMIT).ok
    assert not verify_pair(a, picture(strip(2)), max_diff=LIMIT).ok
    bird = picture(Image.open(originals(BIRD, 1)[0]))
    for first, second in ((a, bird), (bird, a)):
        verdict = verify_pair(first, second, max_diff=LIMIT)
        assert not verdict.ok and verdict.veto == "thin", verdict


def test_whitening_separates_look_alikes_and_keeps_copies() -> None:
    rng = np.random.default_rng(0)
    shared = rng.normal(size=64) * 10  # the direction every "drawing on white" shares
    base = shared + rng.normal(size=(400, 64))
    copies = base[:20] + 0.3 * rng.normal(size=(20, 64))
    vecs = np.concatenate([base, copies])
    raw = search.l2_normalise(vecs)
    mean, proj = search.fit_whitening(vecs, 32)
    white = search.apply_whitening(vecs, mean, proj)
    unrelated_raw = float(np.median(raw[:200] @ raw[200:400].T))
    unrelated_white = float(np.median(white[:200] @ white[200:400].T))
    assert unrelated_raw > 0.9 and abs(unrelated_white) < 0.1
    pairs = np.sum(white[:20] * white[400:], axis=1)
    assert pairs.min() > 0.8


def test_the_job_drops_a_template_variant_and_keeps_the_crop(
    clean, tmp_path: Path, settings
) -> None:  # type: ignore[no-untyped-def]
    ModelArtifact.objects.create(name="lite0-test", architecture="efficientnet_lite0", active=True)
    src = tmp_path / "src"
    origs = originals(BIRD, 4)
    (src / BIRD).mkdir(parents=True)
    (src / MAMMAL).mkdir(parents=True)
    for p in origs:
        shutil.copy(p, src / BIRD / p.name)
    target = origs[0]
    with_emblem(target).save(src / MAMMAL / f"{target.stem}__emblem.jpg", quality=90)
    copy_of(target, "crop").save(src / MAMMAL / f"{target.stem}__crop.jpg", quality=90)
    ingest_start(source=src, source_name="verify-test", inline=True)
    embed_images(sorted(ImageRow.objects.values_list("pk", flat=True)), "lite0-test")

    settings.DEDUP_VERIFY_MAX_DIFF = 0  # without the check, the variant is proposed and linked
    job = dedup_start(inline=True)
    settings.DEDUP_VERIFY_MAX_DIFF = LIMIT
    assert job.status == Job.Status.SUCCEEDED, job.error
    emblem = image_of(src / MAMMAL / f"{target.stem}__emblem.jpg")
    assert DuplicateMember.objects.filter(image_id=emblem).exists()

    # A fresh index and fresh links, with the check on.
    shutil.rmtree(Path(settings.DATA_ROOT) / "dedup", ignore_errors=True)
    DuplicateEdge.objects.all().delete()
    job = dedup_start(inline=True)
    assert job.status == Job.Status.SUCCEEDED, job.error
    crop = image_of(src / MAMMAL / f"{target.stem}__crop.jpg")
    group = DuplicateMember.objects.get(image_id=image_of(target)).group
    assert set(group.members.values_list("image_id", flat=True)) == {image_of(target), crop}
    assert not DuplicateMember.objects.filter(image_id=emblem).exists()


def test_the_whitening_is_stored_with_the_index_and_kept_by_an_incremental_run(
    clean, tmp_path: Path, settings
) -> None:  # type: ignore[no-untyped-def]
    settings.DEDUP_WHITEN_MIN = 6
    settings.DEDUP_WHITEN_DIM = 4
    ModelArtifact.objects.create(name="lite0-test", architecture="efficientnet_lite0", active=True)
    for n, batch in enumerate((originals(BIRD, 8), originals(MAMMAL, 3))):
        src = tmp_path / f"b{n}" / BIRD
        src.mkdir(parents=True)
        for p in batch:
            shutil.copy(p, src / p.name)
        before = set(ImageRow.objects.values_list("pk", flat=True))
        ingest_start(source=src.parent, source_name=f"batch-{n}", inline=True)
        embed_images(
            sorted(set(ImageRow.objects.values_list("pk", flat=True)) - before), "lite0-test"
        )
        assert dedup_start(inline=True).status == Job.Status.SUCCEEDED
        folder = store.index_dir("near-lite0-test")
        meta = json.loads((folder / "meta.json").read_text())
        assert meta["extra"] == ["mean", "proj"] and meta["whitened_on"] == 8  # not refitted at 11
        proj = np.load(folder / "extra_proj.npy")
        assert proj.shape == (1280, 4)
        loaded = store.load("near-lite0-test", binary=False, model="lite0-test")
        assert loaded is not None and loaded.index.ntotal == len(ImageRow.objects.all())

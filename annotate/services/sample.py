"""A small labelled sample of candidates from public-domain clip art (Debian's openclipart),
for tests, the demo and crowd simulations until real ingested candidates exist.

Each synset gets positives from its category folder(s) and negatives from other folders (the
truth is known, which simulations and gold need). Images are stored like ingest stores them:
original bytes content-addressed under their sha256, a ~256 px JPEG thumbnail (transparent art
flattened onto white) beside them. Idempotent: images and candidates are keyed by sha256 and
(image, synset).
"""

from __future__ import annotations

import csv
import hashlib
import io
import random
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from PIL import Image as PILImage

from curation.models import Candidate, Image, Synset
from curation.storage import original_key, thumb_key

OPENCLIPART = Path("/usr/share/openclipart/png")
THUMB_SIDE = 256

# wnid -> folders under OPENCLIPART whose images show it.
SAMPLE_SETS: dict[str, tuple[str, ...]] = {
    "n01503061": ("animals/birds",),  # bird.n.01
    "n02159955": ("animals/bugs",),  # insect.n.01
    "n07705931": ("food/fruit",),  # edible_fruit.n.01
    "n11669921": ("plants/flowers",),  # flower.n.01
    "n02512053": ("animals/fish",),  # fish.n.01
}
DISTRACTORS = ("tools", "buildings", "office", "electronics", "transportation/vehicles")


@dataclass(frozen=True)
class SampleItem:
    candidate_id: int
    wnid: str
    sha256: str
    truth: bool


MAX_PIXELS = 16_000_000  # some clip art is rendered huge; skip it rather than decode 170 MP


def _files(folder: str, root: Path) -> list[Path]:
    out = []
    for path in sorted((root / folder).rglob("*.png")):
        if not path.is_file():
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", PILImage.DecompressionBombWarning)
                with PILImage.open(path) as img:  # reads the header only
                    if img.width * img.height > MAX_PIXELS:
                        continue
        except (OSError, PILImage.DecompressionBombError):
            continue
        out.append(path)
    return out


def store_image(path: Path) -> Image:
    """Store one picture as ingest would (original bytes + JPEG thumbnail); idempotent."""
    from curation.ingest.decode import encode_thumbnail  # worker-side module: scipy, numpy

    data = path.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    existing = Image.objects.filter(sha256=sha).first()
    if existing is not None:
        return existing
    with PILImage.open(io.BytesIO(data)) as img:
        img.load()
        width, height, mode, fmt = img.width, img.height, img.mode, (img.format or "PNG")
        rgba = img.convert("RGBA")
    flat = PILImage.new("RGB", rgba.size, (255, 255, 255))
    flat.paste(rgba, mask=rgba.getchannel("A"))
    flat.thumbnail((THUMB_SIDE, THUMB_SIDE))
    key, tkey = original_key(sha, fmt.lower()), thumb_key(sha)
    if not default_storage.exists(key):
        default_storage.save(key, ContentFile(data))
    if not default_storage.exists(tkey):
        default_storage.save(tkey, ContentFile(encode_thumbnail(flat)))
    image, _ = Image.objects.get_or_create(
        sha256=sha,
        defaults={
            "storage_key": key,
            "thumb_key": tkey,
            "format": fmt.upper(),
            "mode": mode,
            "width": width,
            "height": height,
            "bytes": len(data),
        },
    )
    return image


def sample_candidates(
    *,
    wnids: Sequence[str],
    positives: int = 12,
    negatives: int = 6,
    seed: int = 0,
    root: Path = OPENCLIPART,
    activate: bool = True,
) -> list[SampleItem]:
    """Candidates with known truth for each synset (positives from its folders, negatives from
    the other synsets' folders and from unrelated categories)."""
    rng = random.Random(seed)
    unknown = [w for w in wnids if w not in SAMPLE_SETS]
    if unknown:
        raise ValueError(
            f"no sample folders for {', '.join(unknown)}; known: {sorted(SAMPLE_SETS)}"
        )
    synsets = {s.wnid: s for s in Synset.objects.filter(wnid__in=list(wnids))}
    items: list[SampleItem] = []
    for wnid in wnids:
        synset = synsets[wnid]
        own = [p for folder in SAMPLE_SETS[wnid] for p in _files(folder, root)]
        others = [
            p
            for other, folders in SAMPLE_SETS.items()
            if other != wnid
            for folder in folders
            for p in _files(folder, root)
        ] + [p for folder in DISTRACTORS for p in _files(folder, root)]
        chosen = [(p, True) for p in rng.sample(own, min(positives, len(own)))]
        chosen += [(p, False) for p in rng.sample(others, min(negatives, len(others)))]
        rng.shuffle(chosen)
        with transaction.atomic():
            for path, truth in chosen:
                image = store_image(path)
                candidate, _ = Candidate.objects.get_or_create(
                    image=image,
                    synset=synset,
                    defaults={"source": "sample", "query": synset.lemma},
                )
                items.append(SampleItem(candidate.pk, wnid, image.sha256, truth))
        if activate and not synset.active:
            Synset.objects.filter(pk=synset.pk).update(active=True)
    return items


def write_truth(items: Sequence[SampleItem], path: Path) -> Path:
    """The truth as CSV (image,wnid,truth) for `simulate_crowd --truth`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["image", "wnid", "truth"])
        for item in items:
            writer.writerow([item.sha256, item.wnid, "yes" if item.truth else "no"])
    return path

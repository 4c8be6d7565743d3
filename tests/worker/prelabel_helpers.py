"""Real photos and the sample set, ingested through the real ingest service."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image as PILImage

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample_data" / "images"
DOMESTIC_CAT = "n02121808"  # domestic_cat.n.01: the ILSVRC cat classes sit below it
CAT = "n02121620"  # cat.n.01 (feline), above domestic cat and the big cats
CUP = "n03147509"  # cup.n.01
# ILSVRC classes for domestic cats: tabby, tiger cat, Persian, Siamese, Egyptian cat.
CAT_CLASSES = {"n02123045", "n02123159", "n02123394", "n02123597", "n02124075"}
COFFEE_CLASSES = {"n07920052", "n07930864", "n03063599"}  # espresso, cup, coffee mug


def photo(name: str) -> PILImage.Image:
    import skimage.data

    return PILImage.fromarray(getattr(skimage.data, name)()).convert("RGB")


def write_photos(root: Path) -> dict[str, Path]:
    """chelsea (a cat) under domestic cat; coffee under cup; astronaut under cat (a wrong one)."""
    out = {}
    for name, wnid in (("chelsea", DOMESTIC_CAT), ("coffee", CUP), ("astronaut", DOMESTIC_CAT)):
        path = root / wnid / f"{name}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        photo(name).save(path, "JPEG", quality=92)
        out[name] = path
    return out


def ingest_folder(root: Path, name: str = "photos") -> None:
    from curation.models import Job
    from curation.services.ingest import ingest_start

    job = ingest_start(source=root, source_name=name, inline=True)
    assert job.status == Job.Status.SUCCEEDED, job.error


def image_for(path: Path):  # type: ignore[no-untyped-def]
    import hashlib

    from curation.models import Image

    return Image.objects.get(sha256=hashlib.sha256(path.read_bytes()).hexdigest())


def full_probs(model, path: Path) -> np.ndarray:  # type: ignore[no-untyped-def]
    """All class probabilities for one file, through the same loader and predictor."""
    import torch

    from worker.ml.loading import decode_for_model
    from worker.ml.predictor import predictor_for

    predictor = predictor_for(model)
    arr = decode_for_model(path, resize=predictor.prep.resize, size=predictor.prep.input_size)
    probs, _ = predictor.predict(torch.from_numpy(arr.copy()).permute(2, 0, 1)[None].contiguous())
    return probs[0]

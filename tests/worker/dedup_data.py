"""Real pictures for the dedup tests: sample_data drawings plus transformed copies (PIL)."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance, ImageOps

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample_data" / "images"
BIRD, MAMMAL, FLOWER = "n01503061", "n01861778", "n11669921"


def originals(wnid: str, n: int) -> list[Path]:
    return sorted((SAMPLE / wnid).glob("*.jpg"))[:n]


def _resize(im: Image.Image) -> Image.Image:
    return im.resize((im.width // 2, im.height // 2), Image.LANCZOS)


def _crop(im: Image.Image, f: float = 0.08) -> Image.Image:
    dx, dy = int(im.width * f / 2), int(im.height * f / 2)
    return im.crop((dx, dy, im.width - dx, im.height - dy))


TRANSFORMS: dict[str, tuple[Callable[[Image.Image], Image.Image], str, dict]] = {
    # name: (transform, format, save options); "kind" the test expects at the least
    "resize": (_resize, "JPEG", {"quality": 90}),
    "jpeg30": (lambda im: im, "JPEG", {"quality": 30}),
    "bright": (lambda im: ImageEnhance.Brightness(im).enhance(1.15), "JPEG", {"quality": 90}),
    "png": (lambda im: im, "PNG", {}),  # identical pixels, other bytes: "exact"
    "crop": (_crop, "JPEG", {"quality": 90}),
    "flip": (ImageOps.mirror, "JPEG", {"quality": 90}),
}


def transformed(path: Path, name: str) -> bytes:
    fn, fmt, opts = TRANSFORMS[name]
    with Image.open(path) as im:
        out = io.BytesIO()
        fn(im.convert("RGB")).save(out, fmt, **opts)
        return out.getvalue()


def write_copies(dest: Path, path: Path, names: list[str]) -> dict[str, Path]:
    dest.mkdir(parents=True, exist_ok=True)
    out = {}
    for name in names:
        ext = "png" if TRANSFORMS[name][1] == "PNG" else "jpg"
        target = dest / f"{path.stem}__{name}.{ext}"
        target.write_bytes(transformed(path, name))
        out[name] = target
    return out


def embed_images(image_ids: list[int], model_name: str) -> None:
    """EfficientNet-Lite0 (pretrained, offline) embeddings of stored images into EmbeddingStore,
    as the pre-labelling job would write them (L2-normalised, float16)."""
    import torch
    from django.core.files.storage import default_storage

    from curation.models import Image as ImageRow
    from training.models import build_model, forward_features, preprocessing_for
    from worker.embeddings import EmbeddingStore

    prep = preprocessing_for("efficientnet_lite0")
    model = build_model("efficientnet_lite0", 1000, pretrained=True).eval()
    rows = ImageRow.objects.in_bulk(image_ids)
    batch = []
    for pk in image_ids:
        with default_storage.open(rows[pk].storage_key) as fh, Image.open(fh) as im:
            im = im.convert("RGB").resize((prep.input_size, prep.input_size), Image.BILINEAR)
            arr = (np.asarray(im, dtype=np.float32) / 255.0 - prep.mean) / prep.std
            batch.append(arr.transpose(2, 0, 1))
    with torch.no_grad():
        _, emb = forward_features(model, torch.from_numpy(np.stack(batch).astype(np.float32)))
    vecs = torch.nn.functional.normalize(emb, dim=1).numpy()
    EmbeddingStore.for_model(model_name).append(image_ids, vecs)

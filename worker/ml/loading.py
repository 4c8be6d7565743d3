"""Image loading for inference: a torch DataLoader whose worker processes read originals from
Django storage, decode small (JPEG draft mode / reduce), EXIF-transpose, convert to RGB and
resize the whole picture to the model's square input (no centre crop: the embedding also feeds
duplicate detection, which must see every part of the picture; see decode_for_model).
Batches are uint8 NCHW; normalisation happens on the
device (a quarter of the bytes to move). A file that cannot be decoded yields a specific error for
that image and an all-zero tensor the predictor skips; the rest of the batch proceeds.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageOps
from torch.utils.data import DataLoader, Dataset

# Decompression bombs were refused at ingest; this is a second fence for stored files.
MAX_PIXELS = 200_000_000


def allowed_cpu_ids() -> list[int]:
    """The CPUs this process may run on (its affinity; every CPU where that is unknown)."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def available_cpus() -> int:
    return len(allowed_cpu_ids())


def default_num_workers(*, cuda: bool = True) -> int:
    """Decoding processes. A GPU eats batches faster than one decoder makes them: up to 4. On
    a CPU the model is the slow part and a draft decode costs a fraction of an image's
    inference, so one decoder per 4 cores keeps up (2-core AVX2 EPYC, 500 images, quiet:
    1 decoder + 2 torch threads 44.6 images/s, 2 + 2 40.2)."""
    cpus = available_cpus()
    return min(4, cpus) if cuda else max(1, cpus // 4)


def decode_for_model(data_or_file: Any, *, resize: int, size: int) -> np.ndarray:
    """HWC uint8 RGB, `size` x `size`: the whole picture resized (bicubic), aspect not kept.

    Not ImageNet's "shorter side to `resize`, centre crop": a centre crop drops up to half of a
    wide or tall picture, so the embedding (which dedup searches) missed crops and matched a
    banner to an empty canvas (bench_dedup: crop-10% candidate recall 0.91 with the crop, 0.96
    with the whole picture). `resize` is kept for the callers' signature and bounds the draft
    decode."""
    with Image.open(data_or_file) as im:
        if im.width * im.height > MAX_PIXELS:
            raise ValueError(f"image too large to decode ({im.width}x{im.height})")
        w, h = im.size
        scale = max(size, min(resize, size * 2)) / min(w, h)
        if im.format == "JPEG" and scale < 1:
            # DCT scaling: decode at 1/2, 1/4 or 1/8 size, never below the wanted size.
            im.draft("RGB", (max(1, int(w * scale + 0.999)), max(1, int(h * scale + 0.999))))
        elif scale < 0.5:
            factor = int(1 / scale)
            if factor >= 2:
                im = im.reduce(factor)
        im = ImageOps.exif_transpose(im)
        if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
            rgba = im.convert("RGBA")
            bg = Image.new("RGB", rgba.size, (255, 255, 255))
            bg.paste(rgba, mask=rgba.getchannel("A"))
            im = bg
        elif im.mode != "RGB":
            im = im.convert("RGB")
        im = im.resize((size, size), Image.Resampling.BICUBIC, reducing_gap=3.0)
        return np.array(im, dtype=np.uint8)  # a writable copy for torch.from_numpy


class StoredImages(Dataset):
    """(image id, storage key) pairs -> (id, CHW uint8 tensor, error or "")."""

    def __init__(self, items: Sequence[tuple[int, str]], *, resize: int, size: int) -> None:
        self.items, self.resize, self.size = list(items), resize, size

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[int, torch.Tensor, str]:
        from django.core.files.storage import default_storage

        image_id, key = self.items[index]
        try:
            with default_storage.open(key, "rb") as fh:
                arr = decode_for_model(fh, resize=self.resize, size=self.size)
            return image_id, torch.from_numpy(arr).permute(2, 0, 1).contiguous(), ""
        except FileNotFoundError:
            error = f"original missing from storage ({key})"
        except Exception as exc:  # any decoder failure is this image's problem only
            error = f"cannot decode: {type(exc).__name__}: {exc}"
        return image_id, torch.zeros(3, self.size, self.size, dtype=torch.uint8), error[:500]


def _collate(
    rows: list[tuple[int, torch.Tensor, str]],
) -> tuple[list[int], torch.Tensor, list[str]]:
    ids, tensors, errors = zip(*rows, strict=True)
    return list(ids), torch.stack(tensors), list(errors)


def _worker_init(_: int) -> None:
    torch.set_num_threads(1)


@contextmanager
def children_allowed() -> Iterator[None]:
    """Celery's prefork pool runs tasks in daemonic processes, which multiprocessing forbids to
    start children. DataLoader workers watch their parent and exit when it dies (SIGKILL
    included), which is what the daemon rule protects against, so lift the flag while the
    loader starts its workers."""
    config = multiprocessing.current_process()._config  # type: ignore[attr-defined]
    was = config.get("daemon")
    config["daemon"] = False
    try:
        yield
    finally:
        if was is not None:
            config["daemon"] = was


def image_loader(
    items: Sequence[tuple[int, str]],
    *,
    resize: int,
    size: int,
    batch_size: int = 64,
    num_workers: int | None = None,
    pin_memory: bool = False,
) -> DataLoader:
    workers = default_num_workers() if num_workers is None else num_workers
    workers = max(0, min(workers, (len(items) + batch_size - 1) // batch_size or 1))
    return DataLoader(
        StoredImages(items, resize=resize, size=size),
        batch_size=batch_size,
        num_workers=workers,
        collate_fn=_collate,
        pin_memory=pin_memory,
        worker_init_fn=_worker_init if workers else None,
        prefetch_factor=2 if workers else None,
        persistent_workers=False,
    )

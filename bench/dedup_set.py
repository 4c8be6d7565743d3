"""The planted dedup set for bench_dedup: >= 5,000 distinct Open Clip Art drawings (Debian
openclipart-png, public domain) flattened onto white to RGB JPEGs of 256-480 px on the long
side, and one transformed copy of each of 500 of them (the transformations round-robin).
Cached under var/bench/dedup/ between runs."""

from __future__ import annotations

import hashlib
import json
import os
import random
import warnings
from multiprocessing import Pool
from pathlib import Path

from bench import WORK

PNG_SOURCE = Path("/usr/share/openclipart/png")
DIR = WORK / "dedup"
BASE = DIR / "base"
COPIES = DIR / "copies"
N_BASE = int(os.environ.get("BENCH_DEDUP_IMAGES", "5000"))
N_PLANTED = int(os.environ.get("BENCH_DEDUP_PLANTED", "500"))
MAX_SIDE = 480
MIN_SIDE = 256
TRANSFORMS = [
    "resize50", "jpeg30", "crop10", "crop20", "colour", "flip", "rotate5", "text", "pad10",
]  # fmt: skip


def _flatten(job: tuple[str, str]) -> bool:
    from PIL import Image

    src, dst = job
    if Path(dst).exists():
        return True
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            im = Image.open(src)
            if im.width * im.height > 16_000_000 or max(im.size) < 48:
                return False
            im.load()
        im = im.convert("RGBA")
        white = Image.new("RGB", im.size, (255, 255, 255))
        white.paste(im, mask=im.getchannel("A"))
        white.thumbnail((MAX_SIDE, MAX_SIDE), Image.LANCZOS)
        if max(white.size) < MIN_SIDE:  # small icons: scale up, so a 50% resize stays a picture
            f = MIN_SIDE / max(white.size)
            white = white.resize((round(white.width * f), round(white.height * f)), Image.LANCZOS)
        white.save(dst, "JPEG", quality=90)
        return True
    except Exception:
        return False


def transform(src: Path, name: str, seed: int) -> bytes:
    import io

    from PIL import Image, ImageDraw, ImageEnhance, ImageOps

    rng = random.Random(seed)
    im = Image.open(src).convert("RGB")
    w, h = im.size
    quality = 90
    if name == "resize50":
        im = im.resize((max(1, w // 2), max(1, h // 2)), Image.LANCZOS)
    elif name == "jpeg30":
        quality = 30
    elif name in ("crop10", "crop20"):
        f = 0.10 if name == "crop10" else 0.20  # of each side's length, split at random
        dx, dy = int(w * f), int(h * f)
        left, top = rng.randint(0, dx), rng.randint(0, dy)
        im = im.crop((left, top, w - (dx - left), h - (dy - top)))
    elif name == "colour":
        im = ImageEnhance.Brightness(im).enhance(rng.choice([0.8, 1.2]))
        im = ImageEnhance.Contrast(im).enhance(rng.choice([0.8, 1.2]))
    elif name == "flip":
        im = ImageOps.mirror(im)
    elif name == "rotate5":
        im = im.rotate(rng.choice([-5, 5]), resample=Image.BICUBIC, fillcolor=(255, 255, 255))
    elif name == "text":
        draw = ImageDraw.Draw(im)
        size = max(12, h // 10)
        draw.text((w // 20, h - size - h // 20), "© SynsetLab 2026", fill=(200, 0, 0),
                  font_size=size)  # fmt: skip
    elif name == "pad10":
        im = ImageOps.expand(im, border=(int(w * 0.05), int(h * 0.05)), fill=(255, 255, 255))
    out = io.BytesIO()
    im.save(out, "JPEG", quality=quality)
    return out.getvalue()


def _phash_int(path: Path) -> int:
    from PIL import Image

    from curation.ingest.decode import _phash_signed  # the pHash SynsetLab stores

    return _phash_signed(Image.open(path).convert("RGB")) & 0xFFFFFFFFFFFFFFFF


def ensure_set() -> dict:
    """{"base": [names], "copies": {copy name: [original name, transformation]}}."""
    manifest = DIR / "manifest.json"
    if manifest.exists():
        data = json.loads(manifest.read_text())
        if len(data["base"]) >= N_BASE and len(data["copies"]) >= N_PLANTED:
            return data
    BASE.mkdir(parents=True, exist_ok=True)
    COPIES.mkdir(parents=True, exist_ok=True)
    sources = sorted(str(p) for p in PNG_SOURCE.rglob("*.png"))
    if not sources:
        raise RuntimeError(f"no PNGs under {PNG_SOURCE}: apt-get install openclipart-png")
    jobs = [(s, str(BASE / f"{i:05d}.jpg")) for i, s in enumerate(sources)]
    with Pool(os.cpu_count() or 1) as pool:
        ok = pool.map(_flatten, jobs, chunksize=32)
    # Open Clip Art files one drawing under several folders and keeps colour/outline variants:
    # keep distinct bytes, then drop any drawing within pHash distance 2 of one already kept,
    # so that the base set holds no duplicates of its own (as far as pHash can tell).
    seen, kept, hashes = set(), [], []
    import numpy as np

    for (_, dst), good in zip(jobs, ok, strict=True):
        path = Path(dst)
        if not good:
            continue
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest in seen or len(kept) >= N_BASE:
            continue
        h = _phash_int(path)
        if hashes:
            x = np.bitwise_xor(np.array(hashes, dtype=np.uint64), np.uint64(h))
            dist = np.unpackbits(x.view(np.uint8).reshape(-1, 8), axis=1).sum(axis=1)
            if dist.min() <= 2:
                continue
        seen.add(digest)
        hashes.append(h)
        kept.append(path.name)
    if len(kept) < N_BASE:
        raise RuntimeError(f"only {len(kept)} distinct drawings; BENCH_DEDUP_IMAGES={N_BASE}")
    rng = random.Random(2012)
    planted = rng.sample(kept, N_PLANTED)
    copies = {}
    for i, name in enumerate(planted):
        t = TRANSFORMS[i % len(TRANSFORMS)]
        copy_name = f"copy-{t}-{name}"
        (COPIES / copy_name).write_bytes(transform(BASE / name, t, seed=i))
        copies[copy_name] = [name, t]
    data = {"base": kept, "copies": copies}
    manifest.write_text(json.dumps(data))
    return data

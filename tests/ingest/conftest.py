"""Builders of good and hostile image files, and folders/archives of them."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

DOG = "n02084071"  # dog.n.01
CAT = "n02121620"  # cat.n.01 (domestic cat is n02121808)
BIRD = "n01503061"  # bird.n.01


def photo(seed: int, size: tuple[int, int] = (320, 240), mode: str = "RGB") -> Image.Image:
    """A distinct, photo-like picture per seed (smooth gradients plus noise)."""
    rng = np.random.default_rng(seed)
    w, h = size
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack(
        [
            (np.sin(x / (7 + seed % 13)) + 1) * 100 + rng.integers(0, 50),
            (np.cos(y / (5 + seed % 11)) + 1) * 100 + rng.integers(0, 50),
            ((x + y) % (31 + seed % 17)) * 6,
        ],
        axis=-1,
    )
    noise = rng.normal(0, 12, size=base.shape)
    arr = np.clip(base + noise, 0, 255).astype(np.uint8)
    im = Image.fromarray(arr, "RGB")
    return im.convert(mode) if mode != "RGB" else im


def encode(im: Image.Image, fmt: str, **kw: object) -> bytes:
    out = io.BytesIO()
    im.save(out, fmt, **kw)
    return out.getvalue()


def jpeg(seed: int, size: tuple[int, int] = (320, 240), **kw: object) -> bytes:
    return encode(photo(seed, size), "JPEG", quality=85, **kw)


def png(seed: int, size: tuple[int, int] = (320, 240)) -> bytes:
    return encode(photo(seed, size), "PNG")


def png_bomb(side: int = 30_000) -> bytes:
    """A valid 1-bit PNG of side x side zeros: ~100 KB on disk, 900 megapixels decoded."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    row = b"\x00" + b"\x00" * ((side + 7) // 8)
    comp = zlib.compressobj(9)
    parts = [comp.compress(row) for _ in range(side)]
    parts.append(comp.flush())
    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"".join(parts))
        + chunk(b"IEND", b"")
    )  # fmt: skip


def png_bad_crc(seed: int) -> bytes:
    data = bytearray(png(seed))
    data[-20] ^= 0xFF  # inside the last IDAT's CRC or data, before IEND
    return bytes(data)


def animated_gif(seed: int) -> bytes:
    frames = [photo(seed + i, (120, 90)).convert("P") for i in range(3)]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return out.getvalue()


def cmyk_jpeg(seed: int) -> bytes:
    return encode(photo(seed).convert("CMYK"), "JPEG", quality=85)


def png16(seed: int) -> bytes:
    arr = (np.asarray(photo(seed).convert("L"), dtype=np.uint16) * 257).astype(np.uint16)
    return encode(Image.fromarray(arr, "I;16"), "PNG")


def exif_rotated_jpeg(seed: int, orientation: int = 6) -> bytes:
    im = photo(seed, (320, 200))
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(im, "JPEG", quality=85, exif=exif)


def multipage_tiff(seed: int) -> bytes:
    pages = [photo(seed + i, (100, 80)) for i in range(3)]
    out = io.BytesIO()
    pages[0].save(out, "TIFF", save_all=True, append_images=pages[1:])
    return out.getvalue()


def heic_like() -> bytes:
    """The start of an ISO-BMFF HEIC file (ftyp heic): enough to be recognised and refused."""
    return struct.pack(">I", 24) + b"ftypheic" + b"\x00\x00\x00\x00mif1heic" + b"\x00" * 64


SVG = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"/>'
HTML = b"<!DOCTYPE html><html><head><title>Not found</title></head><body>404</body></html>"


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.fixture
def media_root(settings, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    """A private MEDIA_ROOT (and DATA_ROOT) per test, so stored files are the test's own."""
    media = tmp_path / "media"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(media), "base_url": "/media/"},
        },
    }
    settings.MEDIA_ROOT = str(media)
    settings.DATA_ROOT = tmp_path / "data"
    return media

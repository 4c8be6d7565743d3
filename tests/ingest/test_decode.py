"""Decoding one file: every hostile input gets its own reason; the odd-but-valid ones decode."""

from __future__ import annotations

import io
from pathlib import Path

import imagehash
import numpy as np
import pytest
from PIL import Image

from curation.ingest.decode import _phash_signed, decode_image
from curation.ingest.limits import Limits
from curation.ingest.magic import sniff
from curation.ingest.reasons import IngestError, Reason
from tests.ingest.conftest import (
    HTML,
    SVG,
    animated_gif,
    cmyk_jpeg,
    encode,
    exif_rotated_jpeg,
    heic_like,
    jpeg,
    multipage_tiff,
    photo,
    png,
    png16,
    png_bad_crc,
)

pytestmark = pytest.mark.sqlite
LIMITS = Limits()
ROOT = Path(__file__).resolve().parents[2]


def refused(data: bytes, **kw: object) -> IngestError:
    with pytest.raises(IngestError) as info:
        decode_image(data, LIMITS, **kw)  # type: ignore[arg-type]
    return info.value


@pytest.mark.parametrize(
    ("data", "reason", "words"),
    [
        (b"", Reason.EMPTY_FILE, "empty file"),
        (b"just some text, named .jpg", Reason.NOT_AN_IMAGE, "text"),
        (jpeg(1)[:3000], Reason.TRUNCATED, "truncated"),
        (png_bad_crc(2), Reason.CORRUPT, "bad CRC"),
        (encode(Image.new("RGB", (1, 1)), "PNG"), Reason.TOO_SMALL, "1x1"),
        (SVG, Reason.VECTOR_IMAGE, "SVG"),
        (HTML, Reason.NOT_AN_IMAGE, "HTML"),
        (heic_like(), Reason.UNSUPPORTED_FORMAT, "HEIC"),
        (b"%PDF-1.7\n" + b"0" * 100, Reason.UNSUPPORTED_FORMAT, "PDF"),
        (b"\x00\x01\x02\x03\xfe\xff" * 20, Reason.NOT_AN_IMAGE, "unrecognised"),
        (b"BM this is text that starts like a bitmap", Reason.NOT_AN_IMAGE, "text"),
    ],
    ids=[
        "empty",
        "text",
        "truncated-jpeg",
        "png-bad-crc",
        "1x1",
        "svg",
        "html",
        "heic",
        "pdf",
        "binary",
        "text-as-bmp",
    ],
)
def test_hostile_bytes_get_their_own_reason(data: bytes, reason: Reason, words: str) -> None:
    error = refused(data)
    assert error.reason == reason
    assert words.lower() in error.message.lower()


def test_decompression_bomb_is_an_error_not_a_warning(bomb_png: bytes) -> None:
    assert len(bomb_png) < 1_000_000  # 900 megapixels in well under a megabyte
    error = refused(bomb_png)
    assert error.reason == Reason.DECOMPRESSION_BOMB
    assert "INGEST_MAX_PIXELS" in error.message


def test_images_between_the_limit_and_pillows_default_are_bombs_too() -> None:
    # 40 megapixels: under Pillow's own 89 M default, over a 30 M setting -> error, not warning.
    data = encode(Image.new("L", (8000, 5000)), "PNG")
    with pytest.raises(IngestError) as info:
        decode_image(data, Limits(max_pixels=30_000_000))
    assert info.value.reason == Reason.DECOMPRESSION_BOMB


def test_html_served_as_jpeg_says_what_the_server_claimed() -> None:
    error = refused(HTML, content_type="image/jpeg")
    assert error.reason == Reason.NOT_AN_IMAGE
    assert "served as image/jpeg" in error.message


def test_oversize_and_disallowed_formats() -> None:
    with pytest.raises(IngestError) as info:
        decode_image(jpeg(3), Limits(max_bytes=100))
    assert info.value.reason == Reason.FILE_TOO_LARGE
    with pytest.raises(IngestError) as info:
        decode_image(encode(photo(4), "BMP"), Limits(allowed_formats=frozenset({"JPEG"})))
    assert info.value.reason == Reason.UNSUPPORTED_FORMAT
    assert "BMP" in info.value.message


def test_plain_jpeg_decodes_with_hash_and_thumbnail() -> None:
    data = jpeg(5, (500, 375))
    d = decode_image(data, LIMITS)
    assert (d.format, d.ext, d.width, d.height, d.bytes, d.frames) == (
        "JPEG",
        "jpg",
        500,
        375,
        len(data),
        1,
    )
    thumb = Image.open(io.BytesIO(d.thumb))
    assert thumb.format == "JPEG" and max(thumb.size) <= LIMITS.thumb_size
    assert max(thumb.size) >= 240  # "about 256 px", decoded straight to size by DCT scaling
    assert -(2**63) <= d.phash < 2**63


def test_phash_agrees_with_imagehash_on_the_full_size_picture() -> None:
    """The pHash comes from the thumbnail-sized decode; on real pictures it stays within a few
    bits of imagehash.phash computed from the full-size decode."""
    files = sorted((ROOT / "sample_data" / "images").rglob("*.jpg"))[::10][:30]
    assert len(files) == 30
    distances = []
    for path in files:
        data = path.read_bytes()
        ours = decode_image(data, LIMITS).phash & (2**64 - 1)
        full = int(str(imagehash.phash(Image.open(io.BytesIO(data)))), 16)
        distances.append(bin(ours ^ full).count("1"))
    assert max(distances) <= 8 and sum(distances) / len(distances) <= 2.5, distances


def test_phash_is_imagehash_bit_for_bit() -> None:
    """_phash_signed writes imagehash.phash's steps out; the stored values must not change
    (dedup compares them with pHashes stored earlier). Flat pictures tie every coefficient."""
    pictures = [photo(i) for i in range(20)]
    pictures += [
        Image.open(p).convert("RGB") for p in sorted(ROOT.glob("sample_data/images/*/*.jpg"))[:40]
    ]
    pictures += [p.convert("L") for p in pictures[:10]]
    pictures += [Image.new("RGB", (250, 188), (c, c, c)) for c in (0, 128, 255)]
    for picture in pictures:
        picture.thumbnail((256, 256))
        factor = max(1, min(picture.size) // 64)
        small = picture.reduce(factor) if factor > 1 else picture
        expected = np.packbits(imagehash.phash(small).hash.ravel()).view(">i8")[0]
        assert _phash_signed(picture) == int(expected)


def test_odd_but_valid_images_are_handled() -> None:
    gif = decode_image(animated_gif(6), LIMITS)
    assert gif.format == "GIF" and gif.frames == 3 and any("first" in p for p in gif.problems)
    cmyk = decode_image(cmyk_jpeg(7), LIMITS)
    assert cmyk.mode == "CMYK" and "CMYK converted to RGB" in cmyk.problems
    deep = decode_image(png16(8), LIMITS)
    assert deep.mode.startswith("I") and any("8 bits" in p for p in deep.problems)
    # 16-bit samples are scaled, not clipped: the thumbnail is not blown out to white.
    thumb = Image.open(io.BytesIO(deep.thumb)).convert("L")
    assert 40 < float(np.asarray(thumb).mean()) < 215
    tiff = decode_image(multipage_tiff(9), LIMITS)
    assert tiff.format == "TIFF" and tiff.frames == 3


def test_exif_orientation_is_applied_to_what_is_shown() -> None:
    d = decode_image(exif_rotated_jpeg(10, orientation=6), LIMITS)
    assert d.orientation == 6
    assert (d.width, d.height) == (200, 320)  # shown upright: portrait
    thumb = Image.open(io.BytesIO(d.thumb))
    assert thumb.height > thumb.width


def test_alpha_is_flattened_onto_white() -> None:
    rgba = Image.new("RGBA", (100, 80), (0, 0, 0, 0))
    d = decode_image(encode(rgba, "PNG"), LIMITS)
    thumb = Image.open(io.BytesIO(d.thumb)).convert("RGB")
    assert min(thumb.getpixel((50, 40))) > 240
    assert "transparency flattened onto white" in d.problems


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (jpeg(1), "JPEG"),
        (png(1), "PNG"),
        (animated_gif(1), "GIF"),
        (multipage_tiff(1), "TIFF"),
        (SVG, "svg"),
        (HTML, "html"),
        (heic_like(), "HEIC"),
        (b"hello", "text"),
    ],
)
def test_sniff_uses_magic_bytes(data: bytes, kind: str) -> None:
    assert sniff(data) == kind
